"""Text for people: tables and trees the CLI prints (driver ring). Uses ``tabulate``.

Every time is shown in the ``tz`` the caller passes — the configured business timezone
(``Context.tz``: ``[calendar] timezone`` in gridflow.toml, ``GRIDFLOW_TIMEZONE``); nothing
here reads the environment.

Whatever people typed (titles, data, comments, names) reaches a terminal only through
:func:`printable`: control characters (ESC and the rest of C0, DEL, C1 such as CSI) and the
bidirectional overrides are shown escaped (``\x1b``), so a title cannot move the cursor,
recolour or clear the screen, set the window title, or reorder what follows it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import Any

from tabulate import tabulate

# bidi embeddings, overrides and isolates: they reorder the text after them
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def printable(value: Any, *, newlines: bool = False) -> str:
    """``value`` as text safe for a terminal: control and bidi characters escaped
    (``\x1b``, ``\u202e``); newlines kept only with ``newlines=True``."""
    text = str(value)
    if text.isprintable() and not (_BIDI & set(text)):
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch == "\n" and newlines:
            out.append(ch)
        elif code < 0x20 or 0x7F <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        elif ch in _BIDI or ch in ("\u2028", "\u2029"):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _when(value: datetime | None, tz: tzinfo) -> str:
    """``value`` as local ``YYYY-MM-DD HH:MM`` in ``tz`` (a naive value is UTC); "" for none."""
    if not value:
        return ""
    from datetime import UTC

    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds / 3600:.1f} wh"


def sla_text(sla, tz: tzinfo) -> str:
    """A case's SLA in one line: the deadline in ``tz``, then how it stands."""
    if sla is None:
        return ""
    parts = [f"due {_when(sla.due, tz)}"]
    if sla.provisional:
        parts.append("PROVISIONAL (holiday data missing)")
    if sla.paused:
        parts.append("paused")
    if sla.overdue:
        parts.append(f"OVERDUE by {_hours(sla.overdue_by)}")
    elif sla.remaining is not None:
        parts.append(f"{_hours(sla.remaining)} left")
    return ", ".join(parts)


def case_text(case, engine=None, *, tz: tzinfo) -> str:
    """A case for people: times in ``tz``; with ``engine``, the values of its ``datetime``
    fields in ``tz`` too and, while open, the triggers people may fire from its state (not
    the system's own: timers, fan-in)."""
    wf = engine.workflow(case.workflow, case.revision) if engine is not None else None
    lines = [
        f"case {case.id}  {printable(case.title)}",
        f"  workflow  {case.workflow} (revision {case.revision})",
        f"  state     {case.state} ({printable(case.state_label)})"
        + ("  [closed " + _when(case.closed_at, tz) + "]" if case.closed_at else ""),
        f"  version   {case.version}",
        f"  unit      {printable(case.unit or '-')}",
        f"  created   {_when(case.created_at, tz)} by {printable(case.created_by)}",
    ]
    if case.parent_id:
        lines.append(f"  parent    case {case.parent_id}")
    if case.sla:
        lines.append(f"  sla       {case.sla.clock}: {sla_text(case.sla, tz)}")
    fields = wf.definition.fields if wf is not None else {}
    rows = [
        (printable(k), printable(_value(v, fields.get(k), tz), newlines=True))
        for k, v in case.data.items()
        if v not in (None, "", [])
    ]
    if rows:
        lines.append("  data")
        lines += ["    " + line for line in tabulate(rows, tablefmt="plain").splitlines()]
    if case.children:
        lines.append("  children")
        kids = [
            (
                c.id,
                c.workflow,
                printable(c.state_label),
                "closed" if c.closed else "open",
                _short(c.data.get("answer") or c.data.get("result") or ""),
            )
            for c in case.children
        ]
        table = tabulate(kids, headers=["id", "workflow", "state", "", "answer"])
        lines += ["    " + line for line in table.splitlines()]
    if wf is not None and not case.closed:
        lines.append("  next      " + (", ".join(wf.people_triggers_from(case.state)) or "-"))
    return "\n".join(lines)


def _value(value: Any, field: Any, tz: tzinfo) -> Any:
    """A data value as ``case_text`` shows it: lists and objects as JSON, a ``datetime``
    field's ISO text as local time in ``tz``, anything else as it is."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    if field is not None and field.type == "datetime" and isinstance(value, str):
        try:
            return _when(datetime.fromisoformat(value), tz)
        except ValueError:
            return value
    return value


def _short(text: Any, width: int = 40) -> str:
    text = printable(str(text).replace("\n", " "))
    return text if len(text) <= width else text[: width - 1] + "…"


def case_table(cases: Iterable, tz: tzinfo) -> str:
    """Cases one a row; the deadline and the last update in ``tz``."""
    rows = [
        (
            c.id,
            c.workflow,
            printable(c.state_label or c.state),
            printable(c.unit or ""),
            _short(c.title, 30),
            sla_text(c.sla, tz) if c.sla and not c.closed else ("closed" if c.closed else ""),
            _when(c.updated_at, tz),
        )
        for c in cases
    ]
    return tabulate(rows, headers=["id", "workflow", "state", "unit", "title", "sla", "updated"])


def history_table(steps: Iterable, tz: tzinfo) -> str:
    """The steps of a case one a row, times in ``tz``. Every column is named: a ``late``
    column (how late the daemon acted on a timer) only when some step was late."""
    steps = list(steps)
    late = any(s.late_by for s in steps)
    headers = ["#", "at", "trigger", "move", "actor", "comment", "data"]
    rows = []
    for s in steps:
        row = [
            s.seq,
            _when(s.at, tz),
            printable(s.trigger),
            f"{s.from_state or '∅'} → {s.to_state}",
            printable(s.actor + (f" ({s.role})" if s.role else "")),
            _short(s.comment or "", 30),
            _short(json.dumps(s.payload, ensure_ascii=False), 30) if s.payload else "",
        ]
        if late:
            row.append(f"late {s.late_by / 60:.0f} min" if s.late_by else "")
        rows.append(row)
    return tabulate(rows, headers=[*headers, "late"] if late else headers)


def org_tree(directory, *, people: bool = False) -> str:
    if not directory.units:
        return "no org directory loaded (gridflow org load org.yaml)"
    lines: list[str] = []
    roots = [u for u in directory.units.values() if u.parent is None]

    def walk(unit, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        label = printable(f"{unit.name} ({unit.id}, {unit.kind})")
        lines.append(prefix + branch + label)
        inner = prefix + ("" if top else ("   " if last else "│  "))
        if people:
            for p in directory.people.values():
                roles = [g.role for g in p.grants if g.unit == unit.id]
                if roles:
                    who = printable(f"{p.name} ({p.id}): {', '.join(roles)}")
                    lines.append(f"{inner}   · {who}")
        kids = directory.children(unit.id)
        for i, kid in enumerate(kids):
            walk(kid, inner, i == len(kids) - 1, False)

    for root in roots:
        walk(root, "", True, True)
    return "\n".join(lines)
