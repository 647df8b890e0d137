"""Notification dispatch against a real nats-server, a real SMTP server (aiosmtpd) and a local
HTTP receiver: every delivery is its own JetStream message, retried with backoff, each attempt
recorded; a dead channel never holds up the others."""

import asyncio
import contextlib
import email
import itertools
import re
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import nats
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import update
from structlog.testing import capture_logs

from crontopus_alerting import channels, dispatch, notify
from crontopus_alerting.models import Channel, Delivery, Incident
from crontopus_alerting.sender import Sender
from crontopus_alerting.settings import AlertingSettings
from crontopus_kit import egress
from crontopus_kit.broker import stream_config
from crontopus_kit.db import Database
from crontopus_kit.errors import NotFound
from crontopus_kit.nats_server import free_port
from crontopus_schemas import subjects
from crontopus_schemas.alerting import ChannelCreate
from crontopus_server.testing import WebhookReceiver, wait_until_async

ALICE, BOB = "a" * 32, "b" * 32
MIGRATIONS = Path(channels.__file__).parent / "migrations"
BACKOFF, MAX_ATTEMPTS = 0.3, 3


# --- a local webhook receiver and a real SMTP server ---------------------------------------------


@pytest.fixture
def receiver():
    found = WebhookReceiver()
    yield found
    found.stop()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, email.message_from_bytes(envelope.content)))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"SmtpPassw0rd")


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), authenticator=inbox.authenticate,
                            auth_require_tls=False)  # fmt: skip
    controller.start()
    yield inbox, controller.port
    controller.stop()


# --- the service's parts -------------------------------------------------------------------------


@pytest.fixture
def allow_private_networks() -> bool:
    return True  # the receivers listen on loopback


@pytest.fixture
async def alerting(nats_server, settings_factory, allow_private_networks):
    settings = settings_factory(AlertingSettings, allow_private_networks=allow_private_networks,
                                delivery_backoff=BACKOFF, delivery_max_attempts=MAX_ATTEMPTS,
                                public_url="https://cron.example.com")  # fmt: skip
    db = Database(settings.database_url_for("alerting"), schema=settings.database_schema_for("alerting"))
    await db.migrate(script_location=MIGRATIONS, version_table="alembic_version_alerting")
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await js.add_stream(config=stream_config(subjects.NOTIFICATIONS_STREAM))
    dispatcher = dispatch.Dispatcher(db=db, settings=settings, send_timeout=2)
    await notify.SENDER.ready()  # its cold start (imports) would eat into the 2-second send timeout
    await dispatcher.start(nc, js)
    yield dispatcher, js
    await dispatcher.stop()
    await nc.close()
    await db.dispose()


async def add_channel(dispatcher, tenant: str, name: str, url: str) -> str:
    async with dispatcher.db.session() as session:
        created = await channels.create_channel(
            session=session, tenant_id=tenant, body=ChannelCreate(name=name, url=url),
            secret=dispatcher.secret, allow_private=True,
        )  # fmt: skip
    return created.id


async def open_incident(dispatcher, tenant: str = ALICE, **fields) -> Incident:
    values = dict(id=uuid.uuid4().hex, tenant_id=tenant, job="production/backup", cause="failed", status="open",
                  detail="exit code 1: disk full", run_id="run-42", commit="abc1234",
                  opened_at=datetime.now(UTC))  # fmt: skip
    row = Incident(**{**values, **fields})
    async with dispatcher.db.session() as session:
        session.add(row)
        await session.commit()
    return row


async def notify_channels(dispatcher, js, incident: Incident, channel_ids: list[str], event="trigger"):
    async with dispatcher.db.session() as session:
        return await dispatch.enqueue(session=session, js=js, tenant_id=incident.tenant_id, event=event,
                                      channel_ids=channel_ids, incident_id=incident.id)  # fmt: skip


async def settled(dispatcher, tenant: str, delivery_id: str, statuses=("sent", "gave_up")):
    async def done():
        async with dispatcher.db.session() as session:
            found = await dispatch.get_delivery(session=session, tenant_id=tenant, delivery_id=delivery_id)
        return found if found and found.status in statuses else None

    return await wait_until_async(done, timeout=20)


# --- behaviour -----------------------------------------------------------------------------------


