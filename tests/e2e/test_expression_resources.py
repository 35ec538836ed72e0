"""Issue #17, "a resource test": every expression attack of finding 1, each in a process of
its own under a memory limit (``RLIMIT_AS``: a regression fails the test, never the machine),
refused at load or bounded at run time — with the seconds and peak memory of each printed in
the test's own output.

On the old main these hung ``validate`` (``9**99999999``, the sort), cost about 1 GB at load
(``'a'*10**9``, the ``%`` widths, ``|format``, ``|center``, ``join``), or hung a fire while it
held the write transaction (2**40 macro calls, nested loops).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

MEMORY_LIMIT = 1536 * 2**20  # address space of each probe (Python and SQLAlchemy take ~400 MB)
HANG_GUARD = 120  # seconds: only a hung probe gets near it (each takes well under one)

LOAD = [  # (name, the guard) — refused while the workflow is loaded
    ("power", "9**99999999 > 0"),
    ("sort", "(['b','a']*5*10**6)|sort|length > 0"),
    ("repeat", "('a'*10**9)|length > 0"),
    ("percent width", "('%999999999s'%1)|length > 0"),
    ("percent star", "('%*s'%(10**9,'a'))|length > 0"),
    ("|format", "('%999999999s'|format(1))|length > 0"),
    ("|format arg", "('%s'|format('x'*10**8))|length > 0"),
    ("|center", "('a'|center(10**9))|length > 0"),
    ("join", "(','.join(['a']*10**8))|length > 0"),
    ("dunder", "''.__class__"),
]
MACRO = "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}"
LOOPS = (
    "{% for a in data.title %}{% for b in data.title %}{% for c in data.title %}"
    "{% for d in data.title %}x{% endfor %}{% endfor %}{% endfor %}{% endfor %}"
)
FIRE = [  # (name, where, the text) — depends on the case: bounded when the event is decided
    ("2**40 macro calls in set", "set", MACRO),
    ("4 nested loops in set", "set", LOOPS),
    ("2**40 macro calls in a check message", "message", MACRO),
    ("data-built repetition in a guard", "when", "(data.title * 100000)|length > 0"),
]

PROBE = textwrap.dedent(
    """
    import json, resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    from pathlib import Path
    from gridflow.errors import DefinitionError, GuardRefused
    from gridflow.service.engine import Engine
    kind, text, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    (folder / "wf").mkdir()
    (folder / "wf" / "ticket.yaml").write_text(text, encoding="utf-8")
    data = {data!r}
    started, outcome = time.perf_counter(), "accepted"
    try:
        engine = Engine(f"sqlite:///{{folder / 'p.db'}}", folder / "wf",
                        directory=__import__("conftest").make_directory())
        if kind == "fire":
            case = engine.start("ticket", actor="li.clerk", data={{"title": "x" * 36}})
            engine.fire(case.id, "assign", actor="li.clerk", data={{"department": "police"}})
            engine.fire(case.id, "answer", actor="cop", data={{"answer": "a"}})
            started = time.perf_counter()  # the attacked event alone
            engine.fire(case.id, "reopen", actor="li.clerk", **data)
    except DefinitionError as exc:
        outcome = "refused at load: " + exc.problems[0].message
    except GuardRefused as exc:
        outcome = "refused at run time: " + str(exc)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({{"outcome": outcome, "seconds": seconds, "peak_mb": peak}}))
    """
)

TICKET = (Path(__file__).parents[1] / "data" / "ticket.yaml").read_text(encoding="utf-8")
GUARD = 'when: "data.reopens >= 1"'
SET = 'set: {reopens: "{{ data.reopens + 1 }}"}\n    checks'
MESSAGE = 'message: "say why the answer is not good enough"'


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _probe(kind: str, text: str, folder: Path, data: dict) -> dict:
    folder.mkdir()
    script = PROBE.format(limit=MEMORY_LIMIT, data=data)
    done = subprocess.run(
        [sys.executable, "-c", script, kind, text, str(folder)],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        cwd=Path(__file__).parents[1],  # conftest importable
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_expression_attack_is_refused_or_bounded(tmp_path, capsys):
    rows = []
    control = _probe("load", TICKET, tmp_path / "control", {})
    rows.append(("(the unchanged workflow, loaded)", control))
    for name, guard in LOAD:
        result = _probe(
            "load", TICKET.replace(GUARD, f"when: {_quoted(guard)}"), tmp_path / name, {}
        )
        assert result["outcome"].startswith("refused at load: refused"), (name, result)
        rows.append((f"when: {name}", result))
    for name, where, attack in FIRE:
        if where == "set":
            text, data = (
                TICKET.replace(SET, f"set: {{answer: {_quoted(attack)}}}\n    checks"),
                {"comment": "c"},
            )
        elif where == "message":
            text, data = TICKET.replace(MESSAGE, f"message: {_quoted(attack)}"), {}
        else:
            text, data = TICKET.replace(GUARD, f"when: {_quoted(attack)}"), {"comment": "c"}
        result = _probe("fire", text, tmp_path / name.replace(" ", "-"), data)
        expected = "macro f(n)" if where == "message" else "over its budget"
        assert result["outcome"].startswith("refused at run time"), (name, result)
        assert expected in result["outcome"], (name, result)
        rows.append((name, result))
    with capsys.disabled():
        print("\n\nexpression attacks, each in its own process (RLIMIT_AS 1.5 GiB):")
        print(f"  {'attack':<40} {'seconds':>8} {'peak MB':>8}  outcome")
        for name, r in rows:
            print(f"  {name:<40} {r['seconds']:>8.3f} {r['peak_mb']:>8.0f}  {r['outcome'][:70]}")
    base = control["peak_mb"]
    for name, r in rows:
        assert r["peak_mb"] < base + 100, (name, r)  # no attack costs more than 100 MB extra
        assert r["seconds"] < 30, (name, r)  # a hang guard: they take well under a second
