"""XSS payloads in every field a person controls render inert on every workbench page:
case titles, comments, answers and other text fields, uploaded file names, and the unit and
person names of org.yaml. The pages are parsed: no element, attribute or URL the payloads
carry may appear as markup — only as text — and the Content-Security-Policy forbids inline
script anyway (checked too). Expressions (``{{7*7}}``) are not evaluated."""

from __future__ import annotations

import io
import json
from html.parser import HTMLParser
from pathlib import Path

from web_world import WEB_ORG, photo_png

PAYLOADS = [
    "<script>window.__xss=1</script>",
    '"><img src=x onerror="window.__xss=2">',
    "'><svg onload=window.__xss=3>",
    "{{7*7}}</textarea><script>window.__xss=4</script>",
    "javascript:window.__xss=5",
]
OURS = {"/static/htmx.min.js", "/static/app.js"}


class Markup(HTMLParser):
    """Every element and attribute of a page, to find injected ones."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.bad: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.startswith("on"):
                self.bad.append(f"<{tag} {name}=…>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.bad.append(f"<{tag} {name}={value}>")
        if tag == "script":
            src = dict(attrs).get("src") or ""
            if src.split("?")[0] not in OURS:
                self.bad.append("<script> not ours")
        if tag in ("img", "svg") and any((v or "") == "x" for n, v in attrs if n == "src"):
            self.bad.append(f"<{tag} src=x>")
        if tag == "svg" and any(n == "onload" for n, _ in attrs):
            self.bad.append("<svg onload>")

    def handle_data(self, data):
        self.text.append(data)


def check(html: str, where: str) -> str:
    parser = Markup()
    parser.feed(html)
    assert not parser.bad, (where, parser.bad)
    assert "49" not in "".join(parser.text).replace("2049", ""), where  # {{7*7}} not evaluated
    return "".join(parser.text)


def hostile_org(tmp_path: Path) -> Path:
    text = WEB_ORG.read_text(encoding="utf-8")
    text = text.replace("宛南一村居民区", json.dumps(PAYLOADS[1])).replace(
        "城管中队", json.dumps(PAYLOADS[2])
    )
    text = text.replace("name: 胡军秀", "name: " + json.dumps("<script>window.__xss=6</script>"))
    path = tmp_path / "hostile-org.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_payloads_in_every_user_field_render_inert(make_web, tmp_path):
    web = make_web(org=hostile_org(tmp_path))
    engine = web.engine
    cases = web.world.cases
    # titles, a text field, a comment, an answer, a result, file names
    for i, payload in enumerate(PAYLOADS):
        case = engine.start(
            "four_list",
            actor="wannan-r1.chief",
            data={"title": payload, "description": payload, "location": payload},
        )
        engine.fire(
            case.id,
            "reject",
            actor="wannan.chief",
            data={"reject_reason": "other"},
            comment=payload,
        )
        cases[f"x{i}"] = case.id
    engine.fire(
        cases["ask_police2"],
        "answer",
        actor="police.liaison",
        data={"answer": PAYLOADS[0]},
        comment=PAYLOADS[3],
    )
    drain = cases["drain"]
    chief = web.login("city_mgmt.liaison")
    token = web.csrf(chief)
    files = [
        ("photos", (PAYLOADS[1] + ".png", io.BytesIO(photo_png()), "image/png")),
        ("photos", (PAYLOADS[2] + ".png", io.BytesIO(photo_png(hue=50)), "image/png")),
    ]
    r = chief.post(
        f"/cases/{drain}/act/report",
        data={"csrf": token, "result": PAYLOADS[4]},
        files=files,
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:400]
    # (clients send a double quote in a file name as %22, as browsers do)
    names = {f.name.replace("%22", '"') for f in engine.files.of_case(drain)}
    assert names == {PAYLOADS[1] + ".png", PAYLOADS[2] + ".png"}
    engine.files.store(
        io.BytesIO(photo_png()),
        "<svg onload=window.__xss=9>.png",
        uploader="wannan.chief",
        case_id=drain,
    )

    viewers = {
        "wannan.chief": [
            "/my",
            "/board",
            "/board/columns",
            "/hands",
            "/reports?period=2026Q3",
            "/new/four_list",
        ],
        "fenglin.head": ["/board?unit=fenglin", "/my"],
        "police.liaison": ["/hands"],
        "ops.admin": ["/admin/notices", "/admin/people", "/admin/tokens", "/admin/workflows"],
    }
    seen_payload_text = set()
    for who, paths in viewers.items():
        c = web.login(who)
        for path in (
            paths
            + [f"/cases/{cid}" for cid in cases.values() if who == "fenglin.head"]
            + [f"/cases/{drain}/live", f"/cases/{drain}/actions"]
        ):
            r = c.get(path)
            if r.status_code == 403:
                continue
            assert r.status_code == 200, (who, path, r.status_code)
            assert "script-src 'self'" in r.headers["content-security-policy"]
            assert "unsafe-inline" not in r.headers["content-security-policy"]
            text = check(r.text, f"{who} {path}")
            seen_payload_text.update(p for p in PAYLOADS if p in text)
    # the payloads were on the pages — as text, every one of them
    assert seen_payload_text == set(PAYLOADS)


def test_reflected_values_are_escaped(web):
    c = web.client()
    r = c.get("/login", params={"next": '/"><script>window.__xss=7</script>'})
    check(r.text, "login next")
    signed = web.login("wannan.chief")
    r = signed.get("/my", params={"q": '"><script>window.__xss=8</script>'})
    check(r.text, "lang switch link")
    r = signed.get("/board", params={"unit": "<script>x</script>"})
    assert r.status_code == 404
    check(r.text, "unknown unit")
