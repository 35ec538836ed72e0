"""``smtp`` channel: one e-mail per notice over stdlib ``smtplib``.

Options: ``host``, ``port`` (default 25, 465 for ``ssl``), ``security`` (``none`` | ``starttls``
| ``ssl``), ``username_env`` / ``password_env`` (names of environment variables, read at each
delivery), ``sender`` (``From``; may carry a display name), ``timeout`` (seconds).

The message is ``multipart/alternative`` (text, plus HTML when the notice has it) with
``Message-ID: <id@gridflow>`` and ``X-Gridflow-Notice-Id: id``, so a redelivered notice can be
recognised downstream. Headers are built by ``email.message.EmailMessage`` with the SMTP policy
(which refuses CR/LF in header values) from a subject that is already one line.

Failures: 4xx replies, disconnects, refused connections, timeouts and TLS errors →
``DeliveryError(permanent=False)``; 5xx replies (and a server lacking STARTTLS/AUTH) →
``DeliveryError(permanent=True)``.
"""

from __future__ import annotations

import email.policy
import os
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from gridflow.domain.notice import OutboundNotice, check_notice_id
from gridflow.domain.suggest import did_you_mean
from gridflow.errors import DeliveryError, GridflowError

SECURITY = ("none", "starttls", "ssl")
_ADDR_RE = re.compile(r"^[^@\s<>\"(),;:\\\[\]]+@[A-Za-z0-9.-]+$")


def _one_line(value: str) -> str:
    return " ".join(value.split())


def build_message(
    notice: OutboundNotice, *, sender: str, recipient: str | None = None
) -> EmailMessage:
    """The RFC 5322 message for ``notice`` (text part, plus HTML alternative when present)."""
    nid = check_notice_id(notice)
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["Message-ID"] = f"<{nid}@gridflow>"
    msg["X-Gridflow-Notice-Id"] = nid
    msg["Date"] = format_datetime(notice.created_at)
    msg["From"] = _one_line(sender)
    if recipient:
        msg["To"] = recipient
    msg["Subject"] = _one_line(notice.subject)
    msg["Auto-Submitted"] = "auto-generated"
    if notice.case_id is not None:
        msg["X-Gridflow-Case"] = str(notice.case_id)
    msg.set_content(notice.text)
    if notice.html is not None:
        msg.add_alternative(notice.html, subtype="html")
    return msg


def check_address(address: str) -> str:
    """A bare ``user@domain`` address, else a permanent DeliveryError."""
    address = address.strip()
    if not _ADDR_RE.match(address):
        raise DeliveryError(f"{address!r} is not an e-mail address", permanent=True)
    return address


def _classify(code: int, detail: object, what: str) -> DeliveryError:
    text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    return DeliveryError(f"{what}: {code} {text}".strip(), permanent=500 <= code <= 599)


class SmtpChannel:
    """Sends each notice as its own SMTP transaction (connect, [TLS], [AUTH], send, QUIT)."""

    def __init__(
        self,
        name: str,
        *,
        host: str,
        sender: str,
        port: int | None = None,
        security: str = "none",
        username_env: str | None = None,
        password_env: str | None = None,
        timeout: float = 10.0,
    ):
        if security not in SECURITY:
            raise GridflowError(
                f"channel {name!r}: security {security!r} is not one of "
                f"{', '.join(SECURITY)}{did_you_mean(security, SECURITY)}"
            )
        envelope = parseaddr(sender)[1]
        if not _ADDR_RE.match(envelope):
            raise GridflowError(f"channel {name!r}: sender {sender!r} has no e-mail address")
        self.name, self.host, self.security = name, host, security
        self.port = int(port) if port is not None else (465 if security == "ssl" else 25)
        self.sender, self.envelope_sender = sender, envelope
        self.username_env, self.password_env = username_env, password_env
        self.timeout = float(timeout)

    def _credentials(self) -> tuple[str, str] | None:
        if not self.username_env:
            return None
        user = os.environ.get(self.username_env)
        password = os.environ.get(self.password_env or "", "")
        if not user or (self.password_env and self.password_env not in os.environ):
            missing = self.username_env if not user else self.password_env
            raise DeliveryError(f"smtp channel {self.name!r}: ${missing} is not set")
        return user, password

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            try:
                smtp.starttls(context=ssl.create_default_context())
            except BaseException:
                smtp.close()
                raise
        return smtp

    def deliver(self, notice: OutboundNotice) -> None:
        """Send one message to ``notice.address``; see the module docstring for failures."""
        to = check_address(notice.address)
        msg = build_message(notice, sender=self.sender, recipient=to)
        credentials = self._credentials()
        where = f"smtp {self.host}:{self.port}"
        try:
            with self._connect() as smtp:
                if credentials:
                    smtp.login(*credentials)
                smtp.send_message(msg, from_addr=self.envelope_sender, to_addrs=[to])
        except smtplib.SMTPRecipientsRefused as exc:
            code, detail = max(exc.recipients.values(), key=lambda r: r[0])
            raise _classify(code, detail, f"{where} refused {to}") from exc
        except smtplib.SMTPResponseException as exc:
            raise _classify(exc.smtp_code, exc.smtp_error, where) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"{where}: {exc}", permanent=True) from exc
        except (smtplib.SMTPException, OSError) as exc:  # disconnects, refused, timeouts, TLS
            raise DeliveryError(f"{where}: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        """No pooled connections to release."""
