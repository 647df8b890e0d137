"""The platform's mail: templates, SMTP (STARTTLS, TLS, login, certificates verified) against a
real SMTP server, the outbox, and retries through the MAIL stream on a real NATS server."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import uuid

import nats
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from crontopus_identity.links import row_of
from crontopus_identity.mail import MailQueue, MailSender, Outbox, SmtpTransport, render
from crontopus_kit.broker import ensure_streams, make_broker
from crontopus_schemas.mail import MailRequested
from crontopus_schemas.subjects import IDENTITY_MAIL_DURABLE, MAIL_STREAM
from crontopus_server.testing import SmtpInbox, link_in, outbox_mail, wait_until_async

SECRET = b"s" * 48
VALUES = {"team": "ops <&> dev", "role": "member", "inviter": "alice", "expires": "soon"}
INVITATION = MailRequested(id="m1", kind="invitation", to="bob@example.com", ref="inv1", values=VALUES)


@pytest.fixture
def database_backend() -> str:
    return "sqlite"  # no database is used


def message(request: MailRequested = INVITATION):
    return render(request, secret=SECRET, base_url="https://cron.example.com", sender="Crontopus <cron@example.com>")


def test_a_mail_has_text_and_html_with_one_link_whose_token_names_its_row_for_its_purpose_only():
    mail = message()
    path, token = link_in(mail)
    assert path == "/invitations/accept"
    assert row_of(SECRET, "invitation", token) == "inv1"
    assert row_of(SECRET, "password-reset", token) is None, "a link serves its own purpose only"
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert "ops &lt;&amp;&gt; dev" in html and "ops <&> dev" in mail.get_body(preferencelist=("plain",)).get_content()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A CA the client trusts (SSL_CERT_FILE) and a certificate for 127.0.0.1 signed by it."""
    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)

    def certificate(subject, issuer, key, signer, *, ca: bool, ip: bool):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))  # fmt: skip
        if ip:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)  # fmt: skip
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = certificate(ca_name, ca_name, ca_key, ca_key, ca=True, ip=False)
    server = certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]), ca_name, server_key,
                         ca_key, ca=False, ip=True)  # fmt: skip
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))  # fmt: skip
    return folder


def server_context(certificates) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates / "server.pem", certificates / "server.key")
    return context


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["starttls", "tls"])
async def test_smtp_over_starttls_or_tls_with_login_and_a_verified_certificate(certificates, monkeypatch, implicit_tls):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates / "ca.pem"))
    inbox = SmtpInbox(
        tls_context=server_context(certificates), implicit_tls=implicit_tls, password=b"SmtpPassw0rd"
    ).start()
    scheme = "smtps" if implicit_tls else "smtp"
    try:
        await SmtpTransport(f"{scheme}://mailer%40example.com:SmtpPassw0rd@127.0.0.1:{inbox.port}").deliver(message())
        assert inbox.logins == [(b"mailer@example.com", b"SmtpPassw0rd")]
        assert inbox.mail_to("bob@example.com")["Subject"] == "alice invited you to the team ops <&> dev on Crontopus"
    finally:
        inbox.stop()


async def test_a_certificate_the_client_does_not_trust_is_refused(certificates, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates / "server.pem"))  # not the CA: the chain does not verify
    inbox = SmtpInbox(tls_context=server_context(certificates)).start()
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            await SmtpTransport(f"smtp://127.0.0.1:{inbox.port}").deliver(message())
        assert inbox.messages == []
    finally:
        inbox.stop()


async def test_smtp_without_starttls_on_offer_is_refused_unless_the_url_says_so():
    inbox = SmtpInbox().start()
    try:
        with pytest.raises(Exception, match="offers no STARTTLS; add \\?starttls=false"):
            await SmtpTransport(f"smtp://127.0.0.1:{inbox.port}").deliver(message())
        assert inbox.messages == []
        await SmtpTransport(f"smtp://127.0.0.1:{inbox.port}?starttls=false").deliver(message())
        assert len(inbox.messages) == 1
    finally:
        inbox.stop()


@pytest.fixture
async def nats_connection(nats_server):
    broker = make_broker(nats_server.url, name="test-mail")
    await broker.connect()
    await ensure_streams(broker, [MAIL_STREAM])
    nc = await nats.connect(nats_server.url)
    yield broker, nc
    await nc.close()
    await broker.stop()


def sender_to(inbox: SmtpInbox, *, max_attempts: int) -> MailSender:
    return MailSender(transport=SmtpTransport(f"smtp://127.0.0.1:{inbox.port}?starttls=false", timeout=2),
                      secret=SECRET, base_url="https://cron.example.com", sender="cron@example.com",
                      max_attempts=max_attempts, retry_delay=0.1)  # fmt: skip


async def consumer(nc):
    return await nc.jetstream().consumer_info(MAIL_STREAM.name, IDENTITY_MAIL_DURABLE)


async def test_a_mail_the_server_refuses_is_retried_until_it_goes_through(nats_connection):
    broker, nc = nats_connection
    inbox = SmtpInbox()  # not listening yet
    sender = sender_to(inbox, max_attempts=20)
    await sender.start(nc, nc.jetstream())
    try:
        await MailQueue(broker).send(INVITATION.model_copy(update={"id": uuid.uuid4().hex}))

        async def retried() -> bool:
            return (await consumer(nc)).num_redelivered >= 1

        await wait_until_async(retried, timeout=10)
        inbox.start()

        async def received() -> bool:
            return bool(inbox.messages)

        await wait_until_async(received, timeout=15)  # the sender runs in this loop: no blocking wait
        assert inbox.messages[0]["To"] == "bob@example.com"
    finally:
        await sender.stop()
        inbox.stop()


async def test_a_mail_is_dropped_after_its_last_attempt(nats_connection):
    broker, nc = nats_connection
    inbox = SmtpInbox()
    sender = sender_to(inbox, max_attempts=2)
    await sender.start(nc, nc.jetstream())
    try:
        await MailQueue(broker).send(INVITATION.model_copy(update={"id": uuid.uuid4().hex}))

        async def given_up() -> bool:
            info = await consumer(nc)
            return info.delivered.stream_seq == 1 and info.num_ack_pending == 0 and info.num_pending == 0

        await wait_until_async(given_up, timeout=10)
        inbox.start()
        await asyncio.sleep(0.5)
        assert inbox.messages == []
    finally:
        await sender.stop()
        inbox.stop()


async def test_without_smtp_the_mail_is_written_to_the_outbox(tmp_path):
    where = await Outbox(tmp_path / "outbox").deliver(message())
    assert where.endswith(".eml")
    assert outbox_mail(tmp_path, "bob@example.com", "invited you")["From"] == "Crontopus <cron@example.com>"
