"""A real SMTP server (aiosmtpd) in the test process: the stack's `EMAIL_HOST` and
`EMAIL_PORT` point here, and every message it accepts is kept for the scenario to read."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from fitflow import devstack


@dataclass(frozen=True)
class Mail:
    """One message as the server received it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def to(self) -> str:
        return str(self.message["To"] or "")

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    def text(self) -> str:
        """The plain-text body."""
        body = self.message.get_body(preferencelist=("plain",))
        return body.get_content() if body is not None else ""

    def html(self) -> str:
        body = self.message.get_body(preferencelist=("html",))
        return body.get_content() if body is not None else ""

    def attachments(self) -> dict[str, tuple[str, bytes]]:
        """{filename: (content type, bytes)} of the attachments."""
        found = {}
        for part in self.message.iter_attachments():
            payload = part.get_payload(decode=True)
            found[part.get_filename() or ""] = (part.get_content_type(), payload if isinstance(payload, bytes) else b"")
        return found


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.box._add(Mail(envelope.mail_from, tuple(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


class Mailbox:
    """The SMTP server and what it received, in order."""

    def __init__(self) -> None:
        self.port = devstack.free_port()
        self._lock = threading.Condition()
        self.mails: list[Mail] = []
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> Mailbox:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def _add(self, mail: Mail) -> None:
        with self._lock:
            self.mails.append(mail)
            self._lock.notify_all()

    def to(self, address: str) -> list[Mail]:
        """Every message sent to `address` so far."""
        with self._lock:
            return [m for m in self.mails if address.lower() in (r.lower() for r in m.rcpt_tos)]

    def wait_for(self, address: str, match: Callable[[Mail], bool], *, timeout: float = 30, what: str = "") -> Mail:
        """The first message to `address` for which `match` is true, waiting up to
        `timeout` seconds for it. AssertionError listing what did arrive otherwise."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for mail in self.mails:
                    if address.lower() in (r.lower() for r in mail.rcpt_tos) and match(mail):
                        return mail
                left = deadline - time.monotonic()
                if left <= 0:
                    got = [m.subject for m in self.mails if address.lower() in (r.lower() for r in m.rcpt_tos)]
                    raise AssertionError(f"no email {what!r} to {address} within {timeout:.0f} s; got {got}")
                self._lock.wait(left)

    def subject(self, address: str, contains: str, *, timeout: float = 30) -> Mail:
        """`wait_for` a message to `address` whose subject contains `contains` (any case)."""
        return self.wait_for(address, lambda m: contains.lower() in m.subject.lower(), timeout=timeout, what=contains)
