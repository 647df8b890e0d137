"""Healthchecks-compatible ping URLs: ``<ping_url>``, ``/start``, ``/fail``, ``/log``, ``/<exit status>``.

No auth header: the key in the path is the credential. A ping becomes a check-in on the same
JetStream stream as agents and ``POST /api/checkins`` (source ``ping``), so everything downstream
is identical. Answers are plain ``OK`` with ``Ping-Body-Limit``, as Healthchecks answers.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response

from crontopus_gateway.deps import GatewayDep
from crontopus_gateway.gateway import Gateway
from crontopus_gateway.responses import ApiRoute, errors
from crontopus_gateway.routes.checkins import publish_checkin
from crontopus_kit.errors import NotFound, Unavailable
from crontopus_kit.logging import current_correlation_id, get_logger
from crontopus_schemas.events import CheckInEvent, RunStatus
from crontopus_schemas.pings import (
    PING_KEY_PATTERN,
    PING_SOURCE,
    OpenRun,
    OpenRunRequest,
    PingResolveRequest,
    PingTarget,
)
from crontopus_schemas.subjects import GitopsRpc, RunsRpc

router = APIRouter(tags=["pings"], route_class=ApiRoute)
log = get_logger(__name__)

PING_BODY_LIMIT = 100 * 1024  # bytes of a POST body kept as the run's output; the rest is dropped unread
RESOLVE_CACHE_SECONDS = 30.0
MISS_CACHE_SECONDS = 5.0  # short: a job pushed a moment ago should answer soon
RESOLVE_CACHE_ENTRIES = 10_000  # bounds what random keys can make us hold
RECENT_RUN_SECONDS = 60.0
OK_HEADERS = {"Ping-Body-Limit": str(PING_BODY_LIMIT)}
METHODS = ("GET", "POST", "HEAD")


@dataclass(frozen=True)
class Outcome:
    """What a ping reports; ``log`` is output only: stored as an event of its own in the run
    history, it never changes a run's or the job's status."""

    status: RunStatus
    exit_code: int | None = None


class KeyCache:
    """Ping key -> target, briefly, misses too. Entries sit under a hash of the key, so the
    process never holds usable keys."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[PingTarget | None, float]] = {}

    async def resolve(self, gateway: Gateway, key: str) -> PingTarget:
        digest, now = hashlib.sha256(key.encode()).hexdigest(), time.monotonic()
        cached = self._entries.get(digest)
        if cached is None or cached[1] <= now:
            cached = (await _lookup(gateway, key), now)
            self._put(digest, cached[0], now + (RESOLVE_CACHE_SECONDS if cached[0] else MISS_CACHE_SECONDS))
        if cached[0] is None:
            raise NotFound("not found")
        return cached[0]

    def _put(self, digest: str, target: PingTarget | None, expires: float) -> None:
        self._entries.pop(digest, None)
        while len(self._entries) >= RESOLVE_CACHE_ENTRIES:
            del self._entries[next(iter(self._entries))]  # the oldest
        self._entries[digest] = (target, expires)


async def _lookup(gateway: Gateway, key: str) -> PingTarget | None:
    if not re.fullmatch(PING_KEY_PATTERN, key):
        return None  # not a key we hand out: no need to ask
    try:
        return await gateway.rpc(GitopsRpc.PING_RESOLVE, PingResolveRequest(key=key), PingTarget)
    except NotFound:
        return None


class RecentRuns:
    """Runs this gateway started or finished by ping in the last minute. A start reaches the runs
    table a few milliseconds after we publish it, so a finish right behind it would not find it
    through OPEN_RUN; and a finish not yet stored must not be closed twice."""

    def __init__(self) -> None:
        # Both kept in insertion (= time) order, so expiring pops from the front only.
        self._started: dict[tuple[str, str], tuple[str, float]] = {}
        self._finished: dict[tuple[str, str], float] = {}

    def started(self, target: PingTarget, run_id: str) -> None:
        self._expire()
        self._started.pop((target.tenant_id, target.job), None)
        self._started[(target.tenant_id, target.job)] = (run_id, time.monotonic())

    def finished(self, target: PingTarget, run_id: str) -> None:
        self._expire()
        if self.open_run(target) == run_id:
            del self._started[(target.tenant_id, target.job)]
        self._finished.pop((target.tenant_id, run_id), None)
        self._finished[(target.tenant_id, run_id)] = time.monotonic()

    def open_run(self, target: PingTarget) -> str | None:
        entry = self._started.get((target.tenant_id, target.job))
        return entry[0] if entry and entry[1] > time.monotonic() - RECENT_RUN_SECONDS else None

    def was_finished(self, target: PingTarget, run_id: str) -> bool:
        moment = self._finished.get((target.tenant_id, run_id))
        return moment is not None and moment > time.monotonic() - RECENT_RUN_SECONDS

    def _expire(self) -> None:
        horizon = time.monotonic() - RECENT_RUN_SECONDS
        while self._started and next(iter(self._started.values()))[1] <= horizon:
            del self._started[next(iter(self._started))]
        while self._finished and next(iter(self._finished.values())) <= horizon:
            del self._finished[next(iter(self._finished))]


