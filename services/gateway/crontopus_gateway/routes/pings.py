"""Healthchecks-compatible ping URLs: ``<ping_url>``, ``/start``, ``/fail``, ``/log``, ``/<exit status>``.

No auth header: the key in the path is the credential. A ping becomes a check-in on the same
JetStream stream as agents and ``POST /api/checkins`` (source ``ping``), so everything downstream
is identical. Answers are plain ``OK`` with ``Ping-Body-Limit``, as Healthchecks answers.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response

from crontopus_gateway.deps import GatewayDep
from crontopus_gateway.gateway import Gateway
from crontopus_gateway.middleware import NamedRoute
from crontopus_gateway.responses import ApiRoute, errors
from crontopus_gateway.routes.checkins import publish_checkin
from crontopus_kit.logging import current_correlation_id
from crontopus_schemas.events import CheckInEvent, RunStatus
from crontopus_schemas.pings import PING_KEY_PATTERN, PING_SOURCE

router = APIRouter(tags=["pings"], route_class=ApiRoute)

PING_BODY_LIMIT = 100 * 1024  # bytes of a POST body kept as the run's output: its last ones
OK_HEADERS = {"Ping-Body-Limit": str(PING_BODY_LIMIT)}
METHODS = ("GET", "POST", "HEAD")


@dataclass(frozen=True)
class Outcome:
    """What a ping reports; ``log`` is output only: stored as an event of its own in the run
    history, it never changes a run's or the job's status."""

    status: RunStatus
    exit_code: int | None = None


# The formats below are documented, not enforced by FastAPI: as in Healthchecks, a bad rid or exit
# status is a 400 and a key that is not one a 404.
Rid = Annotated[
    str | None,
    Query(
        description="a UUID that ties a start to its finish; default: paired for you; not a UUID: 400",
        json_schema_extra={"format": "uuid"},
    ),
]
Key = Annotated[str, Path(description="the job's ping key", json_schema_extra={"pattern": PING_KEY_PATTERN})]
EXIT_STATUS_PATTERN = "^([01]?[0-9]?[0-9]|2[0-4][0-9]|25[0-5])$"  # 0-255, leading zeros allowed
ExitStatus = Annotated[
    str,
    Path(description="0-255; anything else: 400", json_schema_extra={"pattern": EXIT_STATUS_PATTERN}),
]


async def handle_ping(request: Request, gateway: Gateway, key: str, rid: str | None, outcome: Outcome) -> Response:
    run_id = _valid_rid(rid)
    target = await gateway.ping_keys.resolve(key)
    output, size = await _read_body(request)
    # Without ?rid=: a start opens a new run, and a finish closes the job's newest open one, which
    # the runs service finds at ingest, in stream order (CheckIn.closes_open_run). A log entry is a
    # run of its own: a rid would merge it into (and finish) that run.
    closes_open_run = run_id is None and outcome.status not in ("running", "log")
    if run_id is None or outcome.status == "log":
        run_id = str(uuid.uuid4())
    checkin = CheckInEvent(
        job=target.job, run_id=run_id, status=outcome.status, exit_code=outcome.exit_code, output=output,
        output_size=size, source=PING_SOURCE, correlation_id=current_correlation_id(), manifest_commit=target.commit,
        closes_open_run=closes_open_run,
    )  # fmt: skip
    await publish_checkin(gateway, target.tenant_id, PING_SOURCE, checkin)
    return _ok()


def _valid_rid(rid: str | None) -> str | None:
    if rid is None:
        return None
    try:
        return str(uuid.UUID(rid))
    except ValueError:
        raise HTTPException(status_code=400, detail="rid: not a UUID") from None


async def _read_body(request: Request) -> tuple[str | None, int | None]:
    """The last PING_BODY_LIMIT bytes of a POST body, and its whole size: a long output's end is
    what says how a job ended, and the run shows the rest as cut off. (The gateway's request limit
    bounds what is read.)"""
    if request.method != "POST":
        return None, None
    tail, size = bytearray(), 0
    async for chunk in request.stream():
        size += len(chunk)
        tail += chunk
        del tail[:-PING_BODY_LIMIT]
    if not size:
        return None, None
    if size > len(tail):  # cut off: do not start inside a character
        while tail and tail[0] & 0xC0 == 0x80:
            del tail[0]
    return tail.decode("utf-8", errors="replace"), size


def _ok() -> Response:
    return PlainTextResponse("OK", headers=OK_HEADERS)


def _exit_outcome(exit_status: str) -> Outcome:
    if not re.fullmatch(EXIT_STATUS_PATTERN, exit_status):  # isdigit() would let "²" through to int()
        raise HTTPException(status_code=400, detail="exit status: a number from 0 to 255")
    code = int(exit_status)
    return Outcome("success" if code == 0 else "failure", exit_code=code)


# --- routes ---------------------------------------------------------------------------------------

PING_DOC = " Answers `OK` (text/plain); the `Ping-Body-Limit` header says how much of a POST body is kept."


def _fixed(outcome: Outcome) -> Callable[..., Awaitable[Response]]:
    async def endpoint(request: Request, key: Key, gateway: GatewayDep, rid: Rid = None) -> Response:
        return await handle_ping(request, gateway, key, rid, outcome)

    return endpoint


async def _exit_status(
    request: Request, key: Key, exit_status: ExitStatus, gateway: GatewayDep, rid: Rid = None
) -> Response:
    return await handle_ping(request, gateway, key, rid, _exit_outcome(exit_status))


def _plain(outcome: Outcome | None) -> Callable[[Request], Awaitable[Response]]:
    """The same ping as a plain Starlette endpoint: the parameters read straight off the request."""

    async def endpoint(request: Request) -> Response:
        params = request.path_params
        found = outcome or _exit_outcome(params["exit_status"])
        return await handle_ping(
            request, request.app.state.gateway, params["key"], request.query_params.get("rid"), found
        )

    return endpoint


# Each ping URL twice: in `router`, a FastAPI route that documents it (the OpenAPI document, the
# Allow header of a 405), and in `routes`, a plain Starlette route the app puts before every other,
# which answers it. A ping is the hottest request there is, and FastAPI's routing through the
# included routers and its dependency solving took a third of its time; both call handle_ping.
routes: list[NamedRoute] = []


def _route(path: str, name: str, summary: str, outcome: Outcome | None) -> None:
    """``path`` for GET, POST and HEAD (HEAD left out of the OpenAPI document), one operation each."""
    endpoint = _exit_status if outcome is None else _fixed(outcome)
    for method in METHODS:
        router.add_api_route(
            path, endpoint, methods=[method], response_class=PlainTextResponse, summary=summary,
            description=summary + "." + PING_DOC, include_in_schema=method != "HEAD",
            operation_id=f"ping_{name}_{method.lower()}",
            responses=errors(400, 404, *([413] if method == "POST" else [])),
        )  # fmt: skip
    routes.append(NamedRoute(path, _plain(outcome), methods=list(METHODS), name=f"ping_{name}"))


_route("/ping/{key}", "success", "Report a success", Outcome("success"))
_route("/ping/{key}/start", "start", "Report a start", Outcome("running"))
_route("/ping/{key}/fail", "fail", "Report a failure", Outcome("failure"))
_route("/ping/{key}/log", "log", "Record output as a log event; no status changes", Outcome("log"))
_route("/ping/{key}/{exit_status}", "exit_status", "Report an exit status: 0 success, 1-255 failure", None)
