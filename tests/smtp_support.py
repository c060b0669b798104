"""A real SMTP server on localhost (aiosmtpd) that keeps what it receives, for mail tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    refuse: set[str] = field(default_factory=set)
    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=default)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def ids(self) -> list[str]:
        return [msg["Message-ID"] for _, msg in self.received]


@dataclass
class SmtpServer:
    host: str
    port: int
    inbox: Inbox

    def env(self) -> dict[str, str]:
        return {"CRMFLOW_SMTP_HOST": self.host, "CRMFLOW_SMTP_PORT": str(self.port),
                "CRMFLOW_MAIL_FROM": "marketing@crmflow.test"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_smtp() -> Iterator[SmtpServer]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SmtpServer(controller.hostname, controller.port, inbox)
    finally:
        controller.stop()