class PingState:
    def __init__(self) -> None:
        self.keys = KeyCache()
        self.recent = RecentRuns()


def ping_state(request: Request) -> PingState:
    """One per app, made on first use (app.state holds it, so every test app has its own)."""
    state = getattr(request.app.state, "pings", None)
    if state is None:
        state = request.app.state.pings = PingState()
    return state  # type: ignore[no-any-return]


PingStateDep = Annotated[PingState, Depends(ping_state)]
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


async def handle_ping(request: Request, gateway: Gateway, state: PingState, key: str, rid: str | None,
                      outcome: Outcome) -> Response:  # fmt: skip
    run_id = _valid_rid(rid)
    target = await state.keys.resolve(gateway, key)
    output, size = await _read_body(request)
    if outcome.status == "log":
        run_id = str(uuid.uuid4())  # its own entry: a rid would merge it into (and finish) that run
    elif run_id is None:
        run_id = await _run_id_for(gateway, state.recent, target, starting=outcome.status == "running")
    checkin = CheckInEvent(
        job=target.job, run_id=run_id, status=outcome.status, exit_code=outcome.exit_code, output=output,
        output_size=size, source=PING_SOURCE, correlation_id=current_correlation_id(), manifest_commit=target.commit,
    )  # fmt: skip
    await publish_checkin(gateway, target.tenant_id, PING_SOURCE, checkin)
    if checkin.status != "log":
        (state.recent.started if checkin.status == "running" else state.recent.finished)(target, run_id)
    return _ok()


def _valid_rid(rid: str | None) -> str | None:
    if rid is None:
        return None
    try:
        return str(uuid.UUID(rid))
    except ValueError:
        raise HTTPException(status_code=400, detail="rid: not a UUID") from None


async def _read_body(request: Request) -> tuple[str | None, int | None]:
    """At most PING_BODY_LIMIT bytes of a POST body, and its full size when the client announced
    it (so the run shows its output as truncated)."""
    if request.method != "POST":
        return None, None
    body = b""
    async for chunk in request.stream():
        body += chunk[: PING_BODY_LIMIT - len(body)]
        if len(body) >= PING_BODY_LIMIT:
            break
    if not body:
        return None, None
    declared = request.headers.get("content-length", "")
    size = max(len(body), int(declared)) if declared.isdigit() else len(body)
    return body.decode("utf-8", errors="replace"), size


async def _run_id_for(gateway: Gateway, recent: RecentRuns, target: PingTarget, *, starting: bool) -> str:
    """Without ?rid=: a start opens a new run; a finish closes the newest open one, if any."""
    if starting:
        return str(uuid.uuid4())
    run_id = recent.open_run(target)
    if run_id is None:
        run_id = await _stored_open_run(gateway, target)
        if run_id is not None and recent.was_finished(target, run_id):
            run_id = None
    return run_id or str(uuid.uuid4())


async def _stored_open_run(gateway: Gateway, target: PingTarget) -> str | None:
    request = OpenRunRequest(tenant_id=target.tenant_id, job=target.job, source=PING_SOURCE)
    try:
        return (await gateway.rpc(RunsRpc.OPEN_RUN, request, OpenRun)).run_id
    except Unavailable as exc:
        # The check-in only needs JetStream: record the finish as a run of its own rather than lose it.
        log.warning("open run not looked up; the finish becomes a run of its own", error=exc.message)
        return None


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
    async def endpoint(
        request: Request, key: Key, gateway: GatewayDep, state: PingStateDep, rid: Rid = None
    ) -> Response:
        return await handle_ping(request, gateway, state, key, rid, outcome)

    return endpoint


async def _exit_status(
    request: Request, key: Key, exit_status: ExitStatus, gateway: GatewayDep, state: PingStateDep, rid: Rid = None
) -> Response:
    return await handle_ping(request, gateway, state, key, rid, _exit_outcome(exit_status))


def _route(path: str, name: str, summary: str, endpoint: Callable[..., Awaitable[Response]]) -> None:
    """``path`` for GET, POST and HEAD (HEAD left out of the OpenAPI document), one operation each."""
    for method in METHODS:
        router.add_api_route(
            path, endpoint, methods=[method], response_class=PlainTextResponse, summary=summary,
            description=summary + "." + PING_DOC, include_in_schema=method != "HEAD",
            operation_id=f"ping_{name}_{method.lower()}",
            responses=errors(400, 404, *([413] if method == "POST" else [])),
        )  # fmt: skip


_route("/ping/{key}", "success", "Report a success", _fixed(Outcome("success")))
_route("/ping/{key}/start", "start", "Report a start", _fixed(Outcome("running")))
_route("/ping/{key}/fail", "fail", "Report a failure", _fixed(Outcome("failure")))
_route("/ping/{key}/log", "log", "Record output as a log event; no status changes", _fixed(Outcome("log")))
_route("/ping/{key}/{exit_status}", "exit_status", "Report an exit status: 0 success, 1-255 failure", _exit_status)
