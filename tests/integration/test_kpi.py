"""KPIs (``Engine.kpis``, the built-ins' ``kpis:`` blocks): every formula on hand-built cases
with known answers.

One small world is built through the real Engine (built-in workflows, the Fenglin sample org,
an injected clock) once per database — SQLite and PostgreSQL — and every test reads figures
from it. The timeline (Shanghai time, 2026 unless said; deadlines in working days end at
17:30):

four-list (all at the Wannan area, by ``wannan.chief``):
  I  listed 2025-12-30, written off 2026-01-06 (4.0 working days; lead police)   ← spans Q4→Q1
  A  listed 03-02, written off 03-03 (1.0 wd; lead police)
  B  listed 03-02, one rework, written off 03-04 (2.0 wd; lead city_mgmt)
  C  listed 03-02, written off 03-09 (5.0 wd; lead police)
  D  rejected 03-02;  E merged 03-02
  F  assigned (police), hold requested and approved 03-02; resumed 04-07          ← on hold at Q1 end
  J  three reworks 03-02, the third escalates to the street; stays escalated (lead city_mgmt)
  L  assigned (police) with deadline 03-10; the SLA tick on 03-16 escalates it (sla:escalate)
  G  listed 03-30, escalated to the street, then to the district (at_district, no clock)
  H  listed 03-31, written off 04-02 (2.0 wd; lead city_mgmt)                   ← spans Q1→Q2
grid asks (raised by micro-grid wannan-r1-m1, category normal = 5 wd to answer):
  Q1 city_mgmt: signed in 2 h, answered 03-03 (due 03-09), satisfied
  Q2 city_mgmt: signed after 2 wd (late), answered 03-12 (late), unsatisfied → answering
     (a fresh answer clock), answered 03-13 on time, basically satisfied
  Q3 police: extension asked 03-05 (clock paused), approved 03-06 (+3 wd → due 03-13),
     answered 03-12 — after the original deadline, on time with the extension; satisfied
  Q4 city_mgmt → returned → re-dispatched to police, signed, never answered (due ~03-10)
  Q5 market: returned and the return upheld
  Q6 police (03-25): signed, extension requested, still waiting (paused, due 04-01)
  Q7 city_mgmt: answered 03-10, confirmed by default by the SLA tick (auto_confirm)
  Q8 city_mgmt (03-31): signed, answered 04-02 (due 04-08) — its deadline lies in Q2
department asks:
  D1 police 03-02, first come: wannan-r1-m1 claims, submits, police accepts (completed)
  D2 police 03-03, select 2: hands wannan-r1-m2, ximu-r1-m1, wannan-r1 (a committee); award
  D3 city_mgmt 03-04: no hands (the claim window closes at the 03-16 tick: unclaimed)
  D4 police 04-02: wannan-r2-m1 claims
"now" for the overdue league is 04-10 09:00.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from conftest import pg_base_url, pg_unavailable
from test_four_list import sample_directory

from gridflow.domain.period import Period
from gridflow.errors import NotFound, PeriodError
from gridflow.service.kpi import ratio
from gridflow.storage.kpi import KpiQueries

SHANGHAI = ZoneInfo("Asia/Shanghai")
AREA, STREET, DISTRICT = "wannan.chief", "fenglin.head", "xuhui.head"
ASKER, DISPATCH = "wannan-r1-m1.chief", "fenglin.dispatch"
NOW = datetime(2026, 4, 10, 9, 0, tzinfo=SHANGHAI)
Q1, Q2 = Period.parse("2026Q1"), Period.parse("2026Q2")


def local(text: str) -> datetime:
    """'03-02 09:00' (2026) or '2025-12-30 09:00', Shanghai time."""
    if len(text) < 12:
        text = "2026-" + text
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


class Clock:
    def __init__(self) -> None:
        self.now = local("03-02 09:00")

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    engine: object
    clock: Clock
    ids: dict[str, int] = field(default_factory=dict)

    def at(self, when: str) -> World:
        self.clock.now = local(when)
        return self

    def start(self, name: str, when: str, workflow: str, actor: str, data: dict) -> int:
        self.at(when)
        self.ids[name] = self.engine.start(workflow, actor=actor, data=data).id
        return self.ids[name]

    def fire(self, name: str, when: str, trigger: str, actor: str, data=None, comment=None):
        self.at(when)
        return self.engine.fire(self.ids[name], trigger, actor=actor, data=data, comment=comment)


# ---- the world ------------------------------------------------------------------------------
def _problem(w: World, name: str, day: str, lead: str, deadline: str = "2026-03-31") -> None:
    """Listed at ``day`` 09:00, accepted and assigned to ``lead`` ten minutes apart."""
    w.start(name, f"{day} 09:00", "four_list", AREA, {"title": f"problem {name}"})
    w.fire(name, f"{day} 09:10", "accept", AREA)
    w.fire(name, f"{day} 09:20", "assign", AREA, {"lead_department": lead, "deadline": deadline})


def _inspect(w: World, name: str, when: str) -> None:
    """Report 20 minutes and submit for inspection 10 minutes before ``when``."""
    at = local(when)
    w.clock.now = at - timedelta(minutes=20)
    w.engine.fire(w.ids[name], "report", actor=AREA, data={"result": f"done {name}"})
    w.clock.now = at - timedelta(minutes=10)
    w.engine.fire(
        w.ids[name], "submit_for_inspection", actor=AREA, data={"residents_informed": True}
    )


def _written_off(w: World, name: str, day: str, lead: str, done: str) -> None:
    _problem(w, name, day, lead)
    _inspect(w, name, done)
    w.fire(name, done, "pass_inspection", AREA)


def _question(w: World, name: str, when: str, dept: str) -> None:
    """Raised by the micro-grid and dispatched at the same minute."""
    w.start(name, when, "raise_hand", ASKER, {"title": f"question {name}", "category": "normal"})
    w.fire(name, when, "dispatch", DISPATCH, {"department": dept})


def build_world(url: str) -> World:
    from gridflow.service.engine import Engine

    clock = Clock()
    w = World(Engine(url, clock=clock, directory=sample_directory()), clock)

    # ---- four-list
    _written_off(w, "I", "2025-12-30", "police", "2026-01-06 09:00")
    _written_off(w, "A", "03-02", "police", "03-03 09:00")
    _problem(w, "B", "03-02", "city_mgmt")
    _inspect(w, "B", "03-02 15:00")
    w.fire("B", "03-02 15:00", "rework", AREA, comment="not yet")
    _inspect(w, "B", "03-04 09:00")
    w.fire("B", "03-04 09:00", "pass_inspection", STREET)
    _written_off(w, "C", "03-02", "police", "03-09 09:00")
    w.start("D", "03-02 09:00", "four_list", AREA, {"title": "problem D"})
    w.fire("D", "03-02 09:30", "reject", AREA, {"reject_reason": "not_in_scope"}, "no")
    w.start("E", "03-02 09:00", "four_list", AREA, {"title": "problem E"})
    w.fire("E", "03-02 09:30", "merge", AREA, {"merged_into": w.ids["A"]}, "same as A")
    _problem(w, "F", "03-02", "police")
    w.fire("F", "03-02 10:00", "request_hold", AREA, {"hold_reason": "needs a budget"})
    w.fire("F", "03-02 10:30", "approve_hold", STREET)
    _problem(w, "J", "03-02", "city_mgmt")
    for i, hour in enumerate((10, 11, 14)):
        _inspect(w, "J", f"03-02 {hour}:00")
        case = w.fire("J", f"03-02 {hour}:00", "rework", AREA, comment=f"rework {i + 1}")
    assert case.state == "escalated" and case.data["reworks"] == 3
    _problem(w, "L", "03-02", "police", deadline="2026-03-10")

    # ---- grid asks
    _question(w, "Q1", "03-02 09:00", "city_mgmt")
    w.fire("Q1", "03-02 11:00", "sign", "city_mgmt.liaison")
    w.fire("Q1", "03-03 09:00", "answer", "city_mgmt.liaison", {"answer": "cleared"})
    w.fire("Q1", "03-03 10:00", "confirm", ASKER, {"satisfaction": "satisfied"})

    _question(w, "Q2", "03-02 09:00", "city_mgmt")
    w.fire("Q2", "03-04 09:00", "sign", "city_mgmt.liaison")
    w.fire("Q2", "03-12 09:00", "answer", "city_mgmt.liaison", {"answer": "later"})
    case = w.fire("Q2", "03-12 10:00", "confirm", ASKER, {"satisfaction": "unsatisfied"}, "no")
    assert case.state == "answering"
    w.fire("Q2", "03-13 09:00", "answer", "city_mgmt.liaison", {"answer": "now fixed"})
    w.fire("Q2", "03-13 10:00", "confirm", ASKER, {"satisfaction": "basically_satisfied"})

    _question(w, "Q3", "03-02 09:00", "police")
    w.fire("Q3", "03-02 10:00", "sign", "police.liaison")
    w.fire(
        "Q3",
        "03-05 09:00",
        "request_extension",
        "police.liaison",
        {"extension": "3wd", "extension_reason": "waiting for the landlord"},
    )
    case = w.fire("Q3", "03-06 09:00", "approve_extension", STREET)
    assert case.sla.due == local("03-13 17:30")  # 03-10 17:30 after the pause, then + 3 wd
    w.fire("Q3", "03-12 09:00", "answer", "police.liaison", {"answer": "resolved"})
    w.fire("Q3", "03-12 10:00", "confirm", ASKER, {"satisfaction": "satisfied"})

    _question(w, "Q4", "03-02 09:00", "city_mgmt")
    w.fire(
        "Q4",
        "03-02 10:00",
        "return",
        "city_mgmt.liaison",
        {"return_reason": "not_our_duty"},
        "police",
    )
    w.fire("Q4", "03-02 11:00", "redispatch", DISPATCH, {"department": "police"})
    w.fire("Q4", "03-02 14:00", "sign", "police.liaison")

    _question(w, "Q5", "03-03 09:00", "market")
    w.fire("Q5", "03-03 10:00", "return", "market.liaison", {"return_reason": "duplicate"}, "dup")
    w.fire("Q5", "03-03 11:00", "uphold_return", DISPATCH, comment="indeed")

    _question(w, "Q7", "03-10 09:00", "city_mgmt")
    w.fire("Q7", "03-10 10:00", "sign", "city_mgmt.liaison")
    w.fire("Q7", "03-10 15:00", "answer", "city_mgmt.liaison", {"answer": "done"})

    # ---- department asks
    w.start("D1", "03-02 09:00", "raise_hand", "police.liaison",
            {"direction": "dept_asks", "title": "patrol volunteers", "department": "police"})  # fmt: skip
    assert w.fire("D1", "03-02 10:00", "raise_hand", ASKER).state == "awarded"
    w.fire("D1", "03-10 09:00", "submit", ASKER, {"result": "12 volunteers"})
    assert w.fire("D1", "03-11 09:00", "accept", "police.liaison").state == "completed"
    w.start("D2", "03-03 09:00", "raise_hand", "police.liaison",
            {"direction": "dept_asks", "title": "anti-fraud talks", "department": "police",
             "award_policy": "select", "max_awardees": 2})  # fmt: skip
    w.fire("D2", "03-03 10:00", "raise_hand", "wannan-r1-m2.chief")
    w.fire("D2", "03-03 11:00", "raise_hand", "ximu-r1-m1.chief")
    w.fire("D2", "03-03 12:00", "raise_hand", "wannan-r1.chief")
    w.fire(
        "D2", "03-03 14:00", "award", "police.liaison", {"award_to": ["wannan-r1-m2", "ximu-r1-m1"]}
    )
    w.start("D3", "03-04 09:00", "raise_hand", "city_mgmt.liaison",
            {"direction": "dept_asks", "title": "bike parking", "department": "city_mgmt"})  # fmt: skip

    # ---- the SLA tick of 03-16: L escalated (sla:escalate), Q7 confirmed by default, D3 closes
    w.at("03-16 10:00")
    result = w.engine.tick(local("03-16 10:00"))
    assert not result.errors
    assert w.engine.get(w.ids["Q7"]).state == "closed"
    assert w.engine.get(w.ids["D3"]).state == "unclaimed"
    assert "sla:escalate" in [s.trigger for s in w.engine.history(w.ids["L"])]
    assert "sla:escalate" in [s.trigger for s in w.engine.history(w.ids["Q4"])]  # not four-list

    # ---- after the tick
    _question(w, "Q6", "03-25 09:00", "police")
    w.fire("Q6", "03-25 10:00", "sign", "police.liaison")
    w.fire(
        "Q6",
        "03-26 09:00",
        "request_extension",
        "police.liaison",
        {"extension": "2wd", "extension_reason": "site survey"},
    )
    w.start("G", "03-30 09:00", "four_list", AREA, {"title": "problem G"})
    w.fire("G", "03-30 09:10", "accept", AREA)
    w.fire("G", "03-30 09:20", "escalate", AREA, comment="too big for the area")
    w.fire("G", "03-30 10:00", "escalate_district", STREET, comment="too big for the street")
    _written_off(w, "H", "03-31", "city_mgmt", "04-02 09:00")
    _question(w, "Q8", "03-31 09:00", "city_mgmt")
    w.fire("Q8", "03-31 10:00", "sign", "city_mgmt.liaison")
    w.fire("Q8", "04-02 09:00", "answer", "city_mgmt.liaison", {"answer": "ok"})
    w.start("D4", "04-02 09:00", "raise_hand", "police.liaison",
            {"direction": "dept_asks", "title": "flood drill", "department": "police"})  # fmt: skip
    w.fire("D4", "04-02 10:00", "raise_hand", "wannan-r2-m1.chief")
    w.fire("F", "04-07 09:00", "resume", STREET, {"deadline": "2026-04-30"})
    w.at("04-10 09:00")
    return w


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def world(request, tmp_path_factory):
    """The world above, built once per database."""
    if request.param == "sqlite":
        w = build_world(f"sqlite:///{tmp_path_factory.mktemp('kpi') / 'kpi.db'}")
        yield w
        w.engine.close()
        return
    reason = pg_unavailable()
    if reason:
        pytest.skip(reason)
    import psycopg

    base, schema = pg_base_url(), f"gridflow_kpi_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    w = build_world(f"{base}{sep}options={quote(f'-csearch_path={schema}')}")
    try:
        yield w
    finally:
        w.engine.close()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def compute(engine, *, unit: str | None = None, period: Period, now=None) -> dict:
    """``engine.kpis``, each section's figures also at the top (``out["four_list"]``)."""
    out = engine.kpis(unit=unit, period=period, now=now)
    for sid, section in out["sections"].items():
        out[sid] = section["figures"]
    return out


