"""CLI: wall time of ``gridflow --help``, ``list``, ``show``, ``history``, ``triggers`` and
``fire`` against ``python -c pass``, and against importing SQLAlchemy (the floor no command
can go under: the statements are SQLAlchemy Core).

Runs interleave (every command once per round, fresh processes, ``subprocess.run``), after 3
warm-up rounds (the parse cache filled, the OS's caches warm). The commands read a data set
of 10,000 cases (SQLite, built-in workflows and sample org) from an empty working folder (no
./workflows, no config file); ``fire`` signs a different dispatched question each run (a real
event: decided, written, committed). Also: ``python -X importtime`` of ``gridflow list``,
the top imports summarised, and ``list`` phase by phase.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/cli.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, fmt, summary

LIST_CASES = 10_000


def _gridflow() -> list[str]:
    gridflow = Path(sys.executable).parent / "gridflow"
    return (
        [str(gridflow)]
        if gridflow.exists()
        else [sys.executable, "-m", "gridflow.drivers.cli.main"]
    )


def _commands(case: int, questions: list[int]) -> dict[str, Callable[[int], list[str]]]:
    """Name → the argv of its ``i``-th run."""
    gf = _gridflow()
    return {
        "python -c pass": lambda i: [sys.executable, "-c", "pass"],
        "python -c 'import sqlalchemy'": lambda i: [sys.executable, "-c", "import sqlalchemy"],
        "gridflow --help": lambda i: [*gf, "--help"],
        "gridflow list": lambda i: [*gf, "list"],
        "gridflow show": lambda i: [*gf, "show", str(case)],
        "gridflow history": lambda i: [*gf, "history", str(case)],
        "gridflow triggers": lambda i: [*gf, "triggers", str(case), "--actor", "police.liaison"],
        "gridflow fire": lambda i: [
            *gf,
            "fire",
            str(questions[i]),
            "sign",
            "--actor",
            "police.head",
        ],
    }


def _runs(
    cmds: dict[str, Callable[[int], list[str]]], runs: int, warmup: int, env: dict, cwd: str
) -> dict[str, list[float]]:
    """Milliseconds of each command's runs, rounds interleaved (warm-up rounds not kept)."""
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for i in range(warmup + runs):
        for name, argv in cmds.items():
            t = time.perf_counter()
            subprocess.run(argv(i), env=env, cwd=cwd, capture_output=True, check=True)
            if i >= warmup:
                times[name].append((time.perf_counter() - t) * 1000)
    return times


def _questions(url: str, n: int) -> list[int]:
    """``n`` fresh raise-hand questions dispatched to the police, ready to be signed."""
    from gridflow.service.engine import Engine

    engine = Engine(url)
    out = []
    for i in range(n):
        case = engine.start(
            "raise_hand",
            actor="wannan-r1.chief",
            data={"title": f"bench {i}", "category": "simple"},
        )
        engine.fire(case.id, "dispatch", actor="fenglin.dispatch", data={"department": "police"})
        out.append(case.id)
    engine.close()
    return out


def importtime(cmd: list[str], env: dict, cwd: str, top: int = 8) -> list[tuple[str, float]]:
    """The slowest top-level imports (cumulative ms) of running ``cmd`` under -X importtime."""
    if Path(cmd[0]).name == "gridflow":
        cmd = [sys.executable, "-X", "importtime", "-m", "gridflow.drivers.cli.main", *cmd[1:]]
    else:
        cmd = [cmd[0], "-X", "importtime", *cmd[1:]]
    err = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True).stderr
    rows = []
    for line in err.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m and len(m[3]) <= 1:  # top level only
            rows.append((m[4], int(m[2]) / 1000))
    return sorted(rows, key=lambda r: -r[1])[:top]


_PHASES = r"""
import json, os, sys, time
t0 = time.perf_counter()
import click  # noqa: F401  (what --help needs)
t1 = time.perf_counter()
from gridflow.service.engine import Engine
t2 = time.perf_counter()
from gridflow.service.parse_cache import default_folder
engine = Engine(sys.argv[1], lazy=True, parse_cache=default_folder())
t3 = time.perf_counter()
cases = engine.find(limit=50)
t4 = time.perf_counter()
from zoneinfo import ZoneInfo
from gridflow.drivers.cli.render import case_table
case_table(cases, ZoneInfo("Asia/Shanghai"))
t5 = time.perf_counter()
print(json.dumps({"import click": t1 - t0, "import the engine (SQLAlchemy Core, pydantic "
    "models of the format, jinja2, transitions, chinesecalendar)": t2 - t1, "Engine(): the "
    "schema version read (workflow files untouched)": t3 - t2, "find(limit=50): the query, "
    "each case's stored revision compiled (its YAML from the parse cache), SLA views": t4 - t3,
    "render the table": t5 - t4}))
"""


def phases(db: str, env: dict, cwd: str, runs: int = 5) -> dict[str, float]:
    """Where ``gridflow list`` spends its time, phase by phase (median ms of fresh processes)."""
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _PHASES, db], env=env, cwd=cwd, capture_output=True, text=True
        ).stdout
        for k, v in json.loads(out).items():
            samples.setdefault(k, []).append(v * 1000)
    return {k: summary(v, 1)["median"] for k, v in samples.items()}


TARGETS = {  # × python -c pass (issue #12)
    "gridflow --help": 3.0,
    "gridflow list": 12.0,
    "gridflow show": 12.0,
    "gridflow triggers": 12.0,
    "gridflow fire": 15.0,
}


def run(quick: bool = False, log=print) -> dict[str, Any]:
    from bench.generate import ensure_sqlite

    path = RESULTS / f"mixed-{LIST_CASES}.db"
    ensure_sqlite(path, LIST_CASES, None, log=lambda m: log(f"  [generate] {m}"))
    work = Path(tempfile.mkdtemp(prefix="gridflow-cli-"))
    db = work / "cli.db"
    shutil.copyfile(path, db)
    url = f"sqlite:///{db}"
    runs, warmup = (10, 3) if quick else (30, 3)
    questions = _questions(url, runs + warmup)
    env = dict(os.environ, GRIDFLOW_DATABASE_URL=url)
    for k in ("GRIDFLOW_CONFIG", "GRIDFLOW_WORKFLOWS", "GRIDFLOW_NOW"):
        env.pop(k, None)
    cmds = _commands(questions[0], questions)
    times = _runs(cmds, runs, warmup, env, str(work))
    base = summary(times["python -c pass"], 1)
    res: dict[str, Any] = {"runs": runs, "ms": {}, "vs_python": {}}
    for name, ts in times.items():
        res["ms"][name] = summary(ts, 1)
        res["vs_python"][name] = round(res["ms"][name]["median"] / base["median"], 2)
    list_cmd = [*_gridflow(), "list"]
    res["importtime_list"] = importtime(list_cmd, env, str(work))
    res["list_phases_ms"] = phases(url, env, str(work))
    shutil.rmtree(work, ignore_errors=True)
    res["targets"] = TARGETS
    res["target"] = ", ".join(f"{k.split()[-1]} ≤ {v:g}×" for k, v in TARGETS.items())
    res["met"] = all(res["vs_python"][k] <= v for k, v in TARGETS.items())
    for name in cmds:
        log(f"  cli: {name}: {fmt(res['ms'][name], ' ms', 1)} ({res['vs_python'][name]}× python)")
    return res


def rows(res: dict[str, Any]) -> list[list[str]]:
    return [
        [f"`{name}`", fmt(res["ms"][name], " ms", 1), f"{res['vs_python'][name]:.2f}×"]
        for name in res["ms"]
    ]


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
