"""The one place domain error codes become HTTP status codes, and the API's two error shapes:

- 422: FastAPI's list, ``{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}``, whether
  FastAPI's validation or a service refused the input. A domain message names its field first
  (``cursor: not a cursor ...``); ``loc`` then says where that field came from
  (``["query", "cursor"]``) and ``msg`` is the rest.
- every other error: ``{"detail": "<what went wrong>"}``.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.routing import Route

from crontopus_kit.errors import DomainError
from crontopus_schemas.rpc import ErrorCode

STATUS_BY_CODE = {
    ErrorCode.INVALID: 422,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.THROTTLED: 429,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}
# What may stand before ": " as a field's name: `cursor`, `base_commit`, `Last-Event-ID`, `spec.schedule`.
FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
INVALID_TYPE = "value_error"


class ErrorDetail(BaseModel):
    """Every error but a 422."""

    detail: str = Field(description="what went wrong, in a sentence")


def domain_error_response(exc: DomainError, request: Request | None = None) -> JSONResponse:
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    if exc.code == ErrorCode.UNAUTHORIZED:
        headers["WWW-Authenticate"] = "Bearer"
    detail: Any = exc.message
    if exc.code == ErrorCode.INVALID:
        detail = validation_detail(exc.message, request.scope.get("route") if request else None)
    return JSONResponse({"detail": detail}, status_code=STATUS_BY_CODE[exc.code], headers=headers)


def validation_detail(message: str, route: object) -> list[dict[str, Any]]:
    """A domain message as FastAPI's list of one error, ``loc`` naming its field where this
    route takes a field of that name."""
    name, sep, rest = message.partition(": ")
    if sep and FIELD_NAME.fullmatch(name):
        location = _location_of(name, route)
        if location is not None:
            return [{"type": INVALID_TYPE, "loc": location, "msg": rest}]
    return [{"type": INVALID_TYPE, "loc": ["body"] if _has_body(route) else [], "msg": message}]


def _location_of(name: str, route: object) -> list[str] | None:
    if not isinstance(route, APIRoute):
        return None
    for where in ("query", "path", "cookie"):
        if any(name in (param.name, param.alias) for param in params_of(route, where)):
            return [where, name]
    if any(name.lower() in (param.name.lower(), param.alias.lower()) for param in params_of(route, "header")):
        return ["header", name]
    if name == "body" and _has_body(route):
        return ["body"]
    if name in _body_fields(route):
        return ["body", name]
    return None


def _body_fields(route: APIRoute) -> set[str]:
    """The names a JSON or form body of this route may carry."""
    names: set[str] = set()
    for param in params_of(route, "body"):
        names.add(param.alias)
        for model in _models(param.field_info.annotation):
            names.update(field.alias or key for key, field in model.model_fields.items())
    return names


def _models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [model for arg in typing.get_args(annotation) for model in _models(arg)]
    return []


def _has_body(route: object) -> bool:
    return isinstance(route, APIRoute) and bool(params_of(route, "body"))


def dependants_of(route: APIRoute) -> list[Dependant]:
    """The route's endpoint and every dependency under it."""
    found, pending = [], [route.dependant]
    while pending:
        found.append(dependant := pending.pop())
        pending.extend(dependant.dependencies)
    return found


def params_of(route: APIRoute, where: str) -> list[Any]:
    """The route's parameters from ``where``: query, path, header, cookie or body."""
    return [param for dependant in dependants_of(route) for param in getattr(dependant, f"{where}_params")]


async def _http_error(request: Request, exc: Exception) -> Any:
    """Starlette's and FastAPI's own HTTP errors: a 422 in the list shape; a 405 that lists
    every method of the path (the router names only the first route it matched)."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 422 and isinstance(exc.detail, str):
        detail = validation_detail(exc.detail, request.scope.get("route"))
        return JSONResponse({"detail": detail}, status_code=422, headers=exc.headers)
    if exc.status_code == 405:
        exc = HTTPException(405, exc.detail, headers={**(exc.headers or {}), "Allow": _allowed(request, exc)})
    return await http_exception_handler(request, exc)


def _allowed(request: Request, exc: HTTPException) -> str:
    route = request.scope.get("route")  # FastAPI's routes set it; a plain Starlette route (pings) names its own
    methods = request.app.state.methods_by_path.get(getattr(route, "path", None))
    if not methods:
        methods = [method for method in (exc.headers or {}).get("Allow", "").split(", ") if method]
    return ", ".join(sorted(methods))


def methods_by_path(routers: Iterable[APIRouter]) -> dict[str, set[str]]:
    """Every method each path template has, over all routes of ``routers`` (one route per method
    and path is FastAPI's way: the router's own 405 names the first route's only)."""
    found: dict[str, set[str]] = {}
    for router in routers:
        for route in router.routes:
            if isinstance(route, Route) and route.methods:
                found.setdefault(route.path, set()).update(route.methods)
    return found


def install_error_handlers(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        return domain_error_response(exc, request)

    app.add_exception_handler(DomainError, handle)
    app.add_exception_handler(HTTPException, _http_error)
