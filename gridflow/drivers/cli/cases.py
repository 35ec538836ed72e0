"""``gridflow start | fire | show | history | list | triggers``: cases, from the command line."""

from __future__ import annotations

import json
from datetime import tzinfo
from typing import Any

import click

from gridflow.drivers.cli.context import CASE_ID, PAGE, VERSION, Context, echo_json, pass_ctx


def _pairs(values: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not key=value", param_hint="--set")
        if value[:1] in "[{":
            try:
                out[key] = json.loads(value)
                continue
            except json.JSONDecodeError:
                pass
            except RecursionError:  # "[[[[…": nested past Python's limit
                raise click.BadParameter(
                    f"{key}: JSON nested too deeply", param_hint="--set"
                ) from None
        out[key] = value
    return out


def _emit_case(case, as_json: bool, tz: tzinfo, engine=None) -> None:
    """A case as JSON (times ISO, as stored), or as text with its times in ``tz``."""
    if as_json:
        echo_json(case.to_dict())
        return
    from gridflow.drivers.cli.render import case_text

    click.echo(case_text(case, engine, tz=tz))


@click.command()
@click.argument("workflow")
@click.option("--actor", required=True, help="Person id (from the org directory).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Field values.")
@click.option("--unit", help="Org unit the case belongs to [default: the actor's].")
@click.option("--role", help="Role to act in, when the actor holds several.")
@click.option("--comment")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def start(obj: Context, workflow, actor, sets, unit, role, comment, as_json) -> None:
    """Open a case of WORKFLOW; prints its id."""
    case = obj.engine().start(
        workflow,
        actor=actor,
        data=_pairs(sets),
        unit=unit,
        role=role,
        comment=comment,
        origin=obj.origin(),
    )
    if as_json:
        _emit_case(case, True, obj.tz)
    else:
        click.echo(case.id)


@click.command()
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.argument("trigger")
@click.option("--actor", required=True, help="Person id (from the org directory).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Event data.")
@click.option("--comment")
@click.option("--role", help="Role to act in, when the actor holds several.")
@click.option("--expect-version", type=VERSION, help="Refuse if the case is not at this version.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def fire(
    obj: Context, case_id, trigger, actor, sets, comment, role, expect_version, as_json
) -> None:
    """Fire TRIGGER on CASE."""
    engine = obj.engine()
    case = engine.fire(
        case_id,
        trigger,
        actor=actor,
        data=_pairs(sets),
        comment=comment,
        role=role,
        expected_version=expect_version,
        origin=obj.origin(),
    )
    if as_json:
        _emit_case(case, True, obj.tz)
    else:
        click.echo(f"case {case.id}: {case.state} ({case.state_label}), version {case.version}")


@click.command()
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def show(obj: Context, case_id: int, as_json: bool) -> None:
    """Show a case: state, data, SLA, children, what can happen next."""
    engine = obj.engine()
    _emit_case(engine.get(case_id, with_children=True), as_json, obj.tz, engine)


@click.command()
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def history(obj: Context, case_id: int, as_json: bool) -> None:
    """The steps of a case, oldest first."""
    steps = obj.engine().history(case_id)
    if as_json:
        echo_json([s.to_dict() for s in steps])
        return
    from gridflow.drivers.cli.render import history_table

    click.echo(history_table(steps, obj.tz))


@click.command(name="list")
@click.option("--workflow")
@click.option("--state")
@click.option("--unit", help="Cases of this unit and below.")
@click.option("--text", help="Text in the title or data.")
@click.option("--open", "open_only", is_flag=True, help="Only cases not closed.")
@click.option("--overdue", is_flag=True, help="Only open cases past their deadline.")
@click.option("--limit", type=PAGE, default=50, show_default=True, help="At most 10000.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def list_(obj: Context, workflow, state, unit, text, open_only, overdue, limit, as_json) -> None:
    """List cases, newest first."""
    cases = obj.engine().find(
        workflow=workflow,
        state=state,
        unit=unit,
        text=text,
        open_only=open_only,
        overdue=overdue,
        limit=limit,
    )
    if as_json:
        echo_json([c.to_dict() for c in cases])
        return
    from gridflow.drivers.cli.render import case_table

    click.echo(case_table(cases, obj.tz) if cases else "no cases")


@click.command()
@click.argument("case_id", type=CASE_ID, metavar="CASE")
@click.option("--actor", required=True)
@pass_ctx
def triggers(obj: Context, case_id: int, actor: str) -> None:
    """Triggers ACTOR may fire on CASE now."""
    names = obj.engine().available_triggers(case_id, actor)
    click.echo("\n".join(names) if names else "none")


COMMANDS = [start, fire, show, history, list_, triggers]
