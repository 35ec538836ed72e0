"""``webhook`` channel: an HTTP POST per notice over stdlib ``urllib`` (no extra dependency).

Options: ``url`` (used unless the notice's ``address`` is itself an http(s) URL),
``secret_env`` (environment variable holding the signing secret), ``timeout`` (seconds: the
whole attempt — connecting, sending, and the answer to its last byte; a peer trickling its
answer is cut off when the time is up, not kept alive one slow read at a time),
``format`` (``json`` | ``wecom`` | ``dingtalk``), ``proxy`` (``env``: honour ``HTTP(S)_PROXY``;
``none``; or a proxy URL).

Bodies (UTF-8 JSON): ``json`` → ``{"id", "case_id", "workflow", "notice", "subject", "text",
"created_at"}``; ``wecom`` / ``dingtalk`` → the chat-bot text message
``{"msgtype": "text", "text": {"content": subject + "\\n" + text}}`` (cut to the bot's size limit).

Headers: ``X-Gridflow-Id`` and ``Idempotency-Key`` (both the notice id),
``X-Gridflow-Timestamp`` (unix seconds) and, when a secret is configured,
``X-Gridflow-Signature: sha256=<hex>`` where ``hex = HMAC-SHA256(secret, id + "." + timestamp +
"." + body)`` over the exact body bytes. Receivers check it with :func:`verify_signature` (and
should reject old timestamps). For ``dingtalk`` the secret also signs the URL the way DingTalk's
"加签" setting expects (``timestamp`` and ``sign`` query parameters).

Outcome: 2xx → delivered (for wecom/dingtalk also ``errcode == 0``); 429 → retry after
``Retry-After`` (seconds or HTTP date); 410 → permanent, ``disable_endpoint``; 408 → retry;
other 4xx and 3xx (redirects are not followed) → permanent; 5xx, timeouts, connection errors →
retry (503 honours ``Retry-After`` too).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime

from gridflow.domain.notice import OutboundNotice, check_notice_id
from gridflow.domain.suggest import did_you_mean
from gridflow.errors import DeliveryError, GridflowError

FORMATS = ("json", "wecom", "dingtalk")
_BOT_LIMITS = {"wecom": 2048, "dingtalk": 20000}  # bytes of text content the bots accept
_BOT_RETRY_CODES = {"wecom": {-1, 45009}, "dingtalk": {-1, 130101}}  # busy / rate limited


def signature(secret: str | bytes, notice_id: str, timestamp: str | int, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, id + "." + timestamp + "." + body)>``."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    message = f"{notice_id}.{timestamp}.".encode() + body
    return "sha256=" + hmac.new(key, message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str | bytes,
    id: str,
    timestamp: str | int,
    body: bytes,
    header: str | None,
    *,
    max_age: float | None = None,
    now: float | None = None,
) -> bool:
    """True when ``header`` is the signature of this id/timestamp/body (constant-time compare).

    With ``max_age`` (seconds) a timestamp further than that from ``now`` is also refused.
    """
    if not header:
        return False
    if max_age is not None:
        try:
            age = abs((time.time() if now is None else now) - int(timestamp))
        except (TypeError, ValueError):
            return False
        if age > max_age:
            return False
    return hmac.compare_digest(signature(secret, id, timestamp, body), header.strip())


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date), else None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _cut(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore") + "…"


_WATCH = threading.local()  # the sockets of the attempt this thread is making


def _watched(base: type[http.client.HTTPConnection]) -> type[http.client.HTTPConnection]:
    """``base`` that tells the attempt in progress about each socket it opens, so that the
    attempt's deadline can cut it."""

    class Watched(base):  # type: ignore[valid-type,misc]
        def connect(self) -> None:
            super().connect()
            sockets = getattr(_WATCH, "sockets", None)
            if sockets is not None:
                sockets.append(self.sock)

    return Watched


_WATCHED_HTTP = _watched(http.client.HTTPConnection)
_WATCHED_HTTPS = _watched(http.client.HTTPSConnection)


class _HTTP(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_WATCHED_HTTP, req)


class _HTTPS(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_WATCHED_HTTPS, req, context=self._context)  # type: ignore[attr-defined]


def _expire(sockets: list[socket.socket], expired: threading.Event) -> None:
    """The attempt's time is up: shut its sockets (a blocked read returns at once)."""
    expired.set()
    for sock in list(sockets):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a redirected POST would lose its body; surface the 3xx instead


