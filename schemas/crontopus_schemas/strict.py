"""Fields of request bodies that take only their own JSON type. In lax mode pydantic reads `true` as
1, `"5"` as 5, `0` as false and `1700000000` as a date: values the OpenAPI document says are wrong,
accepted.

Some of these fields are a job manifest's too: the team's alert rules (`PUT /api/alert-rules`) are
the rules of a manifest's `spec.monitor`. Manifests are YAML that people write, where `count: "3"`
has always been read as 3, and refusing it now would break repositories that load today: the
manifest loader validates with ``MANIFEST_CONTEXT``, in which a quoted number is read as the
number, as it always was. An API body, validated without it, takes only a JSON number."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Final, NoReturn

from pydantic import BeforeValidator, StrictBool, ValidationInfo

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NUMERIC = re.compile(r"[-+]?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?")

# The validation context of a manifest (``JobManifest.model_validate(..., context=MANIFEST_CONTEXT)``).
QUOTED_NUMBERS: Final = "quoted_numbers"
MANIFEST_CONTEXT: Final[Mapping[str, bool]] = {QUOTED_NUMBERS: True}


def _quoted_numbers(info: ValidationInfo) -> bool:
    return isinstance(info.context, Mapping) and bool(info.context.get(QUOTED_NUMBERS))


def _not_text(kind: str, value: str) -> NoReturn:
    shown = value.strip()
    if _NUMERIC.fullmatch(shown):
        raise ValueError(f'{kind}, not a string: write {shown}, not "{shown}"')
    raise ValueError(f"{kind}, not a string")


def json_integer(value: Any, info: ValidationInfo) -> Any:
    """A JSON number (never true or false); a string too in a manifest (see the module docstring)."""
    if isinstance(value, bool):
        raise ValueError("a whole number, not true or false")
    if isinstance(value, str) and not _quoted_numbers(info):
        _not_text("a whole number", value)
    return value


def json_number(value: Any, info: ValidationInfo) -> Any:
    """A JSON number; in a manifest, whatever pydantic reads as a float, as before."""
    if _quoted_numbers(info):
        return value
    if isinstance(value, bool):
        raise ValueError("a number, not true or false")
    if isinstance(value, str):
        _not_text("a number", value)
    return value


def date_time_text(value: Any) -> Any:
    if value is None or isinstance(value, datetime) or (isinstance(value, str) and _DATE.match(value)):
        return value
    raise ValueError("an RFC 3339 date-time, e.g. 2026-11-27T02:00:00Z")


# An int that is neither a bool nor a string (a float with no fraction, 5.0, is still 5: JSON
# Schema's integer too). Constraints go before the validator
# (`Annotated[int, Field(ge=0), BeforeValidator(json_integer)]`) in a union, or JSON Schema gets
# pydantic's own names for them (`ge`) instead of `minimum`.
Integer = Annotated[int, BeforeValidator(json_integer)]
Boolean = StrictBool
# A date-time written as one: not a number of seconds.
DateTimeText = Annotated[datetime, BeforeValidator(date_time_text)]
