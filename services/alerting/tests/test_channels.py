"""Notification channels: Apprise URLs validated and masked, sealed at rest, refused when they point
into private networks, routed by job labels, and private to their tenant."""

import json
import logging
import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from crontopus_alerting import channels, notify
from crontopus_alerting.models import Delivery, Incident
from crontopus_kit.db import Database
from crontopus_kit.errors import Conflict, Invalid, NotFound
from crontopus_kit.nats_server import free_port
from crontopus_schemas.alerting import ChannelCreate

ALICE, BOB = "a" * 32, "b" * 32
SECRET = b"channel-test-secret-" + b"x" * 40
MIGRATIONS = Path(channels.__file__).parent / "migrations"
T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def name_resolution_restored():
    """The guard's hook belongs in the notification sender's process; tests that call it here
    take it out again, so no other test of this process runs under it."""
    original = socket.getaddrinfo
    yield
    socket.getaddrinfo = original
    channels._real_getaddrinfo = None


async def create(db: Database, tenant: str, name: str, url: str, allow_private: bool = False, **fields):
    async with db.session() as session:
        return await channels.create_channel(
            session=session, tenant_id=tenant, body=ChannelCreate(name=name, url=url, **fields),
            secret=SECRET, allow_private=allow_private, now=T0,
        )  # fmt: skip


# --- URLs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["bogus://x", "http://example.com/hook", "just text", "slack://"])
def test_a_url_apprise_does_not_recognise_is_refused_with_a_clear_message(url):
    with pytest.raises(Invalid, match="not a notification URL Apprise recognises"):
        channels.parse_url(url)


def test_an_invalid_pagerduty_url_is_refused_without_echoing_its_key():
    with pytest.raises(Invalid) as refused:
        channels.parse_url("pagerduty://onlyTHEsecretKEY12345")
    assert "onlyTHEsecretKEY12345" not in refused.value.message


@pytest.mark.parametrize("url", ["slak://xoxb-TOKEN123/ROOM", "json://", "mailto://me:PASSWORD123@"])
def test_a_url_apprise_cannot_load_leaves_no_trace_of_it_in_the_log(url, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(Invalid):
        channels.parse_url(url)
    assert not [record for record in caplog.records if record.name.startswith("apprise")]
    logging.getLogger("apprise").warning("a send's own message")  # other log lines still go out
    assert caplog.records[-1].message == "a send's own message"


def test_a_url_that_would_notify_the_server_itself_is_refused():
    with pytest.raises(Invalid, match="notifies the server"):
        channels.parse_url("syslog://")


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#alerts", "slack"),
        ("https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", "slack"),
        ("mailtos://ops:pw@smtp.example.com?to=oncall@example.com", "mailtos"),
        ("pagerduty://integrationKEY123456@apiKEY987654321", "pagerduty"),
        ("json://hooks.example.com/crontopus", "json"),
        ("tgram://123456789:ABCdefGHIjklMNOpqrSTUvwxYZ/12345", "tgram"),
    ],
)
def test_the_kind_is_the_scheme_also_for_a_pasted_slack_webhook(url, kind):
    assert channels.channel_kind(channels.parse_url(url)) == kind


@pytest.mark.parametrize(
    ("url", "secrets", "shown"),
    [
        ("slack://xoxb-1234-1234-4ddbc191d40ee098cbaae6f3523ada2d/#alerts",
         ["4ddbc191d40ee098cbaae6f3523ada2d"], ["slack://", "#alerts"]),
        ("https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
         ["TIiajkdnlazkcOXrIdevi7FQ", "T1JJ3T3L2/A1BRTD4JD"], ["slack://"]),
        ("mailto://ops:SmtpPassw0rd@smtp.example.com:2525?from=alerts@example.com&to=oncall@example.com",
         ["SmtpPassw0rd"], ["smtp.example.com:2525", "oncall@example.com", "from=alerts@example.com"]),
        ("pagerduty://integrationKEY123456@apiKEY987654321/crontopus",
         ["integrationKEY123456", "apiKEY987654321"], ["pagerduty://"]),
        ("json://hooks.example.com/hooks/Zk39slQ0dm2Xp7AaKq?-token=QuerySecret99&+Authorization=Bearer%20HeaderSecret&:team=data",
         ["Zk39slQ0dm2Xp7AaKq", "QuerySecret99", "HeaderSecret"], ["hooks.example.com/hooks/", "team=data"]),
        ("jsons://bot:WebhookPass1@hooks.example.com/x?token=abc", ["WebhookPass1"], ["hooks.example.com/x"]),
    ],
)  # fmt: skip
def test_masking_shows_enough_to_recognise_a_channel_and_none_of_its_secrets(url, secrets, shown):
    masked = channels.mask_url(url)
    for secret in secrets:
        assert secret not in masked
    for part in shown:
        assert part in masked
    assert "overflow=" not in masked  # Apprise's defaults are not shown, only what the user wrote


