"""Mutation fuzzing of the definition loaders (shared by the fuzz test and long campaigns).

A mutated input is a seed file (a built-in workflow, the sample org, a test workflow, or an
input kept in ``tests/data/fuzz/``) changed by a few edits drawn by Hypothesis: characters
that YAML refuses (NUL, control characters, U+FFFE, lone surrogates), YAML syntax
(brackets, anchors, aliases, tags, merge keys, indentation), expression attacks, huge
numbers, deep nesting, deleted / duplicated / swapped spans and lines.

``outcome(kind, text)`` runs one loader and says how it ended: ``"ok"``, ``"refused"`` (a
``DefinitionError`` whose every problem is located: line and column ≥ 1), or raises
``AssertionError`` naming what escaped (another exception, or an unlocated problem).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from hypothesis import strategies as st

from gridflow.domain.calendar_overrides import CalendarOverrides
from gridflow.domain.loader import load_text
from gridflow.domain.org_loader import load_org_text
from gridflow.errors import DefinitionError

ROOT = Path(__file__).resolve().parents[1]
BUILTIN = ROOT / "gridflow" / "builtin" / "workflows"
DATA = Path(__file__).parent / "data"
CORPUS = DATA / "fuzz"

# which loader reads a file of the corpus: by name prefix (org-*, calendar-*, else workflow)
KINDS = ("workflow", "org", "calendar")


def kind_of(path: Path) -> str:
    for kind in ("org", "calendar"):
        if path.name.startswith(kind + "-"):
            return kind
    return "workflow"


def _calendar(text: str, file: str) -> object:
    return CalendarOverrides.parse(text, file)


LOADERS: dict[str, Callable[[str, str], object]] = {
    "workflow": load_text,
    "org": load_org_text,
    "calendar": _calendar,
}

SEEDS: dict[str, list[str]] = {
    "workflow": [
        (BUILTIN / "raise_hand.yaml").read_text(encoding="utf-8"),
        (BUILTIN / "four_list.yaml").read_text(encoding="utf-8"),
        (DATA / "ticket.yaml").read_text(encoding="utf-8"),
        (DATA / "lab.yaml").read_text(encoding="utf-8"),
    ],
    "org": [
        (DATA / "org.yaml").read_text(encoding="utf-8"),
        # the sample org is large: its first people and units are plenty of material
        (BUILTIN / "org.yaml").read_text(encoding="utf-8")[:6000],
    ],
    "calendar": [
        "years: [2027]\nholidays:\n  2027-01-01: 元旦\n  2027-02-11: 春节\n"
        "workdays:\n  2027-02-07: 春节调休\n",
    ],
}

TOKENS = [
    "\x00", "\x01", "\x07", "\x1b[31m", "\x7f", "\x85", "\u2028", "\ufeff", "\ufffe", "\uffff",
    "\ud800", "\t", "\r", "\r\n", "\n", " ", "  ", "- ", ": ", ":", "?", "#", ",", "'", '"',
    "\\", "[", "]", "{", "}", "[" * 40, "{a: " * 40, "[" * 400, "- " * 100, "&a ", "*a",
    "&x [1, *x]", "<<: *a", "!!python/object:os.system", "!!binary", "!!str", "!!int", "!foo",
    "%YAML 1.1\n---\n", "---\n", "...\n", "|\n  x", ">-\n  y", "~", "null", "true", "yes",
    "1e400", "-.inf", ".nan", "9" * 300, "0x" + "f" * 40, "0o777", "2026-02-30",
    "99999999wd", "9" * 300 + "h", "-5wd", "150%", "0%", "{{", "}}", "{%", "%}",
    "{{ 9**99999999 }}", "9**99999999 > 0", "''.__class__", "'a'*10**9", "data.__dict__",
    "(['b','a']*5*10**6)|sort|length", "'%*s'%(10**9,'a')", "lipsum(10**9)", "range(10**9)",
    "{% for a in data %}{% for b in data %}x{% endfor %}{% endfor %}",
    "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "field:", "role:", "person:", "unit:", "*", "x" * 5000,
]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, kind: str, extra_seeds: tuple[str, ...] = ()) -> str:
    """A seed of ``kind`` with 1–6 edits."""
    seeds = SEEDS[kind] + list(extra_seeds)
    text = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(1, 6))):
        text = draw(_edit(text))
    return text


_CHARS = st.characters(codec=None, exclude_categories=())  # everything, surrogates included


@st.composite
def _edit(draw: st.DrawFn, text: str) -> str:
    n = len(text)
    at = draw(st.integers(0, n))
    op = draw(st.sampled_from(["insert", "replace", "delete", "dup", "lines", "char", "nest"]))
    if op == "insert":
        return text[:at] + draw(st.sampled_from(TOKENS)) + text[at:]
    if op == "replace":
        end = min(n, at + draw(st.integers(1, 40)))
        return text[:at] + draw(st.sampled_from(TOKENS)) + text[end:]
    if op == "delete":
        return text[:at] + text[min(n, at + draw(st.integers(1, 200))) :]
    if op == "dup":
        end = min(n, at + draw(st.integers(1, 400)))
        return text[:end] + text[at:end] * draw(st.integers(1, 3)) + text[end:]
    if op == "char":
        return text[:at] + draw(st.text(_CHARS, min_size=1, max_size=3)) + text[at:]
    if op == "nest":  # indent the rest of a line under a new key, many times over
        depth = draw(st.integers(30, 400))
        lines = text.splitlines(keepends=True)
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        deep = "".join("  " * k + f"k{k}:\n" for k in range(depth))
        return "".join(lines[:i]) + deep + "".join(lines[i:])
    lines = text.splitlines(keepends=True)
    if len(lines) < 2:
        return text
    i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
    lines[i], lines[j] = lines[j], lines[i]
    return "".join(lines)


def outcome(kind: str, text: str, file: str = "fuzz.yaml") -> str:
    """How loading ``text`` ends: "ok" or "refused" (located). Anything else is an
    ``AssertionError`` naming what escaped."""
    try:
        LOADERS[kind](text, file)
    except DefinitionError as exc:
        assert exc.problems, "a DefinitionError without problems"
        for p in exc.problems:
            assert p.file == file and p.line >= 1 and p.column >= 1, f"not located: {p!r}"
            assert "\n" not in p.message, f"a problem of several lines: {p!r}"
        return "refused"
    except Exception as exc:  # what the test is about: nothing else may escape
        save(kind, text)
        raise AssertionError(f"{kind} loader raised {type(exc).__name__}: {exc}") from exc
    return "ok"


def save(kind: str, text: str) -> Path | None:
    """Keep an input that broke a loader in ``$GRIDFLOW_FUZZ_SAVE`` (a campaign's finds)."""
    folder = os.environ.get("GRIDFLOW_FUZZ_SAVE")
    if not folder:
        return None
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    prefix = "" if kind == "workflow" else kind + "-"
    path = Path(folder) / f"{prefix}found-{digest}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return path
