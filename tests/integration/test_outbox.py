"""The outbox through the real ``Dispatcher``: retries with backoff, dead letters, disabled
endpoints, the operator commands, and a dispatcher process killed mid-batch.

Only loopback traffic: an aiosmtpd server and a ``ThreadingHTTPServer`` on 127.0.0.1, a
``file`` channel in a temporary folder. Time is the engine's virtual clock: each pass is given
its ``now`` and the test moves ``now`` past each backoff — nothing sleeps for a backoff, and no
assertion depends on the wall clock.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from servers import free_port, hang, hook_servers, reply
from waiting import wait_for_progress

from gridflow.domain.org import Actor
from gridflow.drivers.cli.main import cli
from gridflow.drivers.notifiers.smtp import SmtpChannel
from gridflow.drivers.notifiers.webhook import WebhookChannel, verify_signature
from gridflow.service.engine import BUILTIN_ORG, Engine
from gridflow.service.notices import NoticeService
from gridflow.storage import tables as t

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)
SECRET_ENV = "GRIDFLOW_TEST_OUTBOX_SECRET"
CLI = (sys.executable, "-m", "gridflow.drivers.cli.main")
TITLE = "宛南一村3号楼门口共享单车乱停放"


class Clock:
    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@functools.cache
def sample_directory():
    from gridflow.domain.org_loader import load_org_file

    return load_org_file(BUILTIN_ORG)


@pytest.fixture
def world(tmp_path) -> Iterator[tuple[Engine, Clock, str]]:
    clock = Clock()
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    engine = Engine(url, clock=clock, directory=sample_directory())
    yield engine, clock, url
    engine.close()


def rows(engine: Engine, *ids: str) -> dict[str, object]:
    o = t.outbox_t
    q = sa.select(o)
    if ids:
        q = q.where(o.c.id.in_(ids))
    with engine.store.read() as conn:
        return {r.id: r for r in conn.execute(q)}


def queue(engine: Engine, n: int = 1, *, channel: str, address: str = "", due=None) -> list[str]:
    """Write ``n`` notices the way the engine does (``NoticeService._row``)."""
    now = engine.now()
    person = Actor("wannan.chief", "赵艳丽")
    made = []
    for i in range(n):
        row = NoticeService._row(
            None, None, "four_list", "overdue", person, channel, address, now
        ) | {"subject": f"超时提醒 {i}", "text": "正文"}  # already rendered (no context)
        if due is not None:
            row["next_attempt_at"] = due
        made.append(row)
    with engine.store.write() as conn:
        conn.execute(t.outbox_t.insert(), made)
    return [r["id"] for r in made]


def dispatch_a_question(engine: Engine) -> list:
    """A real event: dispatching a raise-hand question mails the police liaison and head."""
    case = engine.start("raise_hand", actor="wannan-r1.chief", data={"title": TITLE})
    engine.fire(case.id, "dispatch", actor="fenglin.dispatch", data={"department": "police"})
    found = sorted(rows(engine).values(), key=lambda r: r.recipient)
    assert [(r.recipient, r.channel, r.address) for r in found] == [
        ("police.head", "email", "police.head@fenglin.example.org"),
        ("police.liaison", "email", "police.liaison@fenglin.example.org"),
    ]
    return found


def delay(row, now: datetime) -> float:
    return (row.next_attempt_at - now).total_seconds()


# ---- smtp ---------------------------------------------------------------------------------------
class ScriptedSmtp:
    """Answers RCPT for each address from its script (then 250) and keeps what was accepted."""

    def __init__(self, script: dict[str, list[str]]):
        self.script = {k: list(v) for k, v in script.items()}
        self.rcpts: Counter[str] = Counter()
        self.messages: list[bytes] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpts[address] += 1
        planned = self.script.get(address) or []
        if planned:
            return planned.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator:
    controllers: list[Controller] = []

    def start(script: dict[str, list[str]]) -> tuple[ScriptedSmtp, SmtpChannel]:
        handler = ScriptedSmtp(script)
        controller = Controller(handler, hostname="127.0.0.1", port=free_port())
        controller.start()
        controllers.append(controller)
        channel = SmtpChannel(
            "email",
            host="127.0.0.1",
            port=controller.port,
            sender="枫林路街道网格平台 <noreply@fenglin.example.org>",
            timeout=5,
        )
        return handler, channel

    yield start
    for controller in controllers:
        controller.stop()


def test_smtp_451_three_times_then_delivered_exactly_once(world, smtp):
    engine, clock, _ = world
    notices = dispatch_a_question(engine)
    greylist = ["451 4.7.1 Greylisted, try again later"] * 3
    handler, channel = smtp({r.address: list(greylist) for r in notices})
    base, cap = 30.0, 600.0
    dispatcher = engine.dispatcher(
        {"email": channel}, base_delay=base, max_delay=cap, rng=random.Random(5)
    )
    now = clock.now
    for attempt in (1, 2, 3):
        result = dispatcher.run_once(now)
        assert (result.claimed, result.retried, result.sent, result.dead) == (2, 2, 0, 0)
        current = rows(engine)
        ceiling = min(cap, base * 2 ** (attempt - 1))
        for r in current.values():
            assert (r.status, r.attempts) == ("pending", attempt)
            assert "451" in r.last_error and r.lease_until is None
            assert ceiling / 2 <= delay(r, now) <= ceiling  # exponential backoff, jittered
        earliest = min(r.next_attempt_at for r in current.values())
        assert dispatcher.run_once(earliest - timedelta(seconds=1)).claimed == 0  # not yet due
        now = max(r.next_attempt_at for r in current.values())  # past every backoff
    result = dispatcher.run_once(now)
    assert (result.sent, result.retried, result.dead) == (2, 0, 0)

    final = rows(engine)
    for r in final.values():
        assert (r.status, r.attempts, r.last_error) == ("sent", 4, None)
        assert r.sent_at == now
    assert handler.rcpts == {r.address: 4 for r in notices}
    assert len(handler.messages) == 2  # each notice exactly once
    by_id = {}
    for raw in handler.messages:
        msg = message_from_bytes(raw, policy=email_policy.default)
        by_id[msg["X-Gridflow-Notice-Id"]] = msg
        assert msg["Message-ID"] == f"<{msg['X-Gridflow-Notice-Id']}@gridflow>"
    assert set(by_id) == set(final)
    for nid, msg in by_id.items():
        assert msg["Subject"] == final[nid].subject
        assert msg["Subject"] == f"【宛南一村居民区】新派单：{TITLE}，请于3月9日17:30前签收办理"
        assert msg["To"] == final[nid].address
        assert msg.get_body(("html",)) is not None  # the HTML twin went along
    assert dispatcher.run_once(now + timedelta(days=1)).claimed == 0
    assert len(handler.messages) == 2


def test_smtp_550_is_dead_after_one_try(world, smtp):
    engine, clock, _ = world
    notices = dispatch_a_question(engine)
    handler, channel = smtp({r.address: ["550 5.1.1 No such user here"] * 9 for r in notices})
    dispatcher = engine.dispatcher({"email": channel}, rng=random.Random(1))
    result = dispatcher.run_once(clock.now)
    assert (result.claimed, result.dead, result.retried, result.sent) == (2, 2, 0, 0)
    for r in rows(engine).values():
        assert (r.status, r.attempts) == ("dead", 1)
        assert "550" in r.last_error and "No such user" in r.last_error
    assert handler.messages == [] and set(handler.rcpts.values()) == {1}
    assert dispatcher.run_once(clock.now + timedelta(days=30)).claimed == 0  # never retried


# ---- webhook ---------------------------------------------------------------------------------------
@pytest.fixture
def hook_server() -> Iterator:
    yield from hook_servers()


def invoke(url: str, now: datetime, *args: str) -> str:
    """``gridflow --db URL …`` through CliRunner, the clock pinned to the test's ``now``."""
    result = CliRunner().invoke(
        cli,
        ["--db", url, *args],
        env={"GRIDFLOW_NOW": now.isoformat(), "GRIDFLOW_CONFIG": None, "GRIDFLOW_WORKFLOWS": None},
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_webhook_500_timeout_429_410_then_operator_retry(world, hook_server, monkeypatch, tmp_path):
    engine, clock, url = world
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(SECRET_ENV, "枫林-webhook-密钥")
    server = hook_server(
        reply(500),
        hang(2.0),
        reply(429, {"Retry-After": "1000"}),
        reply(410),
    )  # then 200 for everything
    hook = WebhookChannel("hook", url=server.url, secret_env=SECRET_ENV, timeout=0.3, proxy="none")
    base = 30.0
    dispatcher = engine.dispatcher({"hook": hook}, base_delay=base, rng=random.Random(11))
    (a,) = queue(engine, channel="hook")
    now = clock.now

    dispatcher.run_once(now)  # 500: a server error is worth retrying
    r = rows(engine, a)[a]
    assert (r.status, r.attempts) == ("pending", 1) and "HTTP 500" in r.last_error
    assert base / 2 <= delay(r, now) <= base
    now = r.next_attempt_at

    dispatcher.run_once(now)  # no answer within the timeout: retry, later
    r = rows(engine, a)[a]
    assert (r.status, r.attempts) == ("pending", 2) and "timed out" in r.last_error.lower()
    assert base <= delay(r, now) <= 2 * base
    now = r.next_attempt_at

    dispatcher.run_once(now)  # 429 with Retry-After: 1000 s, not the backoff
    r = rows(engine, a)[a]
    assert (r.status, r.attempts) == ("pending", 3) and "HTTP 429" in r.last_error
    assert r.next_attempt_at == now + timedelta(seconds=1000)
    assert dispatcher.run_once(now + timedelta(seconds=999)).claimed == 0
    waiting = queue(engine, 2, channel="hook", due=now + timedelta(days=1))  # pending for later
    now = r.next_attempt_at

    result = dispatcher.run_once(now)  # 410 Gone: the endpoint is switched off
    assert (result.claimed, result.dead) == (1, 1)
    r = rows(engine, a)[a]
    assert (r.status, r.attempts, r.lease_owner) == ("dead", 4, None)
    assert r.last_error.endswith("HTTP 410 (endpoint gone)")
    for w in rows(engine, *waiting).values():
        assert w.status == "dead" and w.last_error.startswith("endpoint disabled")
    with engine.store.read() as conn:
        assert conn.execute(sa.select(t.endpoint_t.c.channel, t.endpoint_t.c.address)).all() == [
            ("hook", "")
        ]
    assert len(server.requests) == 4

    (later,) = queue(engine, channel="hook")  # a notice written after the 410
    result = dispatcher.run_once(now)
    assert (result.claimed, result.dead, result.sent) == (1, 1, 0)
    assert rows(engine, later)[later].status == "dead"
    assert len(server.requests) == 4  # not tried

    # the operator: list the dead, re-enable the endpoint, retry one, then all
    listed = invoke(url, now, "outbox", "list", "--status", "dead")
    dead_ids = {a, *waiting, later}
    assert all(nid[:12] in listed for nid in dead_ids)
    assert listed.count("dead") == 4 and "pending" not in listed and "sent" not in listed
    as_json = json.loads(invoke(url, now, "outbox", "list", "--status", "dead", "--json"))
    assert {n["id"] for n in as_json} == dead_ids
    off = invoke(url, now, "outbox", "endpoints")
    assert "hook" in off and "(the channel's)" in off and "410" in off
    refused = CliRunner().invoke(
        cli, ["--db", url, "outbox", "enable", "smtp", "x@y"], env={"GRIDFLOW_NOW": now.isoformat()}
    )
    assert refused.exit_code == 1
    assert "endpoint smtp 'x@y' is not switched off; switched off: hook ''" in refused.output
    assert "switched on again" in invoke(url, now, "outbox", "enable", "hook")
    assert "no endpoint is switched off" in invoke(url, now, "outbox", "endpoints")
    assert engine.outbox.enable_endpoint("hook", "") == 0  # already on
    assert invoke(url, now, "outbox", "retry", a[:12]).strip() == "1 notice(s) queued again"
    result = dispatcher.run_once(now)
    assert (result.sent, result.dead) == (1, 0)
    r = rows(engine, a)[a]
    assert (r.status, r.attempts, r.last_error) == ("sent", 1, None)
    assert invoke(url, now, "outbox", "retry", "--all-dead").strip() == "3 notice(s) queued again"
    result = dispatcher.run_once(now)
    assert (result.sent, result.dead, result.retried) == (3, 0, 0)
    assert {r.status for r in rows(engine).values()} == {"sent"}
    assert "no notices" in invoke(url, now, "outbox", "list", "--status", "dead")

    # every request named its notice and was signed; a's id came 5 times (4 failures + 200)
    seen = Counter()
    for headers, body, _path in server.requests:
        nid = headers["x-gridflow-id"]
        seen[nid] += 1
        assert headers["idempotency-key"] == nid and json.loads(body)["id"] == nid
        assert verify_signature(
            os.environ[SECRET_ENV],
            nid,
            headers["x-gridflow-timestamp"],
            body,
            headers["x-gridflow-signature"],
        )
    assert seen == {a: 5, waiting[0]: 1, waiting[1]: 1, later: 1}


def test_backoff_grows_exponentially_with_bounded_jitter(world):
    engine, _clock, _ = world
    base, cap = 30.0, 3600.0
    dispatcher = engine.dispatcher(
        {"x": object()}, base_delay=base, max_delay=cap, rng=random.Random(42)
    )
    means = []
    for attempts in range(1, 12):
        ceiling = min(cap, base * 2 ** (attempts - 1))
        samples = [dispatcher.backoff(attempts) for _ in range(400)]
        assert all(ceiling / 2 <= s <= ceiling for s in samples), attempts
        assert len(set(samples)) > 300  # jittered, not a fixed delay
        assert max(samples) - min(samples) > ceiling / 2 * 0.9  # spread over the whole band
        means.append(sum(samples) / len(samples))
    for attempts in range(1, 7):  # 30 · 2^(n-1) stays under the cap up to n = 7
        assert 1.8 < means[attempts] / means[attempts - 1] < 2.2
    assert all(m <= cap for m in means) and means[-1] > cap * 0.7  # capped at max_delay
    assert dispatcher.backoff(0) <= base and dispatcher.backoff(200) <= cap


def test_gives_up_after_max_attempts(world, hook_server):
    engine, clock, _ = world
    server = hook_server(*[reply(503)] * 10)
    hook = WebhookChannel("hook", url=server.url, timeout=2, proxy="none")
    dispatcher = engine.dispatcher({"hook": hook}, max_attempts=3, rng=random.Random(2))
    (a,) = queue(engine, channel="hook")
    now = clock.now
    for _ in range(3):
        dispatcher.run_once(now)
        now = max(now, rows(engine, a)[a].next_attempt_at)
    r = rows(engine, a)[a]
    assert (r.status, r.attempts) == ("dead", 3) and r.last_error.startswith(
        "gave up after 3 tries"
    )
    assert len(server.requests) == 3


# ---- a dispatcher killed mid-batch ------------------------------------------------------------------
def jsonl_ids(folder: Path) -> list[str]:
    path = folder / "notices.jsonl"
    if not path.exists():
        return []
    ids = []
    with open(path, "rb") as fh:
        for line in fh.read().split(b"\n"):
            with contextlib.suppress(ValueError):  # the empty tail, or a line torn by the kill
                ids.append(json.loads(line)["id"])
    return ids


@pytest.mark.slow
def test_sigkill_mid_batch_then_restart_delivers_each_notice_once(world, tmp_path):
    engine, clock, url = world
    n = 3000
    ids = set(queue(engine, n, channel="file"))
    folder = tmp_path / "notices"
    cfg = tmp_path / "gridflow.toml"
    cfg.write_text(
        f'[channels.file]\ntype = "file"\npath = "{folder}"\nformat = "jsonl"\n', encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDFLOW_")}

    def send(now: datetime) -> subprocess.Popen:
        return subprocess.Popen(
            [*CLI, "--db", url, "--config", str(cfg), "outbox", "send", "--now", now.isoformat()],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    proc = send(clock.now)
    # until 300 are written, as long as the sender keeps writing (never a fixed deadline)
    wait_for_progress(
        lambda: len(jsonl_ids(folder)), lambda written: written >= 300, alive=[proc], poll=0.02
    )
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL  # killed, not finished
    written = jsonl_ids(folder)
    after_kill = rows(engine)
    status = Counter(r.status for r in after_kill.values())
    assert 0 < len(written) < n and status["pending"] > 0
    leased = [r for r in after_kill.values() if r.status == "pending" and r.lease_owner]
    # a pass inside the lease leaves the dead dispatcher's claimed batch alone
    if leased:
        inside = send(clock.now + timedelta(seconds=10))
        out, err = inside.communicate(timeout=60)
        assert inside.returncode == 0, err
        still = rows(engine, *(r.id for r in leased))
        assert all(r.status == "pending" for r in still.values())

    # restart past the lease (120 s): everything goes out
    final = send(clock.now + timedelta(minutes=10))
    out, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    assert out.startswith("sent ") and ", dead 0" in out

    delivered = jsonl_ids(folder)
    assert len(delivered) == len(set(delivered)) == n  # every notice, none twice
    assert set(delivered) == ids  # and exactly the outbox's notices
    done = rows(engine)
    assert {r.status for r in done.values()} == {"sent"}
    assert all(r.lease_owner is None for r in done.values())