def kpis(w: World, period: Period = Q1, unit: str | None = None) -> dict:
    return compute(w.engine, unit=unit, period=period, now=NOW)


# ---- four-list ------------------------------------------------------------------------------
def test_four_list_counts(world):
    f = kpis(world)["four_list"]
    # listed: A B C D E F G H J L (I was listed in December)
    assert f["listed"] == 10
    assert f["written_off"] == 4  # A B C and I (listed last year, written off in January)
    assert (f["rejected"], f["merged"]) == (1, 1)
    assert f["in_progress"] == 5  # F G H J L were open on 03-31 (H closes on 04-02)


def test_write_off_rate_is_of_the_periods_listed_less_rejected_and_merged(world):
    f = kpis(world)["four_list"]
    assert f["written_off_of_listed"] == 3  # A B C — not I, listed in 2025
    assert f["listed_kept"] == 8  # 10 listed − D (rejected) − E (merged)
    assert f["write_off_rate"] == 0.375


def test_working_days_to_write_off_mean_and_p90(world):
    f = kpis(world)["four_list"]
    # A 1.0, B 2.0, C 5.0, I 4.0 (Dec 30 → Jan 6 over the New Year holiday and its make-up
    # Sunday): mean 3.0; p90 continuous: rank 0.9 × 3 = 2.7 → 4.0 + 0.7 × (5.0 − 4.0)
    assert f["mean_days_to_write_off"] == 3.0
    assert f["p90_days_to_write_off"] == 4.7


