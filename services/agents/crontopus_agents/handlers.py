"""Thin NATS handlers: requests from the gateway, agents' heartbeats and reports, the NATS
server's auth callout, and the events this service publishes about agents."""

from __future__ import annotations

import json

import nats
from faststream.nats import NatsMessage, NatsRouter
from pydantic import ValidationError

from crontopus_agents import service
from crontopus_agents.callout import AgentIdentity, AuthCallout, ConnectAttempt
from crontopus_agents.models import Agent
from crontopus_kit.broker import Publisher, rpc_handler
from crontopus_kit.db import Database
from crontopus_kit.logging import get_logger
from crontopus_kit.nats_login import NatsLogin, nats_login
from crontopus_kit.nats_security import SYSTEM_USER, InvalidJwt, service_password
from crontopus_schemas import subjects
from crontopus_schemas.agents import (
    AgentEvent,
    AgentList,
    AgentListRequest,
    AgentPublic,
    AgentRef,
    AgentStatusReport,
    EnrolledAgent,
    EnrollmentTokenCreated,
    EnrollmentTokenCreateRequest,
    EnrollRequest,
)
from crontopus_schemas.rpc import TenantScoped
from crontopus_schemas.subjects import AgentsRpc

Q = AgentsRpc.QUEUE
log = get_logger(__name__)


class AgentEvents:
    """Publishes AgentEvent (JetStream): alerting turns offline agents into one incident."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher

    async def publish(self, kind: str, agent: Agent, detail: str = "") -> None:
        event = AgentEvent(
            kind=kind, agent_id=agent.id, name=agent.name, labels=json.loads(agent.labels),  # type: ignore[arg-type]
            jobs=json.loads(agent.jobs), detail=detail,
        )  # fmt: skip
        try:
            await self.publisher.publish(
                event.model_dump_json().encode(), subjects.agent_event_subject(agent.tenant_id),
                headers={"Nats-Msg-Id": str(event.event_id)}, stream=subjects.AGENTS_STREAM.name,
            )  # fmt: skip
        except Exception:
            log.warning("agent event not published", kind=kind, agent_id=agent.id, exc_info=True)


class Kicker:
    """Closes a revoked agent's live NATS connection (the server's system account can; the
    callout then refuses its reconnect). Best effort: the agent's login also expires."""

    def __init__(self, *, secret: bytes, nats_url: str | None) -> None:
        self._secret = secret
        self._nats_url = nats_url

    async def kick(self, agent: Agent) -> None:
        if not (self._nats_url and agent.nats_server_id and agent.nats_client_id is not None):
            return
        # The servers of CRONTOPUS_NATS_URL (one or a list), logged in to as the system user.
        servers = nats_login(self._nats_url).servers
        login = NatsLogin(servers=servers, user=SYSTEM_USER, password=service_password(self._secret, SYSTEM_USER))
        try:
            connection = await nats.connect(
                **login.connect_options(), connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False
            )
        except Exception as exc:
            log.warning("cannot reach NATS as the system user to kick a revoked agent", error=str(exc))
            return
        try:
            subject = subjects.server_kick_subject(agent.nats_server_id)
            await connection.request(subject, json.dumps({"cid": agent.nats_client_id}).encode(), timeout=2)
        except Exception as exc:
            log.info("revoked agent not kicked (not connected, or no system account)", error=str(exc))
        finally:
            await connection.close()


def build_router(
    *, db: Database, secret: bytes, events: AgentEvents, callout: AuthCallout, kicker: Kicker, nats_urls: list[str]
) -> NatsRouter:
    router = NatsRouter()
    _add_enrollment_handlers(router, db, secret, events, nats_urls)
    _add_agent_handlers(router, db, events, kicker)
    _add_report_handlers(router, db, events)
    _add_auth_callout(router, db, secret, callout)
    return router


def _add_enrollment_handlers(
    router: NatsRouter, db: Database, secret: bytes, events: AgentEvents, nats_urls: list[str]
) -> None:
    @router.subscriber(AgentsRpc.ENROLLMENT_TOKEN_CREATE, queue=Q)
    @rpc_handler(EnrollmentTokenCreateRequest)
    async def create_token(request: EnrollmentTokenCreateRequest) -> EnrollmentTokenCreated:
        async with db.session() as session:
            return await service.create_enrollment_token(session=session, secret=secret, request=request)

    @router.subscriber(AgentsRpc.ENROLLMENT_CHECK, queue=Q)
    @rpc_handler(EnrollRequest)
    async def check_enrollment(request: EnrollRequest) -> TenantScoped:
        async with db.session() as session:
            tenant_id = await service.check_enrollment(session=session, secret=secret, request=request)
        return TenantScoped(tenant_id=tenant_id)

    @router.subscriber(AgentsRpc.ENROLL, queue=Q)
    @rpc_handler(EnrollRequest)
    async def enroll(request: EnrollRequest) -> EnrolledAgent:
        async with db.session() as session:
            enrolled = await service.enroll(session=session, secret=secret, request=request, nats_urls=nats_urls)
            agent = await service.get_agent(session=session, tenant_id=enrolled.tenant_id, agent_id=enrolled.agent_id)
        await events.publish("enrolled", agent)
        return enrolled


