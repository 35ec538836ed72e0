"""Many writers on one case: threads sharing an Engine, and processes (spawned) each with
their own Engine on the same database — SQLite file and PostgreSQL.

The workflow (tests/data/counter.yaml) counts every accepted event in ``data.count``, so a
lost update would show as a count lower than the number of successful fires.

- With ``expected_version`` every writer reads the same version (a barrier), then all fire:
  exactly one wins that version, every other one gets ``Conflict``.
- Without it, every fire succeeds (re-checked against the newer case): none is lost, the
  history is contiguous, and replaying it through the pure machine ends where the case is.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
from collections import Counter
from pathlib import Path

import pytest
from conftest import DATA

from gridflow.domain.fields import defaults
from gridflow.domain.machine import CaseView
from gridflow.domain.org import SYSTEM
from gridflow.errors import Conflict

THREADS = 16
PROCESSES = 3
ROUNDS = 4
FREE_FIRES = 10  # per writer, without expected_version
WAIT = 120  # seconds a barrier or a join may take before the test gives up (no assertion)
ACTOR = "sun.worker"


def trigger_for(i: int) -> str:
    return "flip" if i % 3 == 0 else "bump"


def race(engine, case_id: int, barrier, rounds: int, free_fires: int) -> dict:
    """One writer's part: ``rounds`` races with expected_version, then free fires."""
    raced, free_ok, errors = [], 0, []
    for r in range(rounds):
        barrier.wait(WAIT)
        version = engine.get(case_id).version
        barrier.wait(WAIT)  # everyone has read the same version before anyone fires
        try:
            engine.fire(case_id, "bump", actor=ACTOR, expected_version=version)
            raced.append(("won", r, version, None))
        except Conflict as exc:
            raced.append(("lost", r, version, (exc.expected, exc.actual)))
        except Exception as exc:
            errors.append(f"round {r}: {type(exc).__name__}: {exc}")
    barrier.wait(WAIT)
    for i in range(free_fires):
        try:
            engine.fire(case_id, trigger_for(i), actor=ACTOR)
            free_ok += 1
        except Exception as exc:
            errors.append(f"free {i}: {type(exc).__name__}: {exc}")
    return {"raced": raced, "free_ok": free_ok, "errors": errors}


def process_writer(url: str, case_id: int, barrier, rounds: int, free_fires: int, out) -> None:
    """Entry point of a spawned process: its own Engine, org from tests/data/org.yaml."""
    from gridflow.domain.org_loader import load_org_file
    from gridflow.service.engine import Engine

    engine = Engine(url, DATA, directory=load_org_file(DATA / "org.yaml"))
    try:
        out.put(race(engine, case_id, barrier, rounds, free_fires))
    except Exception as exc:  # a broken barrier etc.: report, do not hang the parent
        out.put({"raced": [], "free_ok": 0, "errors": [f"{type(exc).__name__}: {exc}"]})
    finally:
        engine.close()


def replay(engine, case_id: int):
    """Re-decide every step of the history with the pure machine, from the start."""
    steps = engine.history(case_id)
    case = engine.get(case_id)
    wf = engine.workflow(case.workflow, case.revision)
    first = steps[0]
    assert (first.seq, first.trigger, first.from_state) == (1, "start", None)
    state, data = first.to_state, defaults(wf.definition.fields) | (first.payload or {})
    for step in steps[1:]:
        assert step.from_state == state, step
        actor = SYSTEM if step.actor == "system" else engine.directory.people[step.actor]
        view = CaseView(case_id, state, step.seq - 1, data, case.unit)
        decision = wf.decide(
            view,
            step.trigger,
            actor,
            engine.directory,
            payload=step.payload or {},
            comment=step.comment,
            now=step.at,
        )
        assert decision.dest == step.to_state, step
        state, data = decision.dest, decision.data
    return state, data


