"""Times as every service stores, compares and answers them: aware, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, overload

from pydantic import AfterValidator


@overload
def as_utc(moment: datetime) -> datetime: ...
@overload
def as_utc(moment: None) -> None: ...
def as_utc(moment: datetime | None) -> datetime | None:
    """The same instant in UTC. A time without an offset is taken as UTC: SQLite hands back
    naive datetimes, and everything Crontopus stores is UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# A time the API answers with: whatever a service put in (SQLite's naive values too), it leaves
# as UTC with its offset, `2026-11-27T02:00:00Z`.
UtcDateTime = Annotated[datetime, AfterValidator(as_utc)]