def test_an_error_text_is_scrubbed_of_the_urls_secrets():
    url = "json://user:TopSecretPw@hooks.example.com/hooks/Zk39slQ0dm2Xp7AaKq"
    text = "failed to POST to https://hooks.example.com/hooks/Zk39slQ0dm2Xp7AaKq as user:TopSecretPw"
    assert "Zk39slQ0dm2Xp7AaKq" not in channels.scrub(text, url)
    assert "TopSecretPw" not in channels.scrub(text, url)


async def test_a_channel_url_is_sealed_at_rest_and_shown_masked(db):
    url = "mailto://ops:SmtpPassw0rd@93.184.215.14:2525?from=alerts@example.com&to=oncall@example.com"
    created = await create(db, ALICE, "email", url)
    assert created.kind == "mailto" and "SmtpPassw0rd" not in created.url
    async with db.engine.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM channels"))).mappings().one()
    assert not any("SmtpPassw0rd" in str(value) for value in row.values())
    assert channels.open_url(row["url_sealed"], secret=SECRET) == url
    with pytest.raises(ValueError):  # another secret cannot open it
        channels.open_url(row["url_sealed"], secret=b"another-secret-" + b"y" * 40)


async def test_a_second_channel_with_the_same_name_is_a_conflict(db):
    await create(db, ALICE, "ops", "json://93.184.215.14/a")
    with pytest.raises(Conflict, match="already exists"):
        await create(db, ALICE, "ops", "json://93.184.215.14/b")
    await create(db, BOB, "ops", "json://93.184.215.14/b")  # names are per tenant


# --- SSRF ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("json://127.0.0.1:8080/hook", "127.0.0.1 is a loopback address"),
        ("json://localhost/hook", "localhost (127.0.0.1) is a loopback address"),
        ("jsons://10.0.0.1/hook", "10.0.0.1 is a private address"),
        ("xml://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
        ("form://[::1]:9000/x", "::1 is a loopback address"),
        ("json://2130706433/x", "(127.0.0.1) is a loopback address"),  # 127.0.0.1 spelled as a number
        ("mailto://ops:pw@mail.example.com?smtp=127.0.0.1&from=a@example.com", "127.0.0.1 is a loopback"),
    ],
)
async def test_a_channel_pointing_into_a_private_network_is_refused_by_default(db, url, problem):
    with pytest.raises(Invalid, match=r"ALLOW_PRIVATE_NETWORKS") as refused:
        await create(db, ALICE, "internal", url)
    assert problem in refused.value.message
    async with db.session() as session:
        assert await channels.list_channels(session=session, tenant_id=ALICE) == []


async def test_the_operator_can_allow_private_targets(db):
    created = await create(db, ALICE, "local", "json://127.0.0.1:8080/hook", allow_private=True)
    assert created.url.startswith("json://127.0.0.1:8080/hook")


async def test_a_fixed_public_service_is_not_resolved_for_its_tokens():
    # slack:// carries tokens where a host would be: nothing to resolve, nothing refused.
    await channels.check_targets("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", allow_private=False)
    assert channels.target_hosts(channels.parse_url("pagerduty://key1234567@key7654321")) == []
    assert channels.target_hosts(channels.parse_url("mailtos://a:b@gmail.com")) == ["smtp.gmail.com"]


def test_while_sending_no_connection_reaches_a_private_address_whatever_dns_said_before():
    port = free_port()
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        with channels.guarded_connections(allow_private=False) as refusals, pytest.raises(OSError):
            socket.create_connection(("localhost", port), timeout=2)
        assert refusals and "loopback" in refusals[0]
        with channels.guarded_connections(allow_private=True), socket.create_connection(("127.0.0.1", port)):
            pass
        with socket.create_connection(("127.0.0.1", port)):  # outside a send nothing changes
            pass


async def test_a_syslog_server_on_loopback_is_refused_when_the_channel_is_created(db):
    with pytest.raises(Invalid, match=r"127\.0\.0\.1 is a loopback address"):
        await create(db, ALICE, "syslog", "rsyslog://127.0.0.1")


