"""``gridflow schema`` (``json_schema()``) against the loader: every shipped and fixture workflow
passes the printed JSON Schema, and the schema and the loader agree on the documented
shorthands and on the usual mistakes (so an editor flags what ``gridflow validate`` refuses).
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
from conftest import DATA

import gridflow
from gridflow.domain.definition import json_schema
from gridflow.domain.loader import check_text
from gridflow.domain.yamlsource import parse

BUILTIN = Path(gridflow.__file__).parent / "builtin" / "workflows"
WORKFLOWS = sorted(
    p
    for p in [
        *BUILTIN.glob("*.yaml"),
        *DATA.glob("*.yaml"),
        *(DATA.parent / "data_sla").glob("*.yaml"),
    ]
    if p.stem != "org"
)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)  # no format checker: formats are not checked


def errors(validator: jsonschema.Draft202012Validator, text: str) -> list[str]:
    """Schema errors of a YAML document, read as the loader reads it (``yamlsource.parse``),
    with the errors inside each ``anyOf``/``oneOf`` (``Sla | None`` …) listed too."""

    def flat(found) -> list[jsonschema.ValidationError]:
        return [x for e in found for x in (e, *flat(e.context or []))]

    found = flat(validator.iter_errors(parse(text, "<test>").value))
    return sorted(f"{e.json_path}: {e.message}" for e in found)


def test_the_corpus_is_there():
    names = {p.name for p in WORKFLOWS}
    assert {"four_list.yaml", "raise_hand.yaml", "lab.yaml", "ticket.yaml"} <= names


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_shipped_and_fixture_workflow_passes_the_schema(validator, path: Path):
    text = path.read_text(encoding="utf-8")
    assert errors(validator, text) == []


# One small workflow, varied one place at a time. Every variant says whether it is valid;
# the loader (schema stage and graph checks) and the JSON Schema must both agree.
BASE = """\
id: demo
title: {title}
roles:
  {rolekey}: {role}
fields:
  kind: {field}
  cat: {{type: enum, values: [a, b]}}
  dept: {{type: unit, kind: department}}
facets: {{party: dept}}
initial: open
states:
  open:
    sla: {sla}
    notify: [{{template: hello, to: {to}}}]
  held: {held}
  done: {{final: true}}
