"""Agents domain logic: enrollment, credentials, liveness and what agents report. No broker here."""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from crontopus_agents.models import Agent, EnrollmentToken
from crontopus_kit.crypto import keyed_hash
from crontopus_kit.errors import Conflict, NotFound, Unauthorized
from crontopus_kit.times import as_utc
from crontopus_schemas.agents import (
    AgentPublic,
    AgentStatusReport,
    DriftItem,
    EnrolledAgent,
    EnrollmentTokenCreated,
    EnrollmentTokenCreateRequest,
    EnrollRequest,
)

ENROLLMENT_TOKEN_PREFIX = "ctpe_"
AGENT_SECRET_PREFIX = "ctpa_"
_TOKEN_PURPOSE = "agents:enrollment-token"
_SECRET_PURPOSE = "agents:secret"
_NO_SYNC = {"synchronize_session": False}
BAD_TOKEN = (
    "this enrollment token is unknown, expired or used up: create a new one with POST /api/agents/enrollment-tokens"
)


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- enrollment --------------------------------------------------------------------------------


async def create_enrollment_token(
    *, session: AsyncSession, secret: bytes, request: EnrollmentTokenCreateRequest, now: datetime | None = None
) -> EnrollmentTokenCreated:
    now = now or utcnow()
    plain = ENROLLMENT_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = EnrollmentToken(
        id=uuid.uuid4().hex, tenant_id=request.tenant_id, token_hash=keyed_hash(secret, _TOKEN_PURPOSE, plain),
        labels=json.dumps(request.body.labels), max_uses=request.body.max_uses, created_by=request.created_by,
        created_at=now, expires_at=now + timedelta(seconds=request.body.ttl_seconds),
    )  # fmt: skip
    session.add(row)
    await session.commit()
    return EnrollmentTokenCreated(id=row.id, token=plain, expires_at=row.expires_at, max_uses=row.max_uses)


async def check_enrollment(
    *, session: AsyncSession, secret: bytes, request: EnrollRequest, now: datetime | None = None
) -> str:
    """The team this enrollment would join, spending nothing: the gateway asks before it gathers
    what else the agent needs, so a failure there leaves the token usable and no agent behind."""
    token = await _usable_token(session, secret=secret, token=request.token, now=now or utcnow())
    await _refuse_duplicate_name(session, tenant_id=token.tenant_id, name=request.name)
    return token.tenant_id


async def _usable_token(session: AsyncSession, *, secret: bytes, token: str, now: datetime) -> EnrollmentToken:
    found = await session.execute(
        select(EnrollmentToken).where(col(EnrollmentToken.token_hash) == keyed_hash(secret, _TOKEN_PURPOSE, token))
    )
    row = found.scalars().first()
    if row is None or as_utc(row.expires_at) <= now or row.uses >= row.max_uses:
        raise Unauthorized(BAD_TOKEN)
    return row


