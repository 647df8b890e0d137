"""Alerting: incidents (list, show, acknowledge, resolve), the team's rules, notification channels."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from crontopus_gateway.deps import CurrentPrincipal, GatewayDep
from crontopus_gateway.responses import ApiRoute, errors
from crontopus_schemas.alerting import (
    INCIDENT_CURSOR_PATTERN,
    AlertRules,
    AlertRulesUpdate,
    ChannelCreate,
    ChannelCreateRequest,
    ChannelList,
    ChannelPublic,
    ChannelRef,
    DeliveryPublic,
    IncidentAction,
    IncidentDetail,
    IncidentList,
    IncidentListRequest,
    IncidentPublic,
    IncidentStatus,
    SilenceCreate,
    SilenceCreateRequest,
    SilenceList,
    SilencePublic,
    SilenceRef,
)
from crontopus_schemas.events import JobRef
from crontopus_schemas.rpc import TenantScoped
from crontopus_schemas.subjects import AlertingRpc

router = APIRouter(tags=["alerting"], route_class=ApiRoute)
Id = Annotated[str, Path(max_length=64)]


@router.get("/api/incidents", response_model=IncidentList)
async def list_incidents(
    principal: CurrentPrincipal,
    gateway: GatewayDep,
    status: Annotated[
        list[IncidentStatus] | None,
        Query(description="repeat for any of several: `status=open&status=acknowledged` (not resolved)"),
    ] = None,
    job: Annotated[JobRef | None, Query(description="namespace/name")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(pattern=INCIDENT_CURSOR_PATTERN, description="next_cursor of a page")] = None,
) -> IncidentList:
    """Newest first; `next_cursor` fetches the next page."""
    request = IncidentListRequest(
        tenant_id=principal.tenant_id, status=sorted(set(status or [])), job=job, limit=limit, cursor=cursor
    )
    return await gateway.rpc(AlertingRpc.INCIDENTS_LIST, request, IncidentList)


@router.get("/api/incidents/{incident_id}", response_model=IncidentDetail, responses=errors(404))
async def get_incident(incident_id: Id, principal: CurrentPrincipal, gateway: GatewayDep) -> IncidentDetail:
    """The incident, its timeline (opened, notified, acknowledged, each reminder, escalated,
    resolved) and every notification sent for it."""
    request = IncidentAction(tenant_id=principal.tenant_id, incident_id=incident_id, user_id=principal.subject_id)
    return await gateway.rpc(AlertingRpc.INCIDENT_GET, request, IncidentDetail)


@router.post("/api/incidents/{incident_id}/ack", response_model=IncidentPublic, responses=errors(404))
async def acknowledge(incident_id: Id, principal: CurrentPrincipal, gateway: GatewayDep) -> IncidentPublic:
    """Someone is on it: no more reminders, no escalation. It still resolves on recovery."""
    request = IncidentAction(tenant_id=principal.tenant_id, incident_id=incident_id, user_id=principal.subject_id)
    return await gateway.rpc(AlertingRpc.INCIDENT_ACK, request, IncidentPublic)


@router.post("/api/incidents/{incident_id}/resolve", response_model=IncidentPublic, responses=errors(404))
async def resolve(incident_id: Id, principal: CurrentPrincipal, gateway: GatewayDep) -> IncidentPublic:
    """Resolve by hand (the channels are told); a new violation opens a new incident."""
    request = IncidentAction(tenant_id=principal.tenant_id, incident_id=incident_id, user_id=principal.subject_id)
    return await gateway.rpc(AlertingRpc.INCIDENT_RESOLVE, request, IncidentPublic)


@router.get("/api/alert-rules", response_model=AlertRules)
async def get_rules(principal: CurrentPrincipal, gateway: GatewayDep) -> AlertRules:
    """The team's default rules; a job's `spec.monitor` in Git overrides each of them."""
    return await gateway.rpc(AlertingRpc.RULES_GET, TenantScoped(tenant_id=principal.tenant_id), AlertRules)


@router.put("/api/alert-rules", response_model=AlertRules)
async def update_rules(body: AlertRules, principal: CurrentPrincipal, gateway: GatewayDep) -> AlertRules:
    request = AlertRulesUpdate(tenant_id=principal.tenant_id, rules=body)
    return await gateway.rpc(AlertingRpc.RULES_UPDATE, request, AlertRules)


@router.post("/api/channels", status_code=status.HTTP_201_CREATED, response_model=ChannelPublic, responses=errors(409))
async def create_channel(body: ChannelCreate, principal: CurrentPrincipal, gateway: GatewayDep) -> ChannelPublic:
    """Any Apprise URL: `slack://…`, `mailto://…`, `pagerduty://…`, `json://host/path` (webhook), …
    Stored encrypted and shown masked. Private, loopback and link-local targets are refused
    unless the operator allows them (CRONTOPUS_ALLOW_PRIVATE_NETWORKS)."""
    request = ChannelCreateRequest(tenant_id=principal.tenant_id, body=body)
    return await gateway.rpc(AlertingRpc.CHANNEL_CREATE, request, ChannelPublic)


@router.get("/api/channels", response_model=ChannelList)
async def list_channels(principal: CurrentPrincipal, gateway: GatewayDep) -> ChannelList:
    return await gateway.rpc(AlertingRpc.CHANNELS_LIST, TenantScoped(tenant_id=principal.tenant_id), ChannelList)


@router.get("/api/channels/{channel_id}", response_model=ChannelPublic, responses=errors(404))
async def get_channel(channel_id: Id, principal: CurrentPrincipal, gateway: GatewayDep) -> ChannelPublic:
    """The channel (its URL masked) and how its newest notification went (`last_delivery`)."""
    request = ChannelRef(tenant_id=principal.tenant_id, channel_id=channel_id)
    return await gateway.rpc(AlertingRpc.CHANNEL_GET, request, ChannelPublic)


@router.delete(
    "/api/channels/{channel_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, responses=errors(404)
)
async def delete_channel(channel_id: Id, principal: CurrentPrincipal, gateway: GatewayDep) -> Response:
    await gateway.rpc_no_result(
        AlertingRpc.CHANNEL_DELETE, ChannelRef(tenant_id=principal.tenant_id, channel_id=channel_id)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/api/channels/{channel_id}/test", status_code=status.HTTP_202_ACCEPTED, response_model=DeliveryPublic,
    responses=errors(404),
)  # fmt: skip
async def test_channel(channel_id: Id, principal: CurrentPrincipal, gateway: GatewayDep) -> DeliveryPublic:
    """Send a test notification through the same queue as real ones. The answer is the delivery,
    still `pending`; `GET /api/channels/{channel_id}` shows its outcome (`last_delivery`: sent, or
    failed with the error) once the sender tried it, usually within a second."""
    request = ChannelRef(tenant_id=principal.tenant_id, channel_id=channel_id)
    return await gateway.rpc(AlertingRpc.CHANNEL_TEST, request, DeliveryPublic)


@router.post("/api/silences", status_code=status.HTTP_201_CREATED, response_model=SilencePublic)
async def create_silence(body: SilenceCreate, principal: CurrentPrincipal, gateway: GatewayDep) -> SilencePublic:
    """A maintenance window or snooze: incidents opening while it lasts are recorded (marked
    `silenced`) but nobody is notified. It covers one job (`job`), every job of a namespace
    (`namespace`), every job whose labels include all of `match_labels`, or, with none of the three,
    every job of the team and its agents going offline; giving two of them is a 422. It always
    expires (`ends_at` or `duration`, at most 90 days)."""
    request = SilenceCreateRequest(tenant_id=principal.tenant_id, created_by=principal.subject_id, body=body)
    return await gateway.rpc(AlertingRpc.SILENCE_CREATE, request, SilencePublic)


@router.get("/api/silences", response_model=SilenceList)
async def list_silences(principal: CurrentPrincipal, gateway: GatewayDep) -> SilenceList:
    """Current and upcoming silences, soonest start first, each with what it covers (`scope`)."""
    return await gateway.rpc(AlertingRpc.SILENCES_LIST, TenantScoped(tenant_id=principal.tenant_id), SilenceList)


@router.delete(
    "/api/silences/{silence_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, responses=errors(404)
)
async def delete_silence(silence_id: Id, principal: CurrentPrincipal, gateway: GatewayDep) -> Response:
    """End a silence now (or drop an upcoming one): incidents opening from now on notify again."""
    await gateway.rpc_no_result(
        AlertingRpc.SILENCE_DELETE, SilenceRef(tenant_id=principal.tenant_id, silence_id=silence_id)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
