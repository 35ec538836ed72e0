"""Text for people: tables and trees the CLI prints (driver ring). Uses ``tabulate``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from tabulate import tabulate


def _when(value) -> str:
    """A time in the business timezone (``GRIDFLOW_TIMEZONE``, default Asia/Shanghai)."""
    if not value:
        return ""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(os.environ.get("GRIDFLOW_TIMEZONE", "Asia/Shanghai"))
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds / 3600:.1f} wh"


def sla_text(sla) -> str:
    if sla is None:
        return ""
    parts = [f"due {_when(sla.due)}"]
    if sla.provisional:
        parts.append("PROVISIONAL (holiday data missing)")
    if sla.paused:
        parts.append("paused")
    if sla.overdue:
        parts.append(f"OVERDUE by {_hours(sla.overdue_by)}")
    elif sla.remaining is not None:
        parts.append(f"{_hours(sla.remaining)} left")
    return ", ".join(parts)


def case_text(case, engine=None) -> str:
    lines = [
        f"case {case.id}  {case.title}",
        f"  workflow  {case.workflow} (revision {case.revision})",
        f"  state     {case.state} ({case.state_label})"
        + ("  [closed " + _when(case.closed_at) + "]" if case.closed_at else ""),
        f"  version   {case.version}",
        f"  unit      {case.unit or '-'}",
        f"  created   {_when(case.created_at)} by {case.created_by}",
    ]
    if case.parent_id:
        lines.append(f"  parent    case {case.parent_id}")
    if case.sla:
        lines.append(f"  sla       {case.sla.clock}: {sla_text(case.sla)}")
    rows = [
        (k, json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v)
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
                c.state_label,
                "closed" if c.closed else "open",
                _short(c.data.get("answer") or c.data.get("result") or ""),
            )
            for c in case.children
        ]
        table = tabulate(kids, headers=["id", "workflow", "state", "", "answer"])
        lines += ["    " + line for line in table.splitlines()]
    if engine is not None and not case.closed:
        wf = engine.workflow(case.workflow, case.revision)
        lines.append("  next      " + (", ".join(wf.triggers_from(case.state)) or "-"))
    return "\n".join(lines)


def _short(text: str, width: int = 40) -> str:
    text = str(text).replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def case_table(cases: Iterable) -> str:
    rows = [
        (
            c.id,
            c.workflow,
            c.state_label or c.state,
            c.unit or "",
            _short(c.title, 30),
            sla_text(c.sla) if c.sla and not c.closed else ("closed" if c.closed else ""),
            _when(c.updated_at),
        )
        for c in cases
    ]
    return tabulate(rows, headers=["id", "workflow", "state", "unit", "title", "sla", "updated"])


def history_table(steps: Iterable) -> str:
    rows = [
        (
            s.seq,
            _when(s.at),
            s.trigger,
            f"{s.from_state or '∅'} → {s.to_state}",
            s.actor + (f" ({s.role})" if s.role else ""),
            _short(s.comment or "", 30),
            _short(json.dumps(s.payload, ensure_ascii=False), 30) if s.payload else "",
            f"late {s.late_by / 60:.0f} min" if s.late_by else "",
        )
        for s in steps
    ]
    return tabulate(rows, headers=["#", "at", "trigger", "move", "actor", "comment", "data", ""])


def org_tree(directory, *, people: bool = False) -> str:
    if not directory.units:
        return "no org directory loaded (gridflow org load org.yaml)"
    lines: list[str] = []
    roots = [u for u in directory.units.values() if u.parent is None]

    def walk(unit, prefix: str, last: bool, top: bool) -> None:
        branch = "" if top else ("└─ " if last else "├─ ")
        label = f"{unit.name} ({unit.id}, {unit.kind})"
        lines.append(prefix + branch + label)
        inner = prefix + ("" if top else ("   " if last else "│  "))
        if people:
            for p in directory.people.values():
                roles = [g.role for g in p.grants if g.unit == unit.id]
                if roles:
                    lines.append(f"{inner}   · {p.name} ({p.id}): {', '.join(roles)}")
        kids = directory.children(unit.id)
        for i, kid in enumerate(kids):
            walk(kid, inner, i == len(kids) - 1, False)

    for root in roots:
        walk(root, "", True, True)
    return "\n".join(lines)