def check_outcome(engine, case_id: int, results: list[dict], writers: int) -> None:
    errors = [e for r in results for e in r["errors"]]
    assert errors == []
    assert len(results) == writers
    # with expected_version: exactly one winner per round, every loser a Conflict on the
    # version all of them read, and each round's version one above the last
    raced = [x for r in results for x in r["raced"]]
    by_round = Counter((kind, rnd) for kind, rnd, _, _ in raced)
    for rnd in range(ROUNDS):
        assert by_round[("won", rnd)] == 1
        assert by_round[("lost", rnd)] == writers - 1
    versions = {rnd: {v for _, r2, v, _ in raced if r2 == rnd} for rnd in range(ROUNDS)}
    assert versions == {rnd: {2 + rnd} for rnd in range(ROUNDS)}
    for kind, _, version, conflict in raced:
        if kind == "lost":
            assert conflict == (version, version + 1)
    # without: none lost
    fired = ROUNDS + sum(r["free_ok"] for r in results)
    assert sum(r["free_ok"] for r in results) == writers * FREE_FIRES
    case = engine.get(case_id)
    assert case.data["count"] == 1 + fired  # the setup flip, then every accepted fire
    assert case.version == 1 + 1 + fired  # start, the setup flip, every accepted fire
    steps = engine.history(case_id)
    assert [s.seq for s in steps] == list(range(1, case.version + 1))
    flips = 1 + sum(trigger_for(i) == "flip" for i in range(FREE_FIRES)) * writers
    assert case.data["flips"] == flips
    assert case.state == ("pong" if flips % 2 else "ping")
    assert replay(engine, case_id) == (case.state, case.data)


def start_case(engine) -> int:
    case = engine.start("counter", actor=ACTOR)
    # one flip first, so the counter is not at its initial state by accident
    case = engine.fire(case.id, "flip", actor=ACTOR)
    assert (case.state, case.version, case.data) == ("pong", 2, {"count": 1, "flips": 1})
    return case.id


def test_threads(make_engine, db_url):
    engine = make_engine(db_url)
    case_id = start_case(engine)
    barrier = threading.Barrier(THREADS)
    results: list[dict] = []
    lock = threading.Lock()

    def writer():
        try:
            result = race(engine, case_id, barrier, ROUNDS, FREE_FIRES)
        except Exception as exc:
            barrier.abort()
            result = {"raced": [], "free_ok": 0, "errors": [f"{type(exc).__name__}: {exc}"]}
        with lock:
            results.append(result)

    threads = [threading.Thread(target=writer, name=f"writer-{i}") for i in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(WAIT)
    assert not any(th.is_alive() for th in threads)
    check_outcome(engine, case_id, results, THREADS)


@pytest.mark.slow
def test_processes(make_engine, db_url, tmp_path: Path):
    engine = make_engine(db_url)  # creates the tables and stores the definitions first
    case_id = start_case(engine)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    out = ctx.Queue()
    procs = [
        ctx.Process(
            target=process_writer,
            name=f"writer-{i}",
            args=(db_url, case_id, barrier, ROUNDS, FREE_FIRES, out),
        )
        for i in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    results = []
    try:
        for _ in procs:
            results.append(out.get(timeout=WAIT))
    except queue.Empty:
        pass
    finally:
        for p in procs:
            p.join(WAIT)
            if p.is_alive():
                p.terminate()
                p.join()
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    check_outcome(engine, case_id, results, PROCESSES)


def process_boot(url: str, barrier, out) -> None:
    """Entry point of a spawned process: start an Engine the moment the others do."""
    try:
        barrier.wait(WAIT)
        from gridflow.domain.org import Directory
        from gridflow.service.engine import Engine

        Engine(url, DATA, directory=Directory()).close()
        out.put("ok")
    except Exception as exc:
        out.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.slow
def test_processes_starting_together_on_a_fresh_database(make_engine, db_url):
    """Several daemons started at once: tables, schema version and definitions are created
    once, and no starter fails on a key another one inserted first."""
    import sqlalchemy as sa

    from gridflow.storage import tables as t

    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=process_boot, args=(db_url, barrier, out)) for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    try:
        outcomes = [out.get(timeout=WAIT) for _ in procs]
    finally:
        for p in procs:
            p.join(WAIT)
    assert outcomes == ["ok"] * PROCESSES
    engine = make_engine(db_url)
    with engine.store.read() as conn:
        assert len(list(conn.execute(sa.select(t.meta_t)))) == 1
        revisions = [(r.workflow_id, r.revision) for r in engine.store.definitions.revisions(conn)]
    assert revisions == [("counter", 1), ("lab", 1), ("ticket", 1)]
    assert engine.start("counter", actor=ACTOR).version == 1
