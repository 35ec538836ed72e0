"""Races: 50 grids claim one first-come question at once.

- threads on a SQLite file (one shared Engine, or one Engine per thread);
- processes on PostgreSQL (``GRIDFLOW_TEST_PG``; conftest's ``pg_url`` gives each test a fresh
  schema and skips with the connect error when the server is unreachable): a spawn pool of 8
  workers, each claiming for several grids from threads, all released by one barrier.

Whatever the interleaving: exactly ``max_awardees`` claims succeed, they are the awardees, and
every other claimant gets a refusal that says why (the question is no longer open — it is in
state 'awarded' — or, for a repeated hand, the duplicate-hand check). No claimant sees a
database error, a version conflict or a retry give-up.

Also: three department answers closing at the same moment fan in to the parent exactly once.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_four_list import (
    T0,
    Clock,
    sample_directory,
    share_builtin_workflows,
)

from gridflow.errors import GuardRefused, InvalidTrigger

WORKERS = 8


def grid_chiefs() -> list[tuple[str, str]]:
    """(person, unit): the 30 micro-grid chiefs and the first 20 committee chiefs of the
    sample org — 50 grid chiefs of 50 different grids, all under fenglin."""
    d = sample_directory()
    by_kind: dict[str, list[tuple[str, str]]] = {"microgrid": [], "residential": []}
    for person in d.people.values():
        for g in person.grants:
            kind = d.units[g.unit].kind
            if g.role == "grid_chief" and kind in by_kind:
                by_kind[kind].append((person.id, g.unit))
    assert len(by_kind["microgrid"]) == 30 and len(by_kind["residential"]) == 32
    chiefs = by_kind["microgrid"] + by_kind["residential"][:20]
    assert len({u for _, u in chiefs}) == 50
    assert all(d.contains("fenglin", u) for _, u in chiefs)
    return chiefs


def publish(engine, places: int) -> int:
    case = engine.start(
        "raise_hand",
        actor="police.liaison",
        data={
            "direction": "dept_asks",
            "title": "抢答：夜间巡逻志愿队",
            "department": "police",
            "award_policy": "first_come",
            "max_awardees": places,
        },
    )
    assert case.state == "open"
    return case.id


def claim(engine, case_id: int, person: str, unit: str, start: threading.Barrier) -> tuple:
    """One claimant: wait for the others, raise the hand, report what happened."""
    start.wait(timeout=60)
    try:
        engine.fire(case_id, "raise_hand", actor=person)
        return (person, unit, "won", None, "")
    except Exception as exc:  # anything else than a refusal is a failure, reported below
        return (person, unit, "refused", type(exc).__name__, str(exc))


def check_outcome(engine, case_id: int, places: int, outcomes: list[tuple]) -> None:
    assert len(outcomes) == 50
    winners = [o for o in outcomes if o[2] == "won"]
    losers = [o for o in outcomes if o[2] == "refused"]
    assert len(winners) == places, Counter((o[2], o[3]) for o in outcomes)
    for _person, unit, _, kind, message in losers:
        assert kind in (InvalidTrigger.__name__, GuardRefused.__name__), (kind, message)
        assert (
            f"cannot 'raise_hand' case {case_id} in state 'awarded'" in message
            or f"{unit} has already raised its hand on this question" in message
        ), message
    case = engine.get(case_id)
    assert case.state == "awarded"
    assert sorted(case.data["awardees"]) == sorted(o[1] for o in winners)
    assert case.data["hands"] == case.data["awardees"]  # in the order they won
    hands = [s for s in engine.history(case_id) if s.trigger == "raise_hand"]
    assert sorted(s.actor for s in hands) == sorted(o[0] for o in winners)
    assert [s.to_state for s in hands] == ["open"] * (places - 1) + ["awarded"]
    assert [s.seq for s in engine.history(case_id)] == list(range(1, places + 2))


# ---- threads on SQLite ------------------------------------------------------------------------------
@pytest.mark.parametrize("places", [1, 2])
@pytest.mark.parametrize("engines", ["shared", "one_per_thread"])
def test_fifty_threads_claim_on_sqlite(tmp_path, monkeypatch, places, engines):
    from gridflow.service.engine import Engine

    share_builtin_workflows(monkeypatch)
    url = f"sqlite:///{tmp_path / 'race.db'}"
    clock = Clock()
    main = Engine(url, clock=clock, directory=sample_directory())
    made = [main]
    try:
        case_id = publish(main, places)
        chiefs = grid_chiefs()
        if engines == "shared":
            per_thread = [main] * len(chiefs)
        else:
            per_thread = [Engine(url, clock=clock, directory=sample_directory()) for _ in chiefs]
            made += per_thread
        start = threading.Barrier(len(chiefs))
        with ThreadPoolExecutor(len(chiefs)) as pool:
            outcomes = list(
                pool.map(
                    lambda i: claim(per_thread[i], case_id, *chiefs[i], start), range(len(chiefs))
                )
            )
        check_outcome(main, case_id, places, outcomes)
    finally:
        for engine in made:
            engine.close()


# ---- processes on PostgreSQL ------------------------------------------------------------------------
def _claim_in_process(args) -> list[tuple]:
    """A pool worker: its own Engine; one thread per grid it claims for; all wait first for
    every worker (``gate``), then for each other."""
    url, case_id, chiefs, gate = args
    from gridflow.service.engine import Engine

    engine = Engine(url, clock=lambda: T0, directory=sample_directory(), create_schema=False)
    try:
        engine.workflow("raise_hand")  # compiled before the gate, not after
        start = threading.Barrier(len(chiefs))
        gate.wait(timeout=60)
        with ThreadPoolExecutor(len(chiefs)) as pool:
            return list(pool.map(lambda pu: claim(engine, case_id, *pu, start), chiefs))
    finally:
        engine.close()


@pytest.fixture(scope="module")
def spawn_pool():
    ctx = multiprocessing.get_context("spawn")
    manager = ctx.Manager()
    pool = ctx.Pool(WORKERS)
    yield pool, manager
    pool.close()
    pool.join()
    manager.shutdown()


@pytest.mark.postgres
@pytest.mark.parametrize("places", [1, 2])
def test_fifty_grids_claim_from_eight_processes_on_postgres(pg_url, spawn_pool, places):
    from gridflow.service.engine import Engine

    pool, manager = spawn_pool
    main = Engine(pg_url, clock=Clock(), directory=sample_directory())
    try:
        case_id = publish(main, places)
        chiefs = grid_chiefs()
        chunks = [chiefs[i::WORKERS] for i in range(WORKERS)]
        gate = manager.Barrier(WORKERS)
        results = pool.map(
            _claim_in_process, [(pg_url, case_id, chunk, gate) for chunk in chunks], chunksize=1
        )
        outcomes = [o for chunk in results for o in chunk]
        assert sorted(o[0] for o in outcomes) == sorted(p for p, _ in chiefs)
        check_outcome(main, case_id, places, outcomes)
    finally:
        main.close()


# ---- fan-in under concurrency ---------------------------------------------------------------------------
def _fan_in_concurrently(url: str, rounds: int) -> None:
    from gridflow.service.engine import Engine

    engine = Engine(url, clock=Clock(), directory=sample_directory())
    depts = ["police", "city_mgmt", "sanitation"]
    try:
        for _ in range(rounds):
            case = engine.start("four_list", actor="wannan-r1.chief", data={"title": "井盖缺失"})
            engine.fire(case.id, "accept", actor="wannan.chief")
            engine.fire(case.id, "ask", actor="wannan.chief", data={"ask_departments": depts})
            kids = {k.data["department"]: k.id for k in engine.children(case.id)}
            for dept, kid in kids.items():
                engine.fire(kid, "sign", actor=f"{dept}.liaison")
                engine.fire(kid, "answer", actor=f"{dept}.liaison", data={"answer": dept})
            start = threading.Barrier(len(kids))

            def close(kid: int, start: threading.Barrier = start) -> str:
                start.wait(timeout=30)
                return engine.fire(
                    kid, "confirm", actor="wannan-r1.chief", data={"satisfaction": "satisfied"}
                ).state

            with ThreadPoolExecutor(len(kids)) as pool:
                assert list(pool.map(close, kids.values())) == ["closed"] * 3
            parent = engine.get(case.id)
            assert parent.state == "feedback"
            assert [s.trigger for s in engine.history(case.id)].count("answers_in") == 1
            assert sorted(parent.data["answers"]) == sorted(depts)
    finally:
        engine.close()


def test_concurrent_answers_fan_in_once_on_sqlite(tmp_path, monkeypatch):
    share_builtin_workflows(monkeypatch)
    _fan_in_concurrently(f"sqlite:///{tmp_path / 'fan.db'}", rounds=3)


@pytest.mark.postgres
def test_concurrent_answers_fan_in_once_on_postgres(pg_url, monkeypatch):
    share_builtin_workflows(monkeypatch)
    _fan_in_concurrently(pg_url, rounds=5)