def test_a_plugin_whose_transport_was_not_reviewed_is_refused(monkeypatch):
    """A later Apprise may bring a plugin that connects in a way no check sees: refused until
    someone reads it and names its transport."""
    monkeypatch.setattr(channels, "PLUGIN_TRANSPORTS", {"slack": channels.RESOLVED_IN_THREAD})
    with pytest.raises(Invalid, match=r"json:// is not supported: Crontopus cannot check which addresses"):
        channels.parse_url("json://hooks.example.com/alert")
    assert channels.channel_kind(channels.parse_url("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ")) == "slack"


def test_every_installed_apprise_plugin_has_been_reviewed():
    """Fails when an Apprise upgrade adds a plugin: read how it connects, then name it in
    PLUGIN_TRANSPORTS (its address is checked) or REFUSED_MODULES. Until then it is refused."""
    from apprise.manager_plugins import NotificationManager

    manager = NotificationManager()
    modules = {manager[schema].__module__.split(".")[2] for schema in manager.schemas()}
    assert modules - channels.PLUGIN_TRANSPORTS.keys() - channels.REFUSED_MODULES == set()
    assert channels.PLUGIN_TRANSPORTS.keys() - modules == set()  # no name in the table that Apprise lacks


def test_a_datagram_goes_only_to_the_address_that_was_checked():
    plugin = channels.parse_url("rsyslog://localhost:5514")
    with channels.guarded_connections(allow_private=False) as refusals, pytest.raises(OSError):
        channels.pin_datagram_target(plugin)
    assert len(refusals) == 1 and "localhost (127.0.0.1) is a loopback address" in refusals[0]
    with channels.guarded_connections(allow_private=True):
        channels.pin_datagram_target(plugin)
    assert plugin.host == "127.0.0.1"  # what sendto gets: an address, nothing left to resolve


# --- routing and tenancy ---------------------------------------------------------------------------


async def test_an_incident_goes_to_the_channels_whose_labels_all_match_the_jobs(db):
    await create(db, ALICE, "everything", "json://93.184.215.14/all")
    await create(db, ALICE, "data-team", "json://93.184.215.14/data", match_labels={"team": "data"})
    await create(db, ALICE, "data-prod", "json://93.184.215.14/dp", match_labels={"team": "data", "env": "prod"})
    await create(db, ALICE, "pager", "json://93.184.215.14/pager", escalation=True)
    await create(db, ALICE, "off", "json://93.184.215.14/off", enabled=False)
    await create(db, BOB, "bobs", "json://93.184.215.14/bob")

    async def names(labels, escalation):
        async with db.session() as session:
            found = await channels.channels_for(session=session, tenant_id=ALICE, labels=labels, escalation=escalation)
        return [row.name for row in found]

    assert await names({"team": "data", "env": "prod"}, False) == ["data-prod", "data-team", "everything"]
    assert await names({"team": "data"}, False) == ["data-team", "everything"]
    assert await names({"team": "web"}, False) == ["everything"]
    assert await names({}, True) == ["pager"]


async def test_alice_cannot_see_or_delete_bobs_channels(db):
    bobs = await create(db, BOB, "bob-slack", "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ")
    async with db.session() as session:
        assert await channels.list_channels(session=session, tenant_id=ALICE) == []
        with pytest.raises(NotFound):
            await channels.get_channel(session=session, tenant_id=ALICE, channel_id=bobs.id)
        with pytest.raises(NotFound):
            await channels.delete_channel(session=session, tenant_id=ALICE, channel_id=bobs.id)
        assert [c.id for c in await channels.list_channels(session=session, tenant_id=BOB)] == [bobs.id]
        await channels.delete_channel(session=session, tenant_id=BOB, channel_id=bobs.id)
        assert await channels.list_channels(session=session, tenant_id=BOB) == []


async def test_a_channel_shows_how_its_newest_notification_went(db):
    """What the console's test-send polls for: the newest delivery, its status and its error."""
    webhook = await create(db, ALICE, "webhook", "json://93.184.215.14/hook")
    quiet = await create(db, ALICE, "quiet", "json://93.184.215.14/other")
    bobs = await create(db, BOB, "bob", "json://93.184.215.14/bob")
    later = T0.replace(minute=5)

    def delivery(tenant: str, channel: str, at: datetime, status: str, error: str | None = None) -> Delivery:
        return Delivery(id=uuid.uuid4().hex, tenant_id=tenant, channel_id=channel, event="test", status=status,
                        attempts=1, last_error=error, created_at=at)  # fmt: skip

    async with db.session() as session:
        session.add_all([
            delivery(ALICE, webhook.id, T0, "sent"),
            delivery(ALICE, webhook.id, later, "failed", "connection refused"),
            delivery(BOB, bobs.id, later.replace(minute=9), "sent"),
        ])  # fmt: skip
        await session.commit()
        listed = {c.name: c for c in await channels.list_channels(session=session, tenant_id=ALICE)}
        one = await channels.get_channel(session=session, tenant_id=ALICE, channel_id=webhook.id)
    for shown in (listed["webhook"], one):
        assert shown.last_delivery is not None
        assert (shown.last_delivery.status, shown.last_delivery.last_error) == ("failed", "connection refused")
        assert shown.last_delivery.channel_name == "webhook" and shown.last_delivery.created_at == later
    assert listed["quiet"].last_delivery is None and quiet.last_delivery is None  # and Bob's is not Alice's