def test_rework_rate(world):
    f = kpis(world)["four_list"]
    assert f["reworks"] == 4  # B once, J three times
    assert f["inspections"] == 8  # + pass_inspection of A B C I
    assert f["rework_rate"] == 0.5


def test_escalations_count_each_kind_once(world):
    f = kpis(world)["four_list"]
    assert {
        k: f[k] for k in ("area_to_street", "street_to_district", "third_rework", "sla_timer")
    } == {
        "area_to_street": 1,  # G
        "street_to_district": 1,  # G
        "third_rework": 1,  # J
        "sla_timer": 1,  # L; Q4's sla:escalate is a raise-hand case, not counted here
    }
    assert f["escalations"] == 4


def test_on_hold_is_the_state_at_the_period_end(world):
    assert kpis(world)["four_list"]["on_hold"] == 1  # F: on hold on 03-31, resumed 04-07
    assert kpis(world, Q2)["four_list"]["on_hold"] == 0


def test_a_case_spanning_the_period_boundary_counts_where_each_event_fell(world):
    f = kpis(world, Q2)["four_list"]
    assert f["listed"] == 0 and f["written_off"] == 1  # H: listed 03-31, written off 04-02
    assert f["mean_days_to_write_off"] == f["p90_days_to_write_off"] == 2.0
    assert f["in_progress"] == 4  # F G J L
    assert f["write_off_rate"] is None  # nothing listed in Q2: no denominator
    assert (f["inspections"], f["rework_rate"]) == (1, 0.0)  # H passed the first time
    month = kpis(world, Period.parse("2026-01"))["four_list"]
    assert (month["listed"], month["written_off"], month["in_progress"]) == (0, 1, 0)
    assert month["mean_days_to_write_off"] == 4.0  # I


