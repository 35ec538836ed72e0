"""A small workflow with a clock, and its later revisions, for the migration tests (#16).

``permit`` revision 1: ``new`` → ``review`` (2 working days, a reminder at 50 %, a note when
overdue) → ``done``. The tests write revision 2 as a variant of this text."""

from __future__ import annotations

from pathlib import Path

PERMIT = """\
id: permit
version: 1
title: {zh: 许可, en: Permit}
roles:
  clerk: {}
fields:
  title: {type: string, required: true}
  severity: {type: enum, values: [low, high], default: low}
  legacy: {type: string}
title_field: title
initial: new
states:
  new: {label: {zh: 新建, en: New}}
  review:
    label: {zh: 审核, en: Review}
    sla:
      due: 2wd
      remind: [50%]
      overdue:
        - {after: 0wd}
  done: {label: {zh: 完成, en: Done}, final: true}
transitions:
  - {trigger: submit, source: new, dest: review, roles: [clerk]}
  - {trigger: approve, source: review, dest: done, roles: [clerk]}
"""

RENAMED = PERMIT.replace("review", "checking")

SPLIT = PERMIT.replace(
    """  review:
    label: {zh: 审核, en: Review}
""",
    """  review_minor:
    label: {zh: 简易审核, en: Minor review}
    sla: {due: 1wd}
  review_major:
    label: {zh: 审核, en: Major review}
""",  # the old review's clock and ladder follow: they are review_major's
).replace(
    """  - {trigger: submit, source: new, dest: review, roles: [clerk]}
  - {trigger: approve, source: review, dest: done, roles: [clerk]}
""",
    """  - {trigger: submit, source: new, dest: review_major, roles: [clerk]}
  - {trigger: triage, source: review_major, dest: review_minor, roles: [clerk]}
  - {trigger: approve, source: [review_minor, review_major], dest: done, roles: [clerk]}
""",
)

LONGER = PERMIT.replace("due: 2wd", "due: 5wd")

REQUIRED = PERMIT.replace(
    "  legacy: {type: string}\n",
    "  priority: {type: enum, values: [normal, urgent], required: true, default: normal}\n"
    "  owner: {type: string, required: true}\n",
)


def write(folder: Path, text: str, name: str = "permit.yaml") -> Path:
    """``text`` as ``folder/name`` (the folder made); the file's path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def open_permits(engine, n: int, *, submit: int = 0, **data) -> list[int]:
    """``n`` permits started by li.clerk, the first ``submit`` of them submitted."""
    ids = []
    for i in range(n):
        case = engine.start("permit", actor="li.clerk", data={"title": f"p{i}", **data})
        if i < submit:
            engine.fire(case.id, "submit", actor="li.clerk")
        ids.append(case.id)
    return ids