# --- messages and PagerDuty ------------------------------------------------------------------------


def incident(**fields) -> Incident:
    values = dict(id=uuid.uuid4().hex, tenant_id=ALICE, job="production/backup", cause="failed", status="open",
                  detail="exit code 1: disk full", run_id="run-42", commit="abc1234", opened_at=T0)  # fmt: skip
    return Incident(**{**values, **fields})


def test_a_trigger_says_which_job_what_happened_and_where_to_look():
    found = incident()
    message = notify.build_message(event="trigger", incident=found, base_url="https://cron.example.com/")
    assert message.title == "[Crontopus] production/backup failed"
    for part in ("exit code 1: disk full", "Run: run-42", "Commit: abc1234", "Cause: failed",
                 f"https://cron.example.com/incidents/{found.id}",
                 "https://cron.example.com/runs/run-42"):  # fmt: skip
        assert part in message.body
    assert message.dedup_key == found.id


def test_resolve_reminder_and_escalation_are_told_apart():
    found = incident(cause="missed", status="resolved", resolved_at=T0, resolved_by="recovery")
    titles = {event: notify.build_message(event=event, incident=found, base_url="https://c").title
              for event in ("resolve", "renotify", "escalate")}  # fmt: skip
    assert titles["resolve"] == "[Crontopus] Resolved: production/backup missed its scheduled run"
    assert titles["renotify"].startswith("[Crontopus] Still open:")
    assert titles["escalate"].startswith("[Crontopus] Escalated")
    assert "Resolved by: recovery" in notify.build_message(event="resolve", incident=found, base_url="https://c").body


def test_the_resolve_of_a_removed_jobs_incident_says_so_and_links_no_job_page():
    found = incident(status="resolved", resolved_at=T0, resolved_by="job_removed")
    message = notify.build_message(event="resolve", incident=found, base_url="https://cron.example.com")
    assert message.title == "[Crontopus] Resolved, job removed: production/backup failed"
    assert "Resolved by: the job was removed from the team's manifests" in message.body
    assert f"https://cron.example.com/incidents/{found.id}" in message.body
    assert "/jobs/" not in message.body  # the job's page is a 404 now


@pytest.mark.parametrize(("event", "action"), [("trigger", "trigger"), ("renotify", "trigger"), ("resolve", "resolve")])
def test_pagerduty_triggers_and_resolves_one_alert_keyed_by_the_incident(monkeypatch, event, action):
    """PagerDuty's endpoint is public and not reachable from tests: the real Apprise plugin runs
    and the payload it would post is captured at requests.post."""
    import apprise.plugins.pagerduty as pagerduty

    sent = []

    class Accepted:
        status_code = 202
        content = b""

    monkeypatch.setattr(
        pagerduty.requests, "post", lambda url, data, **kw: sent.append((url, json.loads(data))) or Accepted()
    )
    found = incident()
    message = notify.build_message(event=event, incident=found, base_url="https://c")
    plugin = notify.plugin_for("pagerduty://routingKEY12345@apiKEY98765/crontopus?action=map", message)
    assert plugin.notify(body=message.body, title=message.title, notify_type=message.notify_type)
    [(url, payload)] = sent
    assert url == "https://events.pagerduty.com/v2/enqueue"
    assert (payload["event_action"], payload["dedup_key"], payload["routing_key"]) == (
        action,
        found.id,
        "routingKEY12345",
    )
    if action == "trigger":
        assert "production/backup failed" in payload["payload"]["summary"]


def test_a_token_in_the_host_position_is_scrubbed_but_a_real_host_is_kept():
    slack = "slack://xoxb-1234-1234-4ddbc191d40ee098cbaae6f3523ada2d/#alerts"
    assert "4ddbc191" not in channels.scrub("bot xoxb-1234-1234-4ddbc191d40ee098cbaae6f3523ada2d refused", slack)
    webhook = "json://hooks.example.com/x"
    assert channels.scrub("cannot reach hooks.example.com", webhook) == "cannot reach hooks.example.com"
