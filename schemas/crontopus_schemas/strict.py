"""Fields of request bodies that take only their own JSON type. In lax mode pydantic reads `true` as
1, `0` as false and `1700000000` as a date: values the OpenAPI document says are wrong, accepted."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, StrictBool

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def not_a_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a whole number, not true or false")
    return value


def date_time_text(value: Any) -> Any:
    if value is None or isinstance(value, datetime) or (isinstance(value, str) and _DATE.match(value)):
        return value
    raise ValueError("an RFC 3339 date-time, e.g. 2026-11-27T02:00:00Z")


# An int that is not a bool (a float with no fraction, 5.0, is still 5: JSON Schema's integer too).
# Constraints go before the validator (`Annotated[int, Field(ge=0), BeforeValidator(not_a_bool)]`) in a
# union, or JSON Schema gets pydantic's own names for them (`ge`) instead of `minimum`.
Integer = Annotated[int, BeforeValidator(not_a_bool)]
Boolean = StrictBool
# A date-time written as one: not a number of seconds.
DateTimeText = Annotated[datetime, BeforeValidator(date_time_text)]
