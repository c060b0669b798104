"""The SMTP sender behind the outbox's "email" channel.

`Engine.deliver_outbox(senders_from_env())` hands each pending email to `SmtpSender`,
which sends it with `smtplib`. The outbox row's idempotency key becomes the
`Message-ID` (`<key@crmflow>`), so if the process dies after the server accepted a
message but before the row was marked sent, the redelivered copy carries the same
Message-ID and mail systems (and people) can tell it is the same message.

Configuration: `CRMFLOW_SMTP_HOST` (unset: no email sender), `CRMFLOW_SMTP_PORT`
(default 25), `CRMFLOW_MAIL_FROM` (default `crmflow@localhost`); optionally
`CRMFLOW_SMTP_STARTTLS=1`, `CRMFLOW_SMTP_USER` and `CRMFLOW_SMTP_PASSWORD`.
"""

from __future__ import annotations

import os
import smtplib
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any

DEFAULT_FROM = "crmflow@localhost"
MESSAGE_ID_DOMAIN = "crmflow"
#: RFC 5322 atext plus ".": what the left part of a Message-ID may hold unquoted
_ID_SAFE = frozenset(string.ascii_letters + string.digits + "!#$&'*+-/=?^_`{|}~.")


def message_id(idempotency_key: str) -> str:
    """`<key@crmflow>`; characters a Message-ID cannot hold (e.g. ":" in engine keys)
    are %-escaped, so distinct keys keep distinct ids and the same key the same id."""
    out: list[str] = []
    for i, c in enumerate(idempotency_key):
        # a dot-atom has no leading, trailing or doubled dot
        bad_dot = c == "." and (i == 0 or i == len(idempotency_key) - 1 or idempotency_key[i - 1] == ".")
        out.append(c if c in _ID_SAFE and not bad_dot else "".join(f"%{b:02X}" for b in c.encode()))
    return f"<{''.join(out) or '%00'}@{MESSAGE_ID_DOMAIN}>"


def build_message(payload: Mapping[str, Any], idempotency_key: str, sender_address: str) -> EmailMessage:
    """The email for one outbox payload: `to` (an address or a list), `subject`, `body`,
    optional `html` (sent as the alternative part), `from`, `reply_to`, `cc`."""
    to = payload.get("to")
    recipients = [to] if isinstance(to, str) else list(to or [])
    if not recipients or not all(isinstance(r, str) and r.strip() for r in recipients):
        raise ValueError(f"an email needs a recipient address in 'to', not {to!r}")
    msg = EmailMessage(policy=SMTP)
    msg["From"] = payload.get("from") or sender_address
    msg["To"] = ", ".join(r.strip() for r in recipients)
    if payload.get("cc"):
        msg["Cc"] = payload["cc"] if isinstance(payload["cc"], str) else ", ".join(payload["cc"])
    if payload.get("reply_to"):
        msg["Reply-To"] = payload["reply_to"]
    msg["Subject"] = " ".join(str(payload.get("subject") or "").split())
    msg["Message-ID"] = message_id(idempotency_key)
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg.set_content(str(payload.get("body") or ""))
    if payload.get("html"):
        msg.add_alternative(str(payload["html"]), subtype="html")
    return msg


@dataclass
class SmtpSender:
    """An outbox sender: `sender(payload, idempotency_key)` sends one email or raises
    (the outbox then retries it later with the same key)."""

    host: str
    port: int = 25
    sender_address: str = DEFAULT_FROM
    timeout: float = 30.0
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __call__(self, payload: dict[str, Any], idempotency_key: str) -> None:
        msg = build_message(payload, idempotency_key, self.sender_address)
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(msg)


def senders_from_env(env: Mapping[str, str] | None = None) -> dict[str, SmtpSender]:
    """`{"email": SmtpSender(...)}` configured from the environment, or `{}` when
    `CRMFLOW_SMTP_HOST` is unset (emails then wait in the outbox)."""
    env = os.environ if env is None else env
    host = (env.get("CRMFLOW_SMTP_HOST") or "").strip()
    if not host:
        return {}
    raw_port = (env.get("CRMFLOW_SMTP_PORT") or "25").strip()
    try:
        port = int(raw_port)
    except ValueError:
        raise ValueError(f"CRMFLOW_SMTP_PORT must be a port number, not {raw_port!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"CRMFLOW_SMTP_PORT must be from 1 to 65535, not {port}")
    return {
        "email": SmtpSender(
            host=host,
            port=port,
            sender_address=(env.get("CRMFLOW_MAIL_FROM") or "").strip() or DEFAULT_FROM,
            starttls=(env.get("CRMFLOW_SMTP_STARTTLS") or "").strip().lower() in ("1", "true", "yes"),
            username=(env.get("CRMFLOW_SMTP_USER") or "").strip() or None,
            password=env.get("CRMFLOW_SMTP_PASSWORD") or None,
        )
    }
