"""The outbox dispatcher: renders owed notices and delivers them, at least once (service ring).

A notice is owed by the transaction of the step that caused it. A pass of the dispatcher
claims a batch of due rows under a lease (the one claim of :mod:`gridflow.storage.claims`:
PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite the single writer), renders them (one render
per notice × language × step, shared by recipients where the template allows; a template
that fails dead-letters its notice with the located error), delivers them through their
channels *outside* any transaction — endpoints at once, each endpoint's notices in order —
asks each channel used to make what it accepted durable (``flush``: the file channel syncs
once per batch), then records every outcome of the batch in one transaction:

- delivered → ``sent`` (with the subject and text that were sent);
- ``DeliveryError(permanent=False)`` → retried after an exponential backoff with full jitter
  (``base * 2**attempt``, capped), or after the peer's ``Retry-After`` — until
  ``max_attempts``, then ``dead``; the endpoint's other notices of the batch are not tried
  (a peer that does not answer costs its deadline once per pass, not once per notice);
- ``DeliveryError(permanent=True)`` → ``dead`` at once (an operator can ``retry`` it);
- ``disable_endpoint`` (HTTP 410) → the endpoint is recorded as disabled; its pending
  notices go ``dead`` and new ones are not tried.

A dispatcher that dies after delivering but before recording leaves the lease to expire;
the notice is then delivered again with the same id (the idempotency key every channel
passes on or de-duplicates by). So: at least once, and exactly once wherever the channel
honours the id.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gridflow.domain.notice import Channel, OutboundNotice, RenderedNotice, flush
from gridflow.errors import DeliveryError, GridflowError, NotFound
from gridflow.service.rendering import RenderFailure
from gridflow.service.runtime import Runtime
from gridflow.service.timers import batches
from gridflow.storage.outbox import Outcome
from gridflow.storage.records import EndpointRecord, NoticeRecord

Render = Callable[[Sequence[NoticeRecord]], Mapping[str, RenderedNotice | RenderFailure]]


@dataclass
class DispatchResult:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)


class Dispatcher:
    """Delivers pending notices of one engine's database through configured channels.

    ``channels``: name → Channel. A notice naming a channel that is not configured goes to
    ``fallback`` (so a person's ``email`` notices are not lost on a site without SMTP).
    ``render`` renders claimed rows (the engine's notice service). ``workers``: endpoints
    delivered to at once.
    """

    def __init__(
        self,
        rt: Runtime,
        channels: Mapping[str, Channel],
        render: Render,
        *,
        fallback: str | None = None,
        max_attempts: int = 8,
        base_delay: float = 30.0,
        max_delay: float = 3600.0,
        lease: float = 120.0,
        workers: int = 8,
        rng: random.Random | None = None,
    ):
        if not channels:
            raise GridflowError("no notice channels configured")
        self.rt, self.store, self.render = rt, rt.store, render
        self.channels = dict(channels)
        self.fallback: str = (
            fallback if fallback is not None and fallback in channels else next(iter(channels))
        )
        self.max_attempts, self.base_delay, self.max_delay = max_attempts, base_delay, max_delay
        self.lease = timedelta(seconds=lease)
        self.workers = max(1, workers)
        self.rng = rng or random.Random()
        self._off: set[tuple[str, str]] = set()  # disabled (channel, address) pairs

    def close(self) -> None:
        for channel in self.channels.values():
            channel.close()

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` failed ones (full jitter)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(attempts - 1, 0))
        return self.rng.uniform(ceiling / 2, ceiling)

    # ---- one pass ---------------------------------------------------------------------
    def run_once(
        self, now: datetime | None = None, *, batch: int = 100, limit: int | None = None
    ) -> DispatchResult:
        """Deliver every notice due at ``now`` (at most ``limit``); returns what happened."""
        now = now or self.rt.now()
        result = DispatchResult()
        with self.store.read() as tx:  # read once a pass, kept current as endpoints go
            self._off = {(e.channel, e.address) for e in self.store.outbox.disabled(tx)}
        while size := batches(limit, batch, result.claimed):
            with self.store.write() as tx:
                rows = self.store.outbox.claim(
                    tx, now=now, batch=size, owner=self.rt.owner, until=now + self.lease
                )
            if not rows:
                break
            result.claimed += len(rows)
            self._batch(rows, now, result)
        return result

    def _batch(self, rows: list[NoticeRecord], now: datetime, result: DispatchResult) -> None:
        rendered = self.render(rows)
        groups: dict[tuple[str, str], list[NoticeRecord]] = {}
        for row in rows:
            groups.setdefault(self._endpoint(row), []).append(row)
        if len(groups) == 1 or self.workers == 1:
            done = [self._deliver_group(key, g, rendered, now) for key, g in groups.items()]
        else:
            with ThreadPoolExecutor(min(self.workers, len(groups))) as pool:
                futures = [
                    pool.submit(self._deliver_group, key, g, rendered, now)
                    for key, g in groups.items()
                ]
                done = [f.result() for f in futures]
        outcomes: list[Outcome] = []
        gone: list[tuple[str, str, str]] = []
        for group_outcomes, group_gone in done:
            outcomes += group_outcomes
            gone += group_gone
        for o in outcomes:
            if o.status == "sent":
                result.sent += 1
            elif o.status == "dead":
                result.dead += 1
            else:
                result.retried += 1
            if o.error and o.status != "sent":
                result.errors.append(f"notice {o.notice_id}: {o.error}")
        with self.store.write() as tx:
            self.store.outbox.finish(tx, outcomes)
            for channel, address, reason in gone:
                self._off.add((channel, address))
                self.store.outbox.disable(tx, channel, address, reason, now)

    def _endpoint(self, row: NoticeRecord) -> tuple[str, str]:
        """(channel, address) the row goes to: a notice naming a channel that is not
        configured goes to the fallback, without the other channel's address (an e-mail
        address is no webhook URL or folder)."""
        if row.channel in self.channels:
            return row.channel, row.address
        return self.fallback, ""

    def _deliver_group(
        self,
        endpoint: tuple[str, str],
        rows: list[NoticeRecord],
        rendered: Mapping[str, RenderedNotice | RenderFailure],
        now: datetime,
    ) -> tuple[list[Outcome], list[tuple[str, str, str]]]:
        """One endpoint's notices, in order; then the channel makes them durable."""
        name, address = endpoint
        channel = self.channels[name]
        outcomes: list[Outcome] = []
        accepted: list[Outcome] = []
        gone: list[tuple[str, str, str]] = []
        failed: DeliveryError | None = None
        for row in rows:
            notice = rendered[row.id]
            if isinstance(notice, RenderFailure):
                outcomes.append(Outcome(row.id, "dead", row.attempts + 1, notice.message))
                continue
            if endpoint in self._off or gone:
                why = "endpoint disabled (410 Gone)"
                outcomes.append(Outcome(row.id, "dead", row.attempts + 1, why))
                continue
            if failed is not None:  # the endpoint just failed: not tried again this pass
                later = now + timedelta(seconds=self._delay(failed, row.attempts + 1))
                why = f"not tried: the endpoint failed just before ({failed})"
                outcomes.append(Outcome(row.id, "pending", row.attempts, why, next_at=later))
                continue
            sent = (notice.subject, notice.text, notice.html)
            try:
                channel.deliver(self._outbound(row, name, address, notice))
            except DeliveryError as exc:
                outcomes.append(self._failed(row, now, exc))
                if exc.disable_endpoint:
                    gone.append((name, address, str(exc)))
                elif not exc.permanent:
                    failed = exc
                continue
            except Exception as exc:  # a channel bug must not stop the other notices
                err = DeliveryError(f"{type(exc).__name__}: {exc}")
                outcomes.append(self._failed(row, now, err))
                failed = err
                continue
            accepted.append(Outcome(row.id, "sent", row.attempts + 1, sent_at=now, sent=sent))
        if accepted:
            try:
                flush(channel)
            except DeliveryError as exc:  # nothing accepted is durable: all of it again
                accepted = [self._failed(_row_of(rows, o.notice_id), now, exc) for o in accepted]
        return outcomes + accepted, gone

    def _outbound(
        self, row: NoticeRecord, channel: str, address: str, notice: RenderedNotice
    ) -> OutboundNotice:
        return OutboundNotice(
            id=row.id,
            channel=channel,
            address=address,
            subject=notice.subject,
            text=notice.text,
            html=notice.html,
            case_id=row.case_id,
            workflow_id=row.workflow_id,
            notice=row.notice,
            lang=row.lang,
            created_at=row.created_at,
            attempt=row.attempts + 1,
        )

    def _delay(self, exc: DeliveryError, attempts: int) -> float:
        delay = exc.retry_after if exc.retry_after is not None else self.backoff(attempts)
        return min(max(delay, 0.0), self.max_delay)

    def _failed(self, row: NoticeRecord, now: datetime, exc: DeliveryError) -> Outcome:
        attempts = row.attempts + 1
        if exc.permanent or attempts >= self.max_attempts:
            reason = str(exc) if exc.permanent else f"gave up after {attempts} tries: {exc}"
            return Outcome(row.id, "dead", attempts, reason)
        later = now + timedelta(seconds=self._delay(exc, attempts))
        return Outcome(row.id, "pending", attempts, str(exc), next_at=later)


def _row_of(rows: list[NoticeRecord], notice_id: str) -> NoticeRecord:
    return next(r for r in rows if r.id == notice_id)


class OutboxAdmin:
    """What an operator does with the outbox: look, count, retry, switch endpoints on."""

    def __init__(self, rt: Runtime, render: Render):
        self.rt, self.render = rt, render

    def notices(self, status: str | None = None, limit: int = 50) -> list[NoticeRecord]:
        """Notices, newest first. A notice owed but not yet rendered shows what delivery
        would send (or, in ``last_error``, why its template fails)."""
        with self.rt.store.read() as tx:
            rows = self.rt.store.outbox.notices(tx, status, limit)
        owed = [r for r in rows if r.context is not None and r.status != "sent"]
        shown = self.render(owed) if owed else {}
        out = []
        for r in rows:
            n = shown.get(r.id)
            if isinstance(n, RenderedNotice):
                r = dataclasses.replace(r, subject=n.subject, text=n.text, html=n.html)
            elif isinstance(n, RenderFailure):
                r = dataclasses.replace(r, last_error=r.last_error or n.message)
            out.append(r)
        return out

    def counts(self) -> dict[str, int]:
        """Notices by status."""
        with self.rt.store.read() as tx:
            return self.rt.store.outbox.counts(tx)

    def resolve(self, prefix: str, status: str = "dead") -> str:
        """The one notice in ``status`` whose id starts with ``prefix``."""
        with self.rt.store.read() as tx:
            ids = self.rt.store.outbox.ids_starting(tx, prefix, status, 2)
        if len(ids) != 1:
            many = "more than one" if ids else "no"
            raise GridflowError(f"{many} {status} notice starts with {prefix!r}")
        return ids[0]

    def retry(self, notice_id: str | None = None, *, all_dead: bool = False) -> int:
        """Put dead notices (one, or all) back to pending, due now; returns how many."""
        if notice_id is None and not all_dead:
            raise GridflowError("say which notice to retry, or --all-dead")
        store = self.rt.store
        with store.write() as tx:
            n = store.outbox.requeue_dead(tx, notice_id, self.rt.now())
            if notice_id is not None and n == 0:
                status = store.outbox.status_of(tx, notice_id)
                if status is None:
                    raise NotFound("notice", notice_id)
                raise GridflowError(f"notice {notice_id} is {status}, not dead")
        return n

    def disabled_endpoints(self) -> list[EndpointRecord]:
        """The endpoints switched off (channel, address, reason, disabled_at), oldest first."""
        with self.rt.store.read() as tx:
            return self.rt.store.outbox.disabled(tx)

    def enable_endpoint(self, channel: str, address: str) -> int:
        """Switch an endpoint back on (1), or 0 when it was not off. Its dead notices stay
        dead until retried (``retry``)."""
        with self.rt.store.write() as tx:
            return self.rt.store.outbox.enable(tx, channel, address)
