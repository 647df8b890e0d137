"""Duration sketches: percentiles that can be merged, each within 1 % of the exact one.

The exact percentiles of a day cannot be made from those of its quarter-hours; a sketch can. This
is DDSketch's scheme (Masson, Rim and Lee, VLDB 2019) with relative accuracy ``ALPHA``: a duration
d (whole milliseconds) falls in bucket 0 if d is 0, else in ceil(log_GAMMA(d)) + 1, with
GAMMA = (1 + ALPHA) / (1 - ALPHA). Bucket i > 0 holds the durations in (GAMMA^(i-2), GAMMA^(i-1)]
and stands for 2 GAMMA^(i-1) / (GAMMA + 1), within ALPHA of both ends. A sketch is
``{bucket index: count}``; merging two adds their counts (on their packed form, ``pack``, when
there are thousands). Durations from 1 ms to 30 days take at most ~1,100 buckets, a busy
quarter-hour's runs a few hundred.

A percentile keeps PostgreSQL's ``percentile_cont`` rule (position p (n - 1), interpolated between
the values at the ranks either side of it), a rank's value being its bucket's: both values are
within ALPHA of the exact ones, so is any point between them.

The index is computed in SQL (``index_sql``, PostgreSQL and SQLite) and here (``index``) in the
same floating-point steps: libm's log of the duration, divided by ln(GAMMA) (one constant, sent
as a parameter), rounded up. The three agree, so both backends give the same answers.
"""

from __future__ import annotations

import math
import sqlite3
import sys
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Float, Integer, bindparam, case, cast, func

from crontopus_runs.models import COUNTED

ALPHA = 0.01
GAMMA = (1 + ALPHA) / (1 - ALPHA)
LN_GAMMA = math.log(GAMMA)
FIELD_BITS = 32
_UINT32 = "I"  # 4 bytes wherever CPython runs (LP64, LLP64, ILP32)
_FIRST_BYTES = 2  # the first bucket of a stored sketch: ~1,100 buckets cover 1 ms to 30 days

Sketch = dict[int, int]


def index(duration_ms: int) -> int:
    if duration_ms == 0:
        return 0
    return math.ceil(math.log(float(duration_ms)) / LN_GAMMA) + 1


def index_sql(duration_ms: Any) -> Any:
    """``index`` in SQL; null for a null duration. SQLite's ln and ceil are its math functions
    (unit.py supplies them where a build lacks them)."""
    log = func.ln(cast(duration_ms, Float)) / bindparam("ln_gamma", LN_GAMMA, type_=Float)
    return case((duration_ms == 0, 0), else_=cast(func.ceil(log), Integer) + 1)


def add_sqlite_functions(dbapi_connection: Any, _record: Any = None) -> None:
    """On connecting to SQLite: ``ln`` and ``ceil`` come with its math functions (3.35+, but a
    build option); where they are missing, the same libm calls from Python, slower per run but
    with the same results."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT ln(2), ceil(0.5)")
    except sqlite3.OperationalError:  # no such function
        dbapi_connection.create_function("ln", 1, _ln, deterministic=True)
        dbapi_connection.create_function("ceil", 1, _ceil, deterministic=True)
    finally:
        cursor.close()


def _ln(x: float | None) -> float | None:
    return None if x is None or x <= 0 else math.log(x)  # SQLite's ln is null outside its domain


def _ceil(x: float | None) -> float | None:
    return None if x is None else float(math.ceil(x))


def value(bucket: int) -> float:
    """The duration bucket ``bucket`` stands for, in milliseconds."""
    return 0.0 if bucket == 0 else 2 * GAMMA ** (bucket - 1) / (GAMMA + 1)


def percentile(sketch: Mapping[int, int], p: float) -> float | None:
    """As percentile_cont(p) over the durations, each replaced by its bucket's value; None for
    an empty sketch."""
    n = sum(sketch.values())
    if n == 0:
        return None
    position = p * (n - 1)
    lower, upper = math.floor(position), math.ceil(position)
    low, high = _value_at(sketch, lower), _value_at(sketch, upper)
    return low + (high - low) * (position - lower)


def _value_at(sketch: Mapping[int, int], rank: int) -> float:
    """The value of the duration at ``rank`` (0-based) in ascending order."""
    seen = 0
    for bucket in sorted(sketch):
        seen += sketch[bucket]
        if rank < seen:
            return value(bucket)
    raise ValueError(f"rank {rank} beyond the sketch's {seen} durations")


def pack(sketch: Mapping[int, int]) -> int:
    """A sketch as one integer, bucket i's count in bits 32i to 32i + 31: merging sketches is then
    adding integers, in C. 30 days are 2,880 quarter-hour sketches, ~165 buckets each with
    the durations of a busy team: added as dicts they took ~200 ms (parsing, keys, additions), as
    integers 12 ms. A count stays far below 2^32 (four billion runs of one team in one bucket of
    durations and of time)."""
    if not sketch:
        return 0
    first, last = min(sketch), max(sketch)
    fields = array(_UINT32, [sketch.get(bucket, 0) for bucket in range(first, last + 1)])
    return _from_fields(fields) << (FIELD_BITS * first)


def unpack(packed: int) -> Sketch:
    size = -(-packed.bit_length() // FIELD_BITS) * (FIELD_BITS // 8)
    fields = array(_UINT32, packed.to_bytes(size, "little"))
    if sys.byteorder == "big":
        fields.byteswap()
    return {bucket: count for bucket, count in enumerate(fields) if count}


def dumps(packed: int) -> bytes:
    """A packed sketch as stored: the first bucket with a count (two bytes, little-endian), then
    the integer shifted down to it, its bytes little-endian; the empty sketch is empty. Binary, not
    text: 30 days of a busy team's quarters are ~4 MB to read, and decoding them from base64 took
    a third of such a request (PostgreSQL's bytea and SQLite's blob hand back the bytes as they are)."""
    if not packed:
        return b""
    first = ((packed & -packed).bit_length() - 1) // FIELD_BITS
    shifted = packed >> (FIELD_BITS * first)
    return first.to_bytes(_FIRST_BYTES, "little") + shifted.to_bytes(-(-shifted.bit_length() // 8), "little")


def loads(data: bytes) -> int:
    if not data:
        return 0
    first = data[0] | data[1] << 8
    return int.from_bytes(memoryview(data)[_FIRST_BYTES:], "little") << (FIELD_BITS * first)


def _from_fields(fields: array[int]) -> int:
    if sys.byteorder == "big":
        fields.byteswap()
    return int.from_bytes(fields.tobytes(), "little")


@dataclass
class Tally:
    """What a bucket or a quarter-hour of runs adds up to: a count per status, and the sketch of
    the durations of those that have one, packed. Tallies merge."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTED, 0))
    durations: int = 0  # pack()

    def merge(self, other: Tally) -> None:
        for status, runs in other.counts.items():
            self.counts[status] += runs
        self.durations += other.durations