# ---- grid asks --------------------------------------------------------------------------------
def test_grid_asks_counts(world):
    g = kpis(world)["grid_asks"]
    assert g["raised"] == 8  # Q1–Q8
    assert g["answered"] == 4  # Q1 Q2 Q3 Q7 (Q8 answered in April)


def test_on_time_answer_rate_counts_deadlines_due_in_the_period(world):
    g = kpis(world)["grid_asks"]
    # answer steps whose deadline fell in Q1: Q1 ✓, Q2 first ✗, Q2 second ✓ (a fresh clock
    # after the unsatisfied round), Q3 ✓ (late against the original deadline, on time with the
    # approved extension), Q7 ✓; plus Q4, open and past its deadline. Q5 (return upheld) owed
    # no answer; Q6 is paused for its extension request; Q8's deadline is in April.
    assert g["answers_on_time"] == 4 and g["answers_late"] == 1
    assert g["unanswered_overdue"] == 1
    assert g["answer_deadlines"] == 6
    assert g["on_time_answer_rate"] == ratio(4, 6) == 0.6667
    g2 = kpis(world, Q2)["grid_asks"]
    assert (g2["answer_deadlines"], g2["answers_on_time"], g2["on_time_answer_rate"]) == (1, 1, 1.0)


def test_sign_in_on_time_is_within_one_working_day(world):
    g = kpis(world)["grid_asks"]
    # Q2 signed after 2 working days; Q4's sign counts from the re-dispatch (1.5 h)
    assert (g["signs"], g["signs_on_time"]) == (7, 6)
    assert g["sign_on_time_rate"] == ratio(6, 7)


