"""The error answers of every operation, for the OpenAPI document.

What follows from a route's make-up is added for every route by ``ApiRoute``: 401 where it
needs a credential, 403 where its permission rule refuses some role or key, 413 where it reads a body, 429 under
the rate-limited prefixes, 503 where it asks a service. What a route's own logic answers (404,
409, ...) it lists itself with ``errors(...)``. 422 is FastAPI's own (``HTTPValidationError``),
for every route that takes input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.datastructures import DefaultPlaceholder
from fastapi.routing import APIRoute
from fastapi.utils import create_model_field

from crontopus_gateway import permissions
from crontopus_gateway.deps import current_principal, get_gateway
from crontopus_gateway.errors import ErrorDetail, dependants_of, params_of
from crontopus_gateway.json_body import JsonBodyRoute
from crontopus_gateway.ratelimit import API_PREFIX, PING_PREFIX

DESCRIPTIONS = {
    400: "Bad request",
    401: "No credential, or one that is unknown, expired or revoked",
    403: "Your role (or key) may not do this; see the permission matrix in docs/api.md",
    404: "Not found, or another team's",
    409: "Conflict with the current state",
    413: "Request body too large",
    429: "Rate limited; see Retry-After",
    503: "A service is unreachable; retry",
}


JSON_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorDetail"}}}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: these statuses with the ``{"detail": "..."}`` body."""
    return {code: {"model": ErrorDetail, "description": DESCRIPTIONS[code]} for code in codes}


class ApiRoute(JsonBodyRoute):
    """The route class of every API router: JSON bodies read by ``JsonBodyRoute``, and the error
    answers its make-up implies listed in the OpenAPI document."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.responses = dict(self.responses)
        for code in _implied(self):
            if code not in self.responses:
                # FastAPI turned ``responses`` into response fields when the route was made: add both.
                self.responses[code] = errors(code)[code]
                self.response_fields[code] = create_model_field(
                    name=f"Response_{code}_{self.unique_id}", type_=ErrorDetail, mode="serialization"
                )
        if _media_type(self) != "application/json":
            self._errors_as_json()

    def _errors_as_json(self) -> None:
        """FastAPI documents a response model in the route's media type; a ping's or the event
        stream's errors are JSON all the same."""
        for code, response in self.responses.items():
            if response.get("model") is ErrorDetail:
                self.responses[code] = {"description": response["description"], "content": JSON_ERROR}
                self.response_fields.pop(code, None)


def _media_type(route: APIRoute) -> str | None:
    response_class = route.response_class
    if isinstance(response_class, DefaultPlaceholder):
        response_class = response_class.value
    return getattr(response_class, "media_type", None)


def _implied(route: APIRoute) -> list[int]:
    calls: set[Callable[..., Any]] = {dependant.call for dependant in dependants_of(route) if dependant.call}
    implied = [
        (401, current_principal in calls),
        (
            403,
            current_principal in calls and any(permissions.refuses_someone(route.path, m) for m in route.methods or ()),
        ),
        (413, bool(params_of(route, "body"))),
        (429, route.path.startswith((API_PREFIX, PING_PREFIX))),
        (503, get_gateway in calls),
    ]
    return [code for code, applies in implied if applies]
