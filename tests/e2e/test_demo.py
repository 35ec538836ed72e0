"""The demo: a short simulated period, its printed figures checked against an independent count
straight from the SQLite file, and the same seed giving the same figures."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from gridflow.drivers.cli.main import cli

HEADLINE = re.compile(r"本季度共梳理片区疑难问题(\d+)个，解决(\d+)个，正在推进中(\d+)个")


def run_demo(out: Path, seed: int, days: int) -> str:
    result = CliRunner().invoke(
        cli, ["demo", "--seed", str(seed), "--days", str(days), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_demo_figures_match_an_independent_count(tmp_path):
    out = tmp_path / "demo"
    text = run_demo(out, seed=3, days=21)
    listed, solved, in_progress = map(int, HEADLINE.search(text).groups())
    db = sqlite3.connect(out / "demo.db")
    (start,) = db.execute("SELECT MIN(created_at) FROM gf_case").fetchone()
    (n_listed,) = db.execute(
        "SELECT COUNT(*) FROM gf_case WHERE workflow_id='four_list'"
    ).fetchone()
    (n_solved,) = db.execute(
        "SELECT COUNT(DISTINCT case_id) FROM gf_history h JOIN gf_case c ON "
        "c.id=h.case_id WHERE c.workflow_id='four_list' AND "
        "h.to_state='written_off'"
    ).fetchone()
    (n_open,) = db.execute(
        "SELECT COUNT(*) FROM gf_case WHERE workflow_id='four_list' AND closed_at IS NULL"
    ).fetchone()
    assert start is not None
    assert (listed, solved, in_progress) == (n_listed, n_solved, n_open)
    assert listed > 20 and solved >= 1 and in_progress >= 1
    # the quarter really happened: SLA timers fired, notices were written to the file outbox
    (sla_steps,) = db.execute(
        "SELECT COUNT(*) FROM gf_history WHERE trigger LIKE 'sla:%'"
    ).fetchone()
    (sent,) = db.execute("SELECT COUNT(*) FROM gf_outbox WHERE status='sent'").fetchone()
    lines = sum(1 for f in (out / "notices").glob("**/*.jsonl") for _ in f.open(encoding="utf-8"))
    assert sla_steps > 0 and sent == lines > 0
    assert (out / "report.xlsx").stat().st_size > 0
    assert list(out.glob("yearly-*.html"))


def test_same_seed_same_figures(tmp_path):
    first = run_demo(tmp_path / "a", seed=5, days=10)
    second = run_demo(tmp_path / "b", seed=5, days=10)
    other = run_demo(tmp_path / "c", seed=6, days=10)

    def figures(text: str) -> str:  # the report, without the paths that differ
        return text.split(" …", 1)[1].split("workbook")[0]

    assert figures(first) == figures(second)
    assert figures(first) != figures(other)
