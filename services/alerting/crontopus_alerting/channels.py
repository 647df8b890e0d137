"""Notification channels: any Apprise URL, validated, shown masked, sealed at rest, kept away from
private networks, and routed by job labels.

SSRF: a channel URL is a request the server makes on a tenant's behalf, so it must not reach the
server's own network (a cloud metadata endpoint, an admin port on loopback, a database on
10.x) unless the operator allows private networks (``egress.ALLOW_SETTING``). Two checks:

- ``check_targets`` resolves the host a URL talks to (for the schemes where the user chooses the
  host: json://, xml://, form://, the SMTP server of mailto://, ntfy://, gotify://, ...) and
  refuses non-public addresses. Schemes of fixed public services (slack://, pagerduty://,
  discord://, ...) carry tokens where a host would be and are not resolved. It runs when a
  channel is created, for a clear 4xx, and again before each send.
- ``guarded_connections`` refuses, while a notification is being sent, every connection whose
  address resolves to a non-public one, whichever plugin makes it. DNS can change between the
  check and the connection (rebinding); this looks at the address actually used.

That second check sees only addresses looked up with ``socket.getaddrinfo`` in the sending thread.
So each plugin's transport is known (``PLUGIN_TRANSPORTS``, reviewed per Apprise release): HTTP
(requests), SMTP and Apprise's own socket transport look up there; rsyslog:// sends UDP to a
host name the C library resolves by itself, so it is handed the address we resolved and checked
(``pin_datagram_target``); any other plugin (AMQP, MQTT, XMPP, Growl, SMPP, or one a later Apprise
adds) is refused, since nothing would see where it connects.

Why a hook on ``socket.getaddrinfo``: plugins call ``requests.post`` and ``smtplib``
themselves, with no resolver, session or socket factory we could hand them per send (Apprise's
own ``HTTPPolicy`` covers its attachment downloads, not plugins), and pinning an address instead
would break TLS for a user-chosen HTTPS host. The hook is installed only in the notification
sender's own process (crontopus_alerting.sender), which does nothing else: no other service's
lookups pass through it, even in the all-in-one server.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
import uuid
from collections.abc import Collection, Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import apprise
from apprise.plugins.base import NotifyBase
from sqlalchemy import and_, func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crontopus_alerting.models import Channel, Delivery
from crontopus_kit import egress
from crontopus_kit.crypto import SecretBox, mask
from crontopus_kit.errors import Conflict, Invalid, NotFound
from crontopus_schemas.alerting import ChannelCreate, ChannelPublic, DeliveryPublic

URL_PURPOSE = "alerting:channel-url"

# Plugins that act on the machine running Crontopus itself (desktop pop-ups, its syslog, a USB
# light): a tenant's alert has no business there.
LOCAL_KINDS = frozenset({"dbus", "kde", "qt", "glib", "gio", "gnome", "macosx", "windows", "syslog", "blink1"})

# How each Apprise plugin (by its module under apprise.plugins) reaches the network; reviewed for
# Apprise 2.3. A plugin not named here is refused: its transport may be one no check sees.
RESOLVED_IN_THREAD = "resolved in the sending thread"  # requests, smtplib, Apprise's SocketTransport
DATAGRAM = "UDP to a host name"  # sendto((host, port)): the C library resolves it, unseen
_RESOLVING_MODULES = """
    acs africas_talking apprise_api aprs awswhatsapp bale bark betterstack bluesky brevo bulksms
    bulkvs burstsms chanify clickatell clicksend cliq cm custom_form custom_json custom_xml d7networks
    dapnet deltachat dingtalk discord dot eight00com email emby enigma2 evolution exotel fcm feishu
    firehydrant flock flowtriq fluxer fortysixelks freemobile github goalert google_chat gorush gotify
    groundmail groupme guilded gupshup home_assistant httpsms humhub ifttt ilert incidentio infobip
    instagram irc jellyfin jira join kakaotalk kaleyra kavenegar kodi kook kumulos lametric lark
    lauther lfgalarm line mailersend mailgun mastodon matrix mattermost messagebird misskey
    mobilemessage msg91 nextcloud nextcloudtalk nostr notica notifiarr notifico notifyapp notifyre ntfy
    octopush office365 one_signal onebot opsgenie opsimate pagerduty pagertree parseplatform pinglet
    pingram plivo postmark prowl pushbullet pushdeer pushed pushjet pushme pushover pushplus pushsafer
    pushward pushy qq reddit resend revolt ringcentral rocketchat ryver sendgrid sendpulse serverchan
    serwersms ses seven sfr signal_api signalgrid signl4 simplepush sinch slack smsc smseagle
    smsmanager smstunnel smtp2go sns sogs sparkpost spike splunk spugpush squadcast stackfield
    streamlabs synology techuluspush telegram telesign telnyx threema trigv twilio twist twitter vapid
    viber voipms vonage webexteams wechat wecombot whapi whatsapp workflows wpush wxpusher xmatters
    youlmk zalo zoom zulip