async def _claim_token(session: AsyncSession, *, secret: bytes, token: str, now: datetime) -> EnrollmentToken:
    """Spend one use of the token, unless it is unknown, expired or used up. The conditional
    update makes two agents racing for the last use unable to both win."""
    row = await _usable_token(session, secret=secret, token=token, now=now)
    claimed = await session.execute(
        update(EnrollmentToken)
        .where(col(EnrollmentToken.id) == row.id, col(EnrollmentToken.uses) < col(EnrollmentToken.max_uses))
        .values(uses=col(EnrollmentToken.uses) + 1),
        execution_options=_NO_SYNC,
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Unauthorized(BAD_TOKEN)
    return row


async def _refuse_duplicate_name(session: AsyncSession, *, tenant_id: str, name: str) -> None:
    stmt = select(Agent.id).where(
        col(Agent.tenant_id) == tenant_id, col(Agent.name) == name, col(Agent.revoked_at).is_(None)
    )
    if (await session.execute(stmt)).first():
        raise Conflict(f"an agent named {name!r} is already enrolled: revoke it first or choose another --name")


async def enroll(
    *, session: AsyncSession, secret: bytes, request: EnrollRequest, nats_urls: list[str], now: datetime | None = None
) -> EnrolledAgent:
    """Trade an enrollment token for an agent identity; the secret is returned once."""
    now = now or utcnow()
    token = await _claim_token(session, secret=secret, token=request.token, now=now)
    await _refuse_duplicate_name(session, tenant_id=token.tenant_id, name=request.name)
    password = AGENT_SECRET_PREFIX + secrets.token_urlsafe(32)
    labels = {**json.loads(token.labels), **request.labels}
    agent = Agent(
        id=uuid.uuid4().hex, tenant_id=token.tenant_id, name=request.name, hostname=request.hostname,
        platform=request.platform, version=request.version, labels=json.dumps(labels),
        secret_hash=keyed_hash(secret, _SECRET_PURPOSE, password), enrolled_at=now, enrollment_token_id=token.id,
    )  # fmt: skip
    session.add(agent)
    await session.commit()
    return EnrolledAgent(
        agent_id=agent.id, tenant_id=agent.tenant_id, name=agent.name, labels=labels,
        nats_user=agent.id, nats_password=password, nats_urls=nats_urls,
    )  # fmt: skip


# --- credentials (the NATS auth callout asks) ------------------------------------------------


async def authenticate(
    *, session: AsyncSession, secret: bytes, user: str, password: str, server_id: str, client_id: int | None
) -> Agent | None:
    """The agent these NATS credentials belong to, unless wrong or revoked; remembers where its
    connection lives so revoking it can close that connection."""
    agent = await session.get(Agent, user) if len(user) == 32 else None
    if agent is None or agent.revoked_at is not None:
        return None
    if not secrets.compare_digest(agent.secret_hash, keyed_hash(secret, _SECRET_PURPOSE, password)):
        return None
    agent.nats_server_id, agent.nats_client_id = server_id, client_id
    session.add(agent)
    await session.commit()
    return agent


# --- reading and revoking --------------------------------------------------------------------


def agent_public(agent: Agent) -> AgentPublic:
    status = "revoked" if agent.revoked_at else ("online" if agent.online else "offline")
    return AgentPublic(
        id=agent.id, name=agent.name, hostname=agent.hostname, platform=agent.platform, version=agent.version,
        labels=json.loads(agent.labels), status=status, enrolled_at=as_utc(agent.enrolled_at),
        last_seen_at=as_utc(agent.last_seen_at), revoked_at=as_utc(agent.revoked_at),
        scheduler=agent.scheduler, applied_commit=agent.applied_commit,
        last_sync_at=as_utc(agent.last_sync_at), sync_error=agent.sync_error, jobs=json.loads(agent.jobs),
        drift=[DriftItem(**item) for item in json.loads(agent.drift)],
        drift_detected_at=as_utc(agent.drift_detected_at), errors=json.loads(agent.errors),
        spool_pending=agent.spool_pending, spool_dropped=agent.spool_dropped,
    )  # fmt: skip


async def list_agents(*, session: AsyncSession, tenant_id: str, job: str | None = None) -> list[AgentPublic]:
    """The team's agents by name; ``job``: only those whose last report lists it installed."""
    stmt = select(Agent).where(col(Agent.tenant_id) == tenant_id).order_by(col(Agent.name), col(Agent.enrolled_at))
    agents = [agent_public(agent) for agent in (await session.execute(stmt)).scalars()]
    return [agent for agent in agents if job in agent.jobs] if job else agents


async def get_agent(*, session: AsyncSession, tenant_id: str, agent_id: str) -> Agent:
    """The tenant's agent, or NotFound: another tenant's agent id is indistinguishable from none."""
    agent = await session.get(Agent, agent_id) if len(agent_id) <= 32 else None
    if agent is None or agent.tenant_id != tenant_id:
        raise NotFound(f"no agent {agent_id}")
    return agent


async def revoke(*, session: AsyncSession, tenant_id: str, agent_id: str, now: datetime | None = None) -> Agent:
    """Revoke: the agent's credentials stop working at once (idempotent)."""
    agent = await get_agent(session=session, tenant_id=tenant_id, agent_id=agent_id)
    if agent.revoked_at is None:
        agent.revoked_at, agent.online = now or utcnow(), False
        session.add(agent)
        await session.commit()
    return agent


# --- heartbeats and reports ------------------------------------------------------------------


@dataclass(frozen=True)
class ReportOutcome:
    agent: Agent
    came_online: bool
    new_drift: bool


async def record_report(
    *, session: AsyncSession, tenant_id: str, agent_id: str, report: AgentStatusReport, now: datetime | None = None
) -> ReportOutcome | None:
    """Store what an agent says about itself; None for an unknown or revoked agent (ignored)."""
    now = now or utcnow()
    agent = await session.get(Agent, agent_id) if len(agent_id) == 32 else None
    if agent is None or agent.tenant_id != tenant_id or agent.revoked_at is not None:
        return None
    came_online = not agent.online
    # Heartbeats repeat the last report: drift is new only with a new sync (or after none).
    new_drift = bool(report.drift) and (report.last_sync_at != as_utc(agent.last_sync_at) or agent.drift == "[]")
    agent.online, agent.last_seen_at = True, now
    _apply_report(agent, report, now=now, new_drift=new_drift)
    session.add(agent)
    await session.commit()
    return ReportOutcome(agent=agent, came_online=came_online, new_drift=new_drift)


def _apply_report(agent: Agent, report: AgentStatusReport, *, now: datetime, new_drift: bool) -> None:
    fields: dict[str, Any] = {
        "version": report.version or agent.version, "hostname": report.hostname or agent.hostname,
        "scheduler": report.scheduler, "applied_commit": report.applied_commit, "last_sync_at": report.last_sync_at,
        "sync_error": report.sync_error, "jobs": json.dumps(report.jobs),
        "drift": json.dumps([item.model_dump() for item in report.drift]), "errors": json.dumps(report.errors),
        "spool_pending": report.spool_pending, "spool_dropped": report.spool_dropped,
    }  # fmt: skip
    for name, value in fields.items():
        setattr(agent, name, value)
    if new_drift:
        agent.drift_detected_at = now


async def sweep_offline(*, session: AsyncSession, offline_after: float, now: datetime | None = None) -> list[Agent]:
    """Agents whose heartbeats stopped: marked offline and returned, each exactly once even with
    several agents services sweeping (a conditional update claims the transition)."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=offline_after)
    stmt = select(Agent).where(col(Agent.online).is_(True), col(Agent.last_seen_at) < cutoff)
    went_offline = []
    for agent in list((await session.execute(stmt)).scalars()):
        claimed = await session.execute(
            update(Agent)
            .where(col(Agent.id) == agent.id, col(Agent.online).is_(True), col(Agent.last_seen_at) < cutoff)
            .values(online=False),
            execution_options=_NO_SYNC,
        )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            went_offline.append(agent)
    await session.commit()
    return went_offline
