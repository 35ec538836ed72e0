"""The workbench's pages against the engine: My work (urgency, remaining working time),
forms generated from the workflow YAML (types, enum labels, unit pickers, durations, files,
required comments), firing through them as the signed-in person, refusals shown inline
with the engine's own message, stale pages, the area board's columns and filters, the 举手
boards with one-tap hands, reports with the CLI's figures, admin actions, English."""

from __future__ import annotations

import io
import re

from web_world import photo_png


def _form(html: str, trigger: str) -> str:
    m = re.search(rf'<form class="action" id="act-{trigger}".*?</form>', html, re.S)
    assert m, f"no form for {trigger}"
    return m.group(0)


def test_my_work_lists_what_i_can_do_overdue_first_with_colours(web):
    c = web.login("wannan.chief")
    html = c.get("/my").text
    titles = re.findall(r'<div class="title">([^<]+)</div>', html)
    assert titles[0] == "楼道堆物堵塞消防通道"  # the most overdue first
    assert "西木一村下水道反味" not in titles
    item = re.search(r'<li class="card (\w*)" data-case="(\d+)">', html)
    assert item and item.group(1) == "overdue"
    assert re.search(r'class="due overdue"[^>]*>超期3个工作日1小时<', html)
    bikes = web.world.cases["bikes"]
    assert re.search(rf'<li class="card soon" data-case="{bikes}">', html)  # due today 17:30
    assert "剩余6小时" in html
    assert "列入协调清单" in html  # the action, as a button to its form
    # a grid chief has nothing of the area chief's
    other = web.login("wannan-r2.chief").get("/my").text
    assert "列入协调清单" not in other


def test_forms_are_generated_from_the_workflow_yaml(web):
    c = web.login("wannan.chief")
    coordinating = c.get(f"/cases/{web.world.cases['elevator']}").text
    assign = _form(coordinating, "assign")
    # required unit picker limited to departments, a date, optional list of units as checkboxes
    lead = re.search(
        r'<select id="f-lead_department" name="lead_department" required>(.*?)</select>',
        assign,
        re.S,
    )
    assert lead and "派出所" in lead.group(1) and "宛南片区" not in lead.group(1)
    assert re.search(
        r'<input id="f-deadline" type="date" name="deadline" value="" required>', assign
    )
    assert 'type="checkbox" name="co_departments" value="sanitation"' in assign
    escalate = _form(coordinating, "escalate")
    assert re.search(
        r'<textarea id="c-escalate" name="comment" required', escalate
    )  # comment_required
    listed = c.get(f"/cases/{web.world.cases['stairs']}").text
    reject = _form(listed, "reject")
    # an enum with its value_labels (five choices: a select)
    assert '<option value="duplicate">重复问题</option>' in reject
    merge = _form(listed, "merge")
    assert 'type="number" step="1" name="merged_into"' in merge
    # files: a photo input, the form multipart
    report = _form(
        web.login("city_mgmt.liaison").get(f"/cases/{web.world.cases['drain']}").text, "report"
    )
    assert 'enctype="multipart/form-data"' in report and 'type="file" name="photos"' in report
    assert "multiple" in report and 'accept="image/*' in report
    # enum radio buttons with labels (few choices), durations
    police = web.login("police.liaison")
    signed = police.get(f"/cases/{web.world.cases['ask_police2']}").text
    ext = _form(signed, "request_extension")
    assert 'name="extension"' in ext and 'list="durations"' in ext
    answered_form = _form(signed, "answer")
    assert 'name="answer"' in answered_form
    start = c.get("/new/raise_hand").text
    assert 'type="radio" name="direction" value="grid_asks"' in start and "网格出题" in start