"""
PLUGIN_TRANSPORTS: dict[str, str] = {
    **dict.fromkeys(_RESOLVING_MODULES.split(), RESOLVED_IN_THREAD),
    "rsyslog": DATAGRAM,
}
# Reviewed and refused: connections made by libraries that resolve where no check sees it
# (pika/qpid-proton, gntp, paho-mqtt, smpplib, slixmpp's executor), or the server itself.
REFUSED_MODULES = frozenset({"amqp", "growl", "mqtt", "smpp", "xmpp", "dbus", "glib", "gnome", "macosx", "windows",
                             "syslog", "blink1"})  # fmt: skip

# service_timeout=0: Apprise sends in the calling thread (notify.py's own pool, which bounds the
# time) instead of handing each send to its shared pool of a handful of threads.
ASSET = apprise.AppriseAsset(app_id="Crontopus", app_desc="Crontopus alerts", storage_mode="memory", service_timeout=0)

# --- URLs: validate, kind, mask, seal ----------------------------------------------------------

_instantiating = threading.local()


class _QuietWhileInstantiating(logging.Filter):
    """Apprise logs a URL it cannot load at ERROR, whole ("Unparseable URL slak://token/..."):
    a user's typo would put the channel's secret in the server's log. While a URL is loaded,
    the caller's 422 is the only verdict (per thread: the sender's threads log their sends)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_instantiating, "active", False)


logging.getLogger("apprise").addFilter(_QuietWhileInstantiating())


def instantiate(url: str | dict[str, Any]) -> NotifyBase | None:
    """Apprise's plugin for a URL (or its parsed dict), None when it cannot load it; logs nothing."""
    _instantiating.active = True
    try:
        return apprise.Apprise.instantiate(url, asset=ASSET, suppress_exceptions=True)
    finally:
        _instantiating.active = False


def parse_url(url: str) -> NotifyBase:
    """The Apprise plugin for ``url``, or Invalid. The message never repeats the URL: it may
    hold a password."""
    plugin = instantiate(url.strip())
    if plugin is None:
        scheme = url.split("://", 1)[0] if "://" in url else ""
        hint = f" ({scheme}:// is unknown, or the URL is incomplete)" if scheme.isalnum() else ""
        raise Invalid(
            "url: not a notification URL Apprise recognises" + hint + "; "
            "e.g. slack://…, mailto://…, pagerduty://…, json://host/path (see https://appriseit.com/services/)"
        )
    if channel_kind(plugin) in LOCAL_KINDS:
        raise Invalid(f"url: {channel_kind(plugin)}:// notifies the server Crontopus runs on; use a network service")
    if transport(plugin) is None:
        raise Invalid(
            f"url: {channel_kind(plugin)}:// is not supported: Crontopus cannot check which addresses its "
            "plugin connects to, so it could reach the server's own network; use a web hook "
            "(json://, ntfy://, slack://, ...) or email (mailto://)"
        )
    return plugin


def transport(plugin: NotifyBase) -> str | None:
    """How the plugin reaches the network (``PLUGIN_TRANSPORTS``); None for one not reviewed."""
    module = type(plugin).__module__.split(".")
    if module[:2] != ["apprise", "plugins"] or len(module) < 3:
        return None
    return PLUGIN_TRANSPORTS.get(module[2])


