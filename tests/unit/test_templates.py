"""Notice templates: rendering contract, language fallback, static checks, and the sandbox."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError

from gridflow.domain.templates import (
    NOTICE_CONTEXT_NAMES,
    RenderedNotice,
    TemplateRenderer,
    clean_subject,
    render_string,
    template_callable,
)
from gridflow.errors import (
    DefinitionError,
    GridflowError,
    NotFound,
    TemplateError,
    TemplateLimitError,
    TemplateNotFound,
    TemplateSecurityError,
)

LAYOUT = """\
{% block subject %}[网格通知] {% block title %}{% endblock %}{% endblock %}
{% block body %}
{{ recipient.name }}，您好：
{% block content %}{% endblock %}
—— 网格化管理平台
{% endblock %}
"""

ASSIGN_ZH = """\
{% extends "_layouts/base.txt" %}
{% block title %}工单 #{{ case.id }} {{ case.data.title }}{% endblock %}
{% block content %}
地址：{{ case.data.address }}
描述：{{ case.data.description }}
{% if case.state == "triage" %}请尽快分派。{% endif %}
{% endblock %}
"""

ASSIGN_EN = """\
{% block subject %}Case #{{ case.id }}: {{ case.data.title }}{% endblock %}
{% block body %}
Hello {{ recipient.name }},
{{ case.data.description }}
{{ link }}
{% endblock %}
"""

ASSIGN_HTML = """\
{% block body %}<p>{{ case.data.description }}</p><a href="{{ link }}">open</a>{% endblock %}
"""

OVERDUE_EN = """\
{% block subject %}Overdue: {{ case.id }}{% endblock %}
{% block body %}Case {{ case.id }} is {{ sla.overdue_by }} overdue.{% endblock %}
"""


def write(root: Path, name: str, text: str) -> Path:
    path = root / "templates" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write(tmp_path, "_layouts/base.txt", LAYOUT)
    write(tmp_path, "complaint/assignment.zh-CN.txt", ASSIGN_ZH)
    write(tmp_path, "complaint/assignment.en.txt", ASSIGN_EN)
    write(tmp_path, "complaint/assignment.en.html", ASSIGN_HTML)
    write(tmp_path, "complaint/overdue.en.txt", OVERDUE_EN)
    return tmp_path


def context(**data: object) -> dict:
    fields = {"title": "路灯不亮", "address": "长宁路 1 号", "description": "晚上很黑"}
    fields.update(data)
    return {
        "case": {"id": 42, "state": "triage", "data": fields},
        "recipient": {"name": "王芳"},
        "link": "https://grid.example/cases/42",
        "sla": {"overdue_by": "2 working days"},
    }


# ── rendering contract ───────────────────────────────────────────────────────────────────────


def test_render_with_layout_inheritance(root: Path) -> None:
    out = TemplateRenderer([root]).render("complaint", "assignment", "zh-CN", context())
    assert isinstance(out, RenderedNotice)
    assert out.subject == "[网格通知] 工单 #42 路灯不亮"
    assert out.text.startswith("王芳，您好：\n")
    assert "地址：长宁路 1 号" in out.text and "请尽快分派。" in out.text
    assert out.text.endswith("—— 网格化管理平台")
    assert out.html is None  # no zh-CN html twin


def test_html_twin_is_autoescaped_text_is_not(root: Path) -> None:
    evil = '<script>alert("x")</script>'
    out = TemplateRenderer([root]).render(
        "complaint", "assignment", "en", context(description=evil)
    )
    assert evil in out.text
    assert out.html is not None
    assert "<script>" not in out.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in out.html
    assert out.html.startswith("<p>")  # template markup itself is not escaped


def test_subject_crlf_injection_is_stripped(root: Path) -> None:
    title = "路灯\r\nBcc: attacker@example.com\r\n\r\n<body>\u2028x\x00\x1b[31m"
    out = TemplateRenderer([root]).render("complaint", "assignment", "zh-CN", context(title=title))
    assert "\r" not in out.subject and "\n" not in out.subject
    assert "\u2028" not in out.subject and "\x00" not in out.subject and "\x1b" not in out.subject
    assert out.subject == "[网格通知] 工单 #42 路灯 Bcc: attacker@example.com <body> x [31m"


def test_clean_subject_caps_length_and_collapses_whitespace() -> None:
    assert clean_subject("  a \t\t b\u200b\u202e c  ") == "a b c"
    long = clean_subject("字" * 500)
    assert len(long) == 200 and long.endswith("…")


def test_strict_undefined_names_the_missing_variable(root: Path) -> None:
    ctx = context()
    del ctx["recipient"]
    with pytest.raises(TemplateError) as info:
        TemplateRenderer([root]).render("complaint", "assignment", "zh-CN", ctx)
    message = str(info.value)
    assert "'recipient' is undefined" in message
    assert "base.txt:3" in message  # located in the layout, where it is used


def test_strict_undefined_attribute(root: Path) -> None:
    ctx = context()
    del ctx["case"]["data"]["address"]
    with pytest.raises(TemplateError, match="has no attribute 'address'"):
        TemplateRenderer([root]).render("complaint", "assignment", "zh-CN", ctx)


def test_none_renders_empty() -> None:
    assert render_string("[{{ x }}]", {"x": None}) == "[]"


def test_language_fallback(root: Path) -> None:
    renderer = TemplateRenderer([root])
    # requested language missing -> zh-CN
    assert renderer.render("complaint", "assignment", "fr", context()).subject.startswith("[网格")
    # requested and zh-CN missing -> en
    out = renderer.render("complaint", "overdue", "zh-CN", context())
    assert out.subject == "Overdue: 42"
    assert out.text == "Case 42 is 2 working days overdue."


def test_missing_template_names_what_was_looked_for(root: Path) -> None:
    with pytest.raises(TemplateNotFound) as info:
        TemplateRenderer([root]).render("complaint", "asignment", "en", context())
    err = info.value
    assert isinstance(err, NotFound) and isinstance(err, GridflowError)
    assert err.looked_for == [
        "complaint/asignment.en.txt",
        "complaint/asignment.zh-CN.txt",
    ]
    assert "did you mean 'assignment'" in str(err)
    with pytest.raises(TemplateNotFound):
        TemplateRenderer([root]).render("../etc", "passwd", "en", context())


def test_available_and_root_precedence(
    root: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("other")
    write(
        other,
        "complaint/assignment.en.txt",
        "{% block subject %}OVERRIDE{% endblock %}{% block body %}b{% endblock %}",
    )
    write(
        other,
        "complaint/closed.zh-CN.txt",
        "{% block subject %}s{% endblock %}{% block body %}b{% endblock %}",
    )
    renderer = TemplateRenderer([other, root])
    assert renderer.available("complaint") == {
        "assignment": {"zh-CN", "en"},
        "overdue": {"en"},
        "closed": {"zh-CN"},
    }
    assert renderer.render("complaint", "assignment", "en", context()).subject == "OVERRIDE"


def test_missing_block_and_syntax_error_at_render(root: Path) -> None:
    write(root, "w/nosubject.en.txt", "{% block body %}x{% endblock %}")
    write(root, "w/broken.en.txt", "{% block subject %}x{% endblock %}\n{% if %}")
    renderer = TemplateRenderer([root])
    with pytest.raises(TemplateError, match=r"no \{% block subject %\}"):
        renderer.render("w", "nosubject", "en", {})
    with pytest.raises(DefinitionError) as info:
        renderer.render("w", "broken", "en", {})
    (problem,) = info.value.problems
    assert problem.line == 2 and problem.path == "template"
    assert problem.file.endswith("broken.en.txt")


def test_render_string_and_allowed_operations() -> None:
    src = (
        '{{ "%s-%03d"|format("A", 7) }} {{ items|join(",") }} {{ name|upper }} '
        "{% for x in items %}{{ loop.index }}{% endfor %} {{ name.replace('a', 'b') }} "
        "{{ when.strftime('%Y-%m-%d') }} {{ data.get('k', 'd') }} {{ helper(2) }}"
    )
    from datetime import date

    out = render_string(
        src,
        {
            "items": [1, 2],
            "name": "ab",
            "when": date(2025, 1, 2),
            "data": {},
            "helper": template_callable(lambda n: n * 10),
        },
    )
    assert out == "A-007 1,2 AB 12 bb 2025-01-02 d 20"
    assert render_string("{{ x }}", {"x": "<b>"}, autoescape=True) == "&lt;b&gt;"
    assert render_string("{{ x }}", {"x": "<b>"}) == "<b>"


# ── static checks ────────────────────────────────────────────────────────────────────────────


def test_check_reports_located_problems(root: Path) -> None:
    renderer = TemplateRenderer([root])
    fields = {"title", "address", "description"}
    states = {"triage", "assigned", "closed"}
    assert renderer.check("complaint", fields=fields, states=states) == []

    bad = write(
        root,
        "complaint/escalate.zh-CN.txt",
        "{% block subject %}升级 {{ cas.id }}{% endblock %}\n"
        "{% block body %}\n"
        "{{ case.data.adress }}\n"
        "{{ case.data['titel'] }} {{ case.data.get('descripton') }}\n"
        "{% if case.state == 'closd' %}x{% endif %}\n"
        "{% for k, v in case.data.items() %}{{ k }}{% endfor %}\n"
        "{{ reciepient.name|uper }}\n"
        "{% endblock %}\n",
    )
    broken = write(root, "complaint/broken.en.txt", "{% block subject %}\n\n{% if %}")
    write(root, "complaint/orphan.en.html", "{% block body %}x{% endblock %}")
    problems = renderer.check("complaint", fields=fields, states=states)
    by_file: dict[str, list[str]] = {}
    for p in problems:
        assert p.path == "template"
        by_file.setdefault(Path(p.file).name, []).append(str(p))

    syntax = by_file["broken.en.txt"]
    assert len(syntax) == 1 and syntax[0].startswith(f"{broken}:3:")

    esc = "\n".join(by_file["escalate.zh-CN.txt"])
    # the unknown filter stops compilation, so fix it and re-check to see the rest
    assert "No filter named 'uper'" in esc and "did you mean 'upper'" in esc
    bad.write_text(bad.read_text(encoding="utf-8").replace("|uper", "|upper"), encoding="utf-8")
    problems = renderer.check("complaint", fields=fields, states=states)
    esc_problems = [p for p in problems if Path(p.file).name == "escalate.zh-CN.txt"]
    assert str(esc_problems[0]).startswith(
        f"{bad}:1:0: template: unknown name 'cas' (did you mean 'case'?)"
    )
    assert [p.line for p in esc_problems] == sorted(p.line for p in esc_problems)
    lines = {(p.line, p.message.split(" (")[0]) for p in esc_problems}
    assert (3, "case.data.adress is not a field of this workflow") in lines
    assert (4, "case.data.titel is not a field of this workflow") in lines
    assert (4, "case.data.descripton is not a field of this workflow") in lines
    assert (5, "case.state is never 'closd'") in lines
    assert any(p.line == 7 and "unknown name 'reciepient'" in p.message for p in esc_problems)
    assert any("did you mean 'address'" in p.message for p in esc_problems)
    assert any("did you mean 'closed'" in p.message for p in esc_problems)
    assert not any("items" in p.message for p in esc_problems)  # dict methods are not fields
    assert any(
        Path(p.file).name == "orphan.en.html" and "without orphan.en.txt" in p.message
        for p in problems
    )


def test_check_follows_layouts_and_required_blocks(root: Path) -> None:
    write(root, "_layouts/broken.txt", "{% block body %}{{ nope }}{% endblock %}")
    write(root, "w/a.en.txt", '{% extends "_layouts/broken.txt" %}')
    write(root, "w/b.en.txt", '{% extends "_layouts/bsae.txt" %}')
    problems = TemplateRenderer([root]).check("w", fields=set(), states=set())
    messages = [(Path(p.file).name, p.line, p.message) for p in problems]
    assert ("a.en.txt", 1, "defines no {% block subject %}") in messages
    assert any(f == "broken.txt" and "unknown name 'nope'" in m for f, _, m in messages)
    assert any(
        f == "b.en.txt" and "no template '_layouts/bsae.txt'" in m and "base.txt" in m
        for f, _, m in messages
    )


def test_notice_context_names() -> None:
    assert {"case", "event", "sla", "recipient", "link", "notice", "digest"} == NOTICE_CONTEXT_NAMES


# ── sandbox escapes: refused, never executed ─────────────────────────────────────────────────

ESCAPES = {
    # CVE-2024-56326: holding a reference to str.format and calling it indirectly
    "stored-format": '{% set f = "{0.__init__.__globals__[os].system}".format %}{{ f(cycler) }}',
    "format-attr": '{{ "{0.__class__}".format }}',
    "format-map": '{{ "{x.__init__.__globals__}".format_map({"x": cycler}) }}',
    "format-via-map": '{{ ["{0.__init__.__globals__}"]|map(attribute="format")|first }}',
    # CVE-2025-27516: |attr("format") bypass
    "attr-format": '{{ "{0.__init__.__globals__[os].system}"|attr("format")(cycler)("touch M") }}',
    # classic attribute walks
    "cycler-globals": '{{ cycler.__init__.__globals__.os.system("touch M") }}',
    "subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "subclasses-getitem": "{{ ''['__class__']['__mro__'][1]['__subclasses__']() }}",
    "lipsum-globals": '{{ lipsum.__globals__["os"].system("touch M") }}',
    "template-context": "{{ self._TemplateReference__context.cycler }}",
    "attr-dunder": "{{ ''|attr('__class__') }}",
    "namespace-init": "{{ namespace.__init__.__globals__ }}",
    "mutate-list": "{{ [1].append(2) }}",
    "context-method": "{{ case.close() }}",
    "builtin-method": '{{ (1).to_bytes(100, "big") }}',
}


class Case:
    """A context object with a side-effecting method templates must not be able to call."""

    closed = 0

    def close(self) -> str:
        Case.closed += 1
        return "closed"


@pytest.mark.parametrize("source", ESCAPES.values(), ids=ESCAPES.keys())
def test_escape_is_refused(source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Case.closed = 0
    with pytest.raises(TemplateSecurityError) as info:
        render_string(source, {"case": Case()})
    assert isinstance(info.value, GridflowError)
    assert isinstance(info.value.__cause__, SecurityError)
    assert not (tmp_path / "M").exists()
    assert Case.closed == 0


def test_escape_in_file_template_is_located(root: Path) -> None:
    write(
        root,
        "w/evil.en.txt",
        "{% block subject %}x{% endblock %}{% block body %}\n\n"
        "{{ cycler.__init__.__globals__ }}{% endblock %}",
    )
    with pytest.raises(TemplateSecurityError) as info:
        TemplateRenderer([root]).render("w", "evil", "en", {})
    assert info.value.line == 3 and str(info.value.file).endswith("evil.en.txt")


# ── resource caps ────────────────────────────────────────────────────────────────────────────

BOMB = (
    "{% block subject %}bomb{% endblock %}{% block body %}"
    '{% for i in range(10000) %}{% for j in range(10000) %}{{ "0123456789" * 10 }}'
    "{% endfor %}{% endfor %}{% endblock %}"
)


def test_output_bomb_is_cut_off_without_using_megabytes(root: Path) -> None:
    assert len(BOMB) < 1024  # would render 10 GB
    write(root, "w/bomb.en.txt", BOMB)
    renderer = TemplateRenderer([root], max_output=10_000)
    tracemalloc.start()
    try:
        with pytest.raises(TemplateLimitError, match="exceeds 10000 characters"):
            renderer.render("w", "bomb", "en", {})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_buffered_output_bomb_is_cut_off() -> None:
    src = (
        "{% set x %}{% for i in range(10000) %}{% for j in range(10000) %}0123456789"
        "{% endfor %}{% endfor %}{% endset %}{{ x|length }}"
    )
    tracemalloc.start()
    try:
        with pytest.raises(TemplateLimitError, match="exceeds 64000 characters"):
            render_string(src, {})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


LIMITS = {
    "str-repeat": '{{ "a" * 1000000000 }}',
    "list-repeat": "{{ [1, 2] * 1000000000 }}",
    "concat-doubling": '{% set ns = namespace(s="ab") %}{% for i in range(40) %}'
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "plus-doubling": "{% set ns = namespace(s=[1]) %}{% for i in range(40) %}"
    "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
    "range": "{{ range(100000000)|list|length }}",
    "center": '{{ "x".center(1000000000) }}',
    "center-filter": '{{ "x"|center(1000000000) }}',
    "percent-width": '{{ "%999999999d" % 1 }}',
    "format-width": '{{ "%999999999d"|format(1) }}',
    "pow": "{{ 7 ** 100000000 }}",
    "replace": '{% set s = "a" * 60000 %}{{ s.replace("a", s)|length }}',
    "billion-laughs": '{% set a = ["xxxxxxxxxx"] * 10 %}'
    "{% set b = [a, a, a, a, a, a, a, a, a, a] %}"
    "{% set c = [b, b, b, b, b, b, b, b, b, b] %}{% set d = [c, c, c, c, c, c, c, c, c, c] %}"
    "{% set e = [d, d, d, d, d, d, d, d, d, d] %}{{ [e, e, e, e, e, e, e, e, e, e] }}",
    "busy-loop": "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "busy-methods": '{% set s = "a" * 1000000 %}{% for i in range(10000) %}'
    "{% set x = s.upper() %}{% endfor %}",
    "busy-concat": '{% set s = "a" * 500000 %}{% for i in range(10000) %}'
    "{% set x = s ~ s %}{% endfor %}",
    "recursion": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "lipsum": "{{ lipsum(100000) }}",
}


@pytest.mark.parametrize("source", LIMITS.values(), ids=LIMITS.keys())
def test_resource_caps(source: str) -> None:
    with pytest.raises(TemplateLimitError):
        render_string(source, {})


def test_a_realistic_digest_fits_the_caps() -> None:
    cases = [
        {"id": i, "state": "assigned", "data": {"title": f"工单 {i} " + "路灯不亮" * 5}}
        for i in range(300)
    ]
    src = (
        "{% for unit, items in digest.cases|groupby('state') %}{{ unit|upper }} "
        "({{ items|length }})\n{% for c in items|sort(attribute='id') %}"
        "- #{{ '%05d'|format(c.id) }} {{ c.data.title|truncate(40) }} {{ c.data.title.split()|first }}"
        "{{ ' [' ~ loop.index ~ '/' ~ digest.cases|length ~ ']' }}\n{% endfor %}{% endfor %}"
    )
    out = render_string(src, {"digest": {"cases": cases}})
    assert out.count("\n") == 301 and "#00299" in out


def test_an_attribute_allowed_once_is_still_checked_for_what_it_holds() -> None:
    """The sandbox keeps its verdict per (type, attribute name); a module reached through
    an attribute allowed a moment ago on another object of the same type is still refused."""
    import os

    class Holder:
        def __init__(self, m: object):
            self.m = m

    assert render_string("{{ a.m }}{{ a.m }}", {"a": Holder("ok")}) == "okok"
    with pytest.raises(TemplateSecurityError):
        render_string("{{ a.m }} {{ b.m.system }}", {"a": Holder("ok"), "b": Holder(os)})
    with pytest.raises(TemplateSecurityError):  # refused again, from the kept verdict
        render_string("{{ x.upper() }}{% for s in xs %}{{ s.format }}{% endfor %}",
                      {"x": "a", "xs": ["b", "c"]})  # fmt: skip
