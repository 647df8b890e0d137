"""Public status badges: each team's badge key (``badge_keys``), the signed selectors of its
badges, and the status a selector shows. No broker imports; keyword-only arguments.

A job's status, from what alerting already keeps:

- ``paused``: the job is paused or disabled (nothing is watched);
- ``down``: an incident of the job is open or acknowledged;
- ``late``: its next expected start has passed with no run yet (within the grace, or past it
  until the tick opens the missed-run incident);
- ``new``: it has never run (as far as alerting has seen) and is not late yet: nothing has shown
  it works, so not ``up`` (grey, as Healthchecks' dashboard shows a new check);
- ``up``: otherwise.

A selector (several jobs) shows the worst of its jobs that are neither paused nor new (down,
late, up); when there is none, ``new`` if any job is new, else ``paused``. A selector without
jobs, an unknown key, a wrong signature: ``NotFound`` with the same message, so a forger learns
nothing of which part was wrong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crontopus_alerting.models import BadgeKey, Incident, JobMonitor
from crontopus_kit.errors import NotFound
from crontopus_kit.times import as_utc
from crontopus_schemas.badges import (
    BadgeKeyed,
    BadgeKeyList,
    BadgeResolveRequest,
    BadgeState,
    BadgeStatus,
    is_selector,
    job_selector,
    label_selector,
    namespace_selector,
)

NOT_FOUND = "not found"  # every refusal of a badge URL: never which part was wrong
SIGNATURE_BYTES = 10  # 80 bits, 16 base32 characters
SIGNING_CONTEXT = b"crontopus-badge-v1\x00"
RANK: dict[BadgeStatus, int] = {"up": 0, "late": 1, "down": 2}  # new, paused: only when all are
OPEN_STATUSES = ("open", "acknowledged")


def utcnow() -> datetime:
    return datetime.now(UTC)


def sign(secret: str, selector: str) -> str:
    """The selector's signature under a team's key: a truncated HMAC-SHA256, base32, lowercase."""
    digest = hmac.new(secret.encode(), SIGNING_CONTEXT + selector.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:SIGNATURE_BYTES]).decode().lower()


def _new_key(tenant_id: str, now: datetime) -> BadgeKey:
    # public_id: 20 base32 characters (100 bits): names the key, lowercase so URLs read well.
    public_id = base64.b32encode(secrets.token_bytes(15)).decode().lower()[:20]
    return BadgeKey(tenant_id=tenant_id, public_id=public_id, secret=secrets.token_urlsafe(32), created_at=now)


# --- the team's key -------------------------------------------------------------------------------


async def key_of(*, session: AsyncSession, tenant_id: str, now: datetime | None = None) -> BadgeKey:
    """The team's key, made on first use. Two first uses at once: one insert wins, both read it."""
    found = await session.get(BadgeKey, tenant_id)
    if found is not None:
        return found
    session.add(_new_key(tenant_id, now or utcnow()))
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
    found = await session.get(BadgeKey, tenant_id, populate_existing=True)
    assert found is not None
    return found


async def rotate(*, session: AsyncSession, tenant_id: str, now: datetime | None = None) -> BadgeKey:
    """A new public id and secret: every URL made with the old ones answers 404 from now on."""
    fresh = _new_key(tenant_id, now or utcnow())
    row = await session.get(BadgeKey, tenant_id)
    if row is None:
        session.add(fresh)
        row = fresh
    else:
        row.public_id, row.secret, row.created_at = fresh.public_id, fresh.secret, fresh.created_at
    await session.commit()
    return row


# --- statuses -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobState:
    ref: str
    labels: dict[str, str]
    status: BadgeStatus


def job_status(row: JobMonitor, *, down: bool, now: datetime) -> BadgeStatus:
    if row.paused:
        return "paused"
    if down:
        return "down"
    expected = as_utc(row.expected_at)
    if expected is not None and expected <= now:
        return "late"
    if row.last_started_at is None and row.last_finished_at is None:
        return "new"
    return "up"


def combined(statuses: Iterable[BadgeStatus]) -> BadgeStatus | None:
    """The worst of the jobs with a verdict; else ``new`` or ``paused`` (see the module's
    docstring); None for no job."""
    found = list(statuses)
    if not found:
        return None
    watched = [status for status in found if status in RANK]
    if not watched:
        return "new" if "new" in found else "paused"
    return max(watched, key=RANK.__getitem__)


