"""``gridflow report``: the KPIs as a table, JSON, CSV and XLSX, and the yearly report, through
the click commands (CliRunner) over the world of ``test_kpi.py`` (built once, on SQLite).

The commands run under a root group built like ``gridflow``'s (``--db``, the settings, the
clock pinned by ``GRIDFLOW_NOW``), with the ``report`` group added to it.
"""

from __future__ import annotations

import csv
import io
import json

import click
import pytest
from click.testing import CliRunner
from test_kpi import NOW, Q1, build_world

from gridflow.report import DASH, as_csv, as_table, box, width, write_xlsx


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'report.db'}"
    build_world(url).engine.close()
    return url


@pytest.fixture(scope="module")
def expected(db) -> dict:
    """compute() on the same database, as of the pinned now."""
    from gridflow.service.engine import Engine

    engine = Engine(db)
    try:
        return engine.kpis(unit="wannan", period=Q1, now=NOW)
    finally:
        engine.close()


def _root() -> click.Group:
    """A root command like ``gridflow``'s, with ``report`` registered."""
    from gridflow.drivers.cli.main import Context, GridflowGroup
    from gridflow.drivers.cli.report import report

    @click.group(cls=GridflowGroup)
    @click.option("--db")
    @click.pass_context
    def root(ctx, db):
        ctx.obj = Context(db, None, None)

    root.add_command(report)
    return root


