"""Notices owed and rendered at delivery, batched timer passes, batched delivery.

- a notice to several people of one language is rendered once, each getting their own name;
- a batch of timers: one failing action is recorded on its case, the others commit;
- a state that re-enters a running clock keeps that clock's timers (no cancel, no re-insert);
- the file channel syncs once per batch, not once per notice;
- a webhook peer trickling its answer is cut off at the attempt's deadline, and a peer that
  never answers costs its deadline once per pass, not once per notice.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from servers import BadPeer
from test_four_list import Clock, sample_directory

from gridflow.domain.org import Actor
from gridflow.domain.templates.renderer import TemplateRenderer
from gridflow.drivers.notifiers.file import FileChannel
from gridflow.drivers.notifiers.webhook import WebhookChannel
from gridflow.errors import DeliveryError, GridflowError
from gridflow.service.engine import Engine
from gridflow.service.notices import NoticeService

TITLE = "宛南一村3号楼门口共享单车乱停放"


@pytest.fixture
def world(tmp_path):
    clock = Clock()
    engine = Engine(f"sqlite:///{tmp_path / 'w.db'}", clock=clock, directory=sample_directory())
    yield engine, clock
    engine.close()


class Sink:
    name = "email"

    def __init__(self) -> None:
        self.got: list = []

    def deliver(self, notice) -> None:  # type: ignore[no-untyped-def]
        self.got.append(notice)

    def close(self) -> None:
        pass


def test_one_render_serves_every_recipient_of_a_language(world, monkeypatch):
    engine, _clock = world
    calls: list[tuple[str, str]] = []
    real = TemplateRenderer.render

    def counted(self, workflow_id, notice, lang, context, **kw):  # type: ignore[no-untyped-def]
        calls.append((notice, lang))
        return real(self, workflow_id, notice, lang, context, **kw)

    monkeypatch.setattr(TemplateRenderer, "render", counted)
    case = engine.start("raise_hand", actor="wannan-r1.chief", data={"title": TITLE})
    engine.fire(case.id, "dispatch", actor="fenglin.dispatch", data={"department": "police"})
    sink = Sink()
    engine.dispatcher({"email": sink}).run_once()
    assignment = [n for n in sink.got if n.notice == "assignment"]
    assert len(assignment) == 2  # the police head and liaison, both zh-CN
    assert calls.count(("assignment", "zh-CN")) == 1
    names = {p.id: p.name for p in engine.directory.people.values()}
    for n in assignment:
        person = next(p for p, name in names.items() if name and name in n.text)
        assert n.address and names[person] in n.text
    assert len({n.text for n in assignment}) == 2  # each greeted by name


def test_a_failing_timer_action_is_recorded_and_the_batch_goes_on(world, monkeypatch):
    engine, clock = world
    ids = [
        engine.start("raise_hand", actor="wannan-r1.chief", data={"title": f"{TITLE}{i}"}).id
        for i in range(3)
    ]
    for case_id in ids:
        engine.fire(case_id, "dispatch", actor="fenglin.dispatch", data={"department": "police"})
    real = engine.notices.notify

    def fails_for_the_second(tx, wf, view, *args, **kw):  # type: ignore[no-untyped-def]
        if view.id == ids[1]:
            raise GridflowError("a broken recipient list")
        return real(tx, wf, view, *args, **kw)

    monkeypatch.setattr(engine.notices, "notify", fails_for_the_second)
    clock.now += timedelta(days=20)
    result = engine.tick(clock.now)
    assert len(result.errors) >= 1 and all("broken recipient list" in e for e in result.errors)
    failed = [s.trigger for s in engine.history(ids[1])]
    assert any(t.endswith(":failed") for t in failed)
    for ok in (ids[0], ids[2]):
        triggers = [s.trigger for s in engine.history(ok)]
        assert any(t.startswith("sla:") and not t.endswith(":failed") for t in triggers)
    assert engine.tick(clock.now).claimed == 0  # nothing left pending, nothing retried forever


def test_re_entering_a_running_clock_keeps_its_timers(world):
    engine, _clock = world
    case = engine.start("raise_hand", actor="wannan-r1.chief", data={"title": TITLE})
    engine.fire(case.id, "dispatch", actor="fenglin.dispatch", data={"department": "police"})
    engine.fire(case.id, "sign", actor="police.liaison")
    with engine.store.read() as tx:
        signed = {
            (t.id, t.name, t.due_at) for t in engine.store.timers.pending_of_case(tx, case.id)
        }
    engine.fire(case.id, "begin", actor="police.liaison")  # the same answer clock runs on
    with engine.store.read() as tx:
        begun = {(t.id, t.name, t.due_at) for t in engine.store.timers.pending_of_case(tx, case.id)}
        cancelled = engine.store.timers.counts(tx, engine.now())
    assert signed and begun == signed
    assert cancelled[1] == len(signed)  # pending in all: just these


def test_the_file_channel_syncs_once_per_batch(world, tmp_path, monkeypatch):
    engine, _clock = world
    person, now = Actor("wannan.chief", "赵"), engine.now()
    rows = [
        NoticeService._row(None, None, "gridflow", "n", person, "file", "", now)
        | {"subject": f"s{i}", "text": "t"}
        for i in range(25)
    ]
    with engine.store.write() as tx:
        engine.store.outbox.insert(tx, rows)
    syncs: list[int] = []
    import gridflow.drivers.notifiers.file as file_module

    real_fsync = file_module.os.fsync
    monkeypatch.setattr(file_module.os, "fsync", lambda fd: (syncs.append(fd), real_fsync(fd)))
    channel = FileChannel("file", path=tmp_path / "notices")
    result = engine.dispatcher({"file": channel}).run_once(now, batch=100)
    assert result.sent == 25
    assert len(syncs) == 1  # one file, one batch: one fsync
    lines = (tmp_path / "notices" / "notices.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 25


def test_a_trickling_peer_is_cut_off_at_the_deadline() -> None:
    peer = BadPeer("trickle", every=0.4)
    try:
        hook = WebhookChannel("hook", url=peer.url, timeout=1.0, proxy="none")
        from gridflow.domain.notice import OutboundNotice

        notice = OutboundNotice.create(
            channel="hook", address="", subject="s", text="t", html=None, case_id=None,
            workflow_id=None, notice="n", lang="zh-CN",
        )  # fmt: skip
        with pytest.raises(DeliveryError, match="timed out") as info:
            hook.deliver(notice)
        assert not info.value.permanent  # retried later, like any timeout
        assert peer.sent < len(BadPeer.ANSWER)  # cut off long before the answer was whole
    finally:
        peer.close()


def test_a_silent_peer_costs_its_deadline_once_per_pass(world):
    engine, _clock = world
    peer = BadPeer("silent")
    try:
        hook = WebhookChannel("hook", url=peer.url, timeout=0.5, proxy="none")
        person, now = Actor("wannan.chief", "赵"), engine.now()
        rows = [
            NoticeService._row(None, None, "gridflow", "n", person, "hook", "", now)
            | {"subject": f"s{i}", "text": "t"}
            for i in range(6)
        ]
        with engine.store.write() as tx:
            engine.store.outbox.insert(tx, rows)
        sink = Sink()
        sink.name = "console"
        result = engine.dispatcher({"hook": hook, "console": sink}).run_once(now)
        assert result.retried == 6 and result.sent == 0
        assert peer.connections == 1  # tried once; the other five deferred, not tried
        errors = [n.last_error for n in engine.outbox.notices("pending")]
        tried = [e for e in errors if not e.startswith("not tried")]
        assert len(tried) == 1 and "timed out" in tried[0]
        assert sum(e.startswith("not tried") for e in errors) == 5
    finally:
        peer.close()


def test_owed_notices_of_a_schema_2_database_are_sent_as_written(tmp_path):
    """Rows written before notices were owed (rendered, no context) go out as they are."""
    engine = Engine(f"sqlite:///{tmp_path / 'o.db'}", directory=sample_directory())
    try:
        person, now = Actor("wannan.chief", "赵"), engine.now()
        legacy = NoticeService._row(None, None, "four_list", "overdue", person, "email", "a@b", now)
        legacy |= {"subject": "旧通知", "text": "正文", "html": "<p>正文</p>"}
        with engine.store.write() as tx:
            engine.store.outbox.insert(tx, [legacy])
        sink = Sink()
        engine.dispatcher({"email": sink}).run_once(now)
        (sent,) = sink.got
        assert (sent.subject, sent.text, sent.html) == ("旧通知", "正文", "<p>正文</p>")
    finally:
        engine.close()


def test_every_step_of_a_timer_batch_is_an_event_of_the_feed(db_url):
    """Batched system steps are written in one statement; their feed events with them."""
    from gridflow.domain.access import CaseScope

    clock = Clock()
    engine = Engine(db_url, clock=clock, directory=sample_directory())
    try:
        ids = [
            engine.start("raise_hand", actor="wannan-r1.chief", data={"title": f"{TITLE}{i}"}).id
            for i in range(4)
        ]
        for case_id in ids:
            engine.fire(
                case_id, "dispatch", actor="fenglin.dispatch", data={"department": "police"}
            )
        clock.now += timedelta(days=20)
        assert engine.tick(clock.now).fired > 0
        steps = sorted((c, s.seq) for c in ids for s in engine.history(c))
        events, after = [], 0
        while True:
            page, after = engine.feed.page(CaseScope(everything=True), after, 100)
            if not page:
                break
            events += [(e.case_id, e.seq) for e in page]
        assert sorted(events) == steps and len(set(events)) == len(events)
    finally:
        engine.close()


def test_recipients_memoised_in_a_pass_follow_each_cases_creator(make_engine, sqlite_url, clock):
    """One timer pass resolves recipients once per kind of case — but two cases alike in
    state and unit, started by different people, still owe their notices to their own
    creators (the memo tells them apart only where ``creator`` is named)."""
    import sqlalchemy as sa

    from gridflow.storage import tables as t

    drill = Path(__file__).parents[1] / "data_sla"
    engine = make_engine(sqlite_url, drill)
    creators = ["li.clerk", "wang.chief", "li.clerk", "wang.chief"]
    ids = [
        engine.start("drill", actor=who, unit="fenglin", data={"title": f"d{i}"}).id
        for i, who in enumerate(creators)
    ]
    assert engine.tick(clock.advance(hours=2)).fired >= len(ids)
    with engine.store.read() as tx:
        owed = dict(tx.execute(sa.select(t.outbox_t.c.case_id, t.outbox_t.c.recipient)).all())
    assert [owed[i] for i in ids] == creators