def test_return_upheld_and_extension_rates(world):
    g = kpis(world)["grid_asks"]
    assert g["dispatches"] == 9  # 8 dispatches + Q4's re-dispatch
    assert (g["returns"], g["return_rate"]) == (2, ratio(2, 9))  # Q4, Q5
    assert (g["upheld_returns"], g["upheld_return_rate"]) == (1, 0.5)  # Q5
    assert (g["extension_requests"], g["extensions_approved"], g["extensions_rejected"]) == (
        2,
        1,
        0,
    )
    assert g["extension_rate"] == ratio(2, 9)


def test_satisfaction_counts_explicit_confirmations_only(world):
    g = kpis(world)["grid_asks"]
    assert (g["satisfied"], g["basically_satisfied"], g["unsatisfied"]) == (2, 1, 1)
    assert g["confirmations"] == 4
    assert g["auto_confirmed"] == 1  # Q7: not a valid confirmation
    assert g["satisfaction_rate"] == 0.75 and g["unsatisfied_rate"] == 0.25


def test_rates_without_a_denominator_are_none(world):
    g = kpis(world, Q2)["grid_asks"]
    assert g["raised"] == 0 and g["answered"] == 1  # Q8
    for key in ("sign_on_time_rate", "return_rate", "upheld_return_rate", "extension_rate",
                "satisfaction_rate", "unsatisfied_rate"):  # fmt: skip
        assert g[key] is None, key


