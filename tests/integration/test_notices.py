"""The built-in notice templates (``gridflow/builtin/workflows/templates``): previews, real events, checks.

* Every notice the two built-in workflows can send (state and transition ``notify``, the SLA
  ladder's ``reminder``/``overdue`` defaults and ``escalation`` for ``escalate:`` rungs) has a
  zh-CN and an English template, and each renders through ``gridflow notice preview``.
* Real events on an ``Engine`` with the built-in workflows and the Fenglin sample org put
  rendered notices in the outbox — Chinese for most people, English for ``fenglin.en`` — and
  every template of both workflows is used at least once without falling back to plain text.
* ``gridflow validate`` passes over the built-in folder and locates a template error.

Deadlines are checked against an independent oracle (``zoneinfo`` Asia/Shanghai), never the
wall clock: previews pin ``GRIDFLOW_NOW``, engines take a virtual clock.
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from gridflow.domain.loader import load_dir
from gridflow.domain.templates.renderer import TemplateRenderer
from gridflow.drivers.cli.main import cli
from gridflow.service.definitions import BUILTIN_WORKFLOWS
from gridflow.service.engine import BUILTIN_ORG, Engine
from gridflow.service.rendering import RenderFailure
from gridflow.storage import tables as t
from gridflow.storage.records import NoticeRecord

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)  # Monday 09:00, a working day
TEMPLATES = BUILTIN_WORKFLOWS / "templates"
LANGS = ("zh-CN", "en")
WEEKDAYS_ZH = "一二三四五六日"

# what each built-in workflow sends (derived from the YAML below, and pinned here)
EXPECTED = {
    "four_list": {
        "answered",
        "assignment",
        "escalation",
        "extension_requested",
        "overdue",
        "reminder",
        "returned",
        "written_off",
    },
    "raise_hand": {
        "answered",
        "assignment",
        "claim_lost",
        "claim_opened",
        "claim_won",
        "escalation",
        "extension_decided",
        "extension_requested",
        "overdue",
        "reminder",
        "returned",
    },
}
HTML_TWINS = {("four_list", "assignment"), ("four_list", "overdue")} | {
    ("raise_hand", "assignment"),
    ("raise_hand", "overdue"),
}


# ---- oracles ------------------------------------------------------------------------------
def zh_when(dt: datetime) -> str:
    """2026年3月9日（周一）17:30 — what the templates must show for ``dt``."""
    local = dt.astimezone(SHANGHAI)
    return (
        f"{local.year}年{local.month}月{local.day}日（周{WEEKDAYS_ZH[local.weekday()]}）"
        f"{local:%H:%M}"
    )


def zh_short(dt: datetime) -> str:
    local = dt.astimezone(SHANGHAI)
    return f"{local.month}月{local.day}日{local:%H:%M}"


def en_when(dt: datetime) -> str:
    local = dt.astimezone(SHANGHAI)
    return f"{local:%a} {local.day} {local:%b} {local.year}, {local:%H:%M}"


@functools.cache
def builtin_workflows():
    return load_dir(BUILTIN_WORKFLOWS)


def sent_templates(wf) -> set[str]:
    """Every template name a compiled workflow can send."""
    d = wf.definition
    names: set[str] = set()
    for state in d.states.values():
        names |= {n.template for n in state.notify}
        if state.sla:
            names |= {r.template for r in state.sla.remind if r.notify}
            for step in state.sla.overdue:
                if step.notify:
                    names.add(step.template)
                if step.escalate:
                    names.add("escalation")
    for tr in d.transitions:
        names |= {n.template for n in tr.notify}
    return names


@functools.cache
def sample_directory():
    from gridflow.domain.org_loader import load_org_file

    return load_org_file(BUILTIN_ORG)


# ---- the set of templates -------------------------------------------------------------------
def test_every_notice_the_builtin_workflows_send_has_both_languages():
    loaded = builtin_workflows()
    assert set(loaded) == set(EXPECTED)
    for wf_id, wf in loaded.items():
        assert sent_templates(wf) == EXPECTED[wf_id]
        for name in EXPECTED[wf_id]:
            for lang in LANGS:
                assert (TEMPLATES / wf_id / f"{name}.{lang}.txt").is_file(), (wf_id, name, lang)
        renderer = TemplateRenderer([BUILTIN_WORKFLOWS])
        assert {
            n for n, langs in renderer.available(wf_id).items() if set(langs) == set(LANGS)
        } >= (EXPECTED[wf_id])
    for wf_id, name in HTML_TWINS:
        for lang in LANGS:
            assert (TEMPLATES / wf_id / f"{name}.{lang}.html").is_file()
    for lang in LANGS:
        assert (TEMPLATES / "gridflow" / f"digest.{lang}.txt").is_file()
        assert (TEMPLATES / "gridflow" / f"digest.{lang}.html").is_file()


# ---- previews -------------------------------------------------------------------------------
class Clock:
    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def preview_engine(tmp_path_factory):
    """One engine for the preview matrix (parsing the built-in YAML is the slow part)."""
    clock = Clock()
    engine = Engine(
        f"sqlite:///{tmp_path_factory.mktemp('preview') / 'p.db'}",
        clock=clock,
        directory=sample_directory(),
    )
    yield engine, clock
    engine.close()


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    ("workflow", "template"),
    sorted((wf, name) for wf, names in EXPECTED.items() for name in names),
)
def test_preview_renders(preview_engine, workflow: str, template: str, lang: str):
    engine, _clock = preview_engine
    r = engine.preview(workflow, template, lang=lang)
    out = f"{r.subject}\n{r.text}"
    assert len(r.subject) > 5 and "\n" not in r.subject
    assert "template problem" not in out and "{{" not in out and "{%" not in out
    assert "http://localhost/cases/0" in r.text
    if lang == "zh-CN":
        assert r.subject.startswith("【徐汇区】")
        assert "示例：小区车棚充电桩改造" in out and r.text.startswith("预览，您好：")
        assert "请勿直接回复" in r.text
    else:
        assert r.subject.startswith("[Xuhui District] ")
        assert "Sample: charging points in the bike shed" in out
        assert r.text.startswith("Dear Preview,")
        assert not any("\u4e00" <= ch <= "\u9fff" for ch in out)  # no Chinese left over
    if (workflow, template) in HTML_TWINS:
        assert r.html is not None
        assert f'<html lang="{lang}">' in r.html and r.html.endswith("</html>")
    else:
        assert r.html is None


def test_preview_shows_shanghai_time_and_working_hours(preview_engine):
    engine, _clock = preview_engine
    # raise_hand starts in `raised`: 1wd to dispatch → Tuesday 17:30 Shanghai (09:30 UTC)
    due = datetime(2026, 3, 3, 17, 30, tzinfo=SHANGHAI)
    zh = engine.preview("raise_hand", "assignment")
    assert zh.subject == "【徐汇区】新派单：示例：小区车棚充电桩改造，请于3月3日17:30前签收办理"
    assert f"办理时限：{zh_when(due)}前，剩余14.5个工作小时" in zh.text
    # working windows 08:30-11:30 and 13:00-17:30: Mon 09:00 → (2.5 + 4.5) + Tue (3 + 4.5)
    en = engine.preview("raise_hand", "assignment", lang="en")
    assert f"Deadline: by {en_when(due)} Beijing time; 14.5 working hours left" in en.text
    # four_list: 2wd to triage → Wednesday 17:30
    fl = engine.preview("four_list", "assignment")
    assert f"请于{zh_when(datetime(2026, 3, 4, 17, 30, tzinfo=SHANGHAI))}前研判" in fl.text


def test_preview_marks_provisional_deadlines(preview_engine):
    engine, clock = preview_engine
    clock.now = datetime(2099, 3, 2, 9, 0, tzinfo=SHANGHAI)  # no holiday data: a Mon–Fri guess
    try:
        zh = engine.preview("raise_hand", "assignment")
        assert "（暂定：节假日数据未覆盖）" in zh.text
        en = engine.preview("raise_hand", "overdue", lang="en")
        assert "(provisional: holiday data missing)" in en.text
    finally:
        clock.now = T0


@pytest.mark.parametrize("lang", LANGS)
def test_gridflow_notice_preview_command(tmp_path, monkeypatch, lang: str):
    monkeypatch.chdir(tmp_path)
    for var in ("GRIDFLOW_CONFIG", "GRIDFLOW_WORKFLOWS", "GRIDFLOW_TIMEZONE"):
        monkeypatch.delenv(var, raising=False)
    env = {
        "GRIDFLOW_NOW": "2026-03-02T09:00",
        "GRIDFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}",
    }
    runner = CliRunner()
    text = runner.invoke(
        cli, ["notice", "preview", "raise_hand", "assignment", "--lang", lang], env=env
    )
    assert text.exit_code == 0, text.output
    html = runner.invoke(
        cli, ["notice", "preview", "raise_hand", "assignment", "--lang", lang, "--html"], env=env
    )
    assert html.exit_code == 0, html.output
    due = datetime(2026, 3, 3, 17, 30, tzinfo=SHANGHAI)
    if lang == "zh-CN":
        assert text.output.startswith(
            "Subject: 【徐汇区】新派单：示例：小区车棚充电桩改造，请于3月3日17:30前签收办理\n\n预览，您好：\n"
        )
        assert f"<strong>{zh_when(due)}</strong>" in html.output
    else:
        assert text.output.startswith(
            "Subject: [Xuhui District] New assignment: Sample: charging points in the bike shed "
            "(sign for it and answer by 3 Mar 17:30)\n\nDear Preview,\n"
        )
        assert f"<strong>{en_when(due)} Beijing time</strong>" in html.output
    assert '<html lang="' + lang + '">' in html.output


def test_digest_templates_render_in_both_languages():
    renderer = TemplateRenderer([BUILTIN_WORKFLOWS])
    due = datetime(2026, 3, 13, 9, 30, tzinfo=UTC)
    when = datetime(2026, 3, 21, 1, 0, tzinfo=UTC)
    cases = [
        {
            "id": 7,
            "title": "5号楼屋面渗水",
            "workflow": "four_list",
            "state": "in_progress",
            "due": due,
            "overdue_hours": 37.5,
            "url": "https://grid.example/cases/7",
        }
    ]
    for lang, name in (("zh-CN", "宛南片区"), ("en", "Wannan Area")):
        ctx = {
            "digest": {
                "unit": "wannan",
                "unit_name": name,
                "cases": cases,
                "count": 1,
                "date": when,
            },
            "recipient": {"id": "p", "name": "赵艳丽", "lang": lang},
            "link": "https://grid.example/cases",
        }
        r = renderer.render("gridflow", "digest", lang, ctx)
        assert r.html is not None and '<a href="https://grid.example/cases/7">' in r.html
        if lang == "zh-CN":
            assert r.subject == "【宛南片区】超时事项日报（3月21日）：1件逾期未办结"
            assert f"办理时限：{zh_when(due)}，已超时37.5个工作小时" in r.text
            assert "四单工作法" in r.text
        else:
            assert r.subject == (
                "[Wannan Area] Overdue digest: 1 open case past the deadline (Sat 21 Mar 2026)"
            )
            assert f"was due {en_when(due)}; 37.5 working hours overdue" in r.text
        empty = renderer.render(
            "gridflow",
            "digest",
            lang,
            {**ctx, "digest": {**ctx["digest"], "cases": [], "count": 0}},
        )
        assert ("没有超时未办结的事项" if lang == "zh-CN" else "no open case") in empty.text


# ---- validate ------------------------------------------------------------------------------------
def test_validate_passes_over_the_builtin_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["validate", str(BUILTIN_WORKFLOWS)])
    assert result.exit_code == 0, result.output
    assert "template" not in result.output  # no template warning either
    renderer = TemplateRenderer([BUILTIN_WORKFLOWS])
    for wf_id, wf in builtin_workflows().items():
        d = wf.definition
        assert renderer.check(wf_id, fields=set(d.fields), states=set(d.states)) == []


def test_validate_locates_an_unknown_case_data_field(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "workflows"
    (folder / "templates" / "raise_hand").mkdir(parents=True)
    shutil.copy(BUILTIN_WORKFLOWS / "raise_hand.yaml", folder)
    bad = folder / "templates" / "raise_hand" / "assignment.zh-CN.txt"
    bad.write_text(
        '{% extends "_layouts/notice.zh-CN.txt" %}\n'
        "{% block headline %}新派单：{{ case.title }}{% endblock %}\n"
        "{% block content %}\n"
        "部门：{{ case.data.departmnet }}\n"
        "{% endblock %}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["validate", str(folder)])
    assert result.exit_code == 1
    assert f"{bad}:4:0: template: case.data.departmnet is not a field of this workflow" in (
        result.output
    )
    assert "did you mean 'department'" in result.output
    # the layouts it extends came from the built-in folder and were checked too, cleanly
    assert "_layouts" not in result.output


# ---- real events ------------------------------------------------------------------------------
@pytest.fixture
def world(tmp_path):
    clock = Clock()
    engine = Engine(
        f"sqlite:///{tmp_path / 'n.db'}",
        clock=clock,
        directory=sample_directory(),
        base_url="https://grid.fenglin.example/cases",
    )
    yield engine, clock
    engine.close()


def notices(engine: Engine, **where) -> list:
    """The outbox rows, each with the subject, text and html delivery renders for it (or,
    when its template fails, ``failure``: the located error it is dead-lettered with)."""
    o = t.outbox_t
    q = sa.select(o).order_by(o.c.created_at, o.c.recipient, o.c.channel)
    for key, value in where.items():
        q = q.where(getattr(o.c, key) == value)
    with engine.store.read() as conn:
        records = [NoticeRecord(*r) for r in conn.execute(q)]
    rendered = engine.notices.render_rows(records)
    out = []
    for r in records:
        shown = rendered[r.id]
        failed = isinstance(shown, RenderFailure)
        fields = dataclasses.asdict(r) | {"failure": shown.message if failed else None}
        if not failed:
            fields |= {"subject": shown.subject, "text": shown.text, "html": shown.html}
        out.append(SimpleNamespace(**fields))
    return out


def step_through_timers(engine: Engine, clock: Clock, case_id: int, until: datetime) -> None:
    """Move the clock to each pending timer of the case (a minute after it) and tick."""
    tm = t.timer_t
    while True:
        with engine.store.read() as conn:
            nxt = conn.execute(
                sa.select(sa.func.min(tm.c.due_at)).where(
                    tm.c.case_id == case_id, tm.c.status == "pending"
                )
            ).scalar_one()
        if nxt is None or nxt > until:
            return
        clock.now = max(clock.now, nxt + timedelta(minutes=1))
        engine.tick()


RH_TITLE = "宛南一村3号楼门口共享单车乱停放"


def test_dispatch_sends_the_department_a_chinese_assignment(world):
    engine, _clock = world
    case = engine.start(
        "raise_hand",
        actor="wannan-r1.chief",
        data={
            "title": RH_TITLE,
            "question": "早晚高峰共享单车堵塞消防通道。",
            "category": "normal",
        },
    )
    engine.fire(
        case.id,
        "dispatch",
        actor="fenglin.dispatch",
        data={"department": "police"},
        comment="请牵头处理",
    )
    rows = notices(engine, notice="assignment")
    assert [(r.recipient, r.channel, r.lang) for r in rows] == [
        ("police.head", "email", "zh-CN"),
        ("police.liaison", "email", "zh-CN"),
    ]
    due = engine.get(case.id).sla.due
    assert due == datetime(2026, 3, 9, 17, 30, tzinfo=SHANGHAI)  # 5wd, counted from Tuesday
    for r in rows:
        assert r.subject == f"【宛南一村居民区】新派单：{RH_TITLE}，请于3月9日17:30前签收办理"
        assert r.text.startswith(("梁英萍，您好：", "邓斌志，您好："))
        assert "问题描述：早晚高峰共享单车堵塞消防通道。" in r.text
        assert "派单说明：请牵头处理" in r.text
        assert f"并于{zh_when(due)}前答复" in r.text
        assert f"办理时限：{zh_when(due)}前，剩余44.5个工作小时" in r.text
        assert f"查看与办理：https://grid.fenglin.example/cases/{case.id}" in r.text
        assert r.html is not None and "<strong>" + zh_when(due) + "</strong>" in r.html


def test_the_english_speaking_street_head_gets_english(world):
    engine, _clock = world
    case = engine.start("raise_hand", actor="wannan-r1.chief", data={"title": RH_TITLE})
    engine.fire(case.id, "dispatch", actor="fenglin.dispatch", data={"department": "police"})
    engine.fire(case.id, "sign", actor="police.liaison")
    engine.fire(
        case.id,
        "request_extension",
        actor="police.liaison",
        data={"extension": "3wd", "extension_reason": "需会同城管联合执法"},
    )
    rows = notices(engine, notice="extension_requested")
    assert {(r.recipient, r.channel, r.lang) for r in rows} == {
        ("fenglin.head", "email", "zh-CN"),
        ("fenglin.head", "wecom", "zh-CN"),
        ("fenglin.en", "email", "en"),
    }
    (en,) = [r for r in rows if r.lang == "en"]
    assert en.subject == f"[Wannan Committee 1] Extension request to decide: {RH_TITLE}"
    assert en.text.startswith("Dear 胡敏,\n")
    assert "梁英萍 asks for an extension of 3 working days" in en.text
    assert "Deadline: clock paused (44.5 working hours left when paused)" in en.text
    zh = next(r for r in rows if r.lang == "zh-CN")
    assert "梁英萍就“" in zh.text and "申请延期3个工作日" in zh.text
    assert "办理时限：计时已暂停（暂停时剩余44.5个工作小时）" in zh.text

    # the English speaker approves: the department hears the new deadline (the clock just set)
    engine.fire(case.id, "approve_extension", actor="fenglin.en")
    due = engine.get(case.id).sla.due
    assert due == datetime(2026, 3, 12, 17, 30, tzinfo=SHANGHAI)
    decided = notices(engine, notice="extension_decided")
    assert {r.recipient for r in decided} == {"police.liaison", "police.head"}
    for r in decided:
        assert r.subject == f"【宛南一村居民区】延期申请已批准：{RH_TITLE}"
        assert f"新的答复时限为{zh_when(due)}" in r.text


def test_sla_ladder_notices_with_escalation_in_both_languages(world):
    engine, clock = world
    case = engine.start("raise_hand", actor="wannan-r1.chief", data={"title": RH_TITLE})
    engine.fire(case.id, "dispatch", actor="fenglin.dispatch", data={"department": "police"})
    due = engine.get(case.id).sla.due
    step_through_timers(engine, clock, case.id, T0 + timedelta(days=30))

    reminders = notices(engine, notice="reminder", recipient="police.liaison")
    assert [r.subject for r in reminders] == [
        f"【宛南一村居民区】办理提醒：{RH_TITLE}（3月9日17:30到期）"
    ] * 2
    assert "办理时限已用去50%" in reminders[0].text and "办理时限已用去80%" in reminders[1].text

    overdue = notices(engine, notice="overdue", recipient="police.liaison")
    assert overdue and overdue[0].subject == f"【宛南一村居民区】超时提醒：{RH_TITLE}（已到期）"
    assert f"的办理时限为{zh_when(due)}，已到期" in overdue[0].text

    escalated = notices(engine, notice="escalation")
    assert {r.recipient for r in escalated} == {"fenglin.head", "fenglin.en"}  # escalate: street
    zh = next(r for r in escalated if r.recipient == "fenglin.head")
    assert zh.subject.startswith(f"【宛南一村居民区】超时上报：{RH_TITLE}（已超时")
    assert "按超时处置规定，现上报贵单位" in zh.text
    (en,) = [r for r in escalated if r.lang == "en"]
    assert en.subject.startswith(f"[Wannan Committee 1] Escalated, overdue: {RH_TITLE} (")
    assert "working hours overdue" in en.subject
    assert f"was due {en_when(due)} Beijing time" in en.text

    district = notices(engine, notice="overdue", recipient="xuhui.head")  # the 5wd rung
    assert district and "已超时" in district[0].subject


def drive_every_path(engine: Engine, clock: Clock) -> None:
    """Events through both workflows that, together, send every template they have."""
    fire = engine.fire
    # raise_hand, grid asks: return, re-dispatch, extension, answers, supervision
    a = engine.start("raise_hand", actor="wannan-r1.chief", data={"title": RH_TITLE}).id
    fire(a, "dispatch", actor="fenglin.dispatch", data={"department": "police"})
    fire(
        a,
        "return",
        actor="police.liaison",
        data={"return_reason": "not_our_duty"},
        comment="属城管职责",
    )
    fire(a, "redispatch", actor="fenglin.dispatch", data={"department": "city_mgmt"})
    fire(a, "sign", actor="city_mgmt.liaison")
    fire(
        a,
        "request_extension",
        actor="city_mgmt.liaison",
        data={"extension": "2wd", "extension_reason": "联合执法排期"},
    )
    fire(a, "reject_extension", actor="fenglin.head", comment="请按期答复")
    fire(a, "answer", actor="city_mgmt.liaison", data={"answer": "已清理。"})
    fire(
        a,
        "confirm",
        actor="wannan-r1.chief",
        data={"satisfaction": "unsatisfied"},
        comment="仍有乱停",
    )
    fire(a, "answer", actor="city_mgmt.liaison", data={"answer": "已划设停放区。"})
    fire(
        a,
        "confirm",
        actor="wannan-r1.chief",
        data={"satisfaction": "unsatisfied"},
        comment="无改善",
    )
    assert engine.get(a).state == "supervised"

    # raise_hand, department asks: first come, select, unclaimed
    q = {"direction": "dept_asks", "department": "police", "question": "请提出选址建议。"}
    b = engine.start(
        "raise_hand", actor="police.liaison", data={**q, "title": "充电点选址"}, unit="wannan"
    ).id
    fire(b, "raise_hand", actor="wannan-r1.chief")
    fire(b, "submit", actor="wannan-r1.chief", data={"result": "建议设在5号楼东侧。"})
    c = engine.start(
        "raise_hand",
        actor="police.liaison",
        data={**q, "title": "充电点选址（二）", "award_policy": "select"},
        unit="wannan",
    ).id
    fire(c, "raise_hand", actor="wannan-r1.chief")
    fire(c, "raise_hand", actor="wannan-r2.chief")
    fire(c, "award", actor="police.liaison", data={"award_to": ["wannan-r1"]})
    d = engine.start(
        "raise_hand", actor="police.liaison", data={**q, "title": "无人认领的题"}, unit="wannan"
    ).id

    # four_list: the whole way to written off; rejected; escalated to street and district;
    # hold and review
    data = {"title": "宛南一村5号楼屋面渗水", "location": "5号楼", "description": "顶楼渗水"}
    f = engine.start("four_list", actor="wannan-r1.chief", data=data).id
    fire(f, "accept", actor="wannan.chief")
    fire(
        f,
        "assign",
        actor="wannan.chief",
        data={"lead_department": "construction", "deadline": "2026-03-20"},
    )
    fire(f, "report", actor="construction.liaison", data={"result": "已完成屋面防水。"})
    fire(f, "submit_for_inspection", actor="wannan.chief", data={"residents_informed": True})
    fire(f, "pass_inspection", actor="wannan.chief")
    g = engine.start("four_list", actor="wannan-r1.chief", data={**data, "title": "重复问题"}).id
    fire(g, "reject", actor="wannan.chief", data={"reject_reason": "duplicate"}, comment="同第1件")
    h = engine.start("four_list", actor="wannan-r1.chief", data={**data, "title": "小区停车难"}).id
    fire(h, "accept", actor="wannan.chief")
    fire(h, "escalate", actor="wannan.chief", comment="涉及多个部门")
    fire(h, "escalate_district", actor="fenglin.head", comment="需区级协调")
    fire(
        h,
        "district_decides",
        actor="xuhui.head",
        data={"lead_department": "city_mgmt", "deadline": "2026-04-30"},
    )
    fire(h, "request_hold", actor="wannan.chief", data={"hold_reason": "待区级规划调整"})
    fire(h, "approve_hold", actor="fenglin.head")
    i = engine.start("four_list", actor="wannan-r1.chief", data={**data, "title": "路灯不亮"}).id
    fire(i, "accept", actor="wannan.chief")
    fire(
        i,
        "assign",
        actor="wannan.chief",
        data={"lead_department": "city_mgmt", "deadline": "2026-03-06"},
    )

    # time passes: claim windows close, clocks run out, the hold comes up for review
    for case_id in (d, i, h):
        step_through_timers(engine, clock, case_id, T0 + timedelta(days=40))
    assert engine.get(d).state == "unclaimed"
    assert engine.get(h).state == "review"


def test_real_events_use_every_template_in_both_languages(world):
    engine, clock = world
    drive_every_path(engine, clock)
    rows = notices(engine)
    sent = {(r.workflow_id, r.notice) for r in rows}
    expected = {(wf, name) for wf, names in EXPECTED.items() for name in names}
    assert expected <= sent, expected - sent
    langs = {(r.workflow_id, r.notice, r.lang) for r in rows}
    for wf, name in (("four_list", "escalation"), ("raise_hand", "extension_requested")):
        assert {(wf, name, "zh-CN"), (wf, name, "en")} <= langs
    for r in rows:
        assert "template problem" not in r.text, (r.notice, r.text)
        assert not r.subject.startswith(f"[{r.notice}]")  # the engine's plain fallback
        if r.lang == "en":
            assert r.text.startswith("Dear ") and "您好" not in r.text
        else:
            assert "您好：" in r.text and "Dear " not in r.text

    def one(notice: str, recipient: str, **where):
        found = [r for r in notices(engine, notice=notice, recipient=recipient, **where)]
        assert found, (notice, recipient)
        return found[0]

    assert "属城管职责" in one("returned", "fenglin.dispatch", workflow_id="raise_hand").text
    assert "街道已将网格提出的问题" in one("assignment", "city_mgmt.liaison").text
    assert "驳回意见：请按期答复" in one("extension_decided", "city_mgmt.liaison").text
    assert "街道督办" in one("escalation", "city_mgmt.liaison").subject
    assert "破题成果待验收" in one("answered", "police.liaison").subject
    assert "认领名额：1个；认领方式：先到先得" in one("claim_opened", "wannan-r7.chief").text
    assert one("claim_won", "wannan-r1.chief").subject.startswith("【宛南片区】认领成功：")
    assert "部门已选定其他网格" in one("claim_lost", "wannan-r2.chief").text
    assert one("claim_lost", "fenglin.en").subject == "[Wannan Area] No claims: 无人认领的题"
    assert "不予受理" in one("returned", "wannan-r1.chief", workflow_id="four_list").subject
    assert "原因：重复上报" in one("returned", "wannan-r1.chief", workflow_id="four_list").text
    assert "已完成屋面防水" in one("written_off", "wannan.chief").text
    at_district = one("escalation", "xuhui.head")
    assert at_district.subject == "【宛南一村居民区】上报区级协调：小区停车难"
    assert "上报说明：需区级协调" in at_district.text
    street_en = one("escalation", "fenglin.en", workflow_id="four_list")
    assert street_en.subject.startswith("[Wannan Committee 1] Escalated to the street: 小区停车难")
    assert (
        "挂账原因：待区级规划调整"
        in one("extension_requested", "fenglin.head", workflow_id="four_list").text
    )
    review = [
        r
        for r in notices(engine, notice="reminder", recipient="fenglin.head")
        if "复查" in r.subject
    ]
    assert review and "继续挂账（须说明理由）或恢复推进" in review[0].text


def test_digest_lists_the_overdue_cases_per_unit_leader(world):
    engine, clock = world
    case = engine.start(
        "four_list", actor="fenglin.head", data={"title": "街道统筹：菜场周边占道"}, unit="fenglin"
    )
    due = engine.get(case.id).sla.due
    clock.now = due + timedelta(days=3)
    assert engine.digest() >= 2
    rows = notices(engine, notice="digest")
    en = [r for r in rows if r.recipient == "fenglin.en"]
    zh = [r for r in rows if r.recipient == "fenglin.head" and r.channel == "email"]
    assert en and zh
    assert (
        zh[0].subject.startswith("【枫林路街道】超时事项日报（")
        and "1件逾期未办结" in zh[0].subject
    )
    assert f"办理时限：{zh_when(due)}，已超时" in zh[0].text
    assert en[0].subject.startswith(
        "[Fenglin Road Street] Overdue digest: 1 open case past the deadline"
    )
    assert f"was due {en_when(due)};" in en[0].text
    assert en[0].html is not None and "Overdue (working hours)" in en[0].html


def test_a_template_that_fails_at_delivery_is_dead_lettered_with_where(world, tmp_path):
    """A notice whose template fails at delivery is dead-lettered with the located error
    (the template's path below its root, not the server's folders; the line), never sent
    garbled and never retried forever; fixed and retried, it goes out."""
    engine, _clock = world
    root = tmp_path / "override"
    (root / "templates" / "raise_hand").mkdir(parents=True)
    broken = root / "templates" / "raise_hand" / "assignment.zh-CN.txt"
    broken.write_text(
        "{% block subject %}{{ case.data.question.upper() }}{% endblock %}{% block body %}x{% endblock %}",
        encoding="utf-8",
    )
    eng = Engine(
        f"sqlite:///{tmp_path / 'b.db'}",
        clock=engine.clock,
        directory=sample_directory(),
        templates=[root],
    )

    class Sink:
        name = "email"
        got: list = []

        def deliver(self, notice) -> None:
            self.got.append(notice)

        def close(self) -> None:
            pass

    try:
        case = eng.start("raise_hand", actor="wannan-r1.chief", data={"title": RH_TITLE})
        eng.fire(case.id, "dispatch", actor="fenglin.dispatch", data={"department": "police"})
        sink = Sink()
        result = eng.dispatcher({"email": sink}).run_once()
        dead = eng.outbox.notices("dead")
        assignment = [r for r in dead if r.notice == "assignment"]
        assert len(assignment) == 2 and result.dead >= 2
        assert all("raise_hand/assignment.zh-CN.txt:1" in r.last_error for r in assignment)
        assert all(str(tmp_path) not in r.last_error for r in assignment)
        assert not [n for n in sink.got if n.notice == "assignment"]
        broken.write_text(
            "{% block subject %}派单 {{ case.id }}{% endblock %}{% block body %}请办理{% endblock %}",
            encoding="utf-8",
        )
        fixed = Engine(  # a restarted server: templates compiled afresh
            f"sqlite:///{tmp_path / 'b.db'}",
            clock=engine.clock,
            directory=sample_directory(),
            templates=[root],
        )
        try:
            assert fixed.outbox.retry(all_dead=True) >= 2
            fixed.dispatcher({"email": sink}).run_once()
            sent = [n for n in sink.got if n.notice == "assignment"]
            assert sorted(n.subject for n in sent) == [f"派单 {case.id}"] * 2
        finally:
            fixed.close()
    finally:
        eng.close()


def test_a_send_back_tells_the_awardee_again_and_the_losers_not_again(world):
    engine, _clock = world
    case = engine.start(
        "raise_hand",
        actor="police.liaison",
        data={
            "direction": "dept_asks",
            "department": "police",
            "question": "请提出选址建议。",
            "title": "充电点选址（三）",
            "award_policy": "select",
        },
        unit="wannan",
    )
    engine.fire(case.id, "raise_hand", actor="wannan-r1.chief")
    engine.fire(case.id, "raise_hand", actor="wannan-r2.chief")
    engine.fire(case.id, "award", actor="police.liaison", data={"award_to": ["wannan-r1"]})
    for _round in range(2):
        engine.fire(case.id, "submit", actor="wannan-r1.chief", data={"result": "5号楼东侧"})
        engine.fire(case.id, "send_back", actor="police.liaison", comment="请补充电容量测算")

    def sent(notice: str, recipient: str) -> list[str]:
        rows = notices(engine, case_id=case.id, notice=notice, recipient=recipient)
        return [r.subject for r in rows]

    assert len(sent("claim_lost", "wannan-r2.chief")) == 1  # at the award only
    won = sent("claim_won", "wannan-r1.chief")
    assert len(won) == 3  # the award, then each send-back
    assert sum("破题成果被退回" in s for s in won) == 2