@pytest.fixture
def run(db, tmp_path, monkeypatch):
    """``run(*args)`` → click Result; in an empty folder (no gridflow.toml), now pinned."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GRIDFLOW_NOW", NOW.isoformat())
    root = _root()

    def invoke(*args: str):
        return CliRunner().invoke(root, ["--db", db, "report", *args])

    return invoke


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.stdout


def failed(result, says: str, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert says in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.output


# ---- table --------------------------------------------------------------------------------------
def test_table_for_people_in_chinese(run):
    out = ok(run("--unit", "wannan", "--period", "2026Q1"))
    assert "宛南片区 (wannan)" in out and "2026Q1 (2026-01-01 … 2026-03-31" in out
    for heading in ("四单工作法", "双向举手·网格出题", "双向举手·部门出题", "当前超期 (合计 4)"):
        assert heading in out
    assert "37.5% (3/8)" in out  # write-off rate with its numerator and denominator
    assert "66.7% (4/6)" in out  # on-time answers
    assert "枫林路派出所" in out  # the overdue league by department


def test_table_in_english_and_dash_for_missing_rates(run):
    out = ok(run("--unit", "ximu", "--period", "2026Q1", "--lang", "en"))
    assert "Write-off rate" in out and "On-time answer rate" in out
    line = next(x for x in out.splitlines() if "Write-off rate" in x)
    assert line.rstrip(" │").endswith(DASH)
    assert "nothing overdue" in out


def test_table_columns_line_up_with_chinese_text(run):
    out = ok(run("--unit", "wannan", "--period", "2026Q1"))
    table = [x for x in out.splitlines() if x.startswith(("┌", "│", "└", "├"))]
    first = out.splitlines().index(table[0])
    block = []
    for x in out.splitlines()[first:]:
        if not x.startswith(("┌", "│", "└", "├")):
            break
        block.append(x)
    assert len({width(x) for x in block}) == 1, block


def test_progress_goes_to_stderr(run):
    result = run("--unit", "wannan", "--period", "2026Q1", "--format", "json")
    ok(result)
    assert "computing KPIs" in result.stderr
    json.loads(result.stdout)  # stdout is the report alone


# ---- json / csv / xlsx --------------------------------------------------------------------------
def test_json_for_scripts(run, expected):
    data = json.loads(ok(run("--unit", "wannan", "--period", "2026Q1", "--format", "json")))
    assert data == expected
    sections = data["sections"]
    assert list(sections) == ["four_list", "grid_asks", "dept_asks"]
    assert sections["four_list"]["figures"]["write_off_rate"] == 0.375
    assert sections["grid_asks"]["figures"]["on_time_answer_rate"] == 0.6667
    assert sections["dept_asks"]["figures"]["microgrids"] == 6
    rate = next(m for m in sections["four_list"]["metrics"] if m["key"] == "write_off_rate")
    assert rate == {
        "key": "write_off_rate",
        "kind": "rate",
        "label": {"zh": "销项率", "en": "Write-off rate"},
        "formula": "written_off_of_listed ÷ listed_kept",
        "under": None,
        "hidden": False,
        "rate": ["written_off_of_listed", "listed_kept"],
    }
    assert [r["unit"] for r in data["overdue"]["by_unit"]] == ["wannan", "wannan-r1-m1"]


def test_json_to_a_file(run, tmp_path):
    result = run("--unit", "wannan", "--from", "2026-01-01", "--to", "2026-03-31",
                 "--format", "json", "--out", "k.json")  # fmt: skip
    ok(result)
    assert "wrote k.json" in result.stderr
    data = json.loads((tmp_path / "k.json").read_text(encoding="utf-8"))
    assert data["period"]["from"] == "2026-01-01" and data["period"]["to"] == "2026-03-31"
    assert data["sections"]["four_list"]["figures"]["listed"] == 10


def _csv(text: str) -> dict[tuple[str, str, str], str]:
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["group", "item", "metric", "value"]
    return {(g, i, m): v for g, i, m, v in rows[1:]}


def test_csv_to_stdout_and_to_a_file(run, tmp_path):
    got = _csv(ok(run("--unit", "wannan", "--period", "2026Q1", "--format", "csv")))
    assert got[("four_list", "", "write_off_rate")] == "0.375"
    assert got[("four_list", "", "listed")] == "10"
    assert got[("four_list", "", "third_rework")] == "1"
    assert got[("grid_asks", "", "satisfaction_rate")] == "0.75"
    assert got[("overdue_by_department", "police", "overdue")] == "2"
    assert got[("period", "", "label")] == "2026Q1"
    ok(run("--unit", "ximu", "--period", "2026Q1", "--format", "csv", "--out", "k.csv"))
    raw = (tmp_path / "k.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM, for Excel
    got = _csv(raw.decode("utf-8-sig"))
    assert got[("four_list", "", "write_off_rate")] == ""  # no denominator: empty cell


def test_xlsx_needs_out(run):
    failed(run("--format", "xlsx"), "--format xlsx needs --out", code=2)


def test_xlsx_one_sheet_per_kpi_group(run, tmp_path):
    from openpyxl import load_workbook

    result = run("--unit", "wannan", "--period", "2026Q1", "--format", "xlsx", "--out", "k.xlsx")
    ok(result)
    wb = load_workbook(tmp_path / "k.xlsx")
    assert wb.sheetnames == [
        "about",
        "four_list",
        "grid_asks",
        "dept_asks",
        "overdue_by_unit",
        "overdue_by_department",
    ]
    about = {r[0]: r[1] for r in wb["about"].iter_rows(values_only=True)}
    assert about["单位"] == "宛南片区 (wannan)" and about["统计期"] == "2026Q1"
    four = {r[0].value: r for r in wb["four_list"].iter_rows(min_row=2)}
    assert four["write_off_rate"][2].value == 0.375
    assert four["write_off_rate"][2].number_format == "0.0%"
    assert four["write_off_rate"][1].value == "销项率"
    assert four["write_off_rate"][3].value == "written_off_of_listed ÷ listed_kept"
    assert four["p90_days_to_write_off"][2].value == 4.7
    grid = {r[0]: r[2] for r in wb["grid_asks"].iter_rows(min_row=2, values_only=True)}
    assert grid["on_time_answer_rate"] == 0.6667 and grid["raised"] == 8
    league = list(wb["overdue_by_unit"].iter_rows(values_only=True))
    assert league[0][:4] == ("#", "单位", "名称", "超期件数")
    assert [r[:4] for r in league[1:]] == [
        (1, "wannan", "宛南片区", 2),
        (2, "wannan-r1-m1", "宛南一村第1微网格", 2),
    ]
    dept = list(wb["overdue_by_department"].iter_rows(values_only=True))
    assert dept[1][1:4] == ("police", "枫林路派出所", 2)


def test_xlsx_in_english_with_dashes(run, tmp_path):
    from openpyxl import load_workbook

    ok(
        run(
            "--unit",
            "ximu",
            "--period",
            "2026Q1",
            "--format",
            "xlsx",
            "--out",
            "x.xlsx",
            "--lang",
            "en",
        )
    )
    wb = load_workbook(tmp_path / "x.xlsx")
    four = {r[0]: r for r in wb["four_list"].iter_rows(min_row=2, values_only=True)}
    assert four["write_off_rate"][1:3] == ("Write-off rate", DASH)
    assert four["listed"][2] == 0
    assert wb["overdue_by_unit"].max_row == 1  # the header only


# ---- the yearly report --------------------------------------------------------------------------
def test_yearly_report_to_a_file(run, tmp_path):
    result = run("yearly", "--unit", "wannan-r1-m1", "--year", "2026", "--out", "y.html")
    ok(result)
    assert "yearly report wannan-r1-m1 2026" in result.stderr  # the progress bar's label
    html = (tmp_path / "y.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and '<html lang="zh-CN">' in html
    assert "宛南一村第1微网格 · 2026 年度民情报告" in html
    assert html.count("<svg") == 3
    assert "question Q3" in html and "patrol volunteers" in html  # its questions, its hands
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org', "")


def test_yearly_report_in_english_to_stdout(run):
    html = ok(run("yearly", "--unit", "wannan-r1-m1", "--year", "2026", "--lang", "en"))
    assert '<html lang="en">' in html and "Wannan C1 Micro-grid 1 · Yearly report 2026" in html
    assert "Residents&#39; evaluations" in html or "Residents' evaluations" in html


def test_yearly_report_defaults_to_this_year(run):
    assert "2026 年度民情报告" in ok(run("yearly", "--unit", "wannan-r1-m1"))


def test_yearly_report_needs_a_known_unit(run):
    failed(run("yearly", "--unit", "nowhere", "--year", "2026"), "no unit 'nowhere'")
    failed(run("yearly", "--year", "2026"), "Missing option '--unit'", code=2)


# ---- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "says", "code"),
    [
        (["--period", "2026Q5"], "Q5 does not exist", 1),
        (["--from", "2026-03-10", "--to", "2026-03-01"], "ends before it starts", 1),
        (["--period", "2026", "--from", "2026-01-01"], "not both", 1),
        (["--unit", "atlantis"], "no unit 'atlantis'", 1),
        (["--format", "pdf"], "Invalid value for '--format'", 2),
        (["--lang", "fr"], "Invalid value for '--lang'", 2),
    ],
)
def test_mistakes_are_one_line_messages(run, args, says, code):
    failed(run(*args), says, code)


def test_unwritable_out_is_a_message(run, tmp_path):
    failed(
        run("--format", "json", "--out", str(tmp_path / "no" / "such" / "k.json")), "cannot write"
    )


# ---- the functions the demo calls -----------------------------------------------------------------
def test_table_json_csv_of_a_computed_dict(expected):
    assert "37.5% (3/8)" in as_table(expected)
    assert "Write-off rate" in as_table(expected, "en")
    assert ("four_list", "", "rework_rate") in _csv(as_csv(expected))


def test_write_xlsx_accepts_a_path(expected, tmp_path):
    from openpyxl import load_workbook

    write_xlsx(expected, tmp_path / "k.xlsx")
    assert "four_list" in load_workbook(tmp_path / "k.xlsx").sheetnames


def test_box_measures_wide_characters():
    assert width("宛南") == 4 and width("ab") == 2
    lines = box([["宛南片区", 1], ["x", 22]], ["名称", "n"], numeric=(1,)).splitlines()
    assert len({width(x) for x in lines}) == 1
    assert lines[3] == "│ 宛南片区 │  1 │"
