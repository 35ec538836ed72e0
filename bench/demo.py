"""``gridflow demo``: this code against a baseline commit, in the same run.

The baseline's tree (``git archive``, default the last commit before notices were owed and
timers batched) is unpacked into a temporary folder and run with this virtualenv's Python and
libraries (``PYTHONPATH`` puts its ``gridflow`` first); the two demos alternate, each a fresh
process writing into its own empty folder. Reported: wall seconds of each, the ratio new /
old pair by pair, and whether both print the same headline (the same seed gives the same
quarter: the figures must not change).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/demo.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, fmt, summary

BASELINE = "79744a1"  # main before this wave: notices rendered in the event, timer per tx
OLD_ENTRY = "gridflow.cli"  # where that tree's command line lives
NEW_ENTRY = "gridflow.drivers.cli.main"


def _unpack(commit: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", commit],
        capture_output=True,
        check=True,
    ).stdout
    tar = into / "tree.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as t:
        t.extractall(into / "tree", filter="data")
    return into / "tree"


def _demo(entry: str, pythonpath: str | None, out: Path, days: int | None) -> tuple[float, str]:
    env = dict(os.environ)
    for k in ("GRIDFLOW_CONFIG", "GRIDFLOW_DATABASE_URL", "GRIDFLOW_WORKFLOWS", "GRIDFLOW_NOW"):
        env.pop(k, None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    argv = [sys.executable, "-m", entry, "demo", "--out", str(out)]
    if days is not None:
        argv += ["--days", str(days)]
    out.parent.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=out.parent, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if done.returncode != 0:
        raise RuntimeError(f"{entry} demo failed: {done.stderr[-2000:]}")
    headline = next((x for x in done.stdout.splitlines() if x.startswith("本季度")), "")
    return elapsed, headline


def run(quick: bool = False, log=print, baseline: str = BASELINE) -> dict[str, Any]:
    repeats, days = (2, 30) if quick else (3, None)
    work = Path(tempfile.mkdtemp(prefix="gridflow-demo-"))
    try:
        old_tree = _unpack(baseline, work)
        old, new, ratios, heads = [], [], [], set()
        for i in range(repeats):
            t_old, h_old = _demo(OLD_ENTRY, str(old_tree), work / f"old-{i}" / "out", days)
            t_new, h_new = _demo(NEW_ENTRY, None, work / f"new-{i}" / "out", days)
            old.append(t_old)
            new.append(t_new)
            ratios.append(t_new / t_old)
            heads |= {("old", h_old), ("new", h_new)}
            log(f"  demo: baseline {t_old:.1f} s, now {t_new:.1f} s ({t_new / t_old:.2f}×)")
        same = len({h for _, h in heads}) == 1
        res: dict[str, Any] = {
            "baseline": baseline,
            "days": days or "the whole quarter",
            "repeats": repeats,
            "baseline_s": summary(old, 1),
            "now_s": summary(new, 1),
            "ratio": summary(ratios),
            "same_headline": same,
            "headlines": sorted(h for _, h in heads),
            "target": "≤ 0.5 × the baseline's wall time, same figures",
        }
        res["met"] = res["ratio"]["median"] <= 0.5 and same
        return res
    finally:
        shutil.rmtree(work, ignore_errors=True)


def rows(res: dict[str, Any]) -> list[list[str]]:
    return [
        [
            f"baseline {res['baseline']}",
            fmt(res["baseline_s"], " s", 1),
            fmt(res["now_s"], " s", 1),
            fmt(res["ratio"]),
            "yes" if res["same_headline"] else "NO",
        ]
    ]


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2, ensure_ascii=False))
