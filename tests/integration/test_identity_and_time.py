"""Who acts, and when: issue #17, finding 8 — and the engine's side of findings 1, 4 and 7.

On the old main ``Engine.fire`` recorded an invented ``Actor("ghost", grants=…)``, let
``Actor("mallory", system=True)`` fire a system-only trigger, and recorded a step dated
before the case's previous one (an injected clock, ``GRIDFLOW_NOW``). A guard refused by the
sandbox escaped as a raw ``jinja2.SecurityError``, ids past 2**63 were an ``OverflowError``
from SQLite, and ``find(limit=-1)`` returned everything.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from conftest import DATA

from gridflow.domain.org import SYSTEM, Actor, Grant
from gridflow.errors import GridflowError, GuardRefused, MissingFields, NotFound, RoleRefused

pytestmark = pytest.mark.usefixtures("any_engine")


@pytest.fixture
def engine(any_engine):
    return any_engine


def _ticket(engine, actor="li.clerk"):
    return engine.start("ticket", actor=actor, data={"title": "楼道堆物"})


# ---- identity -------------------------------------------------------------------------------


def test_an_invented_person_is_refused_and_nothing_is_recorded(engine):
    case = _ticket(engine)
    ghost = Actor("ghost", "Ghost", (Grant("clerk", "fenglin"),))
    with pytest.raises(NotFound) as info:
        engine.fire(case.id, "assign", actor=ghost, data={"department": "police"})
    assert (info.value.kind, info.value.key) == ("person", "ghost")
    with pytest.raises(NotFound):
        engine.start("ticket", actor=ghost, data={"title": "x"})
    assert [s.trigger for s in engine.history(case.id)] == ["start"]


def test_a_real_person_with_grants_the_directory_does_not_give_is_refused(engine, directory):
    case = _ticket(engine)
    real = directory.people["chen.grid"]  # a grid worker: no clerk role
    forged = Actor(real.id, real.name, (*real.grants, Grant("clerk", "fenglin")))
    with pytest.raises(RoleRefused) as info:
        engine.fire(case.id, "assign", actor=forged, data={"department": "police"})
    assert "grants the org directory does not give them (grid@g1, clerk@fenglin)" in str(info.value)
    assert "the directory gives: grid@g1" in str(info.value)
    # the directory's own person object is fine, and is what acts
    assert (
        engine.fire(
            case.id, "assign", actor=directory.people["li.clerk"], data={"department": "police"}
        ).state
        == "assigned"
    )
    assert engine.actor(Actor("li.clerk", "someone else", (Grant("clerk", "fenglin"),))).name == (
        "李受理"
    )


@pytest.mark.parametrize(
    "who", [Actor("mallory", system=True), SYSTEM, Actor("li.clerk", system=True), "system"]
)
def test_no_caller_acts_as_the_system(engine, who):
    case = _ticket(engine)
    with pytest.raises(RoleRefused) as info:
        engine.fire(case.id, "close", actor=who)
    assert "cannot act as the system" in str(info.value)
    with pytest.raises(RoleRefused):
        engine.available_triggers(case.id, who)


def test_the_identity_check_stands_alone_for_other_drivers(directory):
    from gridflow.service.identity import person

    assert person(directory, "li.clerk") is directory.people["li.clerk"]
    with pytest.raises(NotFound) as info:
        person(directory, "li.clerc")
    assert "did you mean 'li.clerk'" in str(info.value)
    with pytest.raises(NotFound):
        person(directory, 42)  # type: ignore[arg-type]


# ---- time only moves forward ----------------------------------------------------------------


def test_a_step_before_the_last_one_is_refused_naming_both_local_times(engine, clock):
    case = _ticket(engine)
    engine.fire(case.id, "assign", actor="li.clerk", data={"department": "police"})
    clock.advance(hours=-3)  # T0 is 10:00 in Shanghai: now 07:00
    with pytest.raises(GridflowError) as info:  # a Backdated refusal
        engine.fire(case.id, "answer", actor="cop", data={"answer": "done"})
    assert str(info.value) == (
        f"cannot 'answer' case {case.id} at 2025-03-03 07:00: its last step was at "
        "2025-03-03 10:00 (Asia/Shanghai); a step cannot be recorded before the one it follows"
    )
    assert type(info.value).__name__ == "Backdated"
    assert info.value.at < info.value.last_at  # type: ignore[attr-defined]
    assert len(engine.history(case.id)) == 2
    clock.advance(hours=3, seconds=-2)  # a clock a moment behind (another host's, a lock wait)
    assert engine.fire(case.id, "answer", actor="cop", data={"answer": "done"}).version == 3
    steps = engine.history(case.id)
    assert steps[2].at == steps[1].at  # recorded at the last step's time, never before it


# ---- the engine's side of the other findings --------------------------------------------------


def test_ids_past_64_bits_are_not_found_and_limits_are_checked(engine):
    for big in (2**63, 2**70, 0, -1):
        with pytest.raises(NotFound):
            engine.get(big)
        with pytest.raises(NotFound):
            engine.history(big)
        with pytest.raises(NotFound):
            engine.fire(big, "assign", actor="li.clerk")
    for limit in (-1, 0, 2**70, 10_001):
        with pytest.raises(GridflowError) as info:  # InvalidArgument
            engine.find(limit=limit)
        assert "limit" in str(info.value) and "from 1 to 10000" in str(info.value)
    with pytest.raises(GridflowError):
        engine.find(offset=-5)


def test_a_duration_a_person_supplies_is_capped_naming_the_field(engine, clock):
    from gridflow.service.engine import Engine

    raise_hand = Engine(engine.store.url, None, clock=clock)  # the built-in workflows
    try:
        for value, words in (
            ("2000000wd", "longer than the longest gridflow accepts"),
            ("400wd", "longer than the cap of 366d"),
            ("9" * 300 + "h", "longer than 64 characters"),
        ):
            started = time.perf_counter()
            with pytest.raises(MissingFields) as info:
                raise_hand.start(
                    "raise_hand",
                    actor="police.liaison",
                    data={
                        "direction": "dept_asks",
                        "title": "t",
                        "department": "police",
                        "claim_window": value,
                    },
                )
            assert "claim_window:" in str(info.value) and words in str(info.value)
            assert time.perf_counter() - started < 30  # a hang guard; it takes milliseconds
    finally:
        raise_hand.close()


def test_year_9999_is_quick_and_a_deadline_past_it_is_refused_cleanly(make_engine, db_url, clock):
    engine = make_engine(db_url)
    case = _ticket(engine)  # in 2025
    clock.now = clock.now.replace(year=9999, month=12, day=31, hour=15, minute=59)
    started = time.perf_counter()  # the step's working time since 2025: counted, not walked
    engine.fire(case.id, "reject", actor="li.clerk", comment="eight thousand years late")
    assert time.perf_counter() - started < 30  # a hang guard: it takes milliseconds
    builtin = make_engine(db_url, None, directory=None)
    with pytest.raises(
        GridflowError
    ) as info:  # a TimeRangeError  # its claim window ends in year 10000
        builtin.start(
            "raise_hand",
            actor="police.liaison",
            data={"direction": "dept_asks", "title": "t", "department": "police"},
        )
    assert "outside the years 1–9999" in str(info.value)


def test_a_sandbox_refusal_at_run_time_is_a_guard_refusal(make_engine, db_url, tmp_path):
    text = (DATA / "ticket.yaml").read_text(encoding="utf-8")
    (tmp_path / "wf").mkdir()
    (tmp_path / "wf" / "ticket.yaml").write_text(
        text.replace('when: "data.reopens >= 1"', 'when: "data.title[data.answer]"')
    )
    engine = make_engine(db_url, tmp_path / "wf")
    case = _ticket(engine)
    engine.fire(case.id, "assign", actor="li.clerk", data={"department": "police"})
    engine.fire(case.id, "answer", actor="cop", data={"answer": "__class__"})
    with pytest.raises(GuardRefused) as info:
        engine.fire(case.id, "reopen", actor="li.clerk", comment="again")
    assert "refused by the sandbox" in str(info.value)


def test_an_expression_over_budget_costs_the_write_lock_little(make_engine, db_url, tmp_path):
    """A ``set`` value making 2**40 macro calls is refused within its budget, while another
    person's event on another case goes through."""
    text = (DATA / "ticket.yaml").read_text(encoding="utf-8")
    macro = "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}"
    (tmp_path / "wf").mkdir()
    (tmp_path / "wf" / "ticket.yaml").write_text(
        text.replace(
            'set: {reopens: "{{ data.reopens + 1 }}"}\n    checks',
            f"set: {{answer: '{macro}'}}\n    checks",
        )
    )
    engine = make_engine(db_url, tmp_path / "wf")
    attacked, other = _ticket(engine), _ticket(engine)
    engine.fire(attacked.id, "assign", actor="li.clerk", data={"department": "police"})
    engine.fire(attacked.id, "answer", actor="cop", data={"answer": "a"})
    done = threading.Event()
    errors: list[BaseException] = []

    def attack() -> None:
        try:
            for _ in range(3):
                with pytest.raises(GuardRefused):
                    engine.fire(attacked.id, "reopen", actor="li.clerk", comment="c")
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            done.set()

    worker = threading.Thread(target=attack)
    worker.start()
    assert engine.fire(other.id, "assign", actor="li.clerk", data={"department": "police"})
    worker.join(60)
    assert done.is_set() and not errors, errors
    assert engine.get(attacked.id).version == 3  # nothing of the refused events was written


def test_clock_far_in_the_past_cannot_rewrite_history_of_spawned_work(engine, clock):
    case = _ticket(engine)
    clock.advance(days=2)
    engine.fire(case.id, "assign", actor="li.clerk", data={"department": "police"})
    clock.now -= timedelta(days=1)
    with pytest.raises(GridflowError, match="a step cannot be recorded before"):
        engine.fire(case.id, "answer", actor="cop", data={"answer": "x"})


def test_a_declared_service_account_acts_as_itself_and_no_more():
    """A service account of ``service_accounts:`` is resolved to the directory's own actor,
    by id or as given; one claiming grants the directory does not give it is refused."""
    import dataclasses

    from conftest import DATA

    from gridflow.domain.org import Grant
    from gridflow.domain.org_loader import load_org_file
    from gridflow.service.identity import person

    directory = load_org_file(DATA.parent / "data_http" / "org.yaml")
    account = directory.service_accounts["hotline.app"].actor
    assert person(directory, "hotline.app") is account
    assert person(directory, account) is account
    forged = dataclasses.replace(account, grants=(*account.grants, Grant("street_head", "fenglin")))
    with pytest.raises(RoleRefused):
        person(directory, forged)