# ---- department asks --------------------------------------------------------------------------
def test_department_asks_for_everyone(world):
    d = kpis(world)["dept_asks"]
    assert (d["published"], d["responded"], d["completed"]) == (3, 2, 1)
    assert d["response_rate"] == ratio(2, 3) and d["completion_rate"] == ratio(1, 3)
    assert d["hands"] == 4
    # wannan-r1-m1, wannan-r1-m2, ximu-r1-m1 — not wannan-r1, a committee; of 30 micro-grids
    assert (d["participating_microgrids"], d["microgrids"]) == (3, 30)
    assert d["participation_rate"] == 0.1


def test_department_asks_for_an_area(world):
    d = kpis(world, unit="wannan")["dept_asks"]
    assert d["published"] == 3  # street-wide questions reach the area
    assert d["responded"] == 2 and d["hands"] == 3  # D1; D2 by wannan-r1-m2 and wannan-r1
    assert (d["participating_microgrids"], d["microgrids"]) == (2, 6)
    x = kpis(world, unit="ximu")["dept_asks"]
    assert (x["published"], x["responded"], x["hands"], x["participating_microgrids"]) == (
        3,
        1,
        1,
        1,
    )
    q2 = kpis(world, Q2)["dept_asks"]
    assert (q2["published"], q2["responded"], q2["completed"], q2["hands"]) == (1, 1, 0, 1)


# ---- overdue now --------------------------------------------------------------------------------
def test_overdue_league_by_unit_and_department(world):
    o = kpis(world)["overdue"]
    # J (escalated, due 03-09) and L (in progress, due 03-10) at wannan; Q4 (signed) and Q8
    # (answered, its confirmation due 04-08) at wannan-r1-m1; D2 (awarded) at police.
    # Not Q6: paused for its extension request although its deadline (04-01) has passed.
    assert [(r["rank"], r["unit"], r["overdue"]) for r in o["by_unit"]] == [
        (1, "wannan", 2),
        (2, "wannan-r1-m1", 2),
        (3, "police", 1),
    ]
    assert o["total"] == 5
    assert o["by_unit"][0]["oldest_due"] == local("03-09 17:30").astimezone(UTC).isoformat()
    assert o["by_unit"][0]["max_days_overdue"] > 20
    # the department owing the next move: L (lead police, in progress), Q4 (police, signed)
    assert [(r["department"], r["overdue"], r["name"]) for r in o["by_department"]] == [
        ("police", 2, "枫林路派出所")
    ]


