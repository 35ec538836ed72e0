"""CLI start-up: wall time of ``gridflow --help`` and ``gridflow list`` against ``python -c pass``.

With hyperfine (``apt-get install -y hyperfine``): ``--warmup 3``, no intermediate shell
(``-N``), runs alternating in one invocation. Without it: repeated ``subprocess.run`` timing,
commands interleaved. ``gridflow list`` reads a data set of 10,000 cases (SQLite, built-in
workflows and sample org) from an empty working folder (no ./workflows, no config file).
Also: ``python -X importtime`` of ``gridflow list``, the top imports summarised.
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
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/cli.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, fmt, summary

LIST_CASES = 10_000


def _commands() -> dict[str, list[str]]:
    bindir = Path(sys.executable).parent
    gridflow = bindir / "gridflow"
    gf = (
        [str(gridflow)]
        if gridflow.exists()
        else [sys.executable, "-m", "gridflow.drivers.cli.main"]
    )
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "gridflow --help": [*gf, "--help"],
        "gridflow list": [*gf, "list"],
    }


def _hyperfine(cmds: dict[str, list[str]], runs: int, env: dict, cwd: str) -> dict[str, list]:
    out = Path(tempfile.mkdtemp()) / "hf.json"
    import shlex

    args = ["hyperfine", "-N", "--warmup", "3", "--runs", str(runs), "--export-json", str(out)]
    for name, cmd in cmds.items():
        args += ["-n", name, shlex.join(cmd)]
    subprocess.run(args, check=True, env=env, cwd=cwd, capture_output=True)
    data = json.loads(out.read_text())
    shutil.rmtree(out.parent, ignore_errors=True)
    return {r["command"]: [t * 1000 for t in r["times"]] for r in data["results"]}


def _subprocess(cmds: dict[str, list[str]], runs: int, env: dict, cwd: str) -> dict[str, list]:
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(3):  # warm up
        for cmd in cmds.values():
            subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, check=True)
    for _ in range(runs):
        for name, cmd in cmds.items():
            t = time.perf_counter()
            subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, check=True)
            times[name].append((time.perf_counter() - t) * 1000)
    return times


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
import json, sys, time
t0 = time.perf_counter()
import click  # noqa: F401  (what --help needs)
t1 = time.perf_counter()
from gridflow.service.engine import Engine
t2 = time.perf_counter()
engine = Engine(sys.argv[1])
t3 = time.perf_counter()
cases = engine.find(limit=50)
t4 = time.perf_counter()
from gridflow.drivers.cli.render import case_table
case_table(cases)
t5 = time.perf_counter()
print(json.dumps({"import click": t1 - t0, "import the engine (SQLAlchemy, SQLModel, pydantic, "
    "jinja2, transitions)": t2 - t1, "Engine(): load + validate the workflow YAML, org, "
    "schema check": t3 - t2, "find(limit=50): query + 50 cases with SLA views": t4 - t3,
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


def run(quick: bool = False, log=print) -> dict[str, Any]:
    from bench.generate import ensure_sqlite

    path = RESULTS / f"mixed-{LIST_CASES}.db"
    ensure_sqlite(path, LIST_CASES, None, log=lambda m: log(f"  [generate] {m}"))
    cwd = tempfile.mkdtemp(prefix="gridflow-cli-")
    env = dict(os.environ, GRIDFLOW_DATABASE_URL=f"sqlite:///{path}")
    for k in ("GRIDFLOW_CONFIG", "GRIDFLOW_WORKFLOWS", "GRIDFLOW_NOW"):
        env.pop(k, None)
    cmds = _commands()
    runs = 10 if quick else 40
    tool = "hyperfine" if shutil.which("hyperfine") else "subprocess"
    times = (_hyperfine if tool == "hyperfine" else _subprocess)(cmds, runs, env, cwd)
    base = summary(times["python -c pass"], 1)
    res: dict[str, Any] = {"tool": tool, "runs": runs, "ms": {}, "vs_python": {}}
    for name, ts in times.items():
        res["ms"][name] = summary(ts, 1)
        res["vs_python"][name] = round(res["ms"][name]["median"] / base["median"], 2)
    res["importtime_list"] = importtime(cmds["gridflow list"], env, cwd)
    res["importtime_help"] = importtime(cmds["gridflow --help"], env, cwd)
    res["list_phases_ms"] = phases(f"sqlite:///{path}", env, cwd)
    shutil.rmtree(cwd, ignore_errors=True)
    res["target"] = "gridflow --help < 150 ms"
    res["met"] = res["ms"]["gridflow --help"]["median"] < 150
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
