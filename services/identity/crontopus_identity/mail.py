"""The platform's mail to people: invitations, password resets, email verification, welcome.

Requests come as ``MailRequested`` on the MAIL stream (``MailQueue`` publishes them), never sent
inside an HTTP request: ``MailSender`` pulls them (a durable consumer), renders text + HTML from
the templates below and hands the message to a transport: SMTP (``CRONTOPUS_SMTP_URL``) or, without
one, the outbox folder under the data directory (the embedded default: the link is logged too).
A failed delivery is retried 30 s later, then twice as long each time (at most an hour apart),
up to ``CRONTOPUS_MAIL_MAX_ATTEMPTS``; then it is dropped with an error in the log.
"""

from __future__ import annotations

import asyncio
import html
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from string import Template
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pydantic import ValidationError

from crontopus_identity.links import link_token
from crontopus_kit.broker import Publisher
from crontopus_kit.jetstream import BatchPuller
from crontopus_kit.logging import get_logger
from crontopus_schemas import subjects
from crontopus_schemas.mail import MailKind, MailRequested
from crontopus_schemas.private_files import private_dir

log = get_logger(__name__)
SMTP_TIMEOUT = 30.0
MAX_RETRY_DELAY = 3600.0


@dataclass(frozen=True)
class MailTemplate:
    subject: str
    text: str
    html: str
    link_path: str  # where the link points; the token goes in ?token= when the mail has a ref


TEMPLATES: dict[MailKind, MailTemplate] = {
    "invitation": MailTemplate(
        subject="$inviter invited you to the team $team on Crontopus",
        text="$inviter invited you to join the team $team on Crontopus as $role.\n\n"
        "Accept the invitation (with your account, or by creating one):\n$link\n\n"
        "The link works once and expires $expires. If you did not expect this, ignore this mail.\n",
        html="<p><b>$inviter</b> invited you to join the team <b>$team</b> on Crontopus as $role.</p>"
        '<p><a href="$link">Accept the invitation</a> (with your account, or by creating one).</p>'
        "<p>The link works once and expires $expires. If you did not expect this, ignore this mail.</p>",
        link_path="/invitations/accept",
    ),
    "password-reset": MailTemplate(
        subject="Reset your Crontopus password",
        text="Someone (we hope you) asked to reset the password of $username on Crontopus.\n\n"
        "Choose a new password:\n$link\n\n"
        "The link works once, for an hour, and signs you out everywhere. If you did not ask, ignore this "
        "mail: your password stays as it is.\n",
        html="<p>Someone (we hope you) asked to reset the password of <b>$username</b> on Crontopus.</p>"
        '<p><a href="$link">Choose a new password</a></p>'
        "<p>The link works once, for an hour, and signs you out everywhere. If you did not ask, ignore this "
        "mail: your password stays as it is.</p>",
        link_path="/reset-password",
    ),
    "verify-email": MailTemplate(
        subject="Confirm your email address for Crontopus",
        text="Confirm that $email is the address of $username on Crontopus:\n$link\n\n"
        "The link works for two days. If you did not sign up, ignore this mail.\n",
        html='<p>Confirm that $email is the address of <b>$username</b> on Crontopus: <a href="$link">'
        "confirm</a>.</p><p>The link works for two days. If you did not sign up, ignore this mail.</p>",
        link_path="/verify-email",
    ),
    "welcome": MailTemplate(
        subject="Welcome to Crontopus",
        text="Welcome, $username! You are in the team $team.\n\nSign in: $link\n\n"
        "Your jobs are YAML manifests in the team's repository; the docs show the first steps.\n",
        html="<p>Welcome, <b>$username</b>! You are in the team <b>$team</b>.</p>"
        '<p><a href="$link">Sign in</a>. Your jobs are YAML manifests in the team\'s repository; the docs '
        "show the first steps.</p>",
        link_path="/login",
    ),
}


def mail_link(request: MailRequested, *, secret: bytes, base_url: str) -> str:
    path = TEMPLATES[request.kind].link_path
    if request.ref is None:
        return f"{base_url}{path}"
    return f"{base_url}{path}?token={link_token(secret, request.kind, request.ref)}"


def render(request: MailRequested, *, secret: bytes, base_url: str, sender: str) -> EmailMessage:
    template = TEMPLATES[request.kind]
    values = {**request.values, "email": request.to, "link": mail_link(request, secret=secret, base_url=base_url)}
    message = EmailMessage()
    message["From"] = sender
    message["To"] = request.to
    message["Subject"] = Template(template.subject).safe_substitute(values)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(idstring=request.id, domain=parseaddr(sender)[1].partition("@")[2] or None)
    message.set_content(Template(template.text).safe_substitute(values))
    escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
    message.add_alternative(f"<html><body>{Template(template.html).safe_substitute(escaped)}</body></html>",
                            subtype="html")  # fmt: skip
    return message


# --- transports ----------------------------------------------------------------------------------


