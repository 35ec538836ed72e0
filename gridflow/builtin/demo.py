"""``gridflow demo``: a quarter of Fenglin Street, simulated on a virtual clock.

A discrete-event simulation drives the real engine (built-in workflows, sample org, a SQLite
file): patrols list problems that go through the four-list process (some rejected, merged,
reworked, escalated, held), grids raise hands to departments (some returned, extended,
answered late, confirmed unsatisfied), departments publish questions that micro-grids claim.
Between events the engine ticks every virtual half hour, so reminders, overdue notices and
escalations fire at their working times; notices go to a JSON-lines file outbox. All figures
come from the simulated cases; the same seed gives the same figures.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial

from gridflow.domain.notice import Channel
from gridflow.errors import Refused

WD = 7.5 * 3600  # working seconds in a working day
AREAS = ["wannan", "ximu", "zhenxing", "dongan", "tianlong"]
COMMITTEES = {"wannan": 7, "ximu": 6, "zhenxing": 6, "dongan": 7, "tianlong": 6}
DEPARTMENTS = [
    "police",
    "city_mgmt",
    "market",
    "health",
    "party_masses",
    "city_ops",
    "construction",
    "sanitation",
    "property",
]
PROBLEMS = [
    "楼道堆物",
    "群租整治",
    "违法搭建",
    "电梯加装",
    "车棚充电桩改造",
    "绿化养护",
    "垃圾分类点位调整",
    "路灯损坏",
    "污水外溢",
    "噪音扰民",
    "共享单车乱停",
    "沿街商铺占道",
    "老旧小区屋面漏水",
    "消防通道堵塞",
    "独居老人关爱",
]


@dataclass
class DemoResult:
    """What a simulation did: the period it ran (UTC start, end), cases started by kind,
    refused events by reason."""

    db_url: str
    period: tuple[datetime, datetime]
    counts: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)


class VirtualClock:
    """The engine's clock during the demo: whatever moment the simulation is at."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Simulation:
    """Events on a heap, a virtual clock, and the engine ticking in between."""

    def __init__(
        self,
        engine,
        clock: VirtualClock,
        rng: random.Random,
        start: datetime,
        end: datetime,
        on_step: Callable[[datetime], None] | None = None,
    ):
        self.engine, self.clock, self.rng, self.start, self.end = engine, clock, rng, start, end
        clock.now = start
        self.queue: list = []
        self.seq = itertools.count()
        self.counts: Counter = Counter()
        self.refusals: Counter = Counter()
        self.on_step = on_step
        self.cal = engine.calendar

    @property
    def now(self) -> datetime:
        return self.clock.now

    @now.setter
    def now(self, value: datetime) -> None:
        self.clock.now = value

    # ---- time -----------------------------------------------------------------------
    def after_wd(self, low: float, high: float) -> datetime:
        """A moment ``low``–``high`` working days from now."""
        return self.cal.add_working_seconds(self.now, self.rng.uniform(low, high) * WD).at

    def schedule(self, when: datetime, action: Callable[[], object]) -> None:
        if when < self.end:
            heapq.heappush(self.queue, (when, next(self.seq), action))

    def run(self, step: timedelta = timedelta(minutes=30)) -> None:
        next_tick = self.now + step
        while self.queue:
            when, _, action = heapq.heappop(self.queue)
            while next_tick <= when:
                self._advance(next_tick)
                next_tick += step
            self.now = when
            action()
        while next_tick <= self.end:
            self._advance(next_tick)
            next_tick += step
        self.now = self.end

    def _advance(self, moment: datetime) -> None:
        self.now = moment
        fired = self.engine.tick(moment).fired
        self.counts["timers"] += fired
        if self.on_step:
            self.on_step(moment)

    # ---- acting ---------------------------------------------------------------------
    def fire(self, case_id: int, trigger: str, actor: str, **kw) -> bool:
        try:
            self.engine.fire(case_id, trigger, actor=actor, **kw)
        except Refused as exc:
            self.refusals[f"{trigger}: {type(exc).__name__}"] += 1
            return False
        self.counts[trigger] += 1
        return True

    def state(self, case_id: int) -> str:
        return self.engine.get(case_id).state

    def pick(self, seq):
        return self.rng.choice(seq)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p