async def test_an_incident_reaches_a_webhook_with_what_happened_and_where_to_look(alerting, receiver):
    dispatcher, js = alerting
    channel_id = await add_channel(dispatcher, ALICE, "hook", receiver.url("/hooks/crontopus?+X-Team=data"))
    incident = await open_incident(dispatcher)
    [delivery] = await notify_channels(dispatcher, js, incident, [channel_id])
    assert delivery.status == "pending"

    done = await settled(dispatcher, ALICE, delivery.id)
    assert (done.status, done.attempts, done.last_error) == ("sent", 1, None) and done.sent_at
    [request] = receiver.requests
    path, headers, payload = request.path, request.headers, request.body
    assert path == "/hooks/crontopus" and headers["X-Team"] == "data"
    assert payload["title"] == "[Crontopus] production/backup failed"
    assert payload["type"] == "failure"
    for part in ("exit code 1: disk full", "Run: run-42", "Commit: abc1234",
                 f"https://cron.example.com/incidents/{incident.id}"):  # fmt: skip
        assert part in payload["message"]


async def test_an_email_arrives_through_a_real_smtp_server(alerting, smtp):
    dispatcher, js = alerting
    inbox, port = smtp
    url = f"mailto://crontopus:SmtpPassw0rd@127.0.0.1:{port}?from=alerts@crontopus.example&to=oncall@example.com"
    channel_id = await add_channel(dispatcher, ALICE, "email", url)
    incident = await open_incident(dispatcher, cause="missed", detail="expected at 02:00, no start within 5m")
    [delivery] = await notify_channels(dispatcher, js, incident, [channel_id])

    assert (await settled(dispatcher, ALICE, delivery.id)).status == "sent"
    [(mail_from, rcpt_tos, message)] = inbox.messages
    assert (mail_from, rcpt_tos) == ("alerts@crontopus.example", ["oncall@example.com"])
    assert inbox.logins == [(b"crontopus", b"SmtpPassw0rd")]
    assert message["Subject"] == "[Crontopus] production/backup missed its scheduled run"
    body = next(part for part in message.walk() if part.get_content_type() == "text/plain").get_payload(decode=True)
    assert b"expected at 02:00, no start within 5m" in body
    assert f"https://cron.example.com/incidents/{incident.id}".encode() in body  # the console's page


async def test_a_failing_channel_is_retried_with_backoff_and_gives_up_while_the_others_are_delivered(
    alerting, receiver
):
    dispatcher, js = alerting
    failing = await add_channel(dispatcher, ALICE, "failing", receiver.url("/fail"))
    closed = await add_channel(dispatcher, ALICE, "closed", f"json://127.0.0.1:{free_port()}/nobody-listens")
    working = await add_channel(dispatcher, ALICE, "working", receiver.url("/ok"))
    incident = await open_incident(dispatcher)
    with capture_logs() as logs:
        sent = {d.channel_id: d.id for d in await notify_channels(dispatcher, js, incident, [failing, closed, working])}
        ok = await settled(dispatcher, ALICE, sent[working])
        assert ok.attempts == 1 and len(receiver.to("/fail")) < MAX_ATTEMPTS  # not held up by the dead ones
        gave_up = await settled(dispatcher, ALICE, sent[failing])
        unreachable = await settled(dispatcher, ALICE, sent[closed])

    assert (gave_up.status, gave_up.attempts) == ("gave_up", MAX_ATTEMPTS)
    assert "error=500" in gave_up.last_error
    assert (unreachable.status, unreachable.attempts) == ("gave_up", MAX_ATTEMPTS)
    assert "connection error" in unreachable.last_error.lower()
    times = [request.at for request in receiver.to("/fail")]
    assert len(times) == MAX_ATTEMPTS
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert gaps[0] >= BACKOFF * 0.9 and gaps[1] >= 2 * BACKOFF * 0.9  # the delay doubles
    attempts = [(e["delivery_id"], e["attempt"], e["outcome"]) for e in logs if e["event"] == "notification attempt"]
    assert [(a, o) for d, a, o in attempts if d == sent[failing]] == [(1, "failed"), (2, "failed"), (3, "gave_up")]
    assert [(a, o) for d, a, o in attempts if d == sent[working]] == [(1, "sent")]


async def handled(js, seq: int) -> None:
    """Until the dispatcher has acknowledged the NOTIFICATIONS stream up to ``seq``: it acks a
    message after acting on it, so anything it was going to send has been sent."""

    async def acked() -> bool:
        info = await js.consumer_info(subjects.NOTIFICATIONS_STREAM.name, subjects.ALERTING_NOTIFY_DURABLE)
        return info.ack_floor.stream_seq >= seq

    await wait_until_async(acked)


