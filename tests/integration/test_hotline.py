"""A workflow an ops admin writes gets reports, checks and attribution — with no code change
(issue #15).

``tests/data/hotline/`` is a third process written from the docs alone (a 12345 citizen-hotline
work order: sign-in within one working hour, 1/5/15 working days to handle by kind, returns
only before signing, one extension, a reply, a next-day callback, a second round, street
supervision) with its notice templates. No Python names it. Here it runs on the real engine
(SQLite file, the sample org, an injected clock) and must get: a clean ``validate``, its
notices rendered from its templates, a report section of the generic figures and its
headline, attribution to the unit responsible at each step (a re-dispatch from the police to
city management counts under city management from then on; a committee handling an order
counts it), the overdue league by the party owing the next move, an xlsx sheet and a yearly
page section — and the ladder, ``max:`` and ``pause: [..]`` doing their work.

The timeline (Shanghai time, 2026; Monday 03-02):
  H1 help (5 wd)      dispatched to police 09:10, returned 09:30 (not signed), re-dispatched to
                      city_mgmt 10:00, signed 10:30, never replied (due 03-09 17:30)
  H2 help (5 wd)      city_mgmt, signed 09:20, never replied (due 03-09 17:30)
  H3 complaint (15wd) wannan-r1 (a committee), dispatched 11:00 (sign-in due 13:30: the lunch
                      break does not count), signed 13:20, one extension (+5 wd), a second one
                      refused; replied 03-05, callback paused while the citizen is away,
                      unsatisfied → second round, replied 03-06, unsatisfied again → street
                      supervision (the second round's ``max: 1`` passes), concluded
  H4 consult (1 wd)   city_mgmt, signed, replied 03-03 09:00 (on time), confirmed satisfied
  H5 help             handling by city_mgmt, waiting for the citizen, parked: ``give_up`` is
                      the system's
"now" for the league is 03-10 09:00 (H1, H2 past due, before their ladder's 1 wd rung).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import DATA
from test_four_list import sample_directory

from gridflow.domain.period import Period
from gridflow.errors import GuardRefused, RoleRefused

SH = ZoneInfo("Asia/Shanghai")
HOTLINE = DATA / "hotline"
DISPATCH, HEAD = "fenglin.dispatch", "fenglin.head"
Q1 = Period.parse("2026Q1")


def at(text: str) -> datetime:
    return datetime.fromisoformat(f"2026-{text}").replace(tzinfo=SH)


NOW = at("03-10 09:00")


class Clock:
    def __init__(self) -> None:
        self.now = at("03-02 09:00")

    def __call__(self) -> datetime:
        return self.now


class World:
    def __init__(self, url: str):
        from gridflow.service.engine import Engine

        self.clock = Clock()
        self.engine = Engine(url, HOTLINE, clock=self.clock, directory=sample_directory())
        self.ids: dict[str, int] = {}
        self.refusals: list[str] = []

    def start(self, name: str, when: str, kind: str) -> None:
        self.clock.now = at(when)
        case = self.engine.start(
            "hotline", actor=DISPATCH, data={"title": f"order {name}", "kind": kind}
        )
        self.ids[name] = case.id

    def fire(self, name: str, when: str, trigger: str, actor: str, data=None, comment=None):
        self.clock.now = at(when)
        return self.engine.fire(self.ids[name], trigger, actor=actor, data=data, comment=comment)


def build(url: str) -> World:
    w = World(url)
    w.start("H1", "03-02 09:00", "help")
    w.fire("H1", "03-02 09:10", "dispatch", DISPATCH, {"handler": "police"})
    w.fire("H1", "03-02 09:30", "return", "police.liaison", {"return_reason": "not ours"})
    w.fire("H1", "03-02 10:00", "redispatch", DISPATCH, {"handler": "city_mgmt"})
    w.fire("H1", "03-02 10:30", "sign", "city_mgmt.liaison")

    w.start("H2", "03-02 09:00", "help")
    w.fire("H2", "03-02 09:10", "dispatch", DISPATCH, {"handler": "city_mgmt"})
    w.fire("H2", "03-02 09:20", "sign", "city_mgmt.liaison")

    w.start("H3", "03-02 10:50", "complaint")
    w.fire("H3", "03-02 11:00", "dispatch", DISPATCH, {"handler": "wannan-r1"})
    w.fire("H3", "03-02 13:20", "sign", "wannan-r1.chief")
    ext = {"extension": "5wd", "extension_reason": "needs the property company"}
    w.fire("H3", "03-03 09:00", "request_extension", "wannan-r1.chief", ext)
    w.fire("H3", "03-03 10:00", "approve_extension", HEAD)
    w.clock.now = at("03-04 09:00")
    try:  # a second extension: refused, naming the limit
        w.engine.fire(w.ids["H3"], "request_extension", actor="wannan-r1.chief", data=ext)
    except GuardRefused as exc:
        w.refusals.append(str(exc))
    w.fire("H3", "03-05 09:00", "reply", "wannan-r1.chief", {"reply": "pipe fixed"})
    w.fire("H3", "03-05 10:00", "wait_for_citizen", DISPATCH)  # pauses the callback clock
    w.fire("H3", "03-05 11:00", "citizen_back", DISPATCH)
    w.fire("H3", "03-05 14:00", "unsatisfied", DISPATCH)  # the second round (max: 1)
    w.fire("H3", "03-06 09:00", "reply", "wannan-r1.chief", {"reply": "roof sealed"})
    w.fire("H3", "03-06 10:00", "unsatisfied", DISPATCH)  # the limit passed: supervision
    w.fire("H3", "03-06 11:00", "conclude", HEAD, comment="done")

    w.start("H4", "03-02 09:00", "consult")
    w.fire("H4", "03-02 09:10", "dispatch", DISPATCH, {"handler": "city_mgmt"})
    w.fire("H4", "03-02 09:30", "sign", "city_mgmt.liaison")
    w.fire("H4", "03-03 09:00", "reply", "city_mgmt.liaison", {"reply": "answered by phone"})
    w.fire("H4", "03-03 10:00", "confirm", DISPATCH, {"satisfaction": "satisfied"})

    w.start("H5", "03-02 09:00", "help")
    w.fire("H5", "03-02 09:10", "dispatch", DISPATCH, {"handler": "city_mgmt"})
    w.fire("H5", "03-02 09:30", "sign", "city_mgmt.liaison")
    w.fire("H5", "03-02 10:00", "wait_for_citizen", "city_mgmt.liaison")
    w.fire("H5", "03-02 10:30", "park", DISPATCH)
    return w


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = build(f"sqlite:///{tmp_path_factory.mktemp('hotline') / 'h.db'}")
    yield w
    w.engine.close()


def figures(w: World, unit: str | None = None, now: datetime = NOW) -> dict:
    return w.engine.kpis(unit=unit, period=Q1, now=now)


# ---- validate --------------------------------------------------------------------------------
def test_it_validates_clean_with_its_templates_in_both_languages():
    from gridflow.domain.site_checks import validate_site
    from gridflow.service.definitions import BUILTIN_WORKFLOWS

    loaded, problems = validate_site(
        [HOTLINE / "hotline.yaml"],
        template_roots=[HOTLINE, BUILTIN_WORKFLOWS],
        languages={"zh-CN", "en"},
    )
    assert problems == [] and list(loaded) == ["hotline"]


def test_a_missing_english_template_is_a_located_error(tmp_path: Path):
    import shutil

    from gridflow.domain.site_checks import validate_site
    from gridflow.service.definitions import BUILTIN_WORKFLOWS

    site = tmp_path / "site"
    shutil.copytree(HOTLINE, site)
    (site / "templates" / "hotline" / "returned.en.txt").unlink()
    _, problems = validate_site(
        [site / "hotline.yaml"], template_roots=[site, BUILTIN_WORKFLOWS], languages={"zh-CN", "en"}
    )
    assert [str(p) for p in problems] == [
        f"{site}/hotline.yaml:69:10: states.returned.notify[0].template: notice 'returned' has "
        "no template in en (templates/hotline/returned.<lang>.txt); the org's people read en, "
        "zh-CN — write it, or set fallback_language"
    ]
    text = (site / "hotline.yaml").read_text(encoding="utf-8")
    (site / "hotline.yaml").write_text(
        text.replace("initial: received\n", "initial: received\nfallback_language: zh-CN\n"),
        encoding="utf-8",
    )
    loaded, problems = validate_site(
        [site / "hotline.yaml"], template_roots=[site, BUILTIN_WORKFLOWS], languages={"zh-CN", "en"}
    )
    assert problems == [] and list(loaded) == ["hotline"]


# ---- running it --------------------------------------------------------------------------------
def test_sign_in_within_one_working_hour_skips_the_lunch_break(world):
    history = world.engine.history(world.ids["H3"])
    sign = next(s for s in history if s.trigger == "sign")
    assert sign.late_by is None
    dispatched = next(s for s in history if s.trigger == "dispatch")
    assert dispatched.at == at("03-02 11:00")
    # the sign clock ran 11:00–11:30 and 13:00–13:20: on time (due 13:30)
    with world.engine.store.read() as tx:
        rows = world.engine.store.cases.history(tx, world.ids["H3"])
    row = next(r for r in rows if r.trigger == "sign")
    assert row.due_at == at("03-02 13:30") and row.late_s is None


def test_its_notices_are_rendered_from_its_own_templates(world):
    sent = world.engine.outbox.notices(limit=500)
    assignment = [n for n in sent if n.notice == "assignment" and n.case_id == world.ids["H1"]]
    subjects = {n.subject for n in assignment}
    # police first, then city management (the re-dispatch): each in its own language
    assert any(s.startswith("【枫林路街道】新热线工单：order H1") for s in subjects), subjects
    assert not any("template problem" in n.text for n in sent)


def test_one_extension_then_the_limit_names_itself(world):
    case_id = world.ids["H3"]
    assert world.refusals == [
        f"cannot 'request_extension' case {case_id}: at most 1 time per case (max: 1), "
        "and it has been taken 1"
    ]
    steps = [s.trigger for s in world.engine.history(case_id)]
    assert steps.count("request_extension") == 1


def test_second_round_once_then_supervision_and_a_paused_callback(world):
    case_id = world.ids["H3"]
    steps = [(s.trigger, s.to_state) for s in world.engine.history(case_id)]
    assert steps[-7:] == [
        ("reply", "callback"),
        ("wait_for_citizen", "waiting_paused"),
        ("citizen_back", "callback"),
        ("unsatisfied", "handling"),  # the first branch: max 1
        ("reply", "callback"),
        ("unsatisfied", "supervised"),  # the first branch at its limit is passed over
        ("conclude", "closed"),
    ]
    with world.engine.store.read() as tx:
        rows = {r.seq: r for r in world.engine.store.cases.history(tx, case_id)}
    first_verdict = next(r for r in rows.values() if r.trigger == "unsatisfied")
    # the callback was due the next working day (03-06 17:30); the hour the citizen was away
    # (pause: [handle, callback]) moved it by one working hour, over the weekend
    assert first_verdict.due_at == at("03-09 09:30")
    assert world.engine.get(case_id).data["satisfaction"] == "unsatisfied"


def test_the_system_s_own_trigger_is_never_offered_to_people(world):
    from gridflow.drivers.cli.render import case_text

    case_id = world.ids["H5"]
    assert world.engine.get(case_id).state == "waiting"
    assert world.engine.available_triggers(case_id, DISPATCH) == []
    text = case_text(world.engine.get(case_id), world.engine, tz=SH)
    assert "  next      -" in text and "give_up" not in text
    with pytest.raises(RoleRefused, match="only the system fires it"):
        world.engine.fire(case_id, "give_up", actor=DISPATCH)


# ---- the report ------------------------------------------------------------------------------
def test_a_report_section_of_the_generic_figures_with_its_headline(world):
    section = figures(world)["sections"]["hotline"]
    f = section["figures"]
    assert list(figures(world)["sections"]) == ["hotline"]
    assert (f["opened"], f["closed"], f["open_at_end"]) == (5, 2, 3)  # H3 H4 closed by 03-06
    assert f["at_street"] == 0  # none waits with the street at the end of Q1 (as known now)
    # handle deadlines due in Q1: H4 met, H3 twice met (a fresh clock for the second round);
    # H1 and H2 missed and still open; H5 is waiting (its clock paused before the deadline)
    assert (f["handle_deadlines"], f["handle_on_time"], f["handle_on_time_rate"]) == (5, 3, 0.6)
    assert (f["returns"], f["extensions"], f["escalations"]) == (1, 1, 0)
    assert f["overdue"] == 2
    assert section["headline"] == {
        "zh": "本期受理热线工单5件，办结2件，按时办结率60.0%。",
        "en": "5 hotline orders received, 2 closed, 60.0% handled on time.",
    }
    labels = {m["key"]: m["label"]["zh"] for m in section["metrics"]}
    assert labels["opened"] == "新增" and labels["handle_on_time_rate"] == "按时完成率（handle）"


def test_attribution_follows_the_responsible_unit_at_each_step(world):
    police = figures(world, "police")["sections"]["hotline"]["figures"]
    city = figures(world, "city_mgmt")["sections"]["hotline"]["figures"]
    committee = figures(world, "wannan-r1")["sections"]["hotline"]["figures"]
    # H1 was the police's until its return: the return counts for the police, the order
    # (and everything after the re-dispatch) for city management
    assert (police["opened"], police["returns"]) == (0, 1)
    assert (city["opened"], city["returns"], city["overdue"]) == (4, 0, 2)
    # a committee handling an order counts it, though the order sits at the street
    assert (committee["opened"], committee["closed"], committee["extensions"]) == (1, 1, 1)
    assert figures(world, "ximu")["sections"]["hotline"]["figures"]["opened"] == 0


def test_unit_city_mgmt_shows_its_overdue_orders(world):
    league = figures(world, "city_mgmt")["overdue"]
    assert league["total"] == 2
    assert [(r["department"], r["overdue"]) for r in league["by_department"]] == [("city_mgmt", 2)]
    whole = figures(world)["overdue"]
    assert [(r["unit"], r["overdue"]) for r in whole["by_unit"]] == [("fenglin", 2)]
    assert [(r["department"], r["overdue"]) for r in whole["by_department"]] == [("city_mgmt", 2)]
    assert figures(world, "police")["overdue"]["total"] == 0


def test_xlsx_and_yearly_page_show_the_section(world, tmp_path):
    from openpyxl import load_workbook

    from gridflow.report import as_table, write_xlsx, yearly_html

    k = figures(world, "city_mgmt")
    write_xlsx(k, tmp_path / "h.xlsx")
    wb = load_workbook(tmp_path / "h.xlsx")
    assert wb.sheetnames == ["about", "hotline", "overdue_by_unit", "overdue_by_department"]
    rows = {r[0]: r for r in wb["hotline"].iter_rows(min_row=2, values_only=True)}
    assert rows["opened"][1:3] == ("新增", 4)
    assert rows["handle_on_time_rate"][3] == "handle_on_time ÷ handle_deadlines"
    assert "12345热线工单" in as_table(k) and "城管中队" in as_table(k)
    world.clock.now = NOW
    html = yearly_html(world.engine, "wannan-r1", 2026)
    assert "12345热线工单" in html and "order H3" in html and "宛南一村居民区" in html
    assert html.count("<svg") == 2  # months and states: the section declares no chart
    english = yearly_html(world.engine, "wannan-r1", 2026, "en")
    assert "Hotline orders" in english and "Citizen&#39;s verdict" in english


def test_the_ladder_escalates_and_moves_the_case(tmp_path):
    w = build(f"sqlite:///{tmp_path / 'ladder.db'}")
    try:
        result = w.engine.tick(at("03-11 09:00"))  # one working day past the 03-09 deadline
        assert not result.errors
        for name in ("H1", "H2"):
            case = w.engine.get(w.ids[name])
            assert case.state == "supervised"
            steps = [(s.trigger, s.actor) for s in w.engine.history(case.id)][-2:]
            assert steps == [("sla:escalate", "system"), ("supervise", "system")]
        city = figures(w, "city_mgmt", now=at("03-11 09:00"))["sections"]["hotline"]
        assert city["figures"]["escalations"] == 2
        # supervision is a state the handler owes a move in: still its, not yet overdue
        assert figures(w, "city_mgmt", now=at("03-11 09:00"))["overdue"]["total"] == 0
    finally:
        w.engine.close()


def test_the_report_command_with_the_hotline_folder(world, tmp_path, monkeypatch):
    import json

    from click.testing import CliRunner

    from gridflow.drivers.cli.main import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRIDFLOW_NOW", NOW.isoformat())
    url = str(world.engine.store.safe_url)
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            url,
            "--workflows",
            str(HOTLINE),
            "report",
            "--unit",
            "city_mgmt",
            "--period",
            "2026Q1",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["sections"]["hotline"]["figures"]["opened"] == 4


def test_a_state_only_the_system_moves_on_says_so(world):
    from gridflow.errors import InvalidTrigger

    with pytest.raises(InvalidTrigger) as info:
        world.engine.fire(world.ids["H5"], "reply", actor="city_mgmt.liaison", data={"reply": "x"})
    assert str(info.value).endswith(
        "in state 'waiting'; allowed here: nothing by hand (the system moves it on)"
    )


def test_a_workflow_without_a_kpis_block_still_gets_its_section(engine):
    """tests/data's ticket, lab and counter declare no ``kpis:``: each gets the generic set."""
    from conftest import T0

    case = engine.start("ticket", actor="li.clerk", data={"title": "noise at night"})
    engine.fire(case.id, "reject", actor="li.clerk", comment="not ours")
    engine.start("ticket", actor="li.clerk", data={"title": "litter"})
    out = engine.kpis(period=Period.parse("2025"), now=T0)
    assert list(out["sections"]) == ["counter", "lab", "ticket"]
    ticket = out["sections"]["ticket"]
    assert ticket["label"] == {"zh": "居民诉求", "en": "Resident ticket"}
    f = ticket["figures"]
    assert (f["opened"], f["closed"], f["open_at_end"], f["overdue"]) == (2, 1, 1, 0)
    assert set(f) == {"opened", "closed", "open_at_end", "overdue"}  # no clock, no marks


