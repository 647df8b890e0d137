"""Public status badges: the team's list of badge URLs (``GET /api/badges``), rotating the key
that signs them (``POST /api/badges/rotate``), and the badges themselves, public, outside /api:
``/badge/<public_id>/<signature>/<selector>.svg`` and ``.json`` (shields.io's endpoint badge).

A badge URL needs no sign-in: its signature is the credential. Everything wrong with one (an
unknown key, a forged or old signature, a selector of another team's or without jobs) answers
the same 404, and a badge shows nothing but its selector's name and a status word."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response

from crontopus_gateway import badge_svg
from crontopus_gateway.deps import CurrentPrincipal, GatewayDep
from crontopus_gateway.gateway import Gateway
from crontopus_gateway.responses import ApiRoute, errors
from crontopus_kit.errors import NotFound
from crontopus_schemas.badges import (
    BADGE_COLOURS,
    PUBLIC_ID_PATTERN,
    SIGNATURE_PATTERN,
    BadgeEndpoint,
    BadgeKeyList,
    BadgeList,
    BadgeListRequest,
    BadgePublic,
    BadgeResolveRequest,
    BadgeState,
    is_selector,
)
from crontopus_schemas.events import JobRef
from crontopus_schemas.subjects import AlertingRpc

router = APIRouter(tags=["badges"], route_class=ApiRoute)

BADGE_PREFIX = "/badge/"
MAX_AGE = 60  # seconds a badge may be cached (browsers, GitHub's image proxy, shields.io)
CACHE = f"public, max-age={MAX_AGE}"
SVG = "image/svg+xml"
# An SVG opened on its own is a document: it may load nothing and run nothing.
BADGE_HEADERS = {
    "Cache-Control": CACHE,
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "Cross-Origin-Resource-Policy": "cross-origin",  # an image for any page (READMEs, wikis)
}
# Word for word the router's answer to a path it does not have: a wrong badge URL and a path that
# was never one cannot be told apart.
NOT_FOUND_BODY = {"detail": "Not Found"}
_PUBLIC_ID = re.compile(PUBLIC_ID_PATTERN)
_SIGNATURE = re.compile(SIGNATURE_PATTERN)

PublicId = Annotated[
    str, Path(description="the team's badge key's public id", json_schema_extra={"pattern": PUBLIC_ID_PATTERN})
]
Signature = Annotated[
    str, Path(description="the selector's signature", json_schema_extra={"pattern": SIGNATURE_PATTERN})
]
# No pattern in the document: a selector spans path segments, and a generator held to the
# pattern filters out most of what it makes (schemathesis' filter_too_much). Checked here instead.
Selector = Annotated[
    str, Path(description="`job/<namespace>/<name>`, `namespace/<namespace>` or `label/<key>=<value>`")
]
NOT_FOUND_DOC: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "Anything wrong with the URL (always the same answer)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorDetail"}}},
    },
    429: errors(429)[429],
}


# --- the team's list ------------------------------------------------------------------------------


@router.get("/api/badges", response_model=BadgeList)
async def list_badges(
    principal: CurrentPrincipal,
    gateway: GatewayDep,
    job: Annotated[JobRef | None, Query(description="namespace/name: only this job's badge")] = None,
) -> BadgeList:
    """The team's public status badges: one per job, then one per namespace and one per label pair
    (all the jobs with it), each as an SVG URL, a JSON URL for shields.io's endpoint badge and a
    Markdown snippet. The URLs need no sign-in; rotating the key ends them all."""
    request = BadgeListRequest(tenant_id=principal.tenant_id, job=job)
    keyed = await gateway.rpc(AlertingRpc.BADGES_LIST, request, BadgeKeyList)
    return _public(gateway, keyed)


@router.post("/api/badges/rotate", response_model=BadgeList)
async def rotate_badge_key(principal: CurrentPrincipal, gateway: GatewayDep) -> BadgeList:
    """A new badge key for the team: every badge URL given out so far answers 404 from now on.
    Answers the new list."""
    request = BadgeListRequest(tenant_id=principal.tenant_id)
    return _public(gateway, await gateway.rpc(AlertingRpc.BADGES_ROTATE, request, BadgeKeyList))


def _public(gateway: Gateway, keyed: BadgeKeyList) -> BadgeList:
    base = gateway.settings.base_url
    badges = []
    for badge in keyed.badges:
        url = f"{base}{BADGE_PREFIX}{keyed.public_id}/{badge.signature}/{badge.selector}"
        svg_url = f"{url}.svg"
        badges.append(
            BadgePublic(
                kind=badge.kind,
                name=badge.name,
                selector=badge.selector,
                status=badge.status,
                jobs=badge.jobs,
                svg_url=svg_url,
                json_url=f"{url}.json",
                markdown=f"![{badge.name}]({svg_url})",
            )
        )
    return BadgeList(key_created_at=keyed.created_at, badges=badges)


# --- the badges ---------------------------------------------------------------------------------


async def _state(gateway: Gateway, public_id: str, signature: str, selector: str) -> BadgeState | None:
    if not (_PUBLIC_ID.fullmatch(public_id) and _SIGNATURE.fullmatch(signature) and is_selector(selector)):
        return None  # not even the shape of a badge URL: no need to ask
    request = BadgeResolveRequest(public_id=public_id, signature=signature, selector=selector)
    try:
        return await gateway.rpc(AlertingRpc.BADGE_RESOLVE, request, BadgeState)
    except NotFound:
        return None


def _not_found() -> JSONResponse:
    return JSONResponse(NOT_FOUND_BODY, status_code=404)


@router.get(
    "/badge/{public_id}/{signature}/{selector:path}.svg",
    response_class=Response,
    responses={200: {"content": {SVG: {"schema": {"type": "string"}}}, "description": "The badge"}, **NOT_FOUND_DOC},
)
async def badge_svg_route(
    public_id: PublicId, signature: Signature, selector: Selector, gateway: GatewayDep
) -> Response:
    """A status badge as an SVG image (shields.io's flat style): `<name> | up`, `late`, `down` or
    `paused`. No sign-in; cached for 60 s."""
    state = await _state(gateway, public_id, signature, selector)
    if state is None:
        return _not_found()
    return Response(badge_svg.render(state.label, state.status), media_type=SVG, headers=BADGE_HEADERS)


@router.get(
    "/badge/{public_id}/{signature}/{selector:path}.json",
    response_model=BadgeEndpoint,
    responses=NOT_FOUND_DOC,
)
async def badge_json_route(
    public_id: PublicId, signature: Signature, selector: Selector, gateway: GatewayDep
) -> Response:
    """The same badge for shields.io's endpoint badge (`https://img.shields.io/endpoint?url=<this URL>`):
    `{"schemaVersion": 1, "label", "message", "color"}`. No sign-in; cached for 60 s."""
    state = await _state(gateway, public_id, signature, selector)
    if state is None:
        return _not_found()
    body = BadgeEndpoint(label=state.label, message=state.status, color=BADGE_COLOURS[state.status])
    return JSONResponse(body.model_dump(), headers=BADGE_HEADERS)
