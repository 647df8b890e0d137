"""JSON request bodies, read once at the edge with two rules every route relies on:

- Nesting is bounded (``MAX_JSON_DEPTH``). The services serialise what they are sent, and a
  document 900 levels deep broke that deep inside the RPC layer (a 500); nothing Crontopus
  accepts needs more than a handful of levels.
- Text is Unicode. Bytes that are not UTF-8 and lone UTF-16 surrogates (``"\\ud800"``, which
  JSON can escape but UTF-8 cannot carry) become U+FFFD, the replacement character, exactly as
  the undecodable bytes of a ping's POST body do: a check-in is never refused, and never fails
  later, for a stray byte in its output.

Every router uses ``JsonBodyRoute``, so FastAPI parses bodies through ``parse_json_body``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

MAX_JSON_DEPTH = 32
TOO_DEEP = (
    f"body: JSON nested more than {MAX_JSON_DEPTH} levels deep; "
    "a job manifest or any other body Crontopus takes needs far fewer"
)
# Only a body with this many brackets can be nested that deep: most bodies skip the walk.
_BRACKETS = ("[", "{")
# A surrogate can only come from a \\uD800-\\uDFFF escape (raw surrogate bytes are invalid UTF-8,
# replaced while decoding); a valid pair is already one character after json.loads.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


class TooDeep(Exception):
    pass


def parse_json_body(body: bytes) -> Any:
    text = body.decode(json.detect_encoding(body), errors="replace")
    try:
        value = json.loads(text)
    except RecursionError:  # deeper than the interpreter's own limit
        raise HTTPException(status_code=422, detail=TOO_DEEP) from None
    deep = sum(text.count(bracket) for bracket in _BRACKETS) > MAX_JSON_DEPTH
    repair = _SURROGATE_ESCAPE.search(text) is not None
    if not (deep or repair):
        return value
    try:
        return _checked(value, 0, repair=repair)
    except TooDeep:
        raise HTTPException(status_code=422, detail=TOO_DEEP) from None


def _checked(value: Any, depth: int, *, repair: bool) -> Any:
    """The value with lone surrogates replaced (when ``repair``); TooDeep past the limit.
    Recursion stays within MAX_JSON_DEPTH frames."""
    if isinstance(value, str):
        return _SURROGATE.sub(REPLACEMENT, value) if repair else value
    if not isinstance(value, dict | list):
        return value
    if depth >= MAX_JSON_DEPTH:
        raise TooDeep
    if isinstance(value, list):
        return [_checked(item, depth + 1, repair=repair) for item in value]
    return {_checked(k, depth, repair=repair): _checked(v, depth + 1, repair=repair) for k, v in value.items()}


class JsonBodyRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json_body(await self.body())
        return self._json


class JsonBodyRoute(APIRoute):
    """Hands FastAPI a request whose ``json()`` is ``parse_json_body``. FastAPI re-raises the
    HTTPException it raises (any other error while reading a body would become a vague 400)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_checked_json(request: Request) -> Response:
            return await handler(JsonBodyRequest(request.scope, request.receive))

        return with_checked_json
