"""Notice channels against real local servers: aiosmtpd, ThreadingHTTPServer, files, processes."""

from __future__ import annotations

import email
import email.policy
import io
import json
import multiprocessing
import random
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from servers import free_port, hang, hook_servers, reply

from gridflow.domain.notice import Channel
from gridflow.drivers.notifiers import (
    OutboundNotice,
    build_channels,
    new_notice_id,
    verify_signature,
)
from gridflow.drivers.notifiers.console import ConsoleChannel
from gridflow.drivers.notifiers.file import FileChannel
from gridflow.drivers.notifiers.smtp import SmtpChannel
from gridflow.drivers.notifiers.webhook import WebhookChannel, parse_retry_after
from gridflow.errors import DeliveryError, GridflowError

SECRET_ENV = "GRIDFLOW_TEST_WEBHOOK_SECRET"


def make_notice(**overrides: object) -> OutboundNotice:
    fields: dict[str, object] = {
        "channel": "test",
        "address": "",
        "subject": "[网格通知] 工单 #42 路灯不亮",
        "text": "王芳，您好：\n请处理长宁路 1 号的路灯。",
        "html": "<p>请处理长宁路 1 号的路灯。</p>",
        "case_id": 42,
        "workflow_id": "complaint",
        "notice": "assignment",
        "lang": "zh-CN",
    }
    fields.update(overrides)
    return OutboundNotice.create(**fields)


def deliver_with_retries(channel: Channel, notice: OutboundNotice, tries: int = 10) -> list:
    """What a dispatcher does: retry transient failures, stop on success or a permanent one."""
    failures: list[DeliveryError] = []
    for _ in range(tries):
        try:
            channel.deliver(notice)
            return failures
        except DeliveryError as err:
            failures.append(err)
            if err.permanent:
                raise
            notice = notice.next_attempt()
    raise AssertionError(f"still failing after {tries} tries: {failures}")


def test_notice_basics() -> None:
    n = make_notice()
    assert len(n.id) == 32 and int(n.id, 16) >= 0
    assert n.created_at.tzinfo is UTC and n.attempt == 1
    assert n.next_attempt().id == n.id and n.next_attempt().attempt == 2
    assert new_notice_id() != new_notice_id()


# ── smtp ─────────────────────────────────────────────────────────────────────────────────────