class WebhookChannel:
    """POSTs each notice to a URL; see the module docstring for body, headers, outcomes."""

    def __init__(
        self,
        name: str,
        *,
        url: str | None = None,
        secret_env: str | None = None,
        timeout: float = 10.0,
        format: str = "json",
        proxy: str = "env",
    ):
        if format not in FORMATS:
            raise GridflowError(
                f"channel {name!r}: format {format!r} is not one of "
                f"{', '.join(FORMATS)}{did_you_mean(format, FORMATS)}"
            )
        if url is not None and not _is_http(url):
            raise GridflowError(f"channel {name!r}: url {url!r} is not an http(s) URL")
        self.name, self.url, self.secret_env = name, url, secret_env
        self.timeout, self.format = float(timeout), format
        handlers: list[urllib.request.BaseHandler] = [_NoRedirects(), _HTTP(), _HTTPS()]
        if proxy == "none":
            handlers.append(urllib.request.ProxyHandler({}))
        elif proxy != "env":
            handlers.append(urllib.request.ProxyHandler({"http": proxy, "https": proxy}))
        self._opener = urllib.request.build_opener(*handlers)

    def body(self, notice: OutboundNotice) -> bytes:
        """The exact bytes POSTed for ``notice``."""
        if self.format == "json":
            payload: dict[str, object] = {
                "id": notice.id,
                "case_id": notice.case_id,
                "workflow": notice.workflow_id,
                "notice": notice.notice,
                "subject": notice.subject,
                "text": notice.text,
                "created_at": notice.created_at.isoformat(),
            }
        else:
            content = _cut(f"{notice.subject}\n{notice.text}", _BOT_LIMITS[self.format])
            payload = {"msgtype": "text", "text": {"content": content}}
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def _secret(self) -> str | None:
        if not self.secret_env:
            return None
        secret = os.environ.get(self.secret_env)
        if not secret:
            raise DeliveryError(f"webhook channel {self.name!r}: ${self.secret_env} is not set")
        return secret

    def _target(self, notice: OutboundNotice) -> str:
        if _is_http(notice.address):
            return notice.address.strip()
        if self.url:
            return self.url
        raise DeliveryError(
            f"webhook channel {self.name!r}: no url configured and address "
            f"{notice.address!r} is not an http(s) URL",
            permanent=True,
        )

    def deliver(self, notice: OutboundNotice) -> None:
        """POST the notice once; raise a classified DeliveryError unless it was accepted."""
        nid = check_notice_id(notice)
        url, body, stamp = self._target(notice), self.body(notice), str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "gridflow-webhook/1",
            "X-Gridflow-Id": nid,
            "Idempotency-Key": nid,
            "X-Gridflow-Timestamp": stamp,
        }
        secret = self._secret()
        if secret:
            headers["X-Gridflow-Signature"] = signature(secret, nid, stamp, body)
            if self.format == "dingtalk":
                url = _dingtalk_signed(url, secret)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        where = f"webhook {self.name!r} {_redacted(url)}"
        sockets: list[socket.socket] = []
        expired = threading.Event()
        watchdog = threading.Timer(self.timeout, _expire, args=(sockets, expired))
        watchdog.daemon = True
        _WATCH.sockets = sockets
        watchdog.start()
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                status, reply = response.status, response.read(65536)
        except urllib.error.HTTPError as exc:
            with exc:
                raise _classify(exc.code, exc.headers, where) from exc
        except (urllib.error.URLError, TimeoutError, http.client.HTTPException, OSError) as exc:
            if expired.is_set():
                raise DeliveryError(
                    f"{where}: timed out (no full answer within {self.timeout:g} s)"
                ) from exc
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise DeliveryError(f"{where}: {type(reason).__name__}: {reason}") from exc
        finally:
            watchdog.cancel()
            _WATCH.sockets = None
        if not 200 <= status <= 299:
            raise _classify(status, Message(), where)
        if self.format != "json":
            self._check_bot_reply(reply, where)

    def _check_bot_reply(self, reply: bytes, where: str) -> None:
        try:
            errcode = json.loads(reply).get("errcode", 0)
        except (ValueError, AttributeError):
            return
        if errcode not in (0, None):
            transient = errcode in _BOT_RETRY_CODES[self.format]
            raise DeliveryError(
                f"{where}: bot replied errcode {errcode}",
                permanent=not transient,
                retry_after=60.0 if transient else None,
            )

    def close(self) -> None:
        """No pooled connections to release."""


def _is_http(value: str | None) -> bool:
    parsed = urllib.parse.urlsplit((value or "").strip())
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def _redacted(url: str) -> str:
    """The URL without its query string (bot URLs carry their access token there)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _dingtalk_signed(url: str, secret: str) -> str:
    millis = str(int(time.time() * 1000))
    digest = hmac.new(secret.encode(), f"{millis}\n{secret}".encode(), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest))
    return f"{url}{'&' if '?' in url else '?'}timestamp={millis}&sign={sign}"


def _classify(status: int, headers: Message, where: str) -> DeliveryError:
    message = f"{where}: HTTP {status}"
    if status == 429 or status == 503:
        retry_after = parse_retry_after(headers.get("Retry-After"))
        return DeliveryError(message, permanent=False, retry_after=retry_after)
    if status == 410:
        return DeliveryError(message + " (endpoint gone)", permanent=True, disable_endpoint=True)
    if status == 408 or status >= 500:
        return DeliveryError(message, permanent=False)
    if 300 <= status <= 399:
        location = headers.get("Location", "?")
        return DeliveryError(f"{message} redirect to {location} (not followed)", permanent=True)
    return DeliveryError(message, permanent=True)