def test_overdue_uses_now_not_the_period(world):
    early = compute(world.engine, period=Q1, now=local("03-05 09:00"))["overdue"]
    assert early["total"] == 0  # nothing was due yet on 03-05 (as far as today's rows say)


# ---- scopes -------------------------------------------------------------------------------------
def test_a_micro_grid_sees_its_own_questions_only(world):
    k = kpis(world, unit="wannan-r1-m1")
    assert k["four_list"]["listed"] == 0  # the problems sit at the area, above it
    assert k["grid_asks"]["raised"] == 8 and k["grid_asks"]["satisfaction_rate"] == 0.75
    assert (k["dept_asks"]["hands"], k["dept_asks"]["microgrids"]) == (1, 1)
    assert [r["unit"] for r in k["overdue"]["by_unit"]] == ["wannan-r1-m1"]
    assert k["unit_name"] == "宛南一村第1微网格" and k["unit_kind"] == "microgrid"


def test_a_unit_without_cases_has_zero_counts_and_no_rates(world):
    k = kpis(world, unit="ximu")
    assert k["four_list"]["listed"] == 0 and k["four_list"]["write_off_rate"] is None
    assert k["four_list"]["mean_days_to_write_off"] is None
    assert k["four_list"]["p90_days_to_write_off"] is None
    assert k["grid_asks"]["raised"] == 0 and k["grid_asks"]["on_time_answer_rate"] is None
    assert k["overdue"] == {"total": 0, "by_unit": [], "by_department": []}


def test_a_department_sees_the_work_it_owes(world):
    k = kpis(world, unit="police")
    assert k["four_list"]["listed"] == 4  # A C F L lead police
    assert k["four_list"]["written_off"] == 3  # A C I
    g = k["grid_asks"]
    assert g["raised"] == 3  # Q3 Q4 (re-dispatched to police) Q6
    assert (g["answer_deadlines"], g["answers_on_time"]) == (2, 1)  # Q3 on time, Q4 missed
    d = k["dept_asks"]
    assert (d["published"], d["responded"], d["completed"], d["hands"]) == (2, 2, 1, 4)
    assert sorted(r["unit"] for r in k["overdue"]["by_unit"]) == ["wannan", "wannan-r1-m1"]


def test_unknown_unit_is_not_found(world):
    with pytest.raises(NotFound, match="no-such-unit"):
        kpis(world, unit="no-such-unit")


def test_compute_is_json_ready(world):
    import json

    k = world.engine.kpis(unit="wannan", period=Q1, now=NOW)
    assert json.loads(json.dumps(k)) == k
    assert k["period"] == {
        "label": "2026Q1",
        "start": "2025-12-31T16:00:00+00:00",
        "end": "2026-03-31T16:00:00+00:00",
        "from": "2026-01-01",
        "to": "2026-03-31",
        "tz": "Asia/Shanghai",
    }


# ---- percentile -----------------------------------------------------------------------------------
def _percentile_cont(values: list[float], p: float) -> float:
    s = sorted(values)
    h = (len(s) - 1) * p
    lo = int(h)
    return s[lo] + (s[min(lo + 1, len(s) - 1)] - s[lo]) * (h - lo)