def channel_kind(plugin: NotifyBase) -> str:
    """The canonical scheme: `slack` also for a pasted https://hooks.slack.com/... URL."""
    return urlsplit(plugin.url(privacy=True)).scheme


_SECRET_NAME = re.compile(r"(?i)token|key|secret|pass|pwd|auth|sig|credential|session|code|hash|cookie")
_ALREADY_MASKED = re.compile(r"\*\*\*\*|\.\.\.|…")


def mask_url(url: str) -> str:
    """The URL as shown back: Apprise hides what each plugin knows to be secret (tokens, keys,
    passwords); on top of that every header (``+Name``), extra query value with a secret-like
    name and token-like path segment of a user-chosen host. Only parameters the user wrote are
    shown, not Apprise's defaults."""
    plugin = parse_url(url)
    shown = urlsplit(plugin.url(privacy=True))
    written = {name.lower() for name, _ in _query_pairs(urlsplit(url.strip()).query)}
    query = [
        f"{name}={_mask_query_value(name, value)}"
        for name, value in _query_pairs(shown.query)
        if name.lower() in written
    ]
    path = unquote(shown.path)
    if _user_chooses_host(plugin):
        path = "/".join(_mask_segment(segment) for segment in path.split("/"))
    return f"{shown.scheme}://{shown.netloc}{path}" + (f"?{'&'.join(query)}" if query else "")


def _query_pairs(query: str) -> list[tuple[str, str]]:
    """Like parse_qsl, but a leading ``+`` (Apprise: a header) stays a plus, not a space."""
    pairs = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return pairs


def _mask_query_value(name: str, value: str) -> str:
    if _ALREADY_MASKED.search(value) or not (name[:1] in "+-" or _SECRET_NAME.search(name)):
        return value
    return _hide(value)


def _mask_segment(segment: str) -> str:
    if "@" in segment:  # an email recipient (mailto://host/ops@example.com), not a token
        return segment
    token_like = len(segment) >= 16 or (len(segment) >= 8 and re.search(r"\d", segment) and re.search(r"\D", segment))
    return _hide(segment) if token_like and not _ALREADY_MASKED.search(segment) else segment