# ---- the four-list process ------------------------------------------------------------------
def four_list_case(sim: Simulation) -> None:
    area = sim.pick(AREAS)
    unit = f"{area}-r{sim.rng.randint(1, COMMITTEES[area])}"
    chief = f"{area}.chief"
    case = sim.engine.start(
        "four_list",
        actor=f"{area}.patrol",
        unit=unit,
        data={
            "title": f"{sim.pick(PROBLEMS)}（{unit}）",
            "source": sim.pick(["patrol", "visit", "complaint", "hotline", "meeting"]),
        },
    )
    sim.counts["four_list"] += 1
    cid = case.id

    def triage():
        r = sim.rng.random()
        if r < 0.08:
            sim.fire(
                cid,
                "reject",
                chief,
                data={"reject_reason": "not_in_scope"},
                comment="不属于片区协调范围",
            )
        elif r < 0.12:
            sim.fire(
                cid, "merge", chief, data={"merged_into": max(1, cid - 1)}, comment="与已有问题合并"
            )
        elif sim.fire(cid, "accept", chief):
            sim.schedule(sim.after_wd(0.3, 3), coordinate)

    def coordinate():
        r = sim.rng.random()
        deadline = sim.after_wd(8, 25).astimezone(sim.cal.tz).date().isoformat()
        if r < 0.1:
            if sim.fire(cid, "escalate", chief, comment="片区无法协调，提请街道统筹"):
                sim.schedule(sim.after_wd(1, 4), street_takes_over)
        elif r < 0.3:
            depts = sim.rng.sample(DEPARTMENTS, sim.rng.randint(2, 3))
            if sim.fire(cid, "ask", chief, data={"ask_departments": depts, "deadline": deadline}):
                for child in sim.engine.children(cid):
                    raise_hand_answer_flow(
                        sim, child.id, child.data["department"], confirmer=f"{unit}.chief"
                    )
        elif sim.fire(
            cid,
            "assign",
            chief,
            data={
                "lead_department": sim.pick(DEPARTMENTS),
                "deadline": deadline,
                "co_departments": sim.rng.sample(DEPARTMENTS, sim.rng.randint(0, 2)),
            },
        ):
            work()

    def street_takes_over():
        deadline = sim.after_wd(8, 20).astimezone(sim.cal.tz).date().isoformat()
        if sim.fire(
            cid,
            "take_over",
            "fenglin.head",
            data={"lead_department": sim.pick(DEPARTMENTS), "deadline": deadline},
        ):
            work()

    def work():
        case = sim.engine.get(cid)
        if sim.chance(0.06):
            sim.schedule(sim.after_wd(2, 6), request_hold)
            return
        due_wd = (case.sla.remaining or WD) / WD if case.sla else 10
        late = sim.chance(0.2)
        low, high = (due_wd + 0.2, due_wd + 8) if late else (due_wd * 0.3, due_wd * 0.95)
        sim.schedule(sim.after_wd(low, high), report)

    def report():
        lead = sim.engine.get(cid).data.get("lead_department") or "city_ops"
        if sim.fire(cid, "report", f"{lead}.liaison", data={"result": "已处置完毕，现场复核"}):
            sim.schedule(sim.after_wd(0.3, 2), inspect_)

    def inspect_():
        if sim.fire(cid, "submit_for_inspection", chief, data={"residents_informed": True}):
            sim.schedule(sim.after_wd(0.5, 3), verify)

    def verify():
        if sim.chance(0.2):
            if sim.fire(cid, "rework", chief, comment="验收未通过，需返工"):
                if sim.state(cid) == "escalated":
                    sim.schedule(sim.after_wd(1, 4), street_takes_over)
                else:
                    sim.schedule(sim.after_wd(3, 8), report)
        else:
            sim.fire(cid, "pass_inspection", chief)

    def request_hold():
        if sim.fire(cid, "request_hold", chief, data={"hold_reason": "涉及规划调整，需长期推进"}):
            sim.schedule(sim.after_wd(1, 3), decide_hold)

    def decide_hold():
        if sim.chance(0.7):
            sim.fire(cid, "approve_hold", "fenglin.head", data={"review_every": "20wd"})
        elif sim.fire(cid, "deny_hold", "fenglin.head", comment="请继续推进"):
            work()

    sim.schedule(sim.after_wd(0.2, 2.5), triage)


def street_reviews_holds(sim: Simulation) -> None:
    """Every few days the street looks at holds under review and keeps or resumes them."""
    for case in sim.engine.find(workflow="four_list", state="review", limit=1000):
        if sim.chance(0.5):
            sim.fire(case.id, "keep_on_hold", "fenglin.head", comment="条件仍不具备，继续挂账")
        else:
            sim.fire(case.id, "resume", "fenglin.head")
    sim.schedule(sim.after_wd(3, 3), lambda: street_reviews_holds(sim))