async def _states(session: AsyncSession, tenant_id: str, rows: Sequence[JobMonitor], now: datetime) -> list[JobState]:
    if not rows:
        return []
    refs = [row.job for row in rows]
    query = select(Incident.job).where(
        Incident.tenant_id == tenant_id, col(Incident.status).in_(OPEN_STATUSES), col(Incident.job).is_not(None)
    )
    if len(refs) <= 500:
        query = query.where(col(Incident.job).in_(refs))
    down = set((await session.execute(query)).scalars().all())
    return [JobState(row.job, _labels(row), job_status(row, down=row.job in down, now=now)) for row in rows]


def _labels(row: JobMonitor) -> dict[str, str]:
    try:
        labels = json.loads(row.labels or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


async def _rows(session: AsyncSession, tenant_id: str, selector: str | None = None) -> list[JobMonitor]:
    """The team's jobs a selector names (all of them for None)."""
    query = select(JobMonitor).where(JobMonitor.tenant_id == tenant_id)
    if selector is not None:
        kind, _, rest = selector.partition("/")
        if kind == "job":
            query = query.where(JobMonitor.job == rest)
        elif kind == "namespace":
            query = query.where(col(JobMonitor.job).startswith(rest + "/", autoescape=True))
    rows = list((await session.execute(query.order_by(col(JobMonitor.job)))).scalars().all())
    if selector is not None and selector.startswith("label/"):
        key, _, value = selector.removeprefix("label/").partition("=")
        rows = [row for row in rows if _labels(row).get(key) == value]
    return rows


# --- a badge URL ----------------------------------------------------------------------------------


async def resolve(*, session: AsyncSession, request: BadgeResolveRequest, now: datetime | None = None) -> BadgeState:
    """What a badge URL shows, or NotFound (always the same) for anything wrong with it."""
    if not is_selector(request.selector):
        raise NotFound(NOT_FOUND)
    key = (await session.execute(select(BadgeKey).where(BadgeKey.public_id == request.public_id))).scalar_one_or_none()
    expected = sign(key.secret if key else "no key: the same work as a real one", request.selector)
    if not hmac.compare_digest(expected.encode(), request.signature.encode()) or key is None:
        raise NotFound(NOT_FOUND)
    rows = await _rows(session, key.tenant_id, request.selector)
    states = await _states(session, key.tenant_id, rows, now or utcnow())
    status = combined(state.status for state in states)
    if status is None:
        raise NotFound(NOT_FOUND)
    return BadgeState(label=request.selector.partition("/")[2], status=status)


# --- a team's list --------------------------------------------------------------------------------


@dataclass
class _Group:
    kind: str
    name: str
    selector: str
    statuses: list[BadgeStatus] = field(default_factory=list)


async def list_badges(
    *, session: AsyncSession, tenant_id: str, job: str | None = None, now: datetime | None = None
) -> BadgeKeyList:
    """One badge per job, then per namespace, then per label pair (each sorted by name); with
    ``job``, only that job's badge."""
    key = await key_of(session=session, tenant_id=tenant_id, now=now)
    selector = job_selector(job) if job is not None else None
    if selector is not None and not is_selector(selector):
        return BadgeKeyList(public_id=key.public_id, created_at=key.created_at, badges=[])
    states = await _states(session, tenant_id, await _rows(session, tenant_id, selector), now or utcnow())
    namespaces: dict[str, _Group] = {}
    labels: dict[tuple[str, str], _Group] = defaultdict(lambda: _Group("label", "", ""))
    jobs: list[_Group] = []
    for state in states:
        jobs.append(_Group("job", state.ref, job_selector(state.ref), [state.status]))
        namespace = state.ref.partition("/")[0]
        group = namespaces.setdefault(namespace, _Group("namespace", namespace, namespace_selector(namespace)))
        group.statuses.append(state.status)
        for label_key, value in state.labels.items():
            pair = labels[label_key, value]
            pair.name, pair.selector = f"{label_key}={value}", label_selector(label_key, value)
            pair.statuses.append(state.status)
    groups = (
        [*jobs]
        if job is not None
        else [*jobs, *(namespaces[n] for n in sorted(namespaces)), *(labels[p] for p in sorted(labels))]
    )
    badges = [
        BadgeKeyed(
            kind=group.kind,  # type: ignore[arg-type]
            name=group.name,
            selector=group.selector,
            signature=sign(key.secret, group.selector),
            status=combined(group.statuses) or "up",
            jobs=len(group.statuses),
        )
        for group in groups
        if is_selector(group.selector)
    ]
    return BadgeKeyList(public_id=key.public_id, created_at=key.created_at, badges=badges)
