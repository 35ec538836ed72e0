"""The ``Engine``: the one way into gridflow for the CLI, the daemon, the HTTP API, an app.

It is composed of parts, each one idea, sharing a :class:`~gridflow.service.runtime.Runtime`
(store, clock, calendar, owner)::

    definitions  Definitions   workflows in force, stored revisions, the org directory
    notices      NoticeService recipients → rendered notices → outbox rows; digest; preview
    writer       CaseWriter    start, fire (one event, one transaction), notes, fan-in
    reader       CaseReader    get, history, children, find, available triggers
    timers       TimerService  tick: due SLA timers acted on exactly once; recompute
    outbox       OutboxAdmin   list, count, retry notices; endpoints switched off
    reports      Reports       consistent snapshots for reports, working-day length
    principals   Principals    who is calling (persons, service accounts), what they see
    tokens       Tokens        API tokens: issued once, stored hashed, checked, revoked
    audit        Audit         refused attempts: who tried what, why, from where
    idempotency  Idempotency   first responses kept per Idempotency-Key (24 h)
    files        Files         uploads: sniffed, size-capped, content-addressed, per case
    browse       Browse        keyset pages of cases, facet counts, the inbox
    feed         Feed          every step as an event, in commit order, after a cursor
    ops          Ops           readiness and figures for metrics
    accounts     Accounts      local passwords (argon2 hashes) for the web workbench
    sessions     Sessions      web sessions (hashed ids, CSRF tokens, expiry), SSO logins
    boards       Boards        cases in columns of states with exact counts (area boards)
    migrations   Migrations    open cases moved onto another workflow revision (#16)

The methods below are the public API; they check who acts (``actor``) and delegate.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridflow.domain.calendar import BusinessCalendar
from gridflow.domain.cases import Case, Origin, Step
from gridflow.domain.lazy import part
from gridflow.domain.machine import CaseView, CompiledWorkflow
from gridflow.domain.notice import Channel, RenderedNotice
from gridflow.domain.org import Actor, Directory
from gridflow.domain.period import Period
from gridflow.service import identity, limits
from gridflow.service.cases import CaseWriter
from gridflow.service.definitions import (
    BUILTIN_ORG,
    BUILTIN_WORKFLOWS,
    Definitions,
    WorkflowSource,
    workflow_dir,
)
from gridflow.service.notices import NoticeService
from gridflow.service.outbox import Dispatcher, OutboxAdmin
from gridflow.service.parse_cache import DiskParseCache
from gridflow.service.queries import CaseReader
from gridflow.service.runtime import Runtime
from gridflow.service.status import status
from gridflow.service.timers import TickResult, TimerService
from gridflow.storage.store import Store

if TYPE_CHECKING:
    from gridflow.domain.templates.renderer import TemplateRenderer
    from gridflow.service.accounts import Accounts
    from gridflow.service.audit import Audit
    from gridflow.service.boards import Boards
    from gridflow.service.browse import Browse
    from gridflow.service.feed import Feed
    from gridflow.service.files import Files
    from gridflow.service.idempotency import Idempotency
    from gridflow.service.kpi import Reports
    from gridflow.service.migrations import MigrationPlan, Migrations
    from gridflow.service.ops import Ops
    from gridflow.service.principals import Principals
    from gridflow.service.sessions import Sessions
    from gridflow.service.tokens import Tokens

__all__ = ["BUILTIN_ORG", "BUILTIN_WORKFLOWS", "Engine", "TickResult"]


class Engine:
    """Runs workflows over a database. Thread-safe; one per process is plenty.

    ``workflows``: a folder, a list of files, or None for the built-ins. ``clock``: a
    callable returning an aware ``datetime`` (inject a virtual one to run months in
    seconds). ``directory``: an org ``Directory``; default: the one stored by ``gridflow org
    load``, else the built-in sample (Fenglin Street). ``templates``: extra folders with a
    ``templates/`` tree, searched before the workflows' own folder and the built-ins.
    ``lazy``: read the workflow files only when a case needs the current definitions (a
    command that reads cases on stored revisions never parses them). ``parse_cache``: a
    folder keeping parsed workflow and org files by their text (see ``parse_cache``).
    ``create_schema``: make a new database's tables, check an existing one's version.
    ``upgrade``: upgrade a database whose schema is behind the code (through Alembic, see
    ``gridflow.storage.migrate``); without it such a database is a ``StorageError`` naming
    ``gridflow db upgrade``. A new empty database is always created.
    """

    def __init__(
        self,
        database_url: str = "sqlite:///gridflow.db",
        workflows: WorkflowSource = None,
        *,
        clock: Callable[[], datetime] | None = None,
        directory: Directory | None = None,
        calendar: BusinessCalendar | None = None,
        templates: Iterable[str | Path] | None = None,
        base_url: str = "http://localhost/cases",
        default_channel: str = "console",
        create_schema: bool = True,
        lazy: bool = False,
        parse_cache: str | Path | None = None,
        upgrade: bool = False,
    ):
        store = Store(database_url)
        if create_schema:
            store.create_schema(upgrade=upgrade)
        self.rt = Runtime(
            store=store,
            clock=clock or (lambda: datetime.now(UTC)),
            calendar=calendar if calendar is not None else BusinessCalendar(),
            owner=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}",
            base_url=base_url,
            default_channel=default_channel,
        )
        cache = DiskParseCache(Path(parse_cache)) if parse_cache is not None else None
        self.definitions = Definitions(self.rt, workflows, directory, cache)
        if not lazy:  # a broken file is refused now, not at the first case
            self.definitions.load()
        roots = [Path(p) for p in templates] if templates else []
        self.notices = NoticeService(
            self.rt,
            self.definitions,
            [*roots, workflow_dir(workflows), BUILTIN_WORKFLOWS],
            Path(parse_cache) / "templates" if parse_cache is not None else None,
        )
        self.writer = CaseWriter(self.rt, self.definitions, self.notices)
        self.reader = CaseReader(self.rt, self.definitions)
        self.timers = TimerService(self.rt, self.definitions, self.writer, self.notices)
        self.outbox = OutboxAdmin(self.rt, self.notices.render_rows)

    # ---- parts made on first use (a short command imports none of them) ------------------
    @part
    def reports(self) -> Reports:
        from gridflow.service.kpi import Reports

        return Reports(self.rt, self.definitions)

    # what the HTTP API (and the web workbench) call on: principals and what they see,
    # tokens, the audit of refusals, idempotency keys, files, lists, the change feed, ops
    @part
    def principals(self) -> Principals:
        from gridflow.service.principals import Principals

        return Principals(self.rt, self.definitions, self.actor)

    @part
    def tokens(self) -> Tokens:
        from gridflow.service.tokens import Tokens

        return Tokens(self.rt, self.definitions)

    @part
    def audit(self) -> Audit:
        from gridflow.service.audit import Audit

        return Audit(self.rt)

    @part
    def idempotency(self) -> Idempotency:
        from gridflow.service.idempotency import Idempotency

        return Idempotency(self.rt)

    @part
    def files(self) -> Files:
        from gridflow.service.files import Files

        return Files(self.rt, self.definitions)

    @part
    def browse(self) -> Browse:
        from gridflow.service.browse import Browse

        return Browse(self.rt, self.definitions, self.reader)

    @part
    def feed(self) -> Feed:
        from gridflow.service.feed import Feed

        return Feed(self.rt)

    @part
    def ops(self) -> Ops:
        from gridflow.service.ops import Ops

        return Ops(self.rt, self.definitions)

    # the web workbench's (#14): local accounts, sessions and SSO logins, boards
    @part
    def accounts(self) -> Accounts:
        from gridflow.service.accounts import Accounts

        return Accounts(self.rt, self.definitions)

    @part
    def sessions(self) -> Sessions:
        from gridflow.service.sessions import Sessions

        return Sessions(self.rt)

    @part
    def boards(self) -> Boards:
        from gridflow.service.boards import Boards

        return Boards(self.rt, self.reader)

    @part
    def migrations(self) -> Migrations:
        from gridflow.service.migrations import Migrations

        return Migrations(self.rt, self.definitions)

    # ---- what the engine runs on ---------------------------------------------------------
    @property
    def store(self) -> Store:
        return self.rt.store

    @property
    def calendar(self) -> BusinessCalendar:
        return self.rt.calendar

    @property
    def clock(self) -> Callable[[], datetime]:
        """The clock the engine reads time from; may be replaced (a simulation's)."""
        return self.rt.clock

    @clock.setter
    def clock(self, clock: Callable[[], datetime]) -> None:
        self.rt.clock = clock

    @property
    def owner(self) -> str:
        """This engine's name in leases and heartbeats (host:pid:random)."""
        return self.rt.owner

    @property
    def base_url(self) -> str:
        return self.rt.base_url

    @property
    def default_channel(self) -> str:
        return self.rt.default_channel

    def now(self) -> datetime:
        """The engine's clock (aware)."""
        return self.rt.now()

    def close(self) -> None:
        """Close every database connection."""
        self.rt.store.dispose()

    # ---- definitions and the directory ---------------------------------------------------
    @property
    def workflows(self) -> dict[str, CompiledWorkflow]:
        """The workflows in force, by id."""
        return self.definitions.current

    def load_workflows(self, workflows: WorkflowSource = None) -> dict[str, CompiledWorkflow]:
        """(Re)load workflow files; store new texts as new revisions. Running cases keep the
        revision they started on. Raises ``DefinitionError`` and keeps the old set on error."""
        return self.definitions.load(workflows)

    def workflow(self, workflow_id: str, revision: int | None = None) -> CompiledWorkflow:
        """The current definition, or a stored older ``revision``."""
        return self.definitions.workflow(workflow_id, revision)

    @property
    def directory(self) -> Directory:
        """The org directory in force."""
        return self.definitions.directory

    def load_org(self, path: str | Path) -> Directory:
        """Validate an org file and store it as the directory in force."""
        return self.definitions.load_org(path)

    def reload(self, calendar: BusinessCalendar | None = None) -> None:
        """Re-read workflows and the stored directory (daemon: on change or SIGHUP); with a
        new ``calendar``, recompute provisional deadlines with it."""
        self.definitions.reload()
        if calendar is not None:
            self.rt.calendar = calendar
            self.timers.recompute_provisional()

    def actor(self, who: str | Actor) -> Actor:
        """The directory's person behind ``who`` (an id or an ``Actor``): an invented
        person, grants the directory does not give, or the system are refused (see
        :func:`gridflow.service.identity.person`)."""
        return identity.person(self.directory, who)

    def migrate(
        self,
        workflow: str,
        *,
        to: int,
        actor: str | Actor,
        mapping: Mapping[str, str] | None = None,
        where: str | None = None,
        values: Mapping[str, Any] | None = None,
        keep_deadline: bool = False,
        apply: bool = False,
        batch: int = 200,
        comment: str | None = None,
        origin: Origin | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> MigrationPlan:
        """Move the open cases of ``workflow`` onto its stored revision ``to`` — a dry run
        (the plan) unless ``apply``. ``mapping``: old state → new state (a state the target
        has keeps its name); ``where``: a guard-like expression selecting cases; ``values``:
        fields set on every case moved; ``keep_deadline``: keep running clocks' due times
        (default: recomputed under the target). Refused whole (``MigrationRefused``,
        nothing changed) when any selected case cannot be moved. Applied ``batch`` cases per
        transaction, one ``migrate`` history row each; rerunning resumes or does nothing
        (see :mod:`gridflow.service.migrations`)."""
        return self.migrations.run(
            workflow,
            to,
            self.actor(actor),
            mapping=mapping,
            where=where,
            values=values,
            keep_deadline=keep_deadline,
            apply=apply,
            batch=batch,
            comment=comment,
            origin=origin,
            progress=progress,
        )

    def revisions(self, workflow: str | None = None) -> list[dict[str, Any]]:
        """The stored revisions (of ``workflow``, or all): id, revision, version label,
        when loaded, open cases on it, and whether it is the one in force."""
        return self.migrations.revisions(workflow)

    # ---- cases ---------------------------------------------------------------------------
    def start(
        self,
        workflow: str,
        *,
        actor: str | Actor,
        data: Mapping[str, Any] | None = None,
        unit: str | None = None,
        role: str | None = None,
        comment: str | None = None,
        origin: Origin | None = None,
    ) -> Case:
        """Open a case of ``workflow`` in its initial state; returns it. ``origin``: where
        the request came from (channel, principal, address …), recorded beside the step."""
        wf, who = self.workflow(workflow), self.actor(actor)
        row = self.writer.start(wf, who, dict(data or {}), unit, role, comment, origin)
        return self.reader.case(row, [])

    def fire(
        self,
        case_id: int,
        trigger: str,
        *,
        actor: str | Actor,
        data: Mapping[str, Any] | None = None,
        comment: str | None = None,
        role: str | None = None,
        expected_version: int | None = None,
        origin: Origin | None = None,
    ) -> Case:
        """Fire ``trigger`` on a case, or raise ``Refused`` / ``Conflict`` / ``NotFound``.

        With ``expected_version`` a case that moved on is a ``Conflict``; without, the event
        is re-checked against the newer case (and may then be refused on its merits).
        """
        who = self.actor(actor)
        row = self.writer.fire(
            limits.case_id(case_id),
            trigger,
            who,
            dict(data or {}),
            comment,
            role,
            expected_version,
            origin,
        )
        return self.reader.case(row, [])

    def get(self, case_id: int, *, with_children: bool = False) -> Case:
        """One case (``NotFound`` if there is none), with its children when asked."""
        return self.reader.get(limits.case_id(case_id), with_children=with_children)

    def history(self, case_id: int) -> list[Step]:
        """Every step of a case, oldest first."""
        return self.reader.history(limits.case_id(case_id))

    def children(self, case_id: int) -> list[Case]:
        return self.reader.children(limits.case_id(case_id))

    def find(
        self,
        *,
        workflow: str | None = None,
        state: str | None = None,
        unit: str | None = None,
        text: str | None = None,
        open_only: bool = False,
        overdue: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Case]:
        """Cases by workflow, state, unit (and its subtree), text in title/data; newest first.
        ``limit`` 1..10,000 and ``offset`` ≥ 0, else ``InvalidArgument``."""
        limit, offset = limits.page(limit, offset)
        return self.reader.find(
            workflow=workflow,
            state=state,
            unit=unit,
            text=text,
            open_only=open_only,
            overdue=overdue,
            limit=limit,
            offset=offset,
        )

    def available_triggers(self, case_id: int, actor: str | Actor) -> list[str]:
        """Triggers ``actor`` holds a role for in the case's current state."""
        return self.reader.available_triggers(limits.case_id(case_id), self.actor(actor))

    # ---- time ----------------------------------------------------------------------------
    def tick(
        self, now: datetime | None = None, *, batch: int = 200, limit: int | None = None
    ) -> TickResult:
        """Act on every SLA timer due at ``now`` (default: the clock), exactly once."""
        return self.timers.tick(now, batch=batch, limit=limit)

    def recompute_provisional(self) -> tuple[int, int]:
        """Recompute provisional deadlines with the calendar as it is now; (recomputed,
        kept as they were)."""
        return self.timers.recompute_provisional()

    # ---- notices -------------------------------------------------------------------------
    @property
    def renderer(self) -> TemplateRenderer:
        return self.notices.renderer

    def digest(self, now: datetime | None = None) -> int:
        """Write the overdue digest (one notice per unit leader); how many notices."""
        return self.notices.digest(now)

    def preview(
        self,
        workflow: str,
        template: str,
        *,
        case_id: int | None = None,
        lang: str = "zh-CN",
    ) -> RenderedNotice:
        """``template`` of ``workflow`` rendered for case ``case_id``, or for a sample case."""
        if case_id is None:
            return self.notices.preview(workflow, template, lang=lang)
        case = self.get(case_id)
        view = CaseView(
            case.id, case.state, case.version, case.data, case.unit, case.created_at, case.parent_id
        )
        return self.notices.preview(
            case.workflow, template, case=view, revision=case.revision, sla_view=case.sla, lang=lang
        )

    def dispatcher(
        self, channels: Mapping[str, Channel], *, fallback: str | None = None, **options: Any
    ) -> Dispatcher:
        """A notice dispatcher over ``channels`` (name → channel); a notice naming a channel
        that is not among them goes to ``fallback`` (default: the engine's default
        channel). ``options``: ``max_attempts``, ``base_delay``, ``max_delay``, ``lease``,
        ``rng``."""
        return Dispatcher(
            self.rt,
            channels,
            self.notices.render_rows,
            fallback=fallback or self.rt.default_channel,
            **options,
        )

    # ---- reports -------------------------------------------------------------------------
    def kpis(
        self,
        *,
        unit: str | None = None,
        period: Period,
        now: datetime | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """The KPIs of ``unit`` (and its subtree; None: everything) over ``period``: one
        section per workflow (or per declared section) and the overdue league as of
        ``now``. What is counted is each workflow's ``kpis:`` block (``docs/kpis.md``)."""
        return self.reports.compute(unit=unit, period=period, now=now, progress=progress)

    def yearly(
        self, unit: str, year: int, *, progress: Callable[[str], None] | None = None
    ) -> dict[str, Any]:
        """What the yearly page of ``unit`` shows for ``year`` (``gridflow.report``
        renders it)."""
        return self.reports.yearly(unit, year, progress=progress)

    # ---- operations ----------------------------------------------------------------------
    def status(self, now: datetime | None = None, stale_after: float = 60.0) -> dict[str, Any]:
        """Live daemons, due timers, the notice backlog (see ``service.status``)."""
        return status(self.rt, now, stale_after)
