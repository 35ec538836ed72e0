"""The yearly report (民情报告) opened in a real headless Chromium.

The page is rendered from the world of ``test_kpi.py`` (on SQLite), written to a file and
loaded by ``chromium --headless --dump-dom`` (and ``--screenshot``): it must parse and render,
carry its three SVG charts (with their bars and slices) and no template leftovers. Skipped,
saying so, when no Chromium is installed (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_kpi import build_world

from gridflow.report import yearly_html

CHROMIUM = next(
    (p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
     if p and Path(p).is_file()),
    None,
)  # fmt: skip
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)"
)
HANG_GUARD_S = 120  # only so that a wedged browser cannot hang the suite


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    """The report in both languages, plus one for a micro-grid with no cases at all."""
    folder = tmp_path_factory.mktemp("yearly")
    world = build_world(f"sqlite:///{folder / 'y.db'}")
    try:
        out = {}
        for key, unit, lang in (
            ("zh", "wannan-r1-m1", "zh-CN"),
            ("en", "wannan-r1-m1", "en"),
            ("empty", "tianlong-r2-m3", "zh-CN"),
        ):
            path = folder / f"{key}.html"
            path.write_text(yearly_html(world.engine, unit, 2026, lang), encoding="utf-8")
            out[key] = path
        return out
    finally:
        world.engine.close()


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


class Dom(HTMLParser):
    """Counts of the elements (and classes) of the DOM Chromium dumped."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = {}
        self.classes: dict[str, int] = {}
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for cls in (dict(attrs).get("class") or "").split():
            self.classes[cls] = self.classes.get(cls, 0) + 1

    def handle_data(self, data):
        self.text.append(data)


def dump(tmp_path: Path, page: Path) -> Dom:
    result = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert "<html" in result.stdout, result.stderr[-2000:]
    dom = Dom()
    dom.feed(result.stdout)
    return dom


def test_the_report_renders_with_its_charts(tmp_path, pages):
    dom = dump(tmp_path, pages["zh"])
    text = " ".join(dom.text)
    assert "宛南一村第1微网格 · 2026 年度民情报告" in text
    assert dom.tags.get("svg") == 3  # monthly bars, states donut, satisfaction donut
    assert dom.classes.get("bar") == 24  # 12 months × opened/closed
    assert dom.classes.get("slice", 0) >= 2  # states: closed, returned/upheld, …
    assert dom.tags.get("table", 0) >= 5  # questions, hands, KPIs (3)
    assert "question Q2" in text and "patrol volunteers" in text
    for leftover in ("{{", "{%", "Undefined", "Traceback", "None"):
        assert leftover not in text, leftover


def test_the_english_report(tmp_path, pages):
    dom = dump(tmp_path, pages["en"])
    text = " ".join(dom.text)
    assert "Wannan C1 Micro-grid 1 · Yearly report 2026" in text
    assert "Cases opened and closed per month" in text and "Residents' evaluations" in text
    assert dom.tags.get("svg") == 3
    assert re.search(r"Satisfied · 2 \(50%\)", text)  # Q1, Q3 of the 4 explicit evaluations
    assert "Confirmed by default (not counted): 1" in text  # Q7


def test_a_micro_grid_without_cases_still_renders(tmp_path, pages):
    dom = dump(tmp_path, pages["empty"])
    text = " ".join(dom.text)
    assert dom.tags.get("svg") == 3
    assert "暂无数据" in text  # the empty donuts and lists say so
    assert "—" in text  # rates without a denominator


def test_a_screenshot_is_taken(tmp_path, pages):
    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1100,1600", pages["zh"].as_uri())
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert int.from_bytes(data[16:20], "big") == 1100  # the IHDR width