# ---- raise hand: grid asks ----------------------------------------------------------------------
def grid_asks_case(sim: Simulation) -> None:
    area = sim.pick(AREAS)
    committee = sim.rng.randint(1, COMMITTEES[area])
    grid = f"{area}-r{committee}" + (
        f"-m{sim.rng.randint(1, 3)}" if committee <= 2 and sim.chance(0.5) else ""
    )
    case = sim.engine.start(
        "raise_hand",
        actor=f"{grid}.chief",
        data={
            "title": f"{sim.pick(PROBLEMS)}：请部门协调",
            "category": sim.rng.choices(["simple", "normal", "complex"], [3, 5, 2])[0],
        },
    )
    sim.counts["grid_asks"] += 1
    cid = case.id

    def dispatch():
        dept = sim.pick(DEPARTMENTS)
        if sim.fire(cid, "dispatch", "fenglin.dispatch", data={"department": dept}):
            raise_hand_answer_flow(sim, cid, dept, confirmer=f"{grid}.chief")

    sim.schedule(sim.after_wd(0.05, 1), dispatch)


def raise_hand_answer_flow(sim: Simulation, cid: int, dept: str, confirmer: str) -> None:
    """A department's answer to a mandatory question, with its detours."""
    liaison = f"{dept}.liaison"

    def sign():
        if sim.chance(0.05):
            if sim.fire(
                cid,
                "return",
                liaison,
                data={"return_reason": "not_our_duty"},
                comment="不属于本部门职责",
            ):
                sim.schedule(sim.after_wd(0.2, 1.5), street_decides)
            return
        if sim.fire(cid, "sign", liaison):
            sim.schedule(sim.after_wd(0.1, 1), begin)

    def street_decides():
        nonlocal dept, liaison
        if sim.chance(0.3):
            sim.fire(cid, "uphold_return", "fenglin.dispatch", comment="退回成立，转其他渠道")
            return
        dept = sim.pick([d for d in DEPARTMENTS if d != dept])
        liaison = f"{dept}.liaison"
        if sim.fire(cid, "redispatch", "fenglin.dispatch", data={"department": dept}):
            sim.schedule(sim.after_wd(0.1, 1.5), sign)

    def begin():
        if sim.fire(cid, "begin", liaison):
            if sim.chance(0.08):
                sim.schedule(sim.after_wd(0.2, 0.8), extension)
            else:
                plan_answer()

    def extension():
        if sim.fire(
            cid,
            "request_extension",
            liaison,
            data={"extension": "3wd", "extension_reason": "需协调第三方"},
        ):
            sim.schedule(sim.after_wd(0.2, 1.5), decide_extension)
        else:
            plan_answer()

    def decide_extension():
        if sim.chance(0.8):
            sim.fire(cid, "approve_extension", "fenglin.head")
        else:
            sim.fire(cid, "reject_extension", "fenglin.head", comment="请按期答复")
        plan_answer()

    def plan_answer():
        case = sim.engine.get(cid)
        left = (case.sla.remaining or WD) / WD if case.sla else 3
        late = sim.chance(0.15)
        low, high = (left + 0.1, left + 6) if late else (left * 0.2, left * 0.95)
        sim.schedule(sim.after_wd(low, high), answer)

    def answer():
        if sim.fire(cid, "answer", liaison, data={"answer": f"{dept}已现场处置并回复居民"}):
            if sim.chance(0.05):
                return  # nobody confirms: auto_confirm after 3wd (the SLA does it)
            sim.schedule(sim.after_wd(0.2, 2), confirm)

    def confirm():
        satisfaction = sim.rng.choices(
            ["satisfied", "basically_satisfied", "unsatisfied"], [70, 18, 12]
        )[0]
        comment = "答复未解决问题" if satisfaction == "unsatisfied" else None
        if (
            sim.fire(
                cid, "confirm", confirmer, data={"satisfaction": satisfaction}, comment=comment
            )
            and satisfaction == "unsatisfied"
        ):
            state = sim.state(cid)
            if state == "answering":
                plan_answer()
            elif state == "supervised":
                sim.schedule(sim.after_wd(0.5, 3), answer)

    sim.schedule(sim.after_wd(0.1, 1.5), sign)


# ---- raise hand: department asks --------------------------------------------------------------
PROJECTS = ["垃圾分类宣传", "防汛演练", "老年助餐点", "睦邻微更新", "平安巡逻"]
MICROGRIDS = [f"{a}-r{c}-m{m}" for a in AREAS for c in (1, 2) for m in (1, 2, 3)]