def test_firing_through_a_form_records_the_session_person_and_channel(web):
    c = web.login("wannan.chief")
    case_id = web.world.cases["elevator"]
    token = web.csrf(c)
    r = c.post(
        f"/cases/{case_id}/act/assign",
        data={
            "csrf": token,
            "lead_department": "police",
            "deadline": "2026-10-09",
            "co_departments": ["sanitation", "city_mgmt"],
            "actor": "fenglin.head",
            "version": str(web.engine.get(case_id).version),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/cases/{case_id}"
    case = web.engine.get(case_id)
    assert case.state == "in_progress" and case.data["lead_department"] == "police"
    assert case.data["co_departments"] == ["sanitation", "city_mgmt"]
    last = web.engine.history(case_id)[-1]
    assert last.actor == "wannan.chief"  # the session's person, never a form field
    assert last.origin.channel == "web" and last.origin.principal == "wannan.chief"
    page = c.get(f"/cases/{case_id}").text
    assert "明确牵头部门" in page and "派出所" in page


def test_a_refusal_is_shown_inline_with_the_engines_message(web):
    c = web.login("wannan.chief")
    case_id = web.world.cases["shed"]
    token = web.csrf(c)
    r = c.post(
        f"/cases/{case_id}/act/submit_for_inspection", data={"csrf": token, "result": "已整改"}
    )
    assert r.status_code == 409
    refusal = re.search(
        r'<div class="refusal" role="alert" data-refusal="submit_for_inspection">(.*?)</div>',
        r.text,
        re.S,
    )
    assert refusal and "tell the residents who raised it first" in refusal.group(1)
    assert "已整改" in _form(r.text, "submit_for_inspection")  # what was typed is kept
    htmx = c.post(
        f"/cases/{case_id}/act/submit_for_inspection",
        data={"csrf": token},
        headers={"HX-Request": "true"},
    )
    assert htmx.status_code == 200 and htmx.text.lstrip().startswith('<form class="action"')
    assert "tell the residents who raised it first" in htmx.text
    assert web.engine.get(case_id).state == "feedback"
    missing = c.post(f"/cases/{web.world.cases['elevator']}/act/assign", data={"csrf": token})
    assert missing.status_code == 422
    assert re.search(
        r'data-field="lead_department">.*?<div class="err">[^<]+</div>', missing.text, re.S
    )


def test_a_stale_page_is_told_the_case_moved(web):
    c = web.login("wannan.chief")
    case_id = web.world.cases["bikes"]
    version = web.engine.get(case_id).version
    web.engine.fire(case_id, "accept", actor="wannan.chief")
    r = c.post(
        f"/cases/{case_id}/act/reject",
        data={
            "csrf": web.csrf(c),
            "version": str(version),
            "reject_reason": "duplicate",
            "comment": "重复",
        },
    )
    assert r.status_code == 409 and "案件已被他人更新" in r.text
    assert web.engine.get(case_id).state == "coordinating"


def test_photos_uploaded_with_an_action_are_shown_on_its_step(web):
    c = web.login("city_mgmt.liaison")
    case_id = web.world.cases["drain"]
    files = [("photos", ("管道疏通后.png", io.BytesIO(photo_png()), "image/png"))]
    r = c.post(
        f"/cases/{case_id}/act/report",
        data={"csrf": web.csrf(c), "result": "已疏通"},
        files=files,
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:300]
    [photo] = web.engine.files.of_case(case_id)
    assert photo.name == "管道疏通后.png" and web.engine.get(case_id).data["photos"] == [photo.id]
    page = web.login("wannan.chief").get(f"/cases/{case_id}").text
    step = re.search(
        r'<li data-seq="\d+">\s*<div><strong>反馈办理结果</strong>.*?</li>', page, re.S
    )
    assert step and f'<img src="/files/{photo.id}"' in step.group(0)
    bad = [("photos", ("not-a-photo.png", io.BytesIO(b"MZ\x90\x00 an exe"), "image/png"))]
    again = c.post(
        f"/cases/{web.world.cases['shed']}/act/report",
        data={"csrf": web.csrf(c), "result": "x"},
        files=bad,
    )
    assert again.status_code in (409, 422) and "refused file type" in again.text


def test_the_area_board_columns_filters_and_cards(web):
    c = web.login("wannan.chief")
    html = c.get("/board").text
    columns = dict(
        re.findall(r'<section class="column" data-column="(\w+)">(.*?)</section>', html, re.S)
    )
    assert list(columns) == ["problem", "coordination", "feedback", "closure"]
    assert "楼道堆物堵塞消防通道" in columns["problem"]
    assert (
        "垃圾分类点异味扰民" in columns["coordination"] and "2个待答问题" in columns["coordination"]
    )
    assert "违章搭建彩钢板棚" in columns["feedback"] and "牵头部门：城管中队" in columns["feedback"]
    assert "小区路灯损坏" in columns["closure"] and "返工1次" in columns["closure"]
    assert "围墙破损存在安全隐患" in columns["closure"]
    only_r2 = c.get("/board/columns", params={"unit": "wannan", "committee": "wannan-r2"}).text
    assert "违章搭建彩钢板棚" in only_r2 and "楼道堆物堵塞消防通道" not in only_r2
    overdue = c.get("/board/columns", params={"unit": "wannan", "overdue": "true"}).text
    assert "楼道堆物堵塞消防通道" in overdue and "雨水管网堵塞" not in overdue
    dept = c.get("/board/columns", params={"unit": "wannan", "department": "city_mgmt"}).text
    assert "违章搭建彩钢板棚" in dept and "楼道堆物堵塞消防通道" not in dept
    street = web.login("fenglin.head").get("/board", params={"unit": "fenglin"}).text
    rows = dict(
        re.findall(
            r'<td><a href="/board\?unit=(\w+)">[^<]+</a></td>((?:<td class="num">\d+</td>){4})',
            street,
        )
    )
    assert re.findall(r"\d+", rows["wannan"]) == ["2", "3", "1", "2"]
    assert re.findall(r"\d+", rows["ximu"]) == ["1", "0", "0", "0"]


def test_hands_boards_and_a_one_tap_raise(web):
    police = web.login("police.liaison").get("/hands").text
    must = police.split("<h2>抢答题</h2>")[0]
    assert "夜间广场舞噪声扰民" in must and "电动车楼道充电隐患" in must
    c = web.login("wannan-r1.chief")
    html = c.get("/hands").text
    race = html.split("<h2>抢答题</h2>")[1]
    assert "夜间平安巡逻志愿队招募" in race and "剩余名额2" in race and "认领截止" in race
    assert "垃圾分类宣传进楼组" in race and "剩余名额2" in race  # 3 places, one hand raised
    patrol = web.world.cases["patrol"]
    form = re.search(
        rf'<form method="post" action="/cases/{patrol}/act/raise_hand".*?</form>', race, re.S
    )
    assert form, race
    token = re.search(r'name="csrf" value="([^"]+)"', form.group(0)).group(1)
    r = c.post(
        f"/cases/{patrol}/act/raise_hand",
        data={"csrf": token, "return_to": "/hands"},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/hands"
    assert web.engine.get(patrol).data["hands"] == ["wannan-r1"]
    after = c.get("/hands").text.split("<h2>抢答题</h2>")[1]
    assert "已举手" in after and "撤回举手" in after and "剩余名额1" in after


def test_reports_show_the_same_figures_as_the_report_command(web):
    from gridflow.domain.period import Period
    from gridflow.report import metric_rows

    c = web.login("wannan.chief")
    html = c.get("/reports", params={"unit": "wannan", "period": "2026Q3"}).text
    engine = web.engine
    figures = engine.kpis(unit="wannan", period=Period.parse("2026Q3", tz=engine.calendar.tz.key))
    for group in ("four_list", "grid_asks", "dept_asks"):
        for key, _label, _raw, shown, _f in metric_rows(figures, group):
            cell = re.search(
                rf'data-group="{group}".*?<tr data-key="{re.escape(key)}"><td[^>]*>[^<]*</td><td class="num">([^<]*)</td>',
                html,
                re.S,
            )
            assert cell and cell.group(1) == shown, (group, key)
    assert html.count('<svg class="chart') >= 2
    xlsx = c.get("/reports/kpis.xlsx", params={"unit": "wannan", "period": "2026Q3"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    yearly = c.get("/reports/yearly", params={"unit": "wannan-r1-m1", "year": 2026})
    assert yearly.status_code == 200 and "<svg" in yearly.text


def test_admin_retries_dead_notices_sets_passwords_and_manages_tokens(web):
    engine = web.engine
    with engine.store.write() as tx:  # one notice dead-lettered by a channel
        row = engine.outbox.notices(None, 1)[0]
        tx.exec_driver_sql(
            "UPDATE gf_outbox SET status='dead', last_error='550 mailbox unavailable' WHERE id=?",
            (row.id,),
        )
    admin = web.login("ops.admin")
    page = admin.get("/admin/notices").text
    assert "550 mailbox unavailable" in page
    token = web.csrf(admin)
    r = admin.post(f"/admin/notices/{row.id}/retry", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and engine.outbox.notices("dead", 10) == []
    r = admin.post(
        "/admin/people/wannan.patrol/password", data={"csrf": token, "password": "a fresh password"}
    )
    assert r.status_code == 200 and "已为wannan.patrol设置密码" in r.text
    assert engine.accounts.verify("wannan.patrol", "a fresh password")
    weak = admin.post(
        "/admin/people/wannan.patrol/password", data={"csrf": token, "password": "short"}
    )
    assert weak.status_code == 422 and "at least 10" in weak.text
    made = admin.post(
        "/admin/tokens",
        data={"csrf": token, "principal": "fenglin.dispatch", "label": "城运对接", "days": "30"},
    )
    secret = re.search(r'<p class="secret" data-token>(gf_[^<]+)</p>', made.text).group(1)
    assert made.headers["cache-control"] == "no-store"
    assert engine.tokens.check(secret).principal == "fenglin.dispatch"
    [tok] = engine.tokens.listed()
    assert secret not in admin.get("/admin/tokens").text  # shown once
    admin.post(f"/admin/tokens/{tok.id}/revoke", data={"csrf": token})
    assert engine.tokens.listed() == []
    workflows = admin.get("/admin/workflows").text
    assert "四单工作法" in workflows and "双向举手" in workflows
    svg = admin.get("/admin/workflows/four_list.svg")
    if svg.status_code == 200:  # Graphviz installed (CI installs it)
        assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    else:
        assert "Graphviz" in svg.text


def test_english_switch_and_starting_a_case(web):
    c = web.login("wannan-r1.chief")
    r = c.get("/lang/en", params={"next": "/my"}, follow_redirects=False)
    assert r.headers["location"] == "/my"
    en = c.get("/my").text
    assert "My work" in en and '<html lang="en">' in en
    c.get("/lang/zh-CN")
    token = web.csrf(c)
    files = [("photos", ("楼道.png", io.BytesIO(photo_png()), "image/png"))]
    r = c.post(
        "/new/four_list",
        data={"csrf": token, "title": "消防栓缺失", "source": "visit"},
        files=files,
        follow_redirects=False,
    )
    assert r.status_code == 303
    case_id = int(r.headers["location"].rsplit("/", 1)[1])
    case = web.engine.get(case_id)
    assert case.unit == "wannan-r1" and case.created_by == "wannan-r1.chief"
    assert [f.name for f in web.engine.files.of_case(case_id)] == ["楼道.png"]
    missing = c.post("/new/four_list", data={"csrf": token, "source": "visit"})
    assert missing.status_code == 422 and "required" in missing.text
    assert web.login("police.liaison").get("/new/four_list").status_code == 403


def test_the_workbench_on_postgresql(make_web, pg_url):
    """The same pages on PostgreSQL: sessions, boards (counts, open children), a fire."""
    web = make_web(url=pg_url)
    c = web.login("wannan.chief")
    html = c.get("/board").text
    assert dict(re.findall(r'data-count="(\w+)">(\d+)<', html)) == {
        "problem": "2",
        "coordination": "3",
        "feedback": "1",
        "closure": "2",
    }
    assert "2个待答问题" in html
    r = c.post(
        f"/cases/{web.world.cases['stairs']}/act/accept",
        data={"csrf": web.csrf(c)},
        follow_redirects=False,
    )
    assert (
        r.status_code == 303 and web.engine.get(web.world.cases["stairs"]).state == "coordinating"
    )
    assert c.post("/logout", data={"csrf": web.csrf(c)}, follow_redirects=False).status_code == 303
    assert c.get("/my", follow_redirects=False).status_code == 303