def _hide(value: str) -> str:
    """At most an eighth of a value shows at each end: recognisable, never usable."""
    keep = min(4, len(value) // 8)
    return mask(value, keep=keep) if keep else "****"


def secret_parts(url: str) -> list[str]:
    """Pieces of a URL that may be secret (user info, path segments, query values), longest first:
    scrubbed from error texts before they are stored or logged."""
    parts = urlsplit(url.strip())
    pieces = [parts.username or "", parts.password or ""]
    if not _host_is_shown(url):  # slack://, pagerduty://...: a token where the host would be
        pieces.append(parts.hostname or "")
    pieces += [unquote(segment) for segment in parts.path.split("/")]
    pieces += [value for _, value in _query_pairs(parts.query)]
    return sorted({piece for piece in pieces if len(piece) >= 6}, key=len, reverse=True)


def _host_is_shown(url: str) -> bool:
    try:
        return _user_chooses_host(parse_url(url))
    except Invalid:
        return False


def scrub(text: str, url: str) -> str:
    for piece in secret_parts(url):
        text = text.replace(piece, "****")
    return text


def seal_url(url: str, *, secret: bytes) -> str:
    return SecretBox(secret, URL_PURPOSE).seal(url.strip())


def open_url(sealed: str, *, secret: bytes) -> str:
    return SecretBox(secret, URL_PURPOSE).open(sealed)


# --- SSRF: where a URL connects, and whether that may be reached ----------------------------------


def _user_chooses_host(plugin: NotifyBase) -> bool:
    return "host" in plugin.template_tokens


def target_hosts(plugin: NotifyBase) -> list[str]:
    """The hosts a plugin connects to when the user chose them; [] for fixed public services."""
    smtp_host = getattr(plugin, "smtp_host", None)
    if isinstance(smtp_host, str) and smtp_host:  # mailto://: the SMTP server, not the mail domain
        return [smtp_host]
    host = getattr(plugin, "host", None)
    if _user_chooses_host(plugin) and isinstance(host, str) and host:
        return [host.strip("[]")]
    return []


async def check_targets(url: str, *, allow_private: bool) -> None:
    """Invalid when the URL's host resolves to a private, loopback, link-local, multicast or
    reserved address and the operator has not allowed those."""
    plugin = parse_url(url)
    for host in target_hosts(plugin):
        await egress.check_host(host, allow_private=allow_private, field="url", what="notifications")


_guard: ContextVar[list[str] | None] = ContextVar("crontopus_alerting_connect_guard", default=None)
_install_lock = threading.Lock()
_real_getaddrinfo: Any = None


@contextlib.contextmanager
def guarded_connections(*, allow_private: bool) -> Iterator[list[str]]:
    """While inside, name resolution in this context (and in threads that copy it) fails for
    non-public addresses, so no connection can reach them; the refusals are collected in the
    yielded list. Called in the sender's process only (see the module docstring); there too the
    wrapper passes through when no guard is set."""
    refusals: list[str] = []
    if allow_private:
        yield refusals
        return
    _install()
    token = _guard.set(refusals)
    try:
        yield refusals
    finally:
        _guard.reset(token)


def _install() -> None:
    global _real_getaddrinfo
    with _install_lock:
        if _real_getaddrinfo is None:
            _real_getaddrinfo = socket.getaddrinfo
            socket.getaddrinfo = _guarded_getaddrinfo  # urllib3 and smtplib look it up at each call


def _guarded_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    results = _real_getaddrinfo(host, port, *args, **kwargs)
    refusals = _guard.get()
    if refusals is not None:
        for *_, sockaddr in results:
            problem = egress.address_refusal(str(sockaddr[0]))
            if problem:
                refusals.append(egress.refusal_message(str(host), str(sockaddr[0]), problem, what="notifications"))
                raise socket.gaierror(socket.EAI_FAIL, f"refused: {host} is a {problem} address")
    return results


def pin_datagram_target(plugin: NotifyBase) -> None:
    """For a plugin that sends UDP to a host name (rsyslog://): resolve the name here, where a
    guarded send refuses a non-public answer, and give the plugin that address, so nothing is
    resolved after the check. IPv4 only, as the plugin's socket is. Raises OSError (refused or
    not resolvable)."""
    if transport(plugin) != DATAGRAM:
        return
    host = str(plugin.host).strip("[]")
    plugin.host = str(socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_DGRAM)[0][4][0])


# --- store ---------------------------------------------------------------------------------------


def to_public(row: Channel, last_delivery: Delivery | None = None) -> ChannelPublic:
    last = None
    if last_delivery is not None:
        last = DeliveryPublic.model_validate(last_delivery, from_attributes=True).model_copy(
            update={"channel_name": row.name}
        )
    return ChannelPublic(
        id=row.id, name=row.name, kind=row.kind, url=row.url_masked, match_labels=json.loads(row.match_labels),
        escalation=row.escalation, enabled=row.enabled, created_at=row.created_at, last_delivery=last,
    )  # fmt: skip


async def newest_deliveries(session: AsyncSession, *, tenant_id: str, channel_ids: list[str]) -> dict[str, Delivery]:
    """Each channel's newest delivery (a test-send's or an incident's), by channel id: the page
    shows how the last notification went, and a test-send's outcome once the sender tried it."""
    if not channel_ids:
        return {}
    newest = (
        select(col(Delivery.channel_id), func.max(col(Delivery.created_at)).label("at"))
        .where(col(Delivery.tenant_id) == tenant_id, col(Delivery.channel_id).in_(channel_ids))
        .group_by(col(Delivery.channel_id))
        .subquery()
    )
    rows = await session.scalars(
        select(Delivery).join(
            newest, and_(col(Delivery.channel_id) == newest.c.channel_id, col(Delivery.created_at) == newest.c.at)
        )
    )
    found: dict[str, Delivery] = {}
    for row in rows:  # deliveries created at the same instant: the larger id, so the answer is stable
        if row.channel_id not in found or row.id > found[row.channel_id].id:
            found[row.channel_id] = row
    return found


