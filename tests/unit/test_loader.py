"""The workflow loader: every mistake located as ``FILE:LINE:COL: yaml.path: message``.

The corpus lives in ``tests/data/broken/`` (one kind of mistake per file, plus a file with
five independent ones). Expected messages are exact; ``…`` stands for a stretch that is
not pinned (the list of field types, which grows).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import transitions
import yaml
from conftest import BROKEN, DATA

from gridflow.domain.definition import json_schema
from gridflow.domain.loader import (
    check_text,
    folder_lookup,
    load_dir,
    load_file,
    load_files,
    load_text,
)
from gridflow.domain.yamlsource import MAX_ALIASES, MAX_BYTES, MAX_NODES, parse
from gridflow.errors import DefinitionError, Problem

DUR_UNITS = (
    "use wd (working days), wh (working hours), h (calendar hours), d (calendar days), "
    "m (calendar minutes)"
)

# file -> [(line, column, path, message)]
CORPUS: dict[str, list[tuple[int, int, str, str]]] = {
    "unknown_keys.yaml": [
        (3, 1, "descripton", "unknown key 'descripton' (did you mean 'description'?)"),
        (6, 11, "roles.clerk.scop", "unknown key 'scop' (did you mean 'scope'?)"),
        (8, 10, "states.open.lable", "unknown key 'lable' (did you mean 'label'?)"),
        (17, 5, "transitions[1].rolse", "unknown key 'rolse' (did you mean 'roles'?)"),
    ],
    "bad_facets.yaml": [
        (8, 3, "facets.tag", "unknown field 'directon' (did you mean 'direction'?)"),
        (
            9,
            3,
            "facets.party",
            "field 'size' has type int; a party must be a unit or string field",
        ),
    ],
    "field_types.yaml": [
        (
            5,
            11,
            "fields.count.type",
            "'integr' is not allowed; expected 'string', …(did you mean 'int'?)",
        ),
        (
            6,
            11,
            "fields.stamp.type",
            "'datetim' is not allowed; expected 'string', …(did you mean 'datetime'?)",
        ),
        (7, 21, "fields.size.default", "size: 'big' is not a valid int"),
        (8, 3, "fields.level", "an enum field needs 'values'"),
        (9, 3, "fields.tags", "a list field needs 'items' (its element type)"),
    ],
    "unknown_refs.yaml": [
        (18, 5, "transitions[1].source", "unknown state 'opne' (did you mean 'open'?)"),
        (23, 5, "transitions[2].dest", "unknown state 'dnoe' (did you mean 'done'?)"),
        (24, 13, "transitions[2].roles[0]", "unknown role 'clerc' (did you mean 'clerk'?)"),
        (29, 16, "transitions[3].requires[0]", "unknown field 'answr' (did you mean 'answer'?)"),
        (30, 15, "transitions[3].accepts[0]", "unknown field 'colour'"),
        (31, 11, "transitions[3].set.scor", "unknown field 'scor' (did you mean 'score'?)"),
    ],
    "bad_guards.yaml": [
        # located in the author's text: where the expression ends too soon, at the '='
        (16, 24, "transitions[0].when", "does not compile: …"),
        (22, 27, "transitions[1].checks[0].that", "does not compile: …"),
        (24, 34, "transitions[1].set.score", "does not compile: …"),
    ],
    "unreachable.yaml": [
        (6, 3, "states.island", "state 'island' cannot be reached from 'open'"),
    ],
    "dead_end.yaml": [
        (6, 3, "states.stuck", "state 'stuck' is not final and has no way out"),
    ],
    "no_final.yaml": [
        (4, 1, "states", "no state is final: cases could never close"),
    ],
    "duplicate_keys.yaml": [
        (7, 3, "states.open", "duplicate key 'open'"),
        (11, 5, "transitions[0].source", "duplicate key 'source'"),
    ],
    "bad_durations.yaml": [
        (
            9,
            7,
            "states.open.sla.due",
            f"unknown unit 'xd' in duration '3xd' (did you mean 'd'?); {DUR_UNITS}",
        ),
        (10, 16, "states.open.sla.remind[0]", "'150%' is not a fraction between 0% and 100%"),
        (
            13,
            42,
            "states.working.sla.due.map.hard",
            "cannot read duration 'soon': expected a number and a unit like '5wd' …",
        ),
        (
            15,
            12,
            "states.working.sla.overdue[0].after",
            "duration '-1wd' is negative; durations must be >= 0",
        ),
    ],
    "unknown_names.yaml": [
        (
            17,
            5,
            "transitions[0].when",
            "unknown field data.scroe in 'data.scroe > 1' (did you mean 'score'?)",
        ),
        (
            22,
            5,
            "transitions[1].when",
            "unknown name 'actr' in \"actr.id == 'x'\" (did you mean 'actor'?)",
        ),
        (28, 10, "transitions[2].checks[0].that", "actor has no 'nmae' (did you mean 'name'?)"),
        (
            29,
            11,
            "transitions[2].set.answer",
            "unknown field payload.anser in 'payload.anser' (did you mean 'answer'?)",
        ),
    ],
    "yaml_syntax.yaml": [
        (7, 12, "", "while parsing a flow mapping expected ',' or '}', but got ':'"),
    ],
    "indentation.yaml": [
        (
            6,
            5,
            "",
            "while parsing a block mapping expected <block end>, but found '<block mapping start>'",
        ),
    ],
    "five_mistakes.yaml": [
        (7, 11, "roles.chief.scope", "scope must be unit, under, any or field:<field name>"),
        (
            10,
            12,
            "fields.colour.type",
            "'colour' is not allowed; expected 'string', …'person', 'file' or 'files'",
        ),
        (13, 11, "states.open.sla.due", f"unknown unit 'weeks' in duration '2 weeks'; {DUR_UNITS}"),
        (20, 31, "transitions[0].when", "does not compile: …"),
        (23, 5, "transitions[1].dest", "unknown state 'dnoe' (did you mean 'done'?)"),
    ],
    "cascade.yaml": [
        (13, 5, "transitions[0].dest", "unknown state 'reveiw' (did you mean 'review'?)"),
        (17, 5, "transitions[1].rolse", "unknown key 'rolse' (did you mean 'roles'?)"),
    ],
    "not_a_mapping.yaml": [(1, 1, "", "a workflow file is a mapping of keys")],
    "empty.yaml": [(1, 1, "", "the file is empty")],
    "comment_only.yaml": [(1, 1, "", "the file is empty")],
    "billion_laughs.yaml": [(7, 23, "", f"more than {MAX_ALIASES} aliases: refused (alias bomb?)")],
    # ---- issue #15: every problem in one run, none echoed, the new checks ------------------
    "nine_mistakes.yaml": [  # the templates' two: test_nine_mistakes_with_their_templates
        (10, 12, "fields.colour.type", "'colr' is not allowed; expected 'string', …'files'"),
        (17, 13, "states.working.lable", "unknown key 'lable' (did you mean 'label'?)"),
        (18, 3, "states.island", "state 'island' cannot be reached from 'open'"),
        (
            31,
            5,
            "transitions[2]",
            "never taken from 'open': transition 1 has the same trigger with no 'when' before it",
        ),
        (37, 5, "transitions[3].dest", "unknown state 'dnoe' (did you mean 'done'?)"),
        (49, 13, "transitions[5].spawn.workflow", "unknown workflow 'nosuch'"),
    ],
    "type_cascade.yaml": [
        (7, 12, "fields.colour.type", "'colur' is not allowed; expected 'string', …'files'"),
    ],
    "duplicate_trigger.yaml": [
        (
            12,
            5,
            "transitions[1]",
            "never taken from 'open': transition 0 has the same trigger with no 'when' before it",
        ),
    ],
    "ladder_fire.yaml": [
        (14, 24, "states.open.sla.overdue[0].fire", "'close' is not defined from state 'open'"),
        (
            15,
            24,
            "states.open.sla.overdue[1].fire",
            "'reject' needs reason, which the system firing it cannot give",
        ),
        (16, 24, "states.open.sla.overdue[2].fire", "unknown trigger 'shut'"),
    ],
    "pause_clocks.yaml": [
        (
            8,
            27,
            "states.waiting.sla.pause[0]",
            "unknown clock 'handel' (did you mean 'handle'?) (clocks with a due: handle)",
        ),
        (8, 35, "states.waiting.sla.pause[1]", "unknown clock 'reply' (clocks with a due: handle)"),
        (9, 16, "states.held.sla.clock", "unknown clock 'answer' (clocks with a due: handle)"),
        (
            10,
            10,
            "states.both.sla",
            "name the paused clocks once: 'clock' with 'pause: true', or 'pause: [clocks]'",
        ),
    ],
    "bad_kpis.yaml": [
        (13, 64, "transitions[0].max", "must be at least 1 (got 0)"),
        (16, 5, "kpis.stages.waiting.states[1]", "unknown state 'opne' (did you mean 'open'?)"),
        (17, 10, "kpis.owes[0]", "unknown state or stage 'done_ish' (did you mean 'done'?)"),
        (18, 13, "kpis.returns[0]", "unknown trigger 'retrun'"),
        (
            19,
            13,
            "kpis.on_time.clock",
            "unknown clock 'handel' (did you mean 'handle'?) (clocks with a due: handle)",
        ),
        (
            22,
            7,
            "kpis.sections.work.tag",
            "a section by tag needs facets.tag (the field holding it)",
        ),
        (23, 18, "kpis.sections.work.headline.zh", "unknown figure {on_time_rate}"),
        (
            26,
            38,
            "kpis.sections.work.figures.closed.in[0]",
            "state 'open' is not final: a closed case is never in it",
        ),
        (
            27,
            32,
            "kpis.sections.work.figures.fast.within",
            "'within' is working time: use wd or wh, not 'h'",
        ),
        (28, 32, "kpis.sections.work.figures.good.grade", "'great' is not a value of verdict"),
        (29, 9, "kpis.sections.work.figures.late", "'to' does not apply to a cases figure"),
        (30, 30, "kpis.sections.work.figures.share.rate[1]", "unknown figure 'nothing'"),
        (31, 17, "kpis.sections.work.figures.twice.sum", "figure 'twice' cannot count itself"),
        (
            32,
            51,
            "kpis.sections.work.figures.cases_within.within",
            "'within' applies to counting steps, not to per: case",
        ),
        (
            33,
            36,
            "kpis.sections.work.figures.opened_in.in",
            "'in' does not apply to 'cases: opened' (closed, open_at_end, opened_closed)",
        ),
    ],
    "party_recipient.yaml": [
        (
            8,
            40,
            "states.open.notify[0].to[0]",
            "'party' needs facets.party (the responsible party's field)",
        ),
        (
            8,
            47,
            "states.open.notify[0].to[1]",
            "'department' needs facets.party or a field named department (the unit to notify)",
        ),
    ],
    "spawn_unknown.yaml": [
        (
            18,
            54,
            "transitions[0].spawn.then",
            "counter has no trigger 'bmup' (did you mean 'bump'?)",
        ),
        (
            23,
            13,
            "transitions[1].spawn.workflow",
            "unknown workflow 'countr' (did you mean 'counter'?)",
        ),
    ],
}


def matches(actual: str, expected: str) -> bool:
    """Exact, or with ``…`` matching any stretch of text."""
    parts = expected.split("…")
    if len(parts) == 1:
        return actual == expected
    if not (actual.startswith(parts[0]) and actual.endswith(parts[-1])):
        return False
    pos = len(parts[0])
    for part in parts[1:-1]:
        pos = actual.find(part, pos)
        if pos < 0:
            return False
        pos += len(part)
    return len(actual) >= len(parts[0]) + len(parts[-1])


def errors_of(path: Path) -> list[Problem]:
    """The errors of one file validated alone, as ``gridflow validate FILE`` does: a spawned
    workflow is looked for next to it and in the workflow folder (here tests/data)."""
    with pytest.raises(DefinitionError) as info:
        load_files([path], lookup=folder_lookup([path.parent, DATA], exclude=[path]))
    return [p for p in info.value.problems if p.severity == "error"]


def test_corpus_covers_every_broken_file():
    on_disk = {p.name for p in BROKEN.glob("*.yaml")}
    assert on_disk - {"wide_laughs.yaml"} == set(CORPUS)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_broken_file_reports_every_located_problem(name: str):
    path = BROKEN / name
    problems = errors_of(path)
    # in file and line order as they come
    assert problems == sorted(problems, key=lambda p: (p.file, p.line, p.column))
    expected = sorted(CORPUS[name])
    got = [(p.line, p.column, p.path, p.message) for p in problems]
    assert len(problems) == len(expected), "\n".join(map(str, problems))
    for (line, col, ypath, msg), p in zip(expected, problems, strict=True):
        assert (p.line, p.column, p.path) == (line, col, ypath), got
        assert matches(p.message, msg), f"{p.message!r} !~ {msg!r}"
        assert p.file == str(path)
        where = f"{path}:{line}:{col}:"
        assert str(p) == (f"{where} {ypath}: {p.message}" if ypath else f"{where} {p.message}")


def test_five_mistakes_give_five_problems_in_the_error_text():
    path = BROKEN / "five_mistakes.yaml"
    with pytest.raises(DefinitionError) as info:
        load_file(path)
    err = info.value
    assert len(err.problems) == 5
    text = str(err)
    assert text.startswith("5 error(s):\n")
    for p in err.problems:
        assert str(p) in text


def test_compile_error_messages_quote_the_reason():
    problems = {p.path: p.message for p in errors_of(BROKEN / "bad_guards.yaml")}
    # the check uses '=' where '==' was meant: the reason names the culprit
    assert "'='" in problems["transitions[1].checks[0].that"]


def test_load_dir_reports_every_problem_of_every_file(tmp_path: Path):
    for name in ("unknown_refs.yaml", "unreachable.yaml", "five_mistakes.yaml"):
        shutil.copy(BROKEN / name, tmp_path / name)
    shutil.copy(DATA / "ticket.yaml", tmp_path / "ticket.yaml")
    with pytest.raises(DefinitionError) as info:
        load_dir(tmp_path)
    files = [Path(p.file).name for p in info.value.problems]
    assert files.count("unknown_refs.yaml") == 6
    assert files.count("unreachable.yaml") == 1
    assert files.count("five_mistakes.yaml") == 5
    assert "ticket.yaml" not in files


def test_duplicate_workflow_id_across_files(tmp_path: Path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    shutil.copy(DATA / "ticket.yaml", a)
    shutil.copy(DATA / "ticket.yaml", b)
    with pytest.raises(DefinitionError) as info:
        load_files([a, b])
    (p,) = info.value.problems
    assert (p.file, p.line, p.column, p.path) == (str(b), 2, 1, "id")
    assert p.message == f"workflow id 'ticket' also defined in {a}"


def test_load_dir_skips_org_and_unknown_folder(tmp_path: Path):
    loaded = load_dir(DATA)  # org.yaml sits next to the workflows and is not one
    assert set(loaded) == {"ticket", "lab", "counter"}
    with pytest.raises(DefinitionError) as info:
        load_dir(tmp_path / "missing")
    assert info.value.problems[0].message == "no such folder"


# ---- hostile YAML -----------------------------------------------------------------------
def test_billion_laughs_refused_while_composing():
    """The classic bomb (81 aliases) is stopped at the first alias past the cap, before
    anything is expanded: the problem points at that alias."""
    (p,) = errors_of(BROKEN / "billion_laughs.yaml")
    assert p.message == f"more than {MAX_ALIASES} aliases: refused (alias bomb?)"
    line = (BROKEN / "billion_laughs.yaml").read_text().splitlines()[p.line - 1]
    assert line[p.column - 1] == "*"


def test_wide_bomb_under_the_alias_cap_refused_by_the_node_cap():
    errors = errors_of(BROKEN / "wide_laughs.yaml")
    assert len(errors) == 1
    assert errors[0].message == (f"expands to more than {MAX_NODES} values: refused (alias bomb?)")


HOSTILE_TAGS = [
    '!!python/object/apply:os.system ["touch {marker}"]',
    '!!python/object/new:os.system ["touch {marker}"]',
    '!!python/object/apply:subprocess.call [["touch", "{marker}"]]',
    "!!python/name:os.system",
    "!include {marker}",
]


@pytest.mark.parametrize("tag", HOSTILE_TAGS)
def test_python_tags_refused_without_running_anything(tmp_path: Path, tag: str):
    marker = tmp_path / "pwned"
    value = tag.format(marker=marker)
    path = tmp_path / "evil.yaml"
    path.write_text(
        f"id: evil\ntitle: {value}\ninitial: a\nstates: {{a: {{final: true}}}}\ntransitions: []\n"
    )
    errors = errors_of(path)
    assert not marker.exists()
    (p,) = errors
    assert (p.line, p.column, p.path) == (2, 1, "title")
    tag_name = value.split()[0].removeprefix("!!")
    assert p.message.startswith("tag '")
    assert tag_name in p.message and p.message.endswith("is not allowed (plain YAML only)")


def test_nine_mistakes_with_their_templates():
    """Issue #15: a file with nine mistakes reported six. With its templates, the nine come
    in file and line order — the unreachable state, the templates and the spawn among them
    though other errors exist; the unknown field type without a spurious "unknown field"."""
    from gridflow.domain.site_checks import validate_site
    from gridflow.service.definitions import BUILTIN_WORKFLOWS

    path = BROKEN / "nine_mistakes.yaml"
    _, problems = validate_site(
        [path],
        template_roots=[BROKEN, BUILTIN_WORKFLOWS],
        languages={"zh-CN", "en"},
        lookup=folder_lookup([BROKEN, DATA], exclude=[path]),
    )
    text = [str(p).removeprefix(f"{BROKEN}/") for p in problems]
    tpl = "templates/nine_mistakes/opened.zh-CN.txt"
    assert len(text) == 9
    assert text[5] == (
        "nine_mistakes.yaml:40:10: transitions[3].notify[0].template: notice 'finished' has no "
        "template in en (templates/nine_mistakes/finished.<lang>.txt); the org's people read "
        "en, zh-CN — write it, or set fallback_language"
    )
    assert text[7:] == [
        f"{tpl}:2:0: template: case has no 'titel' (did you mean 'title'?); case has data, id, "
        "state, state_label, title, unit, unit_name, url, workflow, workflow_title",
        f"{tpl}:4:0: template: _layouts/helpers.txt has no macro 'zh_whenn' "
        "(did you mean 'zh_when'?)",
    ]
    assert [p.line for p in problems[:7]] == [10, 17, 18, 31, 37, 40, 49]
    assert not any("unknown field" in t for t in text)


def test_a_file_that_spawns_another_validates_against_its_folder(tmp_path: Path):
    """Validated alone, a file finds the workflow it spawns next to it."""
    folder = tmp_path / "wf"
    folder.mkdir()
    shutil.copy(DATA / "counter.yaml", folder / "counter.yaml")
    text = (BROKEN / "spawn_unknown.yaml").read_text(encoding="utf-8")
    good = text.replace("then: bmup", "then: bump").replace(
        "workflow: countr,", "workflow: counter,"
    )
    (folder / "spawner.yaml").write_text(good, encoding="utf-8")
    spawner = folder / "spawner.yaml"
    with pytest.raises(DefinitionError, match="unknown workflow 'counter'"):
        load_files([spawner])  # without a folder to look in
    loaded = load_files([spawner], lookup=folder_lookup([folder], exclude=[spawner]))
    assert list(loaded) == ["spawn_unknown"]


def test_the_hostile_payload_is_live(tmp_path: Path):
    """Control: an unsafe loader *would* run the tag, so the test above means something."""
    marker = tmp_path / "pwned"
    yaml.unsafe_load(f'x: !!python/object/apply:os.system ["touch {marker}"]')
    assert marker.exists()


def test_hostile_tags_nested_and_as_keys_run_nothing(tmp_path: Path):
    marker = tmp_path / "pwned"
    text = (
        f"id: evil\ntitle: t\ninitial: a\nstates:\n  a:\n    final: true\n"
        f'    description: [ok, !!python/object/apply:os.system ["touch {marker}"]]\n'
        f'? !!python/object/apply:os.system ["touch {marker}"]\n: 1\n'
        "transitions: []\n"
    )
    with pytest.raises(DefinitionError) as info:
        load_text(text, "evil.yaml")
    assert not marker.exists()
    messages = [str(p) for p in info.value.problems]
    assert any(
        "states.a.description[1]: tag 'tag:yaml.org,2002:python/object/apply:os.system'" in m
        for m in messages
    ), messages
    assert any(m == "evil.yaml:8:3: keys must be plain scalars" for m in messages), messages


def test_size_cap(tmp_path: Path):
    text = (DATA / "ticket.yaml").read_text() + "#" * MAX_BYTES
    size = len(text.encode())
    with pytest.raises(DefinitionError) as info:
        load_text(text, "big.yaml")
    (p,) = info.value.problems
    assert str(p) == f"big.yaml:1:1: file is {size} bytes; limit {MAX_BYTES}"
    big = tmp_path / "big.yaml"
    big.write_text(text)
    assert errors_of(big)[0].message == f"file is {size} bytes; limit {MAX_BYTES}"
    # the cap counts bytes, not characters
    with pytest.raises(DefinitionError):
        parse("a: " + "字" * (MAX_BYTES // 3 + 1))


def test_not_utf8(tmp_path: Path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("title: caf\xe9\n".encode("latin-1"))
    (p,) = errors_of(path)
    assert p.file == str(path) and p.message.startswith("not UTF-8 text")


def test_missing_file(tmp_path: Path):
    (p,) = errors_of(tmp_path / "nope.yaml")
    assert p.message == "No such file or directory"


def test_infinite_numbers_refused():
    with pytest.raises(DefinitionError) as info:
        parse("a: .inf\nb: [1, .nan]\n", "n.yaml")
    assert [str(p) for p in info.value.problems] == [
        "n.yaml:1:1: a: infinite or NaN numbers are not allowed",
        "n.yaml:2:8: b[1]: infinite or NaN numbers are not allowed",
    ]


def test_merge_keys_refused():
    with pytest.raises(DefinitionError) as info:
        parse("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n", "m.yaml")
    assert [str(p) for p in info.value.problems] == [
        "m.yaml:3:3: merge keys (<<) are not supported"
    ]


# ---- clean files -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ticket.yaml", "lab.yaml", "counter.yaml"])
def test_fixture_workflows_load_clean(name: str):
    text = (DATA / name).read_text()
    wf, problems = check_text(text, name)
    assert problems == []
    assert wf is not None and wf.warnings == []
    assert isinstance(wf.machine, transitions.Machine)
    assert wf.machine.models == []
    assert set(wf.machine.events) == {t.trigger for t in wf.definition.transitions}


def test_located_positions_point_into_the_source():
    text = (DATA / "ticket.yaml").read_text()
    lines = text.splitlines()
    parsed = parse(text, "ticket.yaml")
    line, col = parsed.where(("transitions", 0, "requires", 0))
    assert (line, col) == (30, 16) and lines[line - 1][col - 1 :].startswith("department]")
    line, col = parsed.where(("states", "closed", "final"))  # columns count characters
    assert (line, col) == (23, 42) and lines[line - 1][col - 1 :] == "final: true}"
    assert parsed.where(("states", "nowhere", "deep")) == parsed.where(("states",))


def test_an_unguarded_branch_hiding_another_is_an_error():
    """Issue #15: a trigger listed twice from one source with no guard on the first is a
    mistake (the second can never be taken), not a style warning."""
    text = (DATA / "ticket.yaml").read_text().replace('    when: "data.reopens >= 1"\n', "")
    wf, problems = check_text(text, "t.yaml")
    assert wf is None
    (e,) = problems
    assert e.severity == "error" and e.path == "transitions[5]"
    assert e.message == (
        "never taken from 'answered': transition 4 has the same trigger with no 'when' before it"
    )
    assert str(e).startswith("t.yaml:50:5: transitions[5]:")


def test_json_schema_describes_the_format():
    schema = json_schema()
    assert {"id", "title", "initial", "states", "transitions"} <= set(schema["properties"])
    assert set(schema["required"]) >= {"id", "title", "initial", "states", "transitions"}


def test_tagged_key_is_refused_not_read_as_a_blank_key(tmp_path):
    from gridflow.domain.loader import load_file
    from gridflow.errors import DefinitionError

    path = tmp_path / "k.yaml"
    path.write_text("id: x\n!!python/name:os.system : 1\n", encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        load_file(path)
    assert f"{path}:2:1: tag 'tag:yaml.org,2002:python/name:os.system' is not allowed" in str(
        info.value
    )