def dept_asks_case(sim: Simulation) -> None:
    dept = sim.pick(DEPARTMENTS)
    policy = "first_come" if sim.chance(0.7) else "select"
    places = 1 if sim.chance(0.7) else 2
    case = sim.engine.start(
        "raise_hand",
        actor=f"{dept}.liaison",
        unit="fenglin",
        data={
            "direction": "dept_asks",
            "department": dept,
            "award_policy": policy,
            "max_awardees": places,
            "claim_window": "3wd",
            "title": f"{sim.pick(PROJECTS)}项目认领",
        },
    )
    sim.counts["dept_asks"] += 1
    cid = case.id
    hands = sim.rng.sample(MICROGRIDS, sim.rng.choice([0, 1, 1, 2, 3, 4, 5]))
    for grid in hands:
        sim.schedule(sim.after_wd(0.05, 2.8), partial(sim.fire, cid, "raise_hand", f"{grid}.chief"))
    if hands and sim.chance(0.2):
        g = hands[0]
        sim.schedule(sim.after_wd(2.85, 2.95), lambda: sim.fire(cid, "withdraw_hand", f"{g}.chief"))

    def after_window():
        case = sim.engine.get(cid)
        if case.state == "selecting":
            picked = case.data["hands"][: case.data["max_awardees"]]
            sim.fire(cid, "award", f"{dept}.liaison", data={"award_to": picked})
        elif case.state == "unclaimed":
            if sim.chance(0.5):
                sim.fire(cid, "assign", "fenglin.head", data={"award_to": [sim.pick(MICROGRIDS)]})
            else:
                sim.fire(cid, "cancel", f"{dept}.liaison", comment="本期不再推进")
                return
        case = sim.engine.get(cid)
        if case.state == "awarded":
            sim.schedule(sim.after_wd(4, 12), submit)

    def submit():
        case = sim.engine.get(cid)
        if case.state != "awarded":
            return
        grid = case.data["awardees"][0]
        if sim.fire(cid, "submit", f"{grid}.chief", data={"result": "项目已完成，居民参与"}):
            sim.schedule(sim.after_wd(0.5, 3), review)

    def review():
        if sim.chance(0.85):
            sim.fire(cid, "accept", f"{dept}.liaison")
        elif sim.fire(cid, "send_back", f"{dept}.liaison", comment="成果材料不全"):
            sim.schedule(sim.after_wd(2, 5), submit)

    sim.schedule(sim.after_wd(3.2, 3.6), after_window)


# ---- the whole quarter ------------------------------------------------------------------------
def quarter_bounds(quarter: str, tz) -> tuple[datetime, datetime]:
    year, q = int(quarter[:4]), int(quarter[-1])
    start = datetime.combine(date(year, 3 * q - 2, 1), time(0, 0), tzinfo=tz)
    end_month = 3 * q + 1
    end = datetime.combine(
        date(year + end_month // 13, (end_month - 1) % 12 + 1, 1), time(0, 0), tzinfo=tz
    )
    return start.astimezone(UTC), end.astimezone(UTC)


def run(
    *,
    db_url: str,
    seed: int = 1,
    quarter: str = "2026Q3",
    days: int | None = None,
    scale: float = 1.0,
    progress: Callable[[int], None] | None = None,
    channels: Mapping[str, Channel] | None = None,
) -> DemoResult:
    """Simulate ``quarter`` (or its first ``days`` days) into ``db_url``, delivering the
    notices through ``channels`` once a virtual day (none: they stay in the outbox)."""
    from gridflow.service.engine import Engine

    rng = random.Random(seed)
    clock = VirtualClock(datetime(2000, 1, 1, tzinfo=UTC))
    engine = Engine(db_url, clock=clock)
    start, end = quarter_bounds(quarter, engine.calendar.tz)
    if days is not None:
        end = min(end, start + timedelta(days=days))
    clock.now = start
    dispatcher = engine.dispatcher(channels, fallback=next(iter(channels))) if channels else None
    last_day: dict[str, date | None] = {"day": None}

    def on_step(moment: datetime) -> None:
        local = moment.astimezone(engine.calendar.tz)
        if local.hour == 8 and local.minute == 30 and engine.calendar.is_working_day(local.date()):
            engine.digest(moment)
        if local.date() != last_day["day"]:
            last_day["day"] = local.date()
            if dispatcher is not None:
                dispatcher.run_once(moment)
            if progress:
                progress(1)

    sim = Simulation(engine, clock, rng, start, end, on_step)
    # arrivals: Poisson-ish per working day
    day = start
    while day < end:
        local = day.astimezone(engine.calendar.tz).date()
        if engine.calendar.is_working_day(local):
            for kind, rate in (("four", 2.6), ("grid", 3.2), ("dept", 0.25)):
                for _ in range(_poisson(rng, rate * scale)):
                    moment = datetime.combine(local, time(8, 30), tzinfo=engine.calendar.tz)
                    moment += timedelta(minutes=rng.randint(0, 540))
                    fn = {"four": four_list_case, "grid": grid_asks_case, "dept": dept_asks_case}[
                        kind
                    ]
                    sim.schedule(moment.astimezone(UTC), partial(fn, sim))
        day += timedelta(days=1)
    sim.schedule(start + timedelta(days=3), lambda: street_reviews_holds(sim))
    sim.run()
    if dispatcher is not None:
        dispatcher.run_once(end)
        dispatcher.close()
    result = DemoResult(db_url, (start, end), sim.counts, sim.refusals)
    engine.close()
    return result


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method: small rates only."""
    limit, k, p = pow(2.718281828459045, -lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