class ScriptedSmtp:
    """Answers ``reply`` to the first ``failures`` attempts at ``stage``, then accepts."""

    def __init__(self, stage: str, failures: int, reply: str):
        self.stage, self.failures, self.reply = stage, failures, reply
        self.attempts = 0
        self.messages: list[bytes] = []

    def _fail(self, stage: str) -> str | None:
        if stage != self.stage:
            return None
        self.attempts += 1
        if self.failures > 0:
            self.failures -= 1
            return self.reply
        return None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if (reply := self._fail("RCPT")) is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if (reply := self._fail("DATA")) is not None:
            return reply
        self.messages.append(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator:
    controllers: list[Controller] = []

    def start(handler: ScriptedSmtp) -> SmtpChannel:
        controller = Controller(handler, hostname="127.0.0.1", port=free_port())
        controller.start()
        controllers.append(controller)
        return SmtpChannel(
            "email",
            host="127.0.0.1",
            port=controller.port,
            sender="网格平台 <noreply@grid.example>",
            timeout=2,
        )

    yield start
    for controller in controllers:
        controller.stop()


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
def test_smtp_transient_451_then_exactly_one_message(smtp_server, stage: str) -> None:
    handler = ScriptedSmtp(stage, failures=3, reply="451 4.7.1 Greylisted, try again later")
    channel = smtp_server(handler)
    notice = make_notice(address="wang.fang@grid.example")

    failures = deliver_with_retries(channel, notice)

    assert len(failures) == 3
    assert all(not f.permanent and "451" in str(f) for f in failures)
    assert handler.attempts == 4
    assert len(handler.messages) == 1
    msg = email.message_from_bytes(handler.messages[0], policy=email.policy.default)
    assert msg["Message-ID"] == f"<{notice.id}@gridflow>"
    assert msg["X-Gridflow-Notice-Id"] == notice.id
    assert msg["Subject"] == notice.subject
    assert msg["To"] == "wang.fang@grid.example"
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = (msg.get_body((kind,)).get_content() for kind in ("plain", "html"))
    assert plain.replace("\r\n", "\n").rstrip("\n") == notice.text  # CRLF on the wire
    assert html.replace("\r\n", "\n").rstrip("\n") == notice.html


def test_smtp_550_is_permanent_after_one_try(smtp_server) -> None:
    handler = ScriptedSmtp("RCPT", failures=99, reply="550 5.1.1 No such user here")
    channel = smtp_server(handler)
    with pytest.raises(DeliveryError) as info:
        deliver_with_retries(channel, make_notice(address="nobody@grid.example"))
    assert info.value.permanent and "550" in str(info.value)
    assert handler.attempts == 1 and handler.messages == []


def test_smtp_text_only_and_no_header_injection(smtp_server) -> None:
    handler = ScriptedSmtp("RCPT", failures=0, reply="")
    channel = smtp_server(handler)
    notice = make_notice(
        address="a@grid.example", html=None, subject="hi\r\nBcc: evil@x.example\r\n"
    )
    channel.deliver(notice)
    raw = handler.messages[0]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg.get_content_type() == "text/plain"
    assert msg["Bcc"] is None and msg["Subject"] == "hi Bcc: evil@x.example"
    with pytest.raises(DeliveryError) as info:
        channel.deliver(make_notice(address="a@grid.example\r\nRCPT TO:<evil@x.example>"))
    assert info.value.permanent


def test_smtp_connection_refused_and_timeout_are_transient() -> None:
    refused = SmtpChannel("e", host="127.0.0.1", port=free_port(), sender="n@g.example")
    with pytest.raises(DeliveryError) as info:
        refused.deliver(make_notice(address="a@g.example"))
    assert not info.value.permanent

    with socket.socket() as silent:  # accepts connections (backlog) but never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        slow = SmtpChannel("e", host="127.0.0.1", port=port, sender="n@g.example", timeout=0.3)
        started = time.monotonic()
        with pytest.raises(DeliveryError) as info:
            slow.deliver(make_notice(address="a@g.example"))
        assert not info.value.permanent and time.monotonic() - started < 2


# ── webhook ──────────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def hook_server() -> Iterator:
    yield from hook_servers()


def test_webhook_classification_signature_idempotency(hook_server, monkeypatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "s3cret-密钥")
    server = hook_server(
        reply(500),
        hang(0.8),
        reply(429, {"Retry-After": "2"}),
        reply(410),
        reply(200, {"Content-Type": "application/json"}, b'{"ok":true}'),
    )
    channel = WebhookChannel(
        "hook", url=server.url, secret_env=SECRET_ENV, timeout=0.3, proxy="none"
    )
    notice = make_notice()

    outcomes = []
    for _ in range(5):
        try:
            channel.deliver(notice)
            outcomes.append("ok")
        except DeliveryError as err:
            outcomes.append(err)
        notice = notice.next_attempt()

    e500, etimeout, e429, e410, ok = outcomes
    assert not e500.permanent and "HTTP 500" in str(e500)
    assert not etimeout.permanent and "timed out" in str(etimeout)
    assert not e429.permanent and e429.retry_after == 2.0
    assert e410.permanent and e410.disable_endpoint
    assert ok == "ok"

    assert len(server.requests) == 5
    for headers, body, path in server.requests:
        assert path == "/hook"
        assert headers["idempotency-key"] == notice.id == headers["x-gridflow-id"]
        assert verify_signature(
            "s3cret-密钥",
            headers["x-gridflow-id"],
            headers["x-gridflow-timestamp"],
            body,
            headers["x-gridflow-signature"],
            max_age=60,
        )
        assert not verify_signature(
            "wrong",
            notice.id,
            headers["x-gridflow-timestamp"],
            body,
            headers["x-gridflow-signature"],
        )
        assert not verify_signature(
            "s3cret-密钥",
            notice.id,
            headers["x-gridflow-timestamp"],
            body + b" ",
            headers["x-gridflow-signature"],
        )
        payload = json.loads(body)
        assert payload == {
            "id": notice.id,
            "case_id": 42,
            "workflow": "complaint",
            "notice": "assignment",
            "subject": notice.subject,
            "text": notice.text,
            "created_at": notice.created_at.isoformat(),
        }


def test_webhook_bot_formats_and_errcodes(hook_server) -> None:
    server = hook_server(
        reply(200, {}, b'{"errcode":45009,"errmsg":"api freq out of limit"}'),
        reply(200, {}, b'{"errcode":93000,"errmsg":"invalid webhook url"}'),
        reply(200, {}, b'{"errcode":0,"errmsg":"ok"}'),
    )
    channel = WebhookChannel("wecom", format="wecom", timeout=2, proxy="none")
    notice = make_notice(address=server.url + "?key=abc")  # the address URL overrides
    with pytest.raises(DeliveryError) as busy:
        channel.deliver(notice)
    assert not busy.value.permanent and "key=abc" not in str(busy.value)
    with pytest.raises(DeliveryError) as bad:
        channel.deliver(notice)
    assert bad.value.permanent
    channel.deliver(notice)
    headers, body, path = server.requests[-1]
    assert path == "/hook?key=abc" and "x-gridflow-signature" not in headers
    assert json.loads(body) == {
        "msgtype": "text",
        "text": {"content": notice.subject + "\n" + notice.text},
    }


def test_webhook_redirects_refused_and_unreachable(hook_server) -> None:
    server = hook_server(reply(302, {"Location": "http://127.0.0.1:1/elsewhere"}), reply(404))
    channel = WebhookChannel("hook", url=server.url, timeout=2, proxy="none")
    with pytest.raises(DeliveryError) as moved:
        channel.deliver(make_notice())
    assert moved.value.permanent and "302" in str(moved.value)
    with pytest.raises(DeliveryError) as missing:
        channel.deliver(make_notice())
    assert missing.value.permanent and not missing.value.disable_endpoint
    assert len(server.requests) == 2  # the redirect was not followed

    down = WebhookChannel("hook", url=f"http://127.0.0.1:{free_port()}/", proxy="none")
    with pytest.raises(DeliveryError) as refused:
        down.deliver(make_notice())
    assert not refused.value.permanent
    with pytest.raises(DeliveryError) as no_url:
        WebhookChannel("hook", proxy="none").deliver(make_notice(address="file:///etc/passwd"))
    assert no_url.value.permanent


def test_parse_retry_after_http_date() -> None:
    now = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now=now) == 90.0
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now=now) == 0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_verify_signature_rejects_stale_timestamps() -> None:
    from gridflow.drivers.notifiers.webhook import signature

    sig = signature("k", "abc", 1000, b"{}")
    assert verify_signature("k", "abc", "1000", b"{}", sig, max_age=300, now=1200)
    assert not verify_signature("k", "abc", "1000", b"{}", sig, max_age=300, now=2000)
    assert not verify_signature("k", "abc", "1000", b"{}", None)