async def test_a_message_delivered_again_does_not_send_again(alerting, receiver):
    dispatcher, js = alerting
    channel_id = await add_channel(dispatcher, ALICE, "hook", receiver.url("/once"))
    incident = await open_incident(dispatcher)
    [delivery] = await notify_channels(dispatcher, js, incident, [channel_id])
    await settled(dispatcher, ALICE, delivery.id)
    # the same delivery published again under a new message id (a redelivery, a requeue)
    again = await js.publish(
        subjects.notify_subject(ALICE), dispatch.NotifyRequest(delivery_id=delivery.id).model_dump_json().encode()
    )
    async with dispatcher.db.session() as session:
        assert await dispatch.requeue_stale(session=session, js=js, older_than=timedelta(0)) == 0
    await handled(js, again.seq)
    assert len(receiver.to("/once")) == 1
    assert (await settled(dispatcher, ALICE, delivery.id)).attempts == 1


async def test_a_test_send_reaches_the_channel_and_alice_cannot_test_bobs(alerting, receiver):
    dispatcher, js = alerting
    alices = await add_channel(dispatcher, ALICE, "hook", receiver.url("/alice"))
    bobs = await add_channel(dispatcher, BOB, "hook", receiver.url("/bob"))
    async with dispatcher.db.session() as session:
        delivery = await dispatch.send_test(session=session, js=js, tenant_id=ALICE, channel_id=alices)
        with pytest.raises(NotFound):
            await dispatch.send_test(session=session, js=js, tenant_id=ALICE, channel_id=bobs)
        assert await dispatch.get_delivery(session=session, tenant_id=BOB, delivery_id=delivery.id) is None
    assert (await settled(dispatcher, ALICE, delivery.id)).status == "sent"
    [request] = receiver.to("/alice")
    payload = request.body
    assert payload["title"] == "[Crontopus] Test notification" and "“hook”" in payload["message"]
    assert receiver.to("/bob") == []


async def test_a_deleted_channel_gives_up_instead_of_sending(alerting, receiver):
    dispatcher, js = alerting
    channel_id = await add_channel(dispatcher, ALICE, "hook", receiver.url("/deleted"))
    incident = await open_incident(dispatcher)
    async with dispatcher.db.session() as session:
        [row] = dispatch.create_deliveries(session=session, tenant_id=ALICE, event="trigger",
                                           channel_ids=[channel_id], incident_id=incident.id)  # fmt: skip
        await session.commit()
        await channels.delete_channel(session=session, tenant_id=ALICE, channel_id=channel_id)
    await dispatch.publish_deliveries(js=js, deliveries=[row])
    done = await settled(dispatcher, ALICE, row.id)
    assert (done.status, done.attempts, done.last_error) == ("gave_up", 0, "channel deleted")
    assert receiver.to("/deleted") == []


async def test_a_retry_is_not_sent_once_the_incident_is_resolved(alerting, receiver):
    dispatcher, _ = alerting
    channel_id = await add_channel(dispatcher, ALICE, "hook", receiver.url("/late"))
    incident = await open_incident(dispatcher, status="resolved", resolved_at=datetime.now(UTC))
    async with dispatcher.db.session() as session:
        [row] = dispatch.create_deliveries(session=session, tenant_id=ALICE, event="trigger",
                                           channel_ids=[channel_id], incident_id=incident.id)  # fmt: skip
        await session.commit()
        await session.execute(update(Delivery).where(Delivery.id == row.id).values(status="failed", attempts=1))
        await session.commit()
    assert await dispatcher.attempt(tenant_id=ALICE, delivery_id=row.id) is None
    done = await settled(dispatcher, ALICE, row.id)
    assert done.status == "gave_up" and "resolved" in done.last_error
    assert receiver.to("/late") == []


async def test_a_private_target_is_refused_at_send_time_unless_allowed(receiver):
    message = notify.build_message(event="test", incident=None, base_url="https://c", channel_name="x")
    refused = await notify.send(
        team=ALICE, url=receiver.url("/private"), notification=message, allow_private=False, timeout=5
    )
    assert not refused.ok and "loopback" in refused.error
    assert receiver.to("/private") == []
    allowed = await notify.send(
        team=ALICE, url=receiver.url("/private"), notification=message, allow_private=True, timeout=5
    )
    assert allowed.ok and len(receiver.to("/private")) == 1


def test_the_retry_delay_doubles_from_the_backoff():
    assert [dispatch.retry_delay(n, backoff=5) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]