@pytest.mark.parametrize(
    "values",
    [[7.0], [1.0, 2.0], [3.0, 1.0, 2.0], list(map(float, range(1, 11))), [5.0, 5.0, 5.0, 9.5, 0.5]],
)
def test_percentile_matches_percentile_cont(db_url, values):
    from gridflow.storage.store import create_sa_engine

    eng = create_sa_engine(db_url)
    meta = sa.MetaData()
    tab = sa.Table(f"p_{uuid.uuid4().hex[:8]}", meta, sa.Column("v", sa.Float))
    try:
        meta.create_all(eng)
        with eng.begin() as conn:
            conn.execute(tab.insert(), [{"v": v} for v in values])
            q = KpiQueries(conn, eng.dialect.name)
            got = q.percentile(tab.c.v, sa.true(), frac=(9, 10), n=None)
            none = q.percentile(tab.c.v, tab.c.v < -1, frac=(9, 10), n=None)
        assert got == pytest.approx(_percentile_cont(values, 0.9))
        assert none is None
    finally:
        meta.drop_all(eng)
        eng.dispose()


# ---- periods ------------------------------------------------------------------------------------
def test_named_periods_are_local_and_half_open():
    q = Period.parse("2026Q1")
    assert q.start == datetime(2025, 12, 31, 16, tzinfo=UTC)
    assert q.end == datetime(2026, 3, 31, 16, tzinfo=UTC)
    assert Period.parse("2026-03") == Period(local("03-01 00:00"), local("04-01 00:00"))
    assert Period.parse("2026") == Period(local("01-01 00:00"), local("2027-01-01 00:00"))
    assert Period.parse("2026H2") == Period(local("07-01 00:00"), local("2027-01-01 00:00"))
    assert Period.parse("2026q4").label == "2026Q4"
    assert Period.parse("2026-12").end == local("2027-01-01 00:00")
    assert len(Period.parse("2026").months()) == 12


def test_date_ranges_include_the_last_day():
    p = Period.parse(start="2026-03-01", end="2026-03-15")
    assert (p.start, p.end) == (local("03-01 00:00"), local("03-16 00:00"))
    assert p.as_dict()["to"] == "2026-03-15"
    exact = Period.parse(start="2026-03-01T08:00", end="2026-03-01T12:00")
    assert (exact.start, exact.end) == (local("03-01 08:00"), local("03-01 12:00"))
    open_ended = Period.parse(start="2026-03-01", now=NOW)
    assert open_ended.end == NOW
    utc = Period.parse("2026-03", tz="UTC")
    assert utc.start == datetime(2026, 3, 1, tzinfo=UTC)


def test_no_period_means_this_year_so_far():
    p = Period.parse(now=NOW)
    assert (p.start, p.end, p.label) == (local("01-01 00:00"), NOW, "2026")


@pytest.mark.parametrize(
    ("kw", "says"),
    [
        ({"period": "2026Q5"}, "Q5 does not exist"),
        ({"period": "2026-13"}, "no month 13"),
        ({"period": "last year"}, "not a year, half, quarter or month"),
        ({"period": "2026", "start": "2026-01-01"}, "not both"),
        ({"end": "2026-01-01"}, "--to needs --from"),
        ({"start": "2026-03-10", "end": "2026-03-01"}, "ends before it starts"),
        ({"start": "tomorrow"}, "is not a date"),
        ({"period": "2026", "tz": "Mars/Olympus"}, "unknown timezone"),
    ],
)
def test_bad_periods_say_what_is_wrong(kw, says):
    with pytest.raises(PeriodError, match=says):
        Period.parse(**kw)


def test_an_in_memory_database_reports_too():
    """One connection per thread (``sqlite://``): the two passes run one after the other."""
    from gridflow.service.engine import Engine

    engine = Engine("sqlite://", clock=lambda: datetime(2026, 3, 2, 2, tzinfo=UTC))
    engine.start("raise_hand", actor="wannan-r1.chief", data={"title": "x"})
    out = engine.kpis(unit="fenglin", period=Q1)
    assert out["sections"]["grid_asks"]["figures"]["raised"] == 1
    engine.close()
