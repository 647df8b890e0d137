"""Public status badges: what a badge URL names (a selector), the alerting service's answers, and
the list the API shows a team.

A badge URL is ``<public URL>/badge/<public_id>/<signature>/<selector>.svg`` (or ``.json``, for
shields.io's endpoint badge). The selector says which jobs it sums up:

- ``job/<namespace>/<name>``: one job;
- ``namespace/<namespace>``: every job of a namespace;
- ``label/<key>=<value>``: every job with that label.

The signature is a keyed hash of the selector under the team's badge key (``public_id`` names the
key): only URLs the team was given answer, and rotating the key ends them all.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from crontopus_schemas.rpc import TenantScoped
from crontopus_schemas.times import UtcDateTime

BadgeStatus = Literal["up", "late", "down", "paused", "new"]
BadgeKind = Literal["job", "namespace", "label"]

# The words and colours of each status (the SVG and shields' endpoint JSON use the same ones).
# Darker than shields' defaults so that white text keeps a contrast of 4.5:1 or more.
BADGE_COLOURS: dict[str, str] = {
    "up": "2e7d32",
    "late": "a15c00",
    "down": "c62828",
    "paused": "6b6b6b",
    "new": "546e7a",
}

_DNS = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_KEY = r"([a-z0-9.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
SELECTOR_PATTERN = rf"^(job/{_DNS}/{_DNS}|namespace/{_DNS}|label/{_KEY}={_VALUE})$"
_SELECTOR = re.compile(SELECTOR_PATTERN)
PUBLIC_ID_PATTERN = r"^[a-z0-9]{1,32}$"
SIGNATURE_PATTERN = r"^[a-z2-7]{16}$"
MAX_SELECTOR = 330  # "label/" + a 253-character key + "=" + a 63-character value


def is_selector(text: str) -> bool:
    return len(text) <= MAX_SELECTOR and _SELECTOR.fullmatch(text) is not None


def job_selector(job: str) -> str:
    return f"job/{job}"


def namespace_selector(namespace: str) -> str:
    return f"namespace/{namespace}"


def label_selector(key: str, value: str) -> str:
    return f"label/{key}={value}"


# --- between the gateway and the alerting service -----------------------------------------------


class BadgeResolveRequest(BaseModel):
    """A badge URL's parts, as the gateway read them (no team: the URL is the credential)."""

    public_id: str = Field(max_length=64)
    signature: str = Field(max_length=64)
    selector: str = Field(max_length=MAX_SELECTOR + 10)


class BadgeState(BaseModel):
    """What a valid badge URL shows: its label (the selector's name) and the status word."""

    label: str
    status: BadgeStatus


class BadgeKeyed(BaseModel):
    """One badge of a team's list, signed, before the gateway makes URLs of it."""

    kind: BadgeKind
    name: str  # "<namespace>/<name>", "<namespace>", "<key>=<value>": the badge's left side
    selector: str
    signature: str
    status: BadgeStatus
    jobs: int


class BadgeKeyList(BaseModel):
    public_id: str
    created_at: UtcDateTime  # when the key was made (or rotated)
    badges: list[BadgeKeyed]


class BadgeListRequest(TenantScoped):
    job: str | None = Field(default=None, max_length=127)  # only this job's badge (a job's page)


# --- the API ------------------------------------------------------------------------------------


class BadgePublic(BaseModel):
    kind: BadgeKind = Field(description="what the badge sums up: one job, a namespace, or the jobs with a label")
    name: str = Field(description="the badge's left side: `<namespace>/<name>`, `<namespace>` or `<key>=<value>`")
    selector: str = Field(description="`job/<namespace>/<name>`, `namespace/<namespace>` or `label/<key>=<value>`")
    status: BadgeStatus = Field(description="what the badge shows now")
    jobs: int = Field(description="how many jobs it sums up")
    svg_url: str = Field(description="the badge as an SVG image; public, no sign-in")
    json_url: str = Field(
        description="the same for shields.io's endpoint badge (`https://img.shields.io/endpoint?url=...`)"
    )
    markdown: str = Field(description="`![<name>](<svg_url>)`, for a README")


class BadgeList(BaseModel):
    key_created_at: UtcDateTime = Field(description="when the team's badge key was made or last rotated")
    badges: list[BadgePublic] = Field(description="one per job, then per namespace, then per label pair")


class BadgeEndpoint(BaseModel):
    """shields.io's endpoint badge schema (https://shields.io/badges/endpoint-badge)."""

    schemaVersion: Literal[1] = 1  # shields' own field name
    label: str
    message: BadgeStatus
    color: str = Field(description="hex, without '#'")