transitions:
  - {{trigger: go, source: {source}, dest: done, roles: [chief]{go}}}
  - {{trigger: hold, source: open, dest: held, roles: [chief]}}
  - {{trigger: back, source: held, dest: open, roles: [chief]}}
{extra}"""
DEFAULTS = {
    "title": "{zh: 演示, en: Demo}",
    "rolekey": "chief",
    "role": "{scope: unit}",
    "field": "{type: string}",
    "sla": "{clock: c, due: 5wd, remind: [{at: 50%}]}",
    "to": "[assignee]",
    "source": "open",
    "held": "{sla: {clock: c, pause: true}}",
    "go": "",
    "extra": "",
}
VALID = [
    {"title": "演示"},  # a plain string sets zh and en
    {"role": "{label: 组长, scope: 'field:kind'}"},
    {"field": "{type: list, items: enum, values: [x, y]}"},
    {"sla": "{clock: c, due: 5wd, remind: [50%, 80%]}"},  # the documented shorthand
    {"sla": "{clock: c, due: 5wd, remind: [4wh, ' 50 % ']}"},  # before / at
    {"sla": "{clock: c, due: 5wd, remind: [{at: '0.5'}, {at: 50%, before: null}]}"},
    {"sla": "{clock: c, due: 1.5 WH}"},
    {"sla": "{clock: c, due: '{{ data.kind }}'}"},
    {"sla": "{clock: c, due: {by: cat, map: {a: 1wd, b: 5wd}, default: 3wd}}"},
    {"sla": "{clock: c, due: 5wd, overdue: [{after: 1wd, escalate: street, notify: [district]}]}"},
    {"to": "[department, creator, 'role:chief', 'field:kind', 'person:p1', 'unit:u1']"},
    {"to": "[actor, assignee, leader, parent, area, street, district, reporter, party]"},
    {"source": "[open, held]"},
    {"source": "'*'"},
    # issue #15: limits, pause lists, a fallback language, the kpis: block
    {"go": ", max: 2"},
    {"held": "{sla: {pause: [c]}}"},
    {"extra": "fallback_language: zh-CN\n"},
    {"extra": "kpis: {owes: [open], returns: [hold], on_time: c}\n"},
    {
        "extra": "kpis:\n  stages: {waiting: [open, held], parked: {label: 挂起, states: [held]}}\n"
        "  sections:\n    demo:\n      headline: {zh: '共{n}件', en: '{n} cases'}\n"
        "      figures:\n        n: {cases: opened, label: 新增}\n"
        "        c: {cases: closed, in: [done]}\n        r: {rate: [c, n]}\n"
        "        s: {steps: [go, hold], within: 1wd}\n        d: {deadlines: c, outcome: met}\n"
        "        p: {days: p90, in: [done]}\n        k: {sum: [n, c], minus: [c]}\n"
        "        m: {units: microgrid}\n        w: {cases: open_at_end, in: [waiting]}\n"
    },
]
INVALID = [
    {"title": "{en: Demo}"},  # zh is required
    {"title": "{zh: 演示, fr: Démo}"},
    {"rolekey": "Chief"},  # keys are lower_snake_case
    {"role": "{scope: everywhere}"},
    {"field": "{type: enum}"},  # an enum needs values
    {"field": "{type: string, values: [x]}"},
    {"field": "{type: list}"},  # a list needs items
    {"field": "{type: string, items: int}"},
    {"sla": "{clock: c, due: 5wd, remind: [150%]}"},  # a fraction is above 0 and below 1
    {"sla": "{clock: c, due: 5wd, remind: ['0.5']}"},  # a bare number is no duration
    {"sla": "{clock: c, due: 5wd, remind: [0.5]}"},
    {"sla": "{clock: c, due: 5wd, remind: [{at: 50%, before: 4wh}]}"},  # exactly one
    {"sla": "{clock: c, due: 5wd, remind: [{}]}"},
    {"sla": "{clock: c, due: 5wds}"},
    {"sla": "{clock: c, due: '5'}"},
    {"sla": "{clock: c, due: 5}"},
    {"sla": "{clock: c, due: {by: cat, map: {a: 1wd, b: 5x}}}"},
    {"sla": "{clock: c, remind: [50%]}"},  # reminders need a due
    {"sla": "{clock: c, due: 5wd, overdue: [{after: 1wd, notify: [nobody]}]}"},
    {"held": "{sla: {pause: true}}"},  # pausing needs the clock
    {"held": "{sla: {clock: c, pause: true, due: 5wd}}"},  # and names nothing else
    {"to": "assignee"},  # a list, not one name
    {"to": "[assigne]"},
    {"go": ", max: 0"},  # at least once
    {"held": "{sla: {clock: c, pause: [c]}}"},  # the paused clocks named once
    {"held": "{sla: {pause: []}}"},
    {"extra": "fallback_language: fr\n"},
    {"extra": "kpis: {sections: {demo: {figures: {n: {cases: opened, steps: [go]}}}}}\n"},
    {"extra": "kpis: {sections: {demo: {figures: {n: {label: x}}}}}\n"},  # no measure
    {"extra": "kpis: {sections: {demo: {figures: {n: {cases: opened, within: 1wd}}}}}\n"},
    {"extra": "kpis: {sections: {demo: {figures: {n: {cases: shut}}}}}\n"},
    {"extra": "kpis: {sections: {demo: {figures: {n: {rate: [a]}}}}}\n"},
    {"extra": "kpis: {sections: {demo: {figures: {n: {days: p100}}}}}\n"},
    {"extra": "kpis: {sections: {demo: {scope: mine}}}\n"},
    {"extra": "kpis: {stages: {w: []}}\n"},
    {"extra": "kpis: {returns: [Go]}\n"},
]


def variant(change: dict[str, str]) -> str:
    return BASE.format(**{**DEFAULTS, **change})


@pytest.mark.parametrize("change", VALID, ids=str)
def test_what_the_loader_accepts_the_schema_accepts(validator, change: dict[str, str]):
    text = variant(change)
    _, problems = check_text(text, "demo.yaml")
    assert [str(p) for p in problems if p.severity == "error"] == []
    assert errors(validator, text) == []


@pytest.mark.parametrize("change", INVALID, ids=str)
def test_what_the_loader_refuses_the_schema_refuses(validator, change: dict[str, str]):
    text = variant(change)
    _, problems = check_text(text, "demo.yaml")
    assert [p for p in problems if p.severity == "error"], "the loader should refuse this"
    assert errors(validator, text) != []


def test_known_bad_documents_are_refused_with_their_place(validator):
    text = (BUILTIN / "raise_hand.yaml").read_text(encoding="utf-8")
    assert "remind: [50%, 80%]" in text
    bad = text.replace("remind: [50%, 80%]", "remind: [50%, 180%]", 1).replace(
        "\ntitle:", "\ntitel:", 1
    )
    found = errors(validator, bad)
    assert any(e.startswith("$:") and "'titel'" in e for e in found), found
    assert any(".sla.remind[1]:" in e and "'180%'" in e for e in found), found
