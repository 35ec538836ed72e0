"""Smoke run of the benchmarks (bench/): the data generator on a small data set, and the fire
benchmark in a tiny configuration. Sane output only — no timing asserts."""

from __future__ import annotations

import importlib
import sqlite3
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def bench(tmp_path, monkeypatch):
    """The bench package with its results folder (data sets, scratch) under tmp_path."""
    monkeypatch.setenv("GRIDFLOW_BENCH_RESULTS", str(tmp_path / "results"))
    monkeypatch.syspath_prepend(str(REPO))
    for name in [m for m in sys.modules if m == "bench" or m.startswith("bench.")]:
        monkeypatch.delitem(sys.modules, name)
    return importlib.import_module("bench")


def test_generator_makes_consistent_cases(bench, tmp_path):
    from bench.generate import generate

    db = tmp_path / "gen.db"
    meta = generate(
        f"sqlite:///{db}", 300, seed=3, proto_days=3, proto_dir=tmp_path, log=lambda m: None
    )
    assert meta["cases"] == 300
    assert meta["history_rows"] >= 300 and meta["timer_rows"] > 0
    con = sqlite3.connect(db)
    one = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
    assert one("SELECT count(*) FROM gf_case") == 300
    assert one("SELECT count(DISTINCT id) FROM gf_case") == 300
    # every history row and timer belongs to a case; spawned cases point at their parent
    assert one("SELECT count(*) FROM gf_history h LEFT JOIN gf_case c ON c.id = h.case_id "
               "WHERE c.id IS NULL") == 0  # fmt: skip
    assert one("SELECT count(*) FROM gf_timer t LEFT JOIN gf_case c ON c.id = t.case_id "
               "WHERE c.id IS NULL") == 0  # fmt: skip
    assert one("SELECT count(*) FROM gf_case k LEFT JOIN gf_case p ON p.id = k.parent_id "
               "WHERE k.parent_id IS NOT NULL AND p.id IS NULL") == 0  # fmt: skip
    # each case's last history step is its version, and it ends where the case is
    assert one("SELECT count(*) FROM gf_case c WHERE c.version != "
               "(SELECT max(seq) FROM gf_history h WHERE h.case_id = c.id)") == 0  # fmt: skip
    assert one("SELECT count(*) FROM gf_case c WHERE c.state != (SELECT to_state FROM "
               "gf_history h WHERE h.case_id = c.id ORDER BY seq DESC LIMIT 1)") == 0  # fmt: skip
    assert one("PRAGMA journal_mode") == "wal"
    con.close()

    # the engine reads it, and acts on its timers
    from datetime import datetime

    from gridflow.service.engine import Engine

    engine = Engine(f"sqlite:///{db}")
    cases = engine.find(limit=5)
    assert len(cases) == 5 and all(c.workflow in ("four_list", "raise_hand") for c in cases)
    result = engine.tick(datetime.fromisoformat(meta["as_of"]))
    assert not result.errors
    engine.close()


def test_fire_bench_quick(bench):
    pytest.importorskip(
        "pyinstrument", reason="the fire profile needs the bench extra: pip install -e '.[bench]'"
    )
    from bench import fire

    res = fire.run(quick=True, rounds=1, repeats=1, profile_events=20, log=lambda m: None)
    assert set(res["rates"]) == {"core", "core_feed", "raw", "loop", "raise_hand"}
    assert all(r["median"] > 0 for r in res["rates"].values())
    assert 0 < res["ratios"]["loop_vs_core"]["median"] < 20
    assert 0 < res["ratios"]["loop_vs_core_feed"]["median"] < 20
    shares = res["profile"]["share"]
    assert abs(sum(shares.values()) - 1) < 0.01
    assert shares.get("SQLite itself (sqlite3 calls: statement steps, commit)", 0) > 0
    assert isinstance(res["met"], bool)
    rows = fire.rows(res)
    assert len(rows) == 5 and all(len(r) == 3 for r in rows)


def test_web_bench_quick(bench):
    """The workbench's benchmark runs: board render and query both measured, every page
    weighed (sane figures only)."""
    from bench import web

    res = web.run(quick=True, log=lambda m: None)
    b = res["board"]
    assert b["cases"] == 200 and b["cards_shown"] > 0
    assert b["query"]["median"] > 0 and b["render"]["median"] > 0
    pages = res["weights"]["pages"]
    assert len(pages) == 13 and all(0 < p["html_kb"] < p["total_kb"] for p in pages)
    board, weights = web.markdown_rows(res)
    assert len(board) == 5 and len(weights) == 13
