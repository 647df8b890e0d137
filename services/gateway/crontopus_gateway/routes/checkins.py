"""POST /api/checkins: a check-in enters the check-in stream; the runs service stores it."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, Response
from nats.errors import Error as NatsError
from pydantic import BaseModel, BeforeValidator, Field, field_validator
from starlette.status import HTTP_202_ACCEPTED
from starlette.types import Message, Receive, Scope, Send

from crontopus_gateway.deps import CurrentPrincipal, GatewayDep, authenticate_request, credential_of
from crontopus_gateway.gateway import Gateway
from crontopus_gateway.json_body import parse_json_body
from crontopus_gateway.middleware import NamedRoute
from crontopus_gateway.responses import ApiRoute
from crontopus_kit.errors import Unavailable
from crontopus_kit.logging import current_correlation_id
from crontopus_schemas import subjects
from crontopus_schemas.events import CheckInEvent, CheckInStatus, JobRef, RunId, tail_of_output
from crontopus_schemas.rpc import Principal
from crontopus_schemas.strict import DateTimeText, json_integer

router = APIRouter(tags=["check-ins"], route_class=ApiRoute)

MAX_CLOCK_SKEW = timedelta(minutes=5)


class CheckInRequest(BaseModel):
    job: JobRef = Field(description="<namespace>/<name>")
    run_id: RunId = Field(description="the same id for a run's start and finish check-ins")
    status: CheckInStatus = Field(description="running for a start; success, failure or timeout for a finish")
    exit_code: Annotated[int, Field(ge=-1024, le=1024), BeforeValidator(json_integer)] | None = None
    output: str | None = Field(default=None, description="kept up to 64 KiB (its tail); the full size is noted")
    timestamp: DateTimeText | None = Field(default=None, description="when it started or finished; default: now")
    duration_ms: Annotated[int, Field(ge=0), BeforeValidator(json_integer)] | None = Field(
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


async def publish_checkin(gateway: Gateway, tenant_id: str, source: str, checkin: CheckInEvent) -> bool:
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


@router.post("/api/checkins", status_code=HTTP_202_ACCEPTED, response_model=CheckInAccepted)
async def post_checkin(body: CheckInRequest, principal: CurrentPrincipal, gateway: GatewayDep) -> CheckInAccepted:
    """Report a run's start (`running`) or finish. Idempotent per team, run_id and phase."""
    return await accept_checkin(gateway, principal, body)


async def accept_checkin(gateway: Gateway, principal: Principal, body: CheckInRequest) -> CheckInAccepted:
    # Only the tail is stored, so only the tail travels: the check-in stream keeps each message
    # for days, and a team's megabytes of output there would be everyone's disk.
    output, output_size = tail_of_output(body.output)
    checkin = CheckInEvent(
        **body.model_dump(exclude_none=True, exclude={"output"}),
        output=output,
        output_size=output_size,
        source="api",
        correlation_id=current_correlation_id(),
    )
    duplicate = await publish_checkin(gateway, principal.tenant_id, "api", checkin)
    return CheckInAccepted(run_id=checkin.run_id, status=checkin.status, duplicate=duplicate)


# `post_checkin` documents the operation (the OpenAPI document, the Allow header of a 405); the
# plain Starlette route below, which the app puts before every other (as the ping URLs'), answers
# it. FastAPI's dependency solving and response validation were most of a check-in's cost at the
# front door (bench/http_ingress.py). A body that is not a valid check-in goes to FastAPI's own
# handler, so every error is answered exactly as FastAPI answers it.
DOCUMENTED: ApiRoute = next(route for route in router.routes if isinstance(route, ApiRoute))
JSON_TYPE = re.compile(r"application/(.+\+)?json", re.IGNORECASE)


class CheckInEndpoint:
    """POST /api/checkins as an ASGI app (Starlette wraps a plain function as a request-response
    endpoint): a body that is not a valid check-in is handed, as it came, to FastAPI's route."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = DOCUMENTED  # its permission rule, and its fields in error locations
        request = Request(scope, receive)
        raw = await request.body()
        body = _valid_checkin(request.headers.get("content-type"), raw)
        if body is None:
            await DOCUMENTED.handle(scope, _replay(raw, receive), send)
            return
        gateway: Gateway = request.app.state.gateway
        principal = await authenticate_request(request, gateway, credential_of(request))
        accepted = await accept_checkin(gateway, principal, body)
        answer = Response(accepted.model_dump_json(), status_code=HTTP_202_ACCEPTED, media_type="application/json")
        await answer(scope, receive, send)


def _valid_checkin(content_type: str | None, raw: bytes) -> CheckInRequest | None:
    """The check-in in a JSON body, or None if it is not one. As FastAPI reads a body: only with a
    JSON content type (its strict_content_type), through ``parse_json_body``."""
    if not raw or not content_type or not JSON_TYPE.fullmatch(content_type.split(";")[0].strip()):
        return None
    try:
        return CheckInRequest.model_validate(parse_json_body(raw))
    except (ValueError, HTTPException):  # ValidationError and JSONDecodeError are ValueErrors
        return None


def _replay(raw: bytes, receive: Receive) -> Receive:
    """``receive`` with the body, already read, received once more."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    return replayed


routes = [NamedRoute("/api/checkins", CheckInEndpoint(), methods=["POST"], name="post_checkin")]
