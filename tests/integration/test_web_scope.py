"""Scope on the workbench: a person cannot open a case, a file, a board or a report outside
their scope (403 — also for ids that do not exist, so 403 is no existence oracle), and no
count, title or card of a case outside their scope appears on any page they can open."""

from __future__ import annotations

import re

from web_world import photo_png

FOREIGN = "西木一村下水道反味"  # the title of the case in Ximu (outside Wannan)


def test_cases_outside_scope_are_403_whether_or_not_they_exist(web):
    ximu = web.world.cases["ximu"]
    c = web.login("wannan.chief")
    for path in (
        f"/cases/{ximu}",
        f"/cases/{ximu}/live",
        f"/cases/{ximu}/actions",
        "/cases/999999",
    ):
        r = c.get(path)
        assert r.status_code == 403, (path, r.status_code)
        assert FOREIGN not in r.text
    before = web.engine.get(ximu).version
    r = c.post(f"/cases/{ximu}/act/accept", data={"csrf": web.csrf(c)})
    assert r.status_code == 403 and web.engine.get(ximu).version == before
    assert any(
        a.outcome == "forbidden" and a.channel == "web" for a in web.engine.audit.page(limit=20)
    )
    own = web.login("ximu.chief")
    assert own.get(f"/cases/{ximu}").status_code == 200


def test_files_outside_scope_are_403(web):
    from io import BytesIO

    engine = web.engine
    ximu = web.world.cases["ximu"]
    f = engine.files.store(BytesIO(photo_png()), "x.png", uploader="ximu-r1.chief", case_id=ximu)
    loose = engine.files.store(BytesIO(photo_png()), "mine.png", uploader="ximu-r1.chief")
    shed_photo = next(iter(engine.files.of_case(web.world.cases["shed"])))
    wannan = web.login("wannan.chief")
    assert wannan.get(f"/files/{f.id}").status_code == 403
    assert wannan.get(f"/files/{loose.id}").status_code == 403  # unbound: its uploader's only
    assert wannan.get("/files/f_doesnotexist00").status_code == 403
    ok = wannan.get(f"/files/{shed_photo.id}")
    assert ok.status_code == 200 and ok.content.startswith(b"\x89PNG")
    assert ok.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in ok.headers["content-security-policy"]
    assert web.login("ximu-r1.chief").get(f"/files/{loose.id}").status_code == 200


def _counts(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-count="(\w+)">(\d+)<', html)}


def test_boards_outside_scope_are_403_and_counts_leak_nothing(web):
    wannan = web.login("wannan.chief")
    assert wannan.get("/board", params={"unit": "ximu"}).status_code == 403
    assert wannan.get("/board", params={"unit": "fenglin"}).status_code == 403  # above: no
    assert wannan.get("/board/columns", params={"unit": "ximu"}).status_code == 403
    assert (
        wannan.get("/board", params={"unit": "wannan", "committee": "ximu-r1"}).status_code == 403
    )
    own = wannan.get("/board")
    assert own.status_code == 200 and FOREIGN not in own.text
    assert _counts(own.text) == {"problem": 2, "coordination": 3, "feedback": 1, "closure": 2}
    street = web.login("fenglin.head").get("/board", params={"unit": "fenglin"})
    assert street.status_code == 200 and FOREIGN in street.text
    assert _counts(street.text)["problem"] == 3  # Ximu's problem counted for the street
    # a committee chief's board is their committee's: the area is above them
    r1 = web.login("wannan-r1.chief")
    assert r1.get("/board", params={"unit": "wannan"}).status_code == 403
    mine = r1.get("/board")
    assert mine.status_code == 200
    # wannan-r1 and its micro-grid: stairs, bikes | drain, garbage | lamp
    assert _counts(mine.text) == {"problem": 2, "coordination": 2, "feedback": 0, "closure": 1}
    assert "违章搭建彩钢板棚" not in mine.text  # wannan-r2's


def test_lists_and_reports_show_only_the_scope(web):
    wannan = web.login("wannan.chief")
    for path in ("/my", "/hands", "/my/list", "/hands/list"):
        assert FOREIGN not in wannan.get(path).text
    assert wannan.get("/reports", params={"unit": "ximu"}).status_code == 403
    assert wannan.get("/reports/kpis.xlsx", params={"unit": "ximu"}).status_code == 403
    assert wannan.get("/reports/yearly", params={"unit": "ximu"}).status_code == 403
    assert wannan.get("/reports", params={"unit": "wannan"}).status_code == 200
    # a department liaison sees the questions addressed to it, not the area's problems
    police = web.login("police.liaison").get("/hands")
    assert "夜间广场舞噪声扰民" in police.text and "楼道堆物堵塞消防通道" not in police.text


def test_admin_pages_need_the_admin_permission(web):
    chief = web.login("wannan.chief")
    for path in (
        "/admin/notices",
        "/admin/workflows",
        "/admin/people",
        "/admin/tokens",
        "/admin/workflows/four_list.svg",
    ):
        assert chief.get(path).status_code == 403, path
    token = web.csrf(chief)
    assert (
        chief.post(
            "/admin/people/fenglin.head/password", data={"csrf": token, "password": "x" * 12}
        ).status_code
        == 403
    )
    assert (
        chief.post("/admin/tokens", data={"csrf": token, "principal": "wannan.chief"}).status_code
        == 403
    )
    assert web.engine.tokens.listed() == []
    admin = web.login("ops.admin")
    for path in ("/admin/notices", "/admin/workflows", "/admin/people", "/admin/tokens"):
        assert admin.get(path).status_code == 200, path