def test_a_reader_without_a_template_gets_the_workflows_fallback_language(tmp_path: Path):
    """A person reading Uyghur (no template in it): the notice owed to them is rendered at
    delivery in the workflow's ``fallback_language`` (en here), not the default zh-CN."""
    import dataclasses
    import shutil

    from gridflow.service.engine import Engine

    site = tmp_path / "site"
    shutil.copytree(HOTLINE, site)
    text = (site / "hotline.yaml").read_text(encoding="utf-8")
    (site / "hotline.yaml").write_text(
        text.replace("initial: received\n", "initial: received\nfallback_language: en\n"),
        encoding="utf-8",
    )
    directory = sample_directory()
    directory.people = {k: dataclasses.replace(p, lang="ug") for k, p in directory.people.items()}
    clock = Clock()
    engine = Engine(f"sqlite:///{tmp_path / 'h.db'}", site, clock=clock, directory=directory)
    got: list = []

    class Sink:
        name = "email"

        def deliver(self, notice) -> None:  # type: ignore[no-untyped-def]
            got.append(notice)

        def close(self) -> None:
            pass

    try:
        case = engine.start("hotline", actor=DISPATCH, data={"title": "路灯不亮", "kind": "help"})
        engine.fire(case.id, "dispatch", actor=DISPATCH, data={"handler": "police"})
        engine.dispatcher({"email": Sink()}).run_once()
    finally:
        engine.close()
    assignment = [n for n in got if n.notice == "assignment"]
    assert assignment and all(
        n.lang == "ug" and 'dispatched the citizen\'s request "路灯不亮"' in n.text
        for n in assignment
    ), [n.text for n in assignment]