async def create_channel(
    *,
    session: AsyncSession,
    tenant_id: str,
    body: ChannelCreate,
    secret: bytes,
    allow_private: bool,
    now: datetime | None = None,
) -> ChannelPublic:
    url = body.url.strip()
    plugin = parse_url(url)
    await check_targets(url, allow_private=allow_private)
    if await _named(session, tenant_id=tenant_id, name=body.name):
        raise Conflict(f"name: a channel named {body.name!r} already exists")
    row = Channel(
        id=uuid.uuid4().hex, tenant_id=tenant_id, name=body.name, kind=channel_kind(plugin),
        url_sealed=seal_url(url, secret=secret), url_masked=mask_url(url),
        match_labels=json.dumps(body.match_labels, sort_keys=True), escalation=body.escalation,
        enabled=body.enabled, created_at=now or datetime.now(UTC),
    )  # fmt: skip
    session.add(row)
    try:
        await session.commit()
    except IntegrityError as exc:  # the same name, created concurrently
        await session.rollback()
        raise Conflict(f"name: a channel named {body.name!r} already exists") from exc
    return to_public(row)


async def _named(session: AsyncSession, *, tenant_id: str, name: str) -> bool:
    found = await session.execute(
        select(Channel.id).where(col(Channel.tenant_id) == tenant_id, col(Channel.name) == name)
    )
    return found.first() is not None


async def list_channels(*, session: AsyncSession, tenant_id: str) -> list[ChannelPublic]:
    """By name, each with its newest delivery."""
    rows = list(
        await session.scalars(select(Channel).where(col(Channel.tenant_id) == tenant_id).order_by(col(Channel.name)))
    )
    last = await newest_deliveries(session, tenant_id=tenant_id, channel_ids=[row.id for row in rows])
    return [to_public(row, last.get(row.id)) for row in rows]


async def get_channel_row(*, session: AsyncSession, tenant_id: str, channel_id: str) -> Channel:
    """Another tenant's channel is NotFound, exactly like a missing one."""
    row = await session.get(Channel, channel_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"channel {channel_id} not found")
    return row


async def get_channel(*, session: AsyncSession, tenant_id: str, channel_id: str) -> ChannelPublic:
    """The channel with its newest delivery (poll it after a test-send for the outcome)."""
    row = await get_channel_row(session=session, tenant_id=tenant_id, channel_id=channel_id)
    last = await newest_deliveries(session, tenant_id=tenant_id, channel_ids=[row.id])
    return to_public(row, last.get(row.id))


async def delete_channel(*, session: AsyncSession, tenant_id: str, channel_id: str) -> None:
    """Deliveries still queued for it give up ("channel deleted") instead of sending."""
    row = await get_channel_row(session=session, tenant_id=tenant_id, channel_id=channel_id)
    await session.delete(row)
    await session.commit()


def routes(match_labels: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """A channel takes a job's incidents when each of its labels matches; no labels: every job."""
    return all(labels.get(key) == value for key, value in match_labels.items())


async def channels_for(
    *, session: AsyncSession, tenant_id: str, labels: Mapping[str, str], escalation: bool
) -> list[Channel]:
    """The enabled channels an incident of a job with these labels goes to: the ordinary ones, or
    (``escalation``) the escalation ones. Agent incidents have no job labels: only channels
    without match_labels take them."""
    query = select(Channel).where(
        col(Channel.tenant_id) == tenant_id, col(Channel.enabled).is_(True), col(Channel.escalation).is_(escalation)
    )
    rows = await session.scalars(query.order_by(col(Channel.name)))
    return [row for row in rows if routes(json.loads(row.match_labels), labels)]


async def channels_told(
    *, session: AsyncSession, tenant_id: str, incident_id: str, events: Collection[str]
) -> list[Channel]:
    """The enabled channels that were sent (or are being sent) one of these events of the incident,
    whatever became of that delivery: a channel whose trigger failed was still meant to know."""
    heard = select(Delivery.channel_id).where(
        col(Delivery.tenant_id) == tenant_id, col(Delivery.incident_id) == incident_id, col(Delivery.event).in_(events)
    )
    query = select(Channel).where(
        col(Channel.tenant_id) == tenant_id, col(Channel.enabled).is_(True), col(Channel.id).in_(heard)
    )
    return list(await session.scalars(query.order_by(col(Channel.name))))
