"""POST /api/checkins: a check-in enters the check-in stream; the runs service stores it."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, status
from nats.errors import Error as NatsError
from pydantic import BaseModel, BeforeValidator, Field, field_validator

from crontopus_gateway.deps import CurrentPrincipal, GatewayDep
from crontopus_gateway.responses import ApiRoute
from crontopus_kit.errors import Unavailable
from crontopus_kit.logging import current_correlation_id
from crontopus_schemas import subjects
from crontopus_schemas.events import CheckInEvent, CheckInStatus, JobRef, RunId
from crontopus_schemas.strict import DateTimeText, not_a_bool

router = APIRouter(tags=["check-ins"], route_class=ApiRoute)

MAX_CLOCK_SKEW = timedelta(minutes=5)


class CheckInRequest(BaseModel):
    job: JobRef = Field(description="<namespace>/<name>")
    run_id: RunId = Field(description="the same id for a run's start and finish check-ins")
    status: CheckInStatus = Field(description="running for a start; success, failure or timeout for a finish")
    exit_code: Annotated[int, Field(ge=-1024, le=1024), BeforeValidator(not_a_bool)] | None = None
    output: str | None = Field(default=None, description="kept up to 64 KiB (its tail); the full size is noted")
    timestamp: DateTimeText | None = Field(default=None, description="when it started or finished; default: now")
    duration_ms: Annotated[int, Field(ge=0), BeforeValidator(not_a_bool)] | None = Field(
        default=None, description="the reporter's own measurement, if any"
    )

    @field_validator("timestamp")
    @classmethod
    def not_in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamp needs a time zone offset, e.g. 2026-11-27T02:00:00Z")
        if value - datetime.now(UTC) > MAX_CLOCK_SKEW:
            raise ValueError("timestamp is more than 5 minutes in the future; check the reporter's clock")
        return value


class CheckInAccepted(BaseModel):
    run_id: str
    status: CheckInStatus
    duplicate: bool = Field(description="true when your team already sent this check-in (same run_id and phase)")


def gateway_msg_id(key: bytes, tenant_id: str, source: str, checkin: CheckInEvent) -> str:
    """The check-in's JetStream de-duplication id: a keyed digest of tenant, source, run id and
    phase. JetStream de-duplicates across the whole stream and an agent may put any id on its
    own publish; run ids sent here are chosen by a team's scripts and may be guessable, so a
    plain id would let an agent pre-publish it and suppress that team's check-in. Nobody
    without the server secret can compute this one; a retry of the same check-in (on any
    gateway instance) gets the same id, so it is still stored once."""
    plain = subjects.checkin_msg_id(tenant_id, source, checkin.run_id, checkin.status)
    return hmac.new(key, plain.encode(), hashlib.sha256).hexdigest()


async def publish_checkin(gateway: GatewayDep, tenant_id: str, source: str, checkin: CheckInEvent) -> bool:
    """Hand a check-in to JetStream and wait for its ack; returns whether it was a duplicate
    (of this team's own check-in: the id is the team's, see ``gateway_msg_id``)."""
    try:
        ack = await gateway.broker.publish(
            checkin.model_dump_json().encode(),
            subjects.checkin_subject(tenant_id, source),
            headers={"Nats-Msg-Id": gateway_msg_id(gateway.checkin_id_key, tenant_id, source, checkin)},
            stream=subjects.CHECKINS_STREAM.name,
            timeout=gateway.settings.rpc_timeout,
        )
    except (NatsError, TimeoutError) as exc:
        raise Unavailable("the check-in could not be queued; retry it with the same run_id") from exc
    return bool(ack and ack.duplicate)


@router.post("/api/checkins", status_code=status.HTTP_202_ACCEPTED, response_model=CheckInAccepted)
async def post_checkin(body: CheckInRequest, principal: CurrentPrincipal, gateway: GatewayDep) -> CheckInAccepted:
    """Report a run's start (`running`) or finish. Idempotent per team, run_id and phase."""
    checkin = CheckInEvent(
        **body.model_dump(exclude_none=True),
        source="api",
        correlation_id=current_correlation_id(),
    )
    duplicate = await publish_checkin(gateway, principal.tenant_id, "api", checkin)
    return CheckInAccepted(run_id=checkin.run_id, status=checkin.status, duplicate=duplicate)
