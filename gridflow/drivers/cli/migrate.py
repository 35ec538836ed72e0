"""``gridflow migrate | revisions``: moving open cases onto a new workflow revision (#16)."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

import click

from gridflow.drivers.cli.context import Context, echo_json, pass_ctx


def _pairs(items: tuple[str, ...], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise click.BadParameter(f"{item!r} is not OLD=NEW", param_hint=option)
        out[key.strip()] = value.strip()
    return out


def _map_file(path: str) -> dict[str, str]:
    """A YAML file mapping old state names to new ones (at the top, or under ``states:``),
    read like a workflow file: bounded, safe, a bad file one located error."""
    from gridflow.domain.yamlsource import parse, read_text

    loaded = parse(read_text(path), path).value
    if isinstance(loaded, dict) and isinstance(loaded.get("states"), dict):
        loaded = loaded["states"]
    if not isinstance(loaded, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()
    ):
        raise click.BadParameter(
            f"{path}: expected a mapping of old state: new state", param_hint="--map-file"
        )
    return dict(loaded)


def _when(value: str | None, tz: tzinfo) -> str:
    if value is None:
        return "—"
    return datetime.fromisoformat(value).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _case_lines(case: dict[str, Any], tz: tzinfo) -> list[str]:
    """One case's plan as text: state, fields, deadline, timers."""
    (rev_a, rev_b), (st_a, st_b), (due_a, due_b) = case["revision"], case["state"], case["due"]
    lines = [
        f"  #{case['case_id']}  rev {rev_a} → {rev_b}  {st_a} → {st_b}  "
        f"deadline {case['deadline']}: {_when(due_a, tz)} → {_when(due_b, tz)}"
    ]
    fields = [f"+{k}={v!r}" for k, v in case["added"].items()]
    fields += [f"-{k}" for k in case["dropped"]]
    fields += [f"{k}: {old!r} → {new!r}" for k, (old, new) in case["changed"].items()]
    if fields:
        lines.append("      fields: " + ", ".join(fields))
    cancelled = ", ".join(case["timers_cancelled"]) or "none"
    created = ", ".join(f"{t['name']} @ {_when(t['due_at'], tz)}" for t in case["timers_created"])
    timers = f"      timers: cancelled {cancelled}; created {created or 'none'}"
    if case["not_refired"]:
        timers += f"; not fired again (past, already fired): {', '.join(case['not_refired'])}"
    lines.append(timers)
    return lines


@click.command()
@click.argument("workflow")
@click.option("--to", "to", type=click.IntRange(1), required=True, help="Target revision.")
@click.option("--map", "maps", multiple=True, metavar="OLD=NEW", help="State map (repeatable).")
@click.option("--map-file", type=click.Path(dir_okay=False), help="YAML file: old: new states.")
@click.option("--where", help="Expression selecting cases (as guards see a case).")
@click.option("--keep-deadline", is_flag=True, help="Keep running clocks' due times.")
@click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE", help="Set on every case.")
@click.option("--dry-run/--apply", "dry_run", default=True, help="Plan only (default) or apply.")
@click.option("--actor", required=True, help="Person id recorded on each case's history.")
@click.option("--comment", help="Added to each history row.")
@click.option("--batch", type=click.IntRange(1, 10_000), default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def migrate(
    obj: Context,
    workflow: str,
    to: int,
    maps: tuple[str, ...],
    map_file: str | None,
    where: str | None,
    keep_deadline: bool,
    sets: tuple[str, ...],
    dry_run: bool,
    actor: str,
    comment: str | None,
    batch: int,
    as_json: bool,
) -> None:
    """Move the open cases of WORKFLOW onto its stored revision --to (see `gridflow
    revisions`). A dry run prints the plan per case; --apply moves them, BATCH per
    transaction, one `migrate` history row each. Refused, changing nothing, when a case's
    state is neither in the target nor mapped, or a required field has no value."""
    from gridflow.drivers.cli.cases import _pairs as field_pairs

    mapping = _map_file(map_file) if map_file else {}
    mapping.update(_pairs(maps, "--map"))
    engine = obj.engine()

    def progress(done: int, total: int) -> None:
        if not as_json:
            click.echo(f"migrated {done}/{total}", err=True)

    plan = engine.migrate(
        workflow,
        to=to,
        actor=actor,
        mapping=mapping,
        where=where,
        values=field_pairs(sets),
        keep_deadline=keep_deadline,
        apply=not dry_run,
        batch=batch,
        comment=comment,
        origin=obj.origin(),
        progress=progress,
    )
    out = plan.to_dict()
    if as_json:
        echo_json(out)
        return
    left = f", {out['not_matching']} left out by --where" if where else ""
    click.echo(
        f"{workflow} → revision {to}: {out['considered']} open case(s) on other revisions, "
        f"{out['to_migrate']} to migrate{left}"
    )
    if not dry_run:
        for skipped in out["skipped_cases"]:
            click.echo(f"  skipped #{skipped['case_id']}: {skipped['reason']}")
        click.echo(f"migrated {out['migrated']} case(s) in {out['seconds']:.2f}s")
        return
    for case in out["cases"]:
        for line in _case_lines(case, obj.tz):
            click.echo(line)
    if out["to_migrate"]:
        click.echo("dry run: nothing changed (--apply to migrate)")


@click.command()
@click.argument("workflow", required=False)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def revisions(obj: Context, workflow: str | None, as_json: bool) -> None:
    """Stored revisions of WORKFLOW (default: every workflow) and their open cases."""
    from tabulate import tabulate

    rows = obj.engine().revisions(workflow)
    if as_json:
        echo_json(rows)
        return
    table = [
        (
            r["workflow"],
            r["revision"],
            r["version"],
            r["loaded_at"].astimezone(obj.tz).strftime("%Y-%m-%d %H:%M"),
            r["open"],
            "yes" if r["current"] else "",
        )
        for r in rows
    ]
    headers = ("workflow", "revision", "version", "loaded", "open cases", "in force")
    click.echo(tabulate(table, headers=headers))


COMMANDS = [migrate, revisions]