class Transport(Protocol):
    async def deliver(self, message: EmailMessage) -> str:
        """Send it; what to log about where it went. Raises when it could not."""


class Outbox:
    """Without SMTP: each mail as an RFC 5322 file (``*.eml``) in ``<data dir>/outbox/``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def deliver(self, message: EmailMessage) -> str:
        private_dir(self.folder)
        path = self.folder / f"{uuid.uuid4().hex}.eml"
        path.write_bytes(bytes(message))
        path.chmod(0o600)
        return str(path)


@dataclass(frozen=True)
class SmtpTransport:
    """``smtp://`` insists on STARTTLS (unless ``?starttls=false``), ``smtps://`` speaks TLS from
    the start; certificates are verified. Login when the URL has a user."""

    url: str
    timeout: float = SMTP_TIMEOUT

    async def deliver(self, message: EmailMessage) -> str:
        await asyncio.to_thread(self._send, message)
        return f"smtp {urlsplit(self.url).hostname}"

    def _send(self, message: EmailMessage) -> None:
        parts = urlsplit(self.url)
        host = parts.hostname or "localhost"
        context = ssl.create_default_context()
        if parts.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, parts.port or 465, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(host, parts.port or 587, timeout=self.timeout)
        with client:
            if parts.scheme == "smtp" and parse_qs(parts.query).get("starttls", ["true"])[0] != "false":
                client.ehlo()
                if not client.has_extn("starttls"):
                    raise smtplib.SMTPNotSupportedError(
                        f"{host} offers no STARTTLS; add ?starttls=false to send without"
                    )
                client.starttls(context=context)
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            client.send_message(message)


def transport_for(smtp_url: str | None, data_dir: Path) -> Transport:
    return SmtpTransport(smtp_url) if smtp_url else Outbox(data_dir / "outbox")


# --- queue and sender ----------------------------------------------------------------------------


class MailQueue:
    """Asks for a mail: published to the MAIL stream, de-duplicated on its id."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher

    async def send(self, request: MailRequested) -> None:
        await self.publisher.publish(
            request.model_dump_json().encode(), subjects.mail_subject(request.kind),
            headers={"Nats-Msg-Id": f"mail:{request.id}"}, stream=subjects.MAIL_STREAM.name,
        )  # fmt: skip


class MailSender:
    def __init__(
        self, *, transport: Transport, secret: bytes, base_url: str, sender: str, max_attempts: int,
        retry_delay: float,
    ) -> None:  # fmt: skip
        self.transport = transport
        self.secret, self.base_url, self.sender = secret, base_url, sender
        self.max_attempts, self.retry_delay = max_attempts, retry_delay
        self.puller = BatchPuller(
            stream=subjects.MAIL_STREAM.name, durable=subjects.IDENTITY_MAIL_DURABLE,
            filter_subject=subjects.MAIL_WILDCARD, handler=self.handle_batch, batch_size=8, linger=0.02,
            ack_wait=SMTP_TIMEOUT * 4, max_ack_pending=1000,
        )  # fmt: skip

    async def start(self, nc: Client, js: JetStreamContext) -> None:
        await self.puller.start(nc, js)

    async def stop(self) -> None:
        await self.puller.stop()

    async def handle_batch(self, messages: list[Msg]) -> None:
        for msg in messages:
            await self._handle(msg)

    async def _handle(self, msg: Msg) -> None:
        try:
            request = MailRequested.model_validate_json(msg.data)
        except ValidationError:
            log.error("unreadable mail request dropped", subject=msg.subject)
            await msg.term()
            return
        attempt = msg.metadata.num_delivered or 1
        try:
            where = await self.transport.deliver(
                render(request, secret=self.secret, base_url=self.base_url, sender=self.sender)
            )
        except Exception as exc:
            await self._failed(msg, request, attempt, exc)
            return
        await msg.ack()
        self._log_sent(request, where)

    async def _failed(self, msg: Msg, request: MailRequested, attempt: int, exc: Exception) -> None:
        if attempt >= self.max_attempts:
            log.error("mail not sent, giving up", kind=request.kind, mail_id=request.id, attempts=attempt,
                      error=str(exc))  # fmt: skip
            await msg.term()
            return
        delay = min(self.retry_delay * 2 ** (attempt - 1), MAX_RETRY_DELAY)
        log.warning("mail not sent, retrying", kind=request.kind, mail_id=request.id, attempt=attempt,
                    retry_in=delay, error=str(exc))  # fmt: skip
        await msg.nak(delay=delay)

    def _log_sent(self, request: MailRequested, where: str) -> None:
        if isinstance(self.transport, Outbox):
            # No mail server: the log is how a newcomer on one machine gets at the link.
            link = mail_link(request, secret=self.secret, base_url=self.base_url)
            log.info("mail written to the outbox", kind=request.kind, to=request.to, file=where, link=link)
        else:
            log.info("mail sent", kind=request.kind, mail_id=request.id, via=where)