# ── file ─────────────────────────────────────────────────────────────────────────────────────


def jsonl_ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]


def test_file_jsonl_same_id_twice_is_one_line(tmp_path: Path) -> None:
    channel = FileChannel("file", path=tmp_path)
    notice = make_notice()
    channel.deliver(notice)
    channel.deliver(notice.next_attempt())
    restarted = FileChannel("file", path=tmp_path)  # a new process: the index comes from the file
    restarted.deliver(notice)
    other = make_notice()
    restarted.deliver(other)
    channel.deliver(other)  # the first instance catches up with lines others appended
    assert jsonl_ids(tmp_path / "notices.jsonl") == [notice.id, other.id]
    record = json.loads((tmp_path / "notices.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert record["subject"] == notice.subject and record["text"] == notice.text
    channel.close()
    restarted.close()


def test_file_jsonl_recovers_from_a_torn_line(tmp_path: Path) -> None:
    log = tmp_path / "notices.jsonl"
    first = make_notice()
    log.write_text(json.dumps({"id": first.id}) + "\n" + '{"id": "torn-by-a-cra', encoding="utf-8")
    channel = FileChannel("file", path=tmp_path)
    channel.deliver(first)  # already there: no-op, torn tail dropped
    second = make_notice()
    channel.deliver(second)
    assert jsonl_ids(log) == [first.id, second.id]

    third = make_notice()
    with log.open("a", encoding="utf-8") as fh:  # a complete record missing its newline is kept
        fh.write(json.dumps({"id": third.id}))
    FileChannel("file", path=tmp_path).deliver(third)
    assert jsonl_ids(log) == [first.id, second.id, third.id]


def test_file_eml_and_subfolders(tmp_path: Path) -> None:
    channel = FileChannel("file", path=tmp_path, format="eml")
    notice = make_notice(address="fenglin/g1")
    channel.deliver(notice)
    channel.deliver(notice.next_attempt())
    files = list((tmp_path / "fenglin" / "g1").iterdir())
    assert [f.name for f in files] == [f"{notice.id}.eml"]
    msg = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert msg["Message-ID"] == f"<{notice.id}@gridflow>" and msg["Subject"] == notice.subject
    for bad in ("../escape", "/abs", "a//b", "a/./b"):
        with pytest.raises(DeliveryError) as info:
            channel.deliver(make_notice(address=bad))
        assert info.value.permanent
    with pytest.raises(DeliveryError):
        channel.deliver(make_notice(id="../../etc"))


def _deliver_all(path: str, fmt: str, ids: list[str], seed: int, start) -> None:
    """Worker for the multi-process test (module level so that 'spawn' can import it)."""
    order = list(ids)
    random.Random(seed).shuffle(order)
    channel = FileChannel("file", path=path, format=fmt)
    start.wait(10)  # all workers race from here
    created = datetime(2025, 3, 1, tzinfo=UTC)
    for nid in order:
        channel.deliver(make_notice(id=nid, created_at=created, text=f"body of {nid}\n" * 50))
    channel.close()


@pytest.mark.parametrize("fmt", ["jsonl", "eml"])
def test_file_channel_across_processes(tmp_path: Path, fmt: str) -> None:
    ids = [new_notice_id() for _ in range(80)]
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(4)
    workers = [
        ctx.Process(target=_deliver_all, args=(str(tmp_path), fmt, ids, seed, start))
        for seed in range(4)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
        assert w.exitcode == 0
    if fmt == "jsonl":
        written = jsonl_ids(tmp_path / "notices.jsonl")
        assert sorted(written) == sorted(ids)
    else:
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{i}.eml" for i in ids)


# ── console and registry ─────────────────────────────────────────────────────────────────────


def test_console_prints_a_block() -> None:
    out = io.StringIO()
    ConsoleChannel(stream=out).deliver(make_notice(address="wang.fang"))
    text = out.getvalue()
    assert "Subject: [网格通知] 工单 #42 路灯不亮" in text and "to: wang.fang" in text
    assert "请处理长宁路 1 号的路灯。" in text and "HTML part" in text


def test_console_default_stream_is_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    (channel,) = build_channels({}).values()
    channel.deliver(make_notice())
    assert "工单 #42" in capsys.readouterr().out


def test_build_channels(tmp_path: Path) -> None:
    channels = build_channels(
        {
            "email": {"type": "smtp", "host": "127.0.0.1", "port": 2525, "sender": "n@g.example"},
            "archive": {"type": "file", "path": str(tmp_path), "format": "eml"},
            "bot": {"type": "webhook", "url": "http://127.0.0.1:9/x", "format": "dingtalk"},
            "console": {},
        }
    )
    assert {k: type(v).__name__ for k, v in channels.items()} == {
        "email": "SmtpChannel",
        "archive": "FileChannel",
        "bot": "WebhookChannel",
        "console": "ConsoleChannel",
    }
    assert all(isinstance(c, Channel) and c.name == n for n, c in channels.items())
    assert list(build_channels({})) == ["console"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"email": {"type": "smpt", "host": "h"}}, "unknown type 'smpt' (did you mean 'smtp'?)"),
        ({"email": {"type": "smtp", "hots": "h", "sender": "a@b.c"}}, "did you mean 'host'?"),
        ({"email": {"type": "smtp", "sender": "a@b.c"}}, "needs 'host'"),
        ({"mail": {"host": "h"}}, "has no type"),
        ({"f": {"type": "file", "path": ".", "format": "json"}}, "did you mean 'jsonl'?"),
        ({"s": {"type": "smtp", "host": "h", "sender": "a@b.c", "security": "tls"}}, "starttls"),
        ({"w": {"type": "webhook", "url": "ftp://x/y"}}, "not an http(s) URL"),
    ],
)
def test_build_channels_refuses_bad_config(config: dict, message: str) -> None:
    with pytest.raises(GridflowError) as info:
        build_channels(config)
    assert message in str(info.value)
