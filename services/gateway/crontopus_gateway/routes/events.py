"""Live events: GET /api/events, the caller's team's events as Server-Sent Events (events.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Header
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from starlette.types import Receive, Scope, Send

from crontopus_gateway.deps import CurrentPrincipal, GatewayDep, api_key_scheme, bearer_scheme
from crontopus_gateway.events import SOURCES
from crontopus_gateway.responses import ApiRoute
from crontopus_kit.errors import DomainError
from crontopus_schemas.rpc import Principal

router = APIRouter(tags=["events"], route_class=ApiRoute)

# One event of the stream (before OpenAPI 3.2's itemSchema, a text/event-stream's schema is read as
# each event's): its fields as the SSE format names them; `data` is one line of JSON.
EVENT_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "event": {"type": "string", "enum": [source.type for source in SOURCES]},
        "data": {"type": "string", "contentMediaType": "application/json"},
        "retry": {"type": "integer"},
    },
}

DESCRIPTION = """`text/event-stream` of the caller's team, read with `fetch` (the credential goes in a
header, which `EventSource` cannot send). Each event is `id: <opaque resume token>`, `event: <type>`,
`data: <one line of JSON>`:

- `runs.recorded`: `RunsRecorded`, the runs a stored batch of check-ins changed: `{event_id,
  occurred_at, runs: [{run_id, job, status, started_at, finished_at, duration_ms, exit_code}]}`
- `incident`: `IncidentChanged`, the incident (`{id, job, agent_id, cause, status, detail, ...}`)
  and `change`: opened, acknowledged, notified, escalated or resolved
- `agent`: `AgentEvent`, `{kind: enrolled|online|offline|revoked|drift, agent_id, name, ...}`
- `manifests.changed`: `ManifestsChanged`, `{commit, previous_commit, author, message, added,
  changed, removed, errors}`

The stream opens with `retry: 2000`, an `id:` line (the position at connection) and `: connected`; a
comment `: keep-alive` follows every 15 s. Send the last id you received as `Last-Event-ID` to resume
right after it (the streams hold 7 days or more); without it the stream starts with what happens from
now on. The credential is checked again at every keep-alive: when it expires or is revoked the stream
ends with a comment saying so (refresh it and reconnect with `Last-Event-ID`); so does a reader that
falls more than 2,000 events behind. 422: a `Last-Event-ID` this server did not send, or one the
streams no longer hold everything after (start over without it and reload); 429: the team has too
many streams open on this server (`CRONTOPUS_GATEWAY_EVENTS_MAX_STREAMS`). A read-only key may
listen."""


class EventStreamResponse(StreamingResponse):
    """SSE, never cached or buffered by a proxy; ``on_close`` runs however the response ends (the
    client going away cancels it)."""

    media_type = "text/event-stream"

    def __init__(self, content: AsyncIterator[bytes], *, on_close: Callable[[], Awaitable[None]]) -> None:
        super().__init__(content, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.on_close()


@router.get(
    "/api/events", response_class=EventStreamResponse, status_code=200, description=DESCRIPTION,
    responses={200: {"content": {"text/event-stream": {"schema": EVENT_SCHEMA}}, "description": "the events"}},
)  # fmt: skip
async def events(
    principal: CurrentPrincipal,
    gateway: GatewayDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", max_length=200, description="resume after this event's id")
    ] = None,
) -> EventStreamResponse:
    """Live events of the caller's team (runs recorded, incidents, agents, manifests changed)."""
    stream = await gateway.events.open(principal.tenant_id, last_event_id)
    credential = bearer.credentials if bearer else api_key or ""
    return EventStreamResponse(
        gateway.events.relay(stream, _still_allowed(gateway, credential, principal)),
        on_close=lambda: gateway.events.release(stream),
    )


def _still_allowed(gateway: GatewayDep, credential: str, principal: Principal) -> Callable[[], Awaitable[str | None]]:
    """Asked at every keep-alive: an access token expires, an API key may be revoked."""

    async def check() -> str | None:
        try:
            again = await gateway.authenticator.authenticate(credential)
        except DomainError as exc:
            return exc.message
        return None if again.tenant_id == principal.tenant_id else "the credential now belongs to another team"

    return check
