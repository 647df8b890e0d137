"""Times as every service stores and compares them: aware, in UTC (defined once, in schemas)."""

from __future__ import annotations

from crontopus_schemas.times import as_utc

__all__ = ["as_utc"]