def _add_agent_handlers(router: NatsRouter, db: Database, events: AgentEvents, kicker: Kicker) -> None:
    @router.subscriber(AgentsRpc.LIST, queue=Q)
    @rpc_handler(AgentListRequest)
    async def list_agents(request: AgentListRequest) -> AgentList:
        async with db.session() as session:
            agents = await service.list_agents(session=session, tenant_id=request.tenant_id, job=request.job)
            return AgentList(agents=agents)

    @router.subscriber(AgentsRpc.GET, queue=Q)
    @rpc_handler(AgentRef)
    async def get_agent(request: AgentRef) -> AgentPublic:
        async with db.session() as session:
            agent = await service.get_agent(session=session, tenant_id=request.tenant_id, agent_id=request.agent_id)
            return service.agent_public(agent)

    @router.subscriber(AgentsRpc.REVOKE, queue=Q)
    @rpc_handler(AgentRef)
    async def revoke(request: AgentRef) -> AgentPublic:
        async with db.session() as session:
            agent = await service.revoke(session=session, tenant_id=request.tenant_id, agent_id=request.agent_id)
        await kicker.kick(agent)
        await events.publish("revoked", agent)
        return service.agent_public(agent)


def _add_report_handlers(router: NatsRouter, db: Database, events: AgentEvents) -> None:
    async def record(message: NatsMessage) -> None:
        """The tenant and agent come from the subject, which the NATS server only lets that
        agent publish on."""
        try:
            tenant_id, agent_id = subjects.tenant_and_agent_from_subject(message.raw_message.subject)
            report = read_report(message.raw_message.data)
        except (ValueError, ValidationError) as exc:
            log.warning("unreadable agent report ignored", subject=message.raw_message.subject, error=str(exc))
            return
        async with db.session() as session:
            outcome = await service.record_report(
                session=session, tenant_id=tenant_id, agent_id=agent_id, report=report
            )
        if outcome and outcome.came_online:
            await events.publish("online", outcome.agent)
        if outcome and outcome.new_drift:
            await events.publish("drift", outcome.agent, detail=f"{len(report.drift)} entries restored")

    # no_reply: FastStream answers a message's reply subject even when the handler returns None,
    # and the agent chose that subject: an empty answer on $JS.API.STREAM.DELETE.CHECKINS, sent
    # with this service's rights, deleted the stream.
    router.subscriber(subjects.AGENT_HEARTBEAT_WILDCARD, queue=Q, no_reply=True)(record)
    router.subscriber(subjects.AGENT_REPORT_WILDCARD, queue=Q, no_reply=True)(record)


# A report lists the host's installed jobs: ~40 bytes each, so a host of several thousand fits.
# It is stored whole (one row per agent) and served back by GET /api/agents; NATS alone would let
# an agent send 8 MB.
MAX_REPORT_BYTES = 1024 * 1024


def read_report(data: bytes) -> AgentStatusReport:
    """An agent's report, or ValueError. It must name the agent's version (every agent sends
    it): any agent can make JetStream publish the acknowledgement of its check-in
    (``{"stream": "CHECKINS", "seq": 7}``) on another agent's heartbeat subject, by naming that
    as the reply subject, and those fields alone would otherwise read as a report (all have
    defaults) and mark that agent online."""
    if len(data) > MAX_REPORT_BYTES:
        raise ValueError(f"a report of {len(data)} bytes; at most {MAX_REPORT_BYTES} are read")
    report = AgentStatusReport.model_validate_json(data)
    if not report.version:
        raise ValueError("not an agent's report: no version")
    return report


def _add_auth_callout(router: NatsRouter, db: Database, secret: bytes, callout: AuthCallout) -> None:
    async def authenticate(attempt: ConnectAttempt) -> AgentIdentity | None:
        async with db.session() as session:
            agent = await service.authenticate(
                session=session, secret=secret, user=attempt.user, password=attempt.password,
                server_id=attempt.server_id, client_id=attempt.client_id,
            )  # fmt: skip
        return AgentIdentity(tenant_id=agent.tenant_id, agent_id=agent.id, name=agent.name) if agent else None

    @router.subscriber(subjects.NATS_AUTH_CALLOUT_SUBJECT, queue="agents-auth")
    async def auth_callout(message: NatsMessage) -> bytes | None:
        try:
            return await callout.answer(message.raw_message.data, authenticate)
        except InvalidJwt as exc:
            log.warning("auth callout request ignored", error=str(exc))
            return None
