"""Moving open cases onto a new revision (#16): cases per second, dry run vs apply.

    .venv/bin/python bench/migrate.py [--cases 2000] [--batch 200] [--db URL]

Seeds ``--cases`` permits in a state with a clock and a ladder (2 pending timers each) on
revision 1, stores revision 2 (the state renamed, a longer deadline, a new required field
with a default), then times the dry run (plan only) and the apply (cancel 2 timers, write 2,
one history row each), and a rerun (nothing to move). A standalone script: not part of
``bench/run.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from conftest import FakeClock, make_directory
from migrate_site import PERMIT, RENAMED, write

from gridflow.service.engine import Engine


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--db")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = args.db or f"sqlite:///{root / 'migrate.db'}"
        engine = Engine(
            url, write(root / "v1", PERMIT), clock=FakeClock(), directory=make_directory()
        )
        t0 = time.perf_counter()
        for i in range(args.cases):
            case = engine.start("permit", actor="li.clerk", data={"title": f"p{i}"})
            engine.fire(case.id, "submit", actor="li.clerk")
        seeded = time.perf_counter() - t0
        revised = RENAMED.replace("due: 2wd", "due: 5wd").replace(
            "  legacy: {type: string}\n",
            "  priority: {type: enum, values: [normal, urgent], required: true, default: normal}\n",
        )
        engine.load_workflows(write(root / "v2", revised))
        ask = dict(to=2, actor="li.clerk", mapping={"review": "checking"}, batch=args.batch)
        dry = engine.migrate("permit", **ask)
        done = engine.migrate("permit", **ask, apply=True)
        again = engine.migrate("permit", **ask, apply=True)
        engine.close()
    n = args.cases
    print(f"{n} cases seeded in {seeded:.1f}s ({url.split(':')[0]}, batch {args.batch})")
    print(f"dry run: {dry.seconds:.2f}s  {n / dry.seconds:,.0f} cases/s")
    print(f"apply:   {done.seconds:.2f}s  {n / done.seconds:,.0f} cases/s (plan included)")
    print(f"rerun:   {again.seconds:.2f}s  {again.migrated} moved")


if __name__ == "__main__":
    main()
