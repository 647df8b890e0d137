"""What a notification says, and sending it through Apprise.

Sending never raises for a channel's failure: it returns an Outcome whose error text is stored
with the delivery (secrets of the URL scrubbed). Apprise plugins block (requests, smtplib), so
they run in a thread of the notification sender's own process (crontopus_alerting.sender, which
says why a process), bounded by a timeout.

PagerDuty: Apprise's pagerduty:// plugin takes an ``action`` (trigger | resolve) and a ``dedup``
key; every event of an incident is sent with dedup key = the incident id, so a trigger, its
reminders and escalations update one PagerDuty alert and the resolve closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import apprise
from apprise import NotifyFormat, NotifyType
from apprise.plugins import url_to_dict
from apprise.plugins.base import NotifyBase

from crontopus_alerting.channels import (
    ASSET,
    check_targets,
    guarded_connections,
    instantiate,
    pin_datagram_target,
    scrub,
)
from crontopus_alerting.incidents import JOB_REMOVED, offline_agent_name
from crontopus_alerting.models import Incident
from crontopus_alerting.sender import Sender, time_limited
from crontopus_kit.errors import Invalid

Event = Literal["trigger", "resolve", "renotify", "escalate", "test"]

DEFAULT_TIMEOUT = 15.0
SEND_THREADS = 32  # sends at once, in the sender's process
TEAM_SENDS = 4  # of them, at most, for one team's channels


class TeamShares:
    """At most ``limit`` sends of one team at once, the rest of its sends waiting their turn: a
    team whose channels all hang (or are made to) holds a few sending threads, never every team's."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._turns: dict[str, asyncio.Semaphore] = {}
        self._users: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def turn(self, team: str) -> AsyncIterator[None]:
        if team not in self._turns:
            self._turns[team] = asyncio.Semaphore(self.limit)
        turns = self._turns[team]
        self._users[team] = self._users.get(team, 0) + 1
        try:
            async with turns:
                yield
        finally:
            self._users[team] -= 1
            if not self._users[team]:  # nobody sending or waiting: forget the team
                del self._users[team], self._turns[team]


SENDER = Sender(threads=SEND_THREADS)
TEAMS = TeamShares(TEAM_SENDS)
MAX_DETAIL = 2000
MAX_ERROR = 1000

CAUSE_PHRASES = {
    "failed": "failed",
    "missed": "missed its scheduled run",
    "not_finished": "started but did not finish",
    "too_long": "ran longer than allowed",
    "too_fast": "finished faster than expected",
    "too_often": "ran more often than allowed",
    "agent_offline": "is offline",
}
_WARNINGS = frozenset({"too_long", "too_fast", "too_often"})
_TITLE_PREFIX = {
    "trigger": "",
    "renotify": "Still open: ",
    "escalate": "Escalated, not acknowledged: ",
    "resolve": "Resolved: ",
}


@dataclass(frozen=True)
class Notification:
    event: Event
    title: str
    body: str
    notify_type: NotifyType
    dedup_key: str | None  # the incident id: PagerDuty's dedup_key


@dataclass(frozen=True)
class Outcome:
    ok: bool
    error: str | None = None


# --- the message ---------------------------------------------------------------------------------


def build_message(*, event: Event, incident: Incident | None, base_url: str, channel_name: str = "") -> Notification:
    if event == "test" or incident is None:
        return _test_message(base_url=base_url, channel_name=channel_name)
    what = f"{_subject(incident)} {CAUSE_PHRASES.get(incident.cause, incident.cause)}"
    notify_type = NotifyType.SUCCESS if event == "resolve" else _severity(incident)
    title = f"[Crontopus] {_prefix(event, incident)}{what}"
    return Notification(event, title, _body(event, incident, what, base_url.rstrip("/")), notify_type, incident.id)


def _prefix(event: Event, incident: Incident) -> str:
    if event == "resolve" and incident.resolved_by == JOB_REMOVED:
        return "Resolved, job removed: "
    return _TITLE_PREFIX.get(event, "")


def _subject(incident: Incident) -> str:
    return incident.job or f"agent {offline_agent_name(incident) or incident.agent_id}"


def _agent(incident: Incident) -> str | None:
    """The agent by name, with its id (what `crontopus agents show` takes)."""
    name = offline_agent_name(incident) if incident.agent_id else None
    return f"{name} (id {incident.agent_id})" if name else incident.agent_id


def _severity(incident: Incident) -> NotifyType:
    return NotifyType.WARNING if incident.cause in _WARNINGS else NotifyType.FAILURE