async def test_a_host_that_resolves_elsewhere_by_send_time_is_still_refused(receiver, monkeypatch):
    """DNS rebinding: the check saw a public address, the connection would go to loopback."""

    async def public(host: str) -> list[str]:
        return ["93.184.215.14"]

    monkeypatch.setattr(egress, "resolve", public)
    message = notify.build_message(event="test", incident=None, base_url="https://c", channel_name="x")
    url = f"json://localhost:{receiver.port}/rebound"
    outcome = await notify.send(team=ALICE, url=url, notification=message, allow_private=False, timeout=5)
    assert not outcome.ok and "localhost (127.0.0.1) is a loopback address" in outcome.error
    assert receiver.to("/rebound") == []
    # refused by the sender's process: this one's name resolution was never hooked
    assert channels._real_getaddrinfo is None and socket.getaddrinfo.__module__ == "socket"


@pytest.fixture
def syslog_on_loopback():
    """A UDP socket on loopback, as a syslog daemon (or anything else listening there) would be."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(0.5)
        yield server


@pytest.mark.parametrize("allow_private_networks", [False])
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_stored_syslog_channel_on_loopback_sends_it_nothing(alerting, syslog_on_loopback, monkeypatch, host):
    """rsyslog:// sends UDP to a host name the C library resolves itself, past the guard on
    connections. A channel stored before this check existed (or whose name said "public" to the
    check and "loopback" to the send, as DNS rebinding does) must not reach the server's network."""
    dispatcher, js = alerting

    async def public(name: str) -> list[str]:  # what DNS told the check
        return ["93.184.215.14"]

    if host == "localhost":
        monkeypatch.setattr(egress, "resolve", public)
    url = f"rsyslog://{host}:{syslog_on_loopback.getsockname()[1]}"
    async with dispatcher.db.session() as session:
        session.add(Channel(id=uuid.uuid4().hex, tenant_id=ALICE, name="syslog", kind="rsyslog",
                            url_sealed=channels.seal_url(url, secret=dispatcher.secret), url_masked=url,
                            created_at=datetime.now(UTC)))  # fmt: skip
        await session.commit()
        [channel] = await channels.list_channels(session=session, tenant_id=ALICE)
        delivery = await dispatch.send_test(session=session, js=js, tenant_id=ALICE, channel_id=channel.id)
    done = await settled(dispatcher, ALICE, delivery.id)
    assert done.status == "gave_up" and re.search(r"127\.0\.0\.1\)? is a loopback address", done.last_error)
    with pytest.raises(TimeoutError):
        syslog_on_loopback.recvfrom(65536)


async def test_a_channel_that_never_answers_times_out_without_holding_up_the_batch(alerting, receiver):
    dispatcher, js = alerting
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, never answers
        hanging = await add_channel(dispatcher, ALICE, "hanging", f"json://127.0.0.1:{silent.getsockname()[1]}/x")
        working = await add_channel(dispatcher, ALICE, "working", receiver.url("/ok"))
        incident = await open_incident(dispatcher)
        started = time.monotonic()
        sent = {d.channel_id: d.id for d in await notify_channels(dispatcher, js, incident, [hanging, working])}
        await settled(dispatcher, ALICE, sent[working])
        assert time.monotonic() - started < dispatcher.send_timeout  # not after the hanging one
        failed = await settled(dispatcher, ALICE, sent[hanging], statuses=("failed", "gave_up"))
    assert failed.attempts >= 1 and failed.last_error


class SilentServer:
    """Accepts connections and never answers; the sends' connections are held open, so each send
    waits for an answer until its timeout."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.setblocking(False)
        self.url = f"json://127.0.0.1:{self.socket.getsockname()[1]}/x"
        self.held: list[socket.socket] = []

    async def connected(self) -> None:
        """Until a send has connected."""

        async def accepted() -> bool:
            with contextlib.suppress(BlockingIOError):
                self.held.append(self.socket.accept()[0])
            return bool(self.held)

        await wait_until_async(accepted)

    def close(self) -> None:
        for connection in [*self.held, self.socket]:
            connection.close()


@pytest.fixture
def silent_server():
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def message():
    return notify.build_message(event="test", incident=None, base_url="https://c", channel_name="x")


async def test_a_sender_process_that_dies_fails_its_sends_in_flight_and_the_next_send_starts_a_new_one(
    receiver, silent_server, message
):
    sender = Sender(threads=2)
    try:
        hanging = asyncio.create_task(sender.call(silent_server.url, message, True, 30, start_within=30))
        await silent_server.connected()
        sender._process.kill()  # as a crash of the child would
        lost = await asyncio.wait_for(hanging, 10)
        assert not lost.ok and "sender stopped" in lost.error
        sent = await asyncio.wait_for(sender.call(receiver.url("/after"), message, True, 5, start_within=5), 30)
        assert sent.ok and len(receiver.to("/after")) == 1
    finally:
        sender.close()


async def test_a_send_the_sender_cannot_start_in_time_is_never_started(receiver, silent_server, message):
    """Its caller has stopped waiting by then and the delivery will be retried: sent late, the
    notification would arrive twice."""
    sender = Sender(threads=1)
    try:
        await sender.ready()  # else a slow start of the child could make the busy send the late one
        busy = asyncio.create_task(sender.call(silent_server.url, message, True, 2, start_within=2))  # the only thread
        await silent_server.connected()
        late = await asyncio.wait_for(sender.call(receiver.url("/late"), message, True, 5, start_within=0.5), 30)
        await asyncio.wait_for(busy, 30)
        assert not late.ok and "not started in time" in late.error
        assert receiver.to("/late") == []
    finally:
        sender.close()


class DripServer:
    """Answers every request with one byte each 0.2 s, forever: no read ever times out."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"json://127.0.0.1:{self.server.getsockname()[1]}/x"
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while not self.stopped.is_set():
                connection, _ = self.server.accept()
                threading.Thread(target=self._drip, args=(connection,), daemon=True).start()

    def _drip(self, connection: socket.socket) -> None:
        with connection, contextlib.suppress(OSError):
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while not self.stopped.wait(0.2):
                connection.sendall(b"a")

    def close(self) -> None:
        self.stopped.set()
        self.server.close()


