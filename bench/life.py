"""A case's life, start → close, persisted: gridflow against SpiffWorkflow.

The process: five steps done by people (bench/workflows/five_step.yaml for gridflow, the
same five user tasks in bench/workflows/five_step.bpmn for SpiffWorkflow). One transaction
per step on both sides, SQLite files with the same settings (WAL, synchronous=NORMAL).

- **gridflow**: ``Engine.start`` then five ``Engine.fire`` (each loads the case, decides,
  writes case + history, returns the Case).
- **SpiffWorkflow, stored each step**: the workflow object stays in memory; after creating
  it and after each completed task, ``BpmnWorkflowSerializer.serialize_json`` and the JSON
  goes into a SQLite row (INSERT, then UPDATE), one transaction each.
- **SpiffWorkflow, loaded and stored each step**: as a server handling one request per step
  would: read the JSON, ``deserialize_json``, complete the task, serialize, store.

Also reported: the floor bound — six bare UPDATE+INSERT transactions (the fire floor) per
case — to show what "one transaction per step" alone costs against SpiffWorkflow.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/life.py`
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    WORKFLOWS,
    StepClock,
    bench_engine,
    fmt,
    fresh_dir,
    sqlite_url,
    summary,
)
from bench.fire import CoreFloor

STEPS = [
    ("accept", {}),
    ("assign", {}),
    ("resolve", {"answer": "已处理"}),
    ("verify", {}),
    ("close", {}),
]
_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=30000")


class Gridflow:
    def __init__(self, url: str):
        self.engine = bench_engine(url)
        self.i = 0

    def run(self, cases: int) -> tuple[float, float]:
        e = self.engine
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(cases):
            self.i += 1
            case = e.start("five_step", actor="w", data={"title": f"case {self.i}"})
            for trigger, data in STEPS:
                case = e.fire(case.id, trigger, actor="w", data=data)
            assert case.closed
        return time.perf_counter() - start, time.process_time() - cpu

    def close(self) -> None:
        self.engine.close()


class Spiff:
    """SpiffWorkflow 3 with its JSON serializer, storing into SQLite after every step;
    ``load=True`` also reads and deserializes the workflow before every step."""

    def __init__(self, path: Path, *, load: bool):
        from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
        from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer

        parser = BpmnParser()
        parser.add_bpmn_file(str(WORKFLOWS / "five_step.bpmn"))
        self.spec = parser.get_spec("five_step")
        self.serializer = BpmnWorkflowSerializer()
        self.load = load
        self.db = sqlite3.connect(path, isolation_level=None)
        for p in _PRAGMAS:
            self.db.execute(p)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS spiff_case (id INTEGER PRIMARY KEY, "
            "state TEXT NOT NULL, version INTEGER NOT NULL, updated_at TEXT NOT NULL)"
        )
        self.json_bytes = 0

    def _store(self, case_id: int | None, wf, version: int) -> int:
        text = self.serializer.serialize_json(wf)
        self.json_bytes = len(text)
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        if case_id is None:
            case_id = db.execute(
                "INSERT INTO spiff_case (state, version, updated_at) VALUES (?, ?, ?)",
                (text, version, now),
            ).lastrowid
        else:
            db.execute(
                "UPDATE spiff_case SET state = ?, version = ?, updated_at = ? WHERE id = ?",
                (text, version, now, case_id),
            )
        db.execute("COMMIT")
        return case_id

    def run(self, cases: int) -> tuple[float, float]:
        from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
        from SpiffWorkflow.util.task import TaskState

        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(cases):
            wf = BpmnWorkflow(self.spec)
            wf.do_engine_steps()
            cid = self._store(None, wf, 1)
            for n, (name, data) in enumerate(STEPS, 2):
                if self.load:
                    text = self.db.execute(
                        "SELECT state FROM spiff_case WHERE id = ?", (cid,)
                    ).fetchone()[0]
                    wf = self.serializer.deserialize_json(text)
                task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
                assert task.task_spec.name == name
                task.data.update(data, by="w")
                task.run()
                wf.do_engine_steps()
                self._store(cid, wf, n)
            assert wf.is_completed()
        return time.perf_counter() - start, time.process_time() - cpu

    def close(self) -> None:
        self.db.close()


class FloorCase:
    """Six bare UPDATE+INSERT transactions (the fire floor): one per step of a case."""

    def __init__(self, floor: CoreFloor):
        self.floor = floor

    def run(self, cases: int) -> tuple[float, float]:
        return self.floor.run(6 * cases)


def run(quick: bool = False, log=print) -> dict[str, Any]:
    logging.getLogger("gridflow").setLevel(logging.ERROR)
    block, rounds = (5, 4) if quick else (5, 20)  # cases per block, blocks per repeat
    repeats = 3 if quick else 5
    work = fresh_dir("life")
    gf = Gridflow(sqlite_url(work / "gridflow.db"))
    floor_case = gf.engine.start("bench_loop", actor="w").id
    subjects = {
        "gridflow": gf,
        "spiff": Spiff(work / "spiff.db", load=False),
        "spiff_load": Spiff(work / "spiff_load.db", load=True),
        "floor": FloorCase(CoreFloor(sqlite_url(work / "gridflow.db"), floor_case, StepClock())),
    }
    for s in subjects.values():
        s.run(2)
    runs: dict[str, list[float]] = {k: [] for k in subjects}
    cpu_runs: dict[str, list[float]] = {k: [] for k in subjects}
    for r in range(repeats):
        wall = dict.fromkeys(subjects, 0.0)
        cpu = dict.fromkeys(subjects, 0.0)
        for _ in range(rounds):
            for name, s in subjects.items():
                w, c = s.run(block)
                wall[name] += w
                cpu[name] += c
        n = block * rounds
        for name in subjects:
            runs[name].append(wall[name] / n * 1000)  # ms per case
            cpu_runs[name].append(cpu[name] / n * 1000)
        log(
            f"  life repeat {r + 1}/{repeats}: "
            + ", ".join(f"{k} {v[-1]:.2f} ms" for k, v in runs.items())
        )
    json_bytes = subjects["spiff"].json_bytes
    gf.close()
    subjects["spiff"].close()
    subjects["spiff_load"].close()
    subjects["floor"].floor.close()
    shutil.rmtree(work, ignore_errors=True)

    def speedup(other: str, src=runs) -> list[float]:  # how many times faster gridflow is
        return [o / g for o, g in zip(src[other], src["gridflow"], strict=True)]

    out = {
        "cases_per_repeat": block * rounds,
        "repeats": repeats,
        "ms_per_case": {k: summary(v) for k, v in runs.items()},
        "cpu_ms_per_case": {k: summary(v) for k, v in cpu_runs.items()},
        "speedup": {
            "vs_spiff": summary(speedup("spiff")),
            "vs_spiff_load": summary(speedup("spiff_load")),
            "vs_spiff_cpu": summary(speedup("spiff", cpu_runs)),
            "floor_bound_vs_spiff": summary(
                [s / f for s, f in zip(runs["spiff"], runs["floor"], strict=True)]
            ),
            "gridflow_vs_floor_bound": summary(
                [f / g for f, g in zip(runs["floor"], runs["gridflow"], strict=True)]
            ),
        },
        "spiff_json_bytes": json_bytes,
        "target": "gridflow >= 10 x SpiffWorkflow (stored each step)",
    }
    out["met"] = out["speedup"]["vs_spiff"]["median"] >= 10
    return out


def rows(res: dict[str, Any]) -> list[list[str]]:
    m, s = res["ms_per_case"], res["speedup"]
    return [
        ["gridflow: start + 5 fires", fmt(m["gridflow"], " ms"), "1"],
        ["SpiffWorkflow, stored each step", fmt(m["spiff"], " ms"),
         f"gridflow {fmt(s['vs_spiff'])}× faster"],
        ["SpiffWorkflow, loaded + stored each step", fmt(m["spiff_load"], " ms"),
         f"gridflow {fmt(s['vs_spiff_load'])}× faster"],
        ["floor: 6 bare UPDATE+INSERT transactions", fmt(m["floor"], " ms"),
         f"{fmt(s['floor_bound_vs_spiff'])}× Spiff (best any 1-tx-per-step engine can do)"],
    ]  # fmt: skip


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run("--quick" in sys.argv), indent=2))
