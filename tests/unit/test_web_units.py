"""Pure parts of the workbench: its words (every key a template uses exists, in both
languages), safe redirects, reading posted forms, working time as text, the ``[web]``
settings, and the four-list board's columns against the workflow."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gridflow.drivers.web.context import safe_next
from gridflow.drivers.web.i18n import TEXT, t
from gridflow.drivers.web.render import TEMPLATES
from gridflow.errors import GridflowError


def test_every_word_a_page_uses_is_in_both_languages():
    used = set()
    for path in Path(TEMPLATES).glob("*.html"):
        used |= set(re.findall(r"\bt\('([a-z_]+)'", path.read_text(encoding="utf-8")))
    for path in Path(TEMPLATES).parent.glob("*.py"):
        used |= set(re.findall(r'\bt\("([a-z_]+)"', path.read_text(encoding="utf-8")))
    missing = sorted(used - set(TEXT))
    assert not missing, missing
    assert all(zh and en for zh, en in TEXT.values())
    assert t("overdue_by", "zh-CN", t="1个工作日") == "超期1个工作日"
    assert t("no_such_key") == "no_such_key"


@pytest.mark.parametrize(
    "value,expected",
    [
        ("/cases/7", "/cases/7"),
        ("/board?unit=wannan", "/board?unit=wannan"),
        ("//evil.example", "/"),
        ("https://evil.example", "/"),
        ("/\\evil", "/"),
        ("javascript:alert(1)", "/"),
        ("/ok\r\nSet-Cookie: x", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_safe_next(value, expected):
    assert safe_next(value) == expected


class FakeForm(dict):
    def getlist(self, key):
        value = self.get(key)
        return value if isinstance(value, list) else ([] if value is None else [value])


def test_reading_a_posted_form():
    from zoneinfo import ZoneInfo

    from gridflow.drivers.web import forms
    from gridflow.service.engine import Engine

    engine = Engine("sqlite://")
    try:
        d = engine.workflow("four_list").definition
        fields = forms.action_fields(
            d,
            ["lead_department", "deadline"],
            ["co_departments", "residents_informed", "owner"],
            directory=engine.directory,
            lang="zh-CN",
        )
        widgets = {f.name: f.widget for f in fields}
        assert widgets == {
            "lead_department": "select",
            "deadline": "date",
            "co_departments": "checkboxes",
            "residents_informed": "checkbox",
            "owner": "select",
        }
        data = forms.read(
            fields,
            FakeForm(
                lead_department="police",
                deadline=" 2026-10-09 ",
                co_departments=["sanitation", "", "city_mgmt"],
                residents_informed="true",
                owner="",
            ),
            ZoneInfo("Asia/Shanghai"),
        )
        assert data == {
            "lead_department": "police",
            "deadline": "2026-10-09",
            "co_departments": ["sanitation", "city_mgmt"],
            "residents_informed": True,
        }
        assert all(c.label for f in fields for c in f.choices)
        shown, folded = forms.start_fields(d, directory=engine.directory, lang="zh-CN")
        assert [f.name for f in shown][:1] == ["title"] and "photos" in [f.name for f in shown]
        assert "reworks" not in [f.name for f in shown + folded]  # computed by transitions
    finally:
        engine.close()


def test_working_time_as_text_and_urgency():
    from gridflow.domain.cases import Case, SlaView
    from gridflow.drivers.web.present import Present
    from gridflow.service.engine import Engine

    engine = Engine("sqlite://")
    try:
        zh, en = Present(engine, "zh-CN"), Present(engine, "en")
        day = zh.day
        assert day == 7.5 * 3600
        assert zh.span(2 * day + 3 * 3600) == "2个工作日3小时"
        assert en.span(2 * day + 3 * 3600) == "2 wd 3 h"
        assert zh.span(20 * 60) == "20分钟"
        now = datetime(2026, 9, 7, 2, tzinfo=UTC)

        def case(remaining, overdue_by, paused=False):
            return Case(
                1,
                "four_list",
                1,
                "listed",
                1,
                "x",
                {},
                None,
                None,
                now,
                now,
                None,
                sla=SlaView("c", now, False, paused, remaining, overdue_by),
            )

        assert zh.urgency(case(None, 3600)) == "overdue"
        assert zh.urgency(case(day, None)) == "soon"
        assert zh.urgency(case(day + 1, None)) == "ok"
        assert zh.urgency(case(5, None, paused=True)) == "paused"
        assert zh.due_text(case(None, day)) == "超期1个工作日"
    finally:
        engine.close()


def test_web_settings_refuse_mistakes():
    from gridflow.drivers.web.settings import WebSettings

    s = WebSettings.load(
        {"idle_minutes": 30, "wecom": {"corp_id": "ww1", "agent_id": "2"}},
        env={"GRIDFLOW_WEB_WECOM_SECRET": "x"},
    )
    assert s.idle_minutes == 30 and s.wecom and s.wecom.secret == "x"
    with pytest.raises(GridflowError, match="did you mean 'idle_minutes'"):
        WebSettings.load({"idle_minute": 30}, env={})
    with pytest.raises(GridflowError, match="client_id"):
        WebSettings.load({"oidc": {"issuer": "https://sso"}}, env={})
    with pytest.raises(GridflowError, match="cookie_secure"):
        WebSettings.load({"cookie_secure": "sometimes"}, env={})


def test_the_area_board_maps_every_open_four_list_state_once():
    from gridflow.builtin.boards import AREA_BOARD, MUST_ANSWER, RACE_TO_CLAIM
    from gridflow.service.engine import Engine

    engine = Engine("sqlite://")
    try:
        d = engine.workflow(AREA_BOARD.workflow).definition
        mapped = [s for c in AREA_BOARD.columns for s in c.states]
        assert len(mapped) == len(set(mapped)) and set(mapped) <= set(d.states)
        open_states = {n for n, s in d.states.items() if not s.final}
        assert open_states <= set(mapped)  # no open problem falls off the board
        assert set(mapped) - open_states == {"written_off"}
        rh = engine.workflow(MUST_ANSWER.workflow).definition
        assert set(MUST_ANSWER.states) | set(RACE_TO_CLAIM.states) <= set(rh.states)
        assert RACE_TO_CLAIM.trigger in {t.trigger for t in rh.transitions}
    finally:
        engine.close()
