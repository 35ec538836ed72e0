"""Guards, ``set`` values and ``checks`` messages run in the notices' budgeted sandbox.

Issue #17, finding 1: on the old main ``when: "9**99999999 > 0"`` and
``(['b','a']*5*10**6)|sort|length`` hung ``validate`` (Jinja folded the constants while
compiling), ``'a'*10**9`` and friends cost a gigabyte at load, a macro making 2**40 calls in
``set:`` hung a fire, and ``''.__class__`` escaped ``Engine.fire`` as a raw
``jinja2.SecurityError``. Now: constant attacks are refused when the file is loaded, located;
what depends on case data is bounded by one budget per decision and refused as a
``GuardRefused``. (Seconds and peak memory of each attack, in a process of its own with a
memory limit: ``tests/e2e/test_expression_resources.py``.)
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import DATA

from gridflow.domain.expressions import compile_expression, compile_value
from gridflow.domain.fields import defaults
from gridflow.domain.loader import load_text
from gridflow.domain.machine import CaseView
from gridflow.domain.templates import budget
from gridflow.errors import DefinitionError, ExpressionError, GuardRefused

# the budget's own names are imported where used: the tests above them also run (and fail,
# as they should) against a gridflow that has no budget for expressions
MAX_STEPS, MAX_OUTPUT = 20_000, 20_000

NOW = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)
TICKET = (DATA / "ticket.yaml").read_text(encoding="utf-8")
GUARD = 'when: "data.reopens >= 1"'  # line 49 of ticket.yaml, the value at column 11

CONSTANT_ATTACKS = [
    ("9**99999999 > 0", "integer too large"),
    ("(['b','a']*5*10**6)|sort|length > 0", "a repetition would exceed"),
    ("('a'*10**9)|length > 0", "a repetition would exceed"),
    ("('%999999999s'%1)|length > 0", "a % format width would exceed"),
    ("('%*s'%(10**9,'a'))|length > 0", "'*' widths are not allowed"),
    ("('%s'|format('x'*10**8))|length > 0", "a repetition would exceed"),
    ("('%999999999s'|format(1))|length > 0", "a % format width would exceed"),
    ("('a'|center(10**9))|length > 0", "|center would exceed"),
    ("(','.join(['a']*10**8))|length > 0", "a repetition would exceed"),
    ("('x'*1000)|join('y'*1000) != ''", "|join would exceed"),
    ("'{0.__class__}'.format(1) != ''", "refused by the sandbox"),
    ("1/0 > 0", "ZeroDivisionError"),
]


def _guard(expr: str) -> str:
    return TICKET.replace(GUARD, "when: '" + expr.replace("'", "''") + "'")


@pytest.mark.parametrize(("expr", "reason"), CONSTANT_ATTACKS, ids=[a for a, _ in CONSTANT_ATTACKS])
def test_constant_attack_is_refused_when_loaded_located(expr, reason):
    with pytest.raises(DefinitionError) as info:
        load_text(_guard(expr), "attack.yaml")
    (problem,) = info.value.problems
    assert (problem.file, problem.line, problem.column) == ("attack.yaml", 49, 12)  # its start
    assert problem.path == "transitions[4].when"
    assert problem.message.startswith("refused: a constant part of the expression")
    assert reason in problem.message


@pytest.mark.parametrize(
    "value",
    [
        "{{ 'a' * 10**9 }}",
        "x {{ '%999999999s' % 1 }}",
        "{% for i in 'x' * 10**8 %}{{ i }}{% endfor %}",
        "{{ (9**99999999)|string }}",
    ],
)
def test_constant_attack_in_a_set_value_is_refused_when_loaded(value):
    text = TICKET.replace(
        'set: {reopens: "{{ data.reopens + 1 }}"}\n    checks',
        "set: {answer: '" + value.replace("'", "''") + "'}\n    checks",
    )
    with pytest.raises(DefinitionError) as info:
        load_text(text, "attack.yaml")
    (problem,) = info.value.problems
    assert problem.path == "transitions[5].set.answer" and problem.line == 55
    assert "refused" in problem.message


def test_dunder_is_refused_when_loaded_never_a_raw_security_error():
    with pytest.raises(DefinitionError) as info:
        load_text(_guard("''.__class__"), "attack.yaml")
    (problem,) = info.value.problems
    # the column of '__class__' inside the author's text: when: '''''.__class__'
    assert (problem.line, problem.column) == (49, 17)
    assert "'__class__'" in problem.message and "'_'" in problem.message


@pytest.mark.parametrize(
    ("source", "offset", "words"),
    [
        ("data.x >", 8, "ends too soon, after 'data.x >'"),
        ("data.x }", 7, "unexpected '}', at '}'"),
        ("data.x = 1", 7, "unexpected '=' after a complete expression (did you mean '=='?)"),
        ("(data.x", 7, "ends too soon (expected ')')"),
        ("data.x ! 3", 7, "unexpected character '!'"),
    ],
)
def test_a_syntax_error_points_into_the_authors_own_text(source, offset, words):
    with pytest.raises(ExpressionError) as info:
        compile_expression(source)
    assert info.value.offset == offset
    assert words in str(info.value)
    assert "'}}'" not in str(info.value) and "template" not in str(info.value)


def test_a_syntax_error_inside_set_braces_counts_from_the_value():
    with pytest.raises(ExpressionError) as info:
        compile_value("{{ data.x + }}")
    assert info.value.offset == 11  # after '+', in "{{ data.x + }}"
    assert "after 'data.x +'" in str(info.value)


def test_the_column_is_found_in_single_and_double_quoted_scalars():
    for quoted in ("'data.reopens >'", '"data.reopens >"', "data.reopens >"):
        with pytest.raises(DefinitionError) as info:
            load_text(TICKET.replace(GUARD, f"when: {quoted}"), "q.yaml")
        (problem,) = info.value.problems
        quote = 0 if quoted[0] == "d" else 1
        assert (problem.line, problem.column) == (49, 11 + quote + len("data.reopens >"))


# ---- run time: one budget per decision ------------------------------------------------------


def _ticket_with(set_answer: str = "", check: str = "") -> object:
    text = TICKET
    if set_answer:
        text = text.replace(
            'set: {reopens: "{{ data.reopens + 1 }}"}\n    checks',
            "set: {answer: '" + set_answer.replace("'", "''") + "'}\n    checks",
        )
    if check:
        text = text.replace(
            'message: "say why the answer is not good enough"',
            "message: '" + check.replace("'", "''") + "'",
        )
    return load_text(text, "ticket.yaml")


def _answered(wf, **data):
    values = defaults(wf.definition.fields) | {"title": "t", "reopens": 0} | data
    return CaseView(1, "answered", 3, values, "g1", NOW)


MACRO_2_40 = (
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}"
)
LOOPS = (
    "{% for a in data.title %}{% for b in data.title %}{% for c in data.title %}"
    "{% for d in data.title %}x{% endfor %}{% endfor %}{% endfor %}{% endfor %}"
)


@pytest.mark.parametrize(("value", "reason"), [(MACRO_2_40, "steps"), (LOOPS, "steps")])
def test_a_set_value_over_budget_is_a_refusal_of_the_event(directory, value, reason):
    wf = _ticket_with(set_answer=value)
    case = _answered(wf, title="abcdefghijklmnopqrstuvwxyz0123456789" * 2)
    with pytest.raises(GuardRefused) as info:
        wf.decide(case, "reopen", directory.people["li.clerk"], directory, comment="c", now=NOW)
    assert "over its budget" in str(info.value) and reason in str(info.value)
    assert str(info.value).startswith("cannot 'reopen' case 1:")


def test_a_check_message_over_budget_falls_back_to_its_source(directory):
    wf = _ticket_with(check=MACRO_2_40)
    with pytest.raises(GuardRefused) as info:  # the check fails (no comment): its message
        wf.decide(_answered(wf), "reopen", directory.people["li.clerk"], directory, now=NOW)
    assert "macro f(n)" in str(info.value)


def test_data_built_values_are_weighed_before_they_are_built(directory):
    text = TICKET.replace(GUARD, 'when: "(data.title * 100000)|length > 0"')
    wf = load_text(text, "ticket.yaml")
    case = _answered(wf, title="x" * 200, reopens=1)
    with pytest.raises(GuardRefused) as info:
        wf.decide(case, "reopen", directory.people["li.clerk"], directory, now=NOW)
    assert "a repetition would exceed 100000 characters" in str(info.value)


def test_all_expressions_of_one_decision_share_one_budget():
    from gridflow.domain.expressions import EXPRESSION_BUDGET, evaluation_budget

    assert (EXPRESSION_BUDGET.max_steps, EXPRESSION_BUDGET.max_output) == (MAX_STEPS, MAX_OUTPUT)
    square = compile_value("{% for a in data.s %}{% for b in data.s %}.{% endfor %}{% endfor %}")
    context = {"data": {"s": "x" * 90}}  # 90 + 90*90 = 8,190 steps a time
    square(context)
    square(context)  # each alone is within budget
    with pytest.raises(ExpressionError) as info, evaluation_budget():
        for _ in range(3):  # 24,570 steps: over the 20,000 of one decision
            square(context)
    assert f"more than {MAX_STEPS} steps" in str(info.value)
    assert budget._CURRENT.get() is None  # the scope is gone afterwards


def test_a_guard_never_returns_an_undefined_or_a_jinja_error():
    expr = compile_expression("data.missing")
    with pytest.raises(ExpressionError) as info:
        expr({"data": {}})
    assert "'dict object' has no attribute 'missing'" in str(info.value)
    sneaky = compile_expression("data.s[data.key]")
    with pytest.raises(ExpressionError) as info:
        sneaky({"data": {"s": "abc", "key": "__class__"}})
    assert "refused by the sandbox" in str(info.value)


def test_rendered_text_is_capped_at_max_output():
    long_text = compile_value("{% for a in data.s %}{{ data.s }}{% endfor %}")
    with pytest.raises(ExpressionError) as info:
        long_text({"data": {"s": "y" * 1000}})  # 1,000 x 1,000 characters
    assert f"text longer than {MAX_OUTPUT} characters" in str(info.value)


def test_ordinary_expressions_still_work():
    assert compile_expression("data.hands + [actor.unit]")(
        {"data": {"hands": ["a"]}, "actor": {"unit": "b"}}
    ) == ["a", "b"]
    assert compile_value("graded by {{ actor.name }}")({"actor": {"name": "王"}}) == "graded by 王"
    assert compile_value("{{ [] }}")({}) == []
    assert compile_value("{{ data.x }}")({"data": {"x": None}}) is None
    assert compile_value("x={{ data.x }}")({"data": {"x": None}}) == "x=None"  # as before


def test_one_event_starts_at_most_500_child_cases():
    from gridflow.domain.org_loader import load_org_file
    from gridflow.service.definitions import BUILTIN_ORG, BUILTIN_WORKFLOWS

    text = (BUILTIN_WORKFLOWS / "four_list.yaml").read_text(encoding="utf-8")
    wf = load_text(text.replace("for_each: data.ask_departments", 'for_each: "[1] * 600"'))
    org = load_org_file(BUILTIN_ORG)
    values = defaults(wf.definition.fields) | {"title": "楼道堆物"}
    case = CaseView(1, "coordinating", 2, values, "wannan-r1", NOW)
    with pytest.raises(GuardRefused) as info:
        wf.decide(
            case, "ask", org.people["wannan.chief"], org, payload={"ask_departments": "police"}
        )
    assert "spawn.for_each gives 600 items; at most 500 child cases" in str(info.value)