def _body(event: Event, incident: Incident, what: str, base: str) -> str:
    removed = event == "resolve" and incident.resolved_by == JOB_REMOVED
    lines = [f"{_prefix(event, incident)}{what}.", ""]
    fields = [
        ("Job", incident.job),
        ("Agent", _agent(incident)),
        ("Cause", incident.cause),
        ("Detail", _clip(incident.detail)),
        ("Run", incident.run_id),
        ("Commit", incident.commit),
        ("Opened", _when(incident.opened_at)),
    ]
    if event == "resolve":
        by = "the job was removed from the team's manifests" if removed else incident.resolved_by
        fields += [("Resolved", _when(incident.resolved_at)), ("Resolved by", by)]
    lines += [f"{name}: {value}" for name, value in fields if value]
    # The web console's pages (each at the API's path without /api/): the incident has Acknowledge.
    lines += ["", f"Incident: {base}/incidents/{incident.id}"]
    if event != "resolve":
        lines.append(f"Acknowledge there, or: crontopus alerts incidents ack {incident.id}")
    if incident.job and not removed:  # a removed job's page is gone
        lines.append(f"Job: {base}/jobs/{incident.job}")
    if incident.run_id:
        lines.append(f"Run output: {base}/runs/{incident.run_id}")
    return "\n".join(lines)


def _test_message(*, base_url: str, channel_name: str) -> Notification:
    name = f" “{channel_name}”" if channel_name else ""
    body = (
        f"This is a test notification from Crontopus for the channel{name}.\n"
        f"If you can read it, alerts will reach you here.\n\n{base_url.rstrip('/')}"
    )
    return Notification("test", "[Crontopus] Test notification", body, NotifyType.INFO, None)


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


def _when(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else None


# --- sending -------------------------------------------------------------------------------------


async def send(
    *, team: str, url: str, notification: Notification, allow_private: bool, timeout: float = DEFAULT_TIMEOUT
) -> Outcome:
    """Send one notification to one Apprise URL, in the team's turn (``TeamShares``). The SSRF
    check runs again first (DNS may have changed since the channel was created) and connections
    are guarded while sending."""
    try:
        await check_targets(url, allow_private=allow_private)
        async with TEAMS.turn(team):
            # The whole send ends within `timeout` in the sender (sender.time_limited); should its
            # answer still not come (a plugin busy outside a socket), stop waiting and drop it.
            async with asyncio.timeout(timeout + 2):
                outcome: Outcome = await SENDER.call(url, notification, allow_private, timeout, start_within=timeout)
                return outcome
    except Invalid as exc:
        return Outcome(False, exc.message)
    except TimeoutError:
        return Outcome(False, f"no answer within {timeout:g}s")
    except Exception as exc:  # a plugin bug must not become a failed batch
        return Outcome(False, scrub(f"{type(exc).__name__}: {exc}", url)[:MAX_ERROR])


def send_blocking(url: str, notification: Notification, allow_private: bool, timeout: float) -> Outcome:
    """In the sender's process (crontopus_alerting.sender): the guarded send itself."""
    plugin = plugin_for(url, notification)
    plugin.socket_connect_timeout = min(plugin.socket_connect_timeout, timeout)
    plugin.socket_read_timeout = min(plugin.socket_read_timeout, timeout)
    with guarded_connections(allow_private=allow_private) as refusals, time_limited(timeout):
        try:
            pin_datagram_target(plugin)
        except OSError as exc:
            return Outcome(False, scrub("; ".join(refusals) or f"cannot resolve the host: {exc}", url)[:MAX_ERROR])
        result = apprise.Apprise([plugin], asset=ASSET).notify(
            body=notification.body, title=notification.title, notify_type=notification.notify_type,
            body_format=NotifyFormat.TEXT,
        )  # fmt: skip
    if result:
        return Outcome(True)
    return Outcome(False, scrub(_why(result, refusals, timeout), url)[:MAX_ERROR])


def _why(result: apprise.AppriseResult, refusals: list[str], timeout: float) -> str:
    if refusals:
        return "; ".join(dict.fromkeys(refusals))
    if result.status == apprise.AppriseResultStatus.TIMEOUT:
        return f"no answer within {timeout:g}s"
    messages = [entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR", "CRITICAL")]
    return "; ".join(dict.fromkeys(messages)) or f"not delivered ({result.status.name.lower()})"


def plugin_for(url: str, notification: Notification) -> NotifyBase:
    """The Apprise plugin to send with; for PagerDuty, set to trigger or resolve the incident's alert."""
    parsed = url_to_dict(url.strip(), secure_logging=True)
    if parsed is None:
        raise Invalid("url: not a notification URL Apprise recognises")
    if parsed.get("schema") == "pagerduty" and notification.dedup_key:
        parsed["action"] = "resolve" if notification.event == "resolve" else "trigger"
        parsed["dedup"] = notification.dedup_key
    plugin = instantiate(parsed)
    if plugin is None:
        raise Invalid("url: not a notification URL Apprise recognises")
    return plugin