async def test_a_server_that_answers_a_byte_at_a_time_holds_a_sending_thread_no_longer_than_the_timeout(
    receiver, message
):
    """Else a team's channel pointing at such a server holds the threads that send every team's
    notifications, for as long as it likes."""
    drip, sender = DripServer(), Sender(threads=1)
    try:
        await sender.ready()
        started = time.monotonic()
        dripped = await asyncio.wait_for(sender.call(drip.url, message, True, 2, start_within=2), 30)
        assert not dripped.ok and time.monotonic() - started < 5
        after = await asyncio.wait_for(sender.call(receiver.url("/after"), message, True, 5, start_within=1), 30)
        assert after.ok and len(receiver.to("/after")) == 1  # the only thread was free again
    finally:
        sender.close()
        drip.close()


async def test_a_team_whose_channels_all_hang_holds_a_few_sending_threads_not_every_teams(
    receiver, silent_server, message
):
    await notify.SENDER.ready()
    hanging = [
        asyncio.create_task(notify.send(team=BOB, url=silent_server.url, notification=message, allow_private=True,
                                        timeout=3))
        for _ in range(notify.TEAM_SENDS + 1)
    ]  # fmt: skip
    await silent_server.connected()
    started = time.monotonic()
    alices = await notify.send(team=ALICE, url=receiver.url("/alice"), notification=message, allow_private=True)
    assert alices.ok and time.monotonic() - started < 2  # not behind bob's
    bobs = await notify.send(team=BOB, url=receiver.url("/bob"), notification=message, allow_private=True)
    assert bobs.ok and time.monotonic() - started > 2  # his turn came when his first sends ended
    assert [outcome.ok for outcome in await asyncio.gather(*hanging)] == [False] * (notify.TEAM_SENDS + 1)


def test_the_retry_horizon_covers_every_wait_and_send():
    horizon = dispatch.retry_horizon(backoff=5, max_attempts=3, send_timeout=10)
    assert horizon == timedelta(seconds=5 + 10 + 3 * 12)


async def test_the_tick_publishes_again_a_delivery_whose_message_was_never_published(
    nats_server, settings_factory, receiver
):
    from crontopus_alerting.unit import AlertingUnit
    from crontopus_kit.broker import make_broker
    from crontopus_kit.unit import start_units, stop_units

    settings = settings_factory(AlertingSettings, allow_private_networks=True, delivery_backoff=BACKOFF,
                                delivery_max_attempts=MAX_ATTEMPTS)  # fmt: skip
    broker = make_broker(nats_server.url, name="alerting-test")
    unit = AlertingUnit(settings, broker=broker)
    await start_units(broker, [unit])
    try:
        channel = await add_channel(unit.dispatcher, ALICE, "hook", receiver.url("/lost"))
        async with unit.db.session() as session:  # stored while NATS was away: never published
            [row] = dispatch.create_deliveries(session=session, tenant_id=ALICE, event="test", channel_ids=[channel],
                                               incident_id=None, now=datetime.now(UTC) - timedelta(days=1))  # fmt: skip
            await session.commit()
        await unit.tick(broker.config.connection_state.stream)
        assert (await settled(unit.dispatcher, ALICE, row.id)).status == "sent"
        assert len(receiver.to("/lost")) == 1
    finally:
        await stop_units(broker, [unit])
