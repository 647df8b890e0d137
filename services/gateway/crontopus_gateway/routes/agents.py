"""Agents: enrollment tokens, enrollment (the token is the credential), list, show, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from crontopus_gateway.deps import CurrentPrincipal, GatewayDep
from crontopus_gateway.responses import ApiRoute, errors
from crontopus_schemas.agents import (
    AgentList,
    AgentListRequest,
    AgentPublic,
    AgentRef,
    EnrolledAgent,
    Enrollment,
    EnrollmentTokenCreate,
    EnrollmentTokenCreated,
    EnrollmentTokenCreateRequest,
    EnrollRequest,
)
from crontopus_schemas.gitops import RepositoryPublic
from crontopus_schemas.names import JOB_REF_PATTERN
from crontopus_schemas.rpc import TenantScoped
from crontopus_schemas.subjects import AgentsRpc, GitopsRpc

router = APIRouter(tags=["agents"], route_class=ApiRoute)
AgentId = Annotated[str, Path(max_length=64)]


@router.post(
    "/api/agents/enrollment-tokens", status_code=status.HTTP_201_CREATED, response_model=EnrollmentTokenCreated
)
async def create_enrollment_token(
    principal: CurrentPrincipal, gateway: GatewayDep, body: EnrollmentTokenCreate | None = None
) -> EnrollmentTokenCreated:
    """A short-lived token that enrolls agents into your team (`crontopus-agent enroll --token`).
    Shown once. Defaults: valid one hour, one agent."""
    request = EnrollmentTokenCreateRequest(
        tenant_id=principal.tenant_id, created_by=principal.subject_id, body=body or EnrollmentTokenCreate()
    )
    return await gateway.rpc(AgentsRpc.ENROLLMENT_TOKEN_CREATE, request, EnrollmentTokenCreated)


@router.post(
    "/api/agents/enroll", status_code=status.HTTP_201_CREATED, response_model=Enrollment, responses=errors(401, 409)
)
async def enroll(body: EnrollRequest, gateway: GatewayDep) -> Enrollment:
    """Called by `crontopus-agent enroll`: trades an enrollment token for the agent's own NATS
    credentials (shown once) and tells it where the jobs repository is. Unknown, expired or
    used-up token: 401."""
    # The token is spent last, so a service failing on the way leaves it usable and no agent behind.
    team = await gateway.rpc(AgentsRpc.ENROLLMENT_CHECK, body, TenantScoped)
    repository = await gateway.rpc(GitopsRpc.REPOSITORY_GET, team, RepositoryPublic)
    enrolled = await gateway.rpc(AgentsRpc.ENROLL, body, EnrolledAgent)
    return Enrollment(
        **enrolled.model_dump(), server_url=gateway.settings.base_url,
        clone_url=repository.clone_url, branch=repository.branch, folder=repository.folder,
    )  # fmt: skip


@router.get("/api/agents", response_model=AgentList)
async def list_agents(
    principal: CurrentPrincipal,
    gateway: GatewayDep,
    job: Annotated[
        str | None,
        Query(pattern=JOB_REF_PATTERN, description="<namespace>/<name>: only the agents that have it installed"),
    ] = None,
) -> AgentList:
    """The team's agents by name. With `job`, the agents whose last report lists that job installed
    in their scheduler (none: no agent's labels match its target, or none has synced it yet)."""
    request = AgentListRequest(tenant_id=principal.tenant_id, job=job)
    return await gateway.rpc(AgentsRpc.LIST, request, AgentList)


@router.get("/api/agents/{agent_id}", response_model=AgentPublic, responses=errors(404))
async def get_agent(agent_id: AgentId, principal: CurrentPrincipal, gateway: GatewayDep) -> AgentPublic:
    """One agent: online or not, its scheduler, the commit it applied, its last sync, drift it
    repaired and per-job errors."""
    return await gateway.rpc(AgentsRpc.GET, AgentRef(tenant_id=principal.tenant_id, agent_id=agent_id), AgentPublic)


@router.delete("/api/agents/{agent_id}", response_model=AgentPublic, responses=errors(404))
async def revoke_agent(agent_id: AgentId, principal: CurrentPrincipal, gateway: GatewayDep) -> AgentPublic:
    """Revoke: the NATS server refuses the agent from now on and closes its connection. Its
    scheduler entries stay on the host (it can no longer update or report them)."""
    return await gateway.rpc(AgentsRpc.REVOKE, AgentRef(tenant_id=principal.tenant_id, agent_id=agent_id), AgentPublic)
