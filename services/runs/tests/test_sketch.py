"""Duration sketches: every duration's bucket stands for it within 1 %, percentiles from a sketch
are within 1 % of the exact ones, and SQL on either backend puts a duration in the same bucket
as Python does."""

from __future__ import annotations

import math
import random
import sqlite3

from sqlalchemy import BigInteger, literal
from sqlalchemy import select as sa_select

from crontopus_runs import sketch

HOUR = 3_600_000
# 0, 1 ms, every ms to 2 s, then spread up to days, and the values around bucket boundaries
SPREAD = sorted(
    {0, 1, 2, 3, *range(2_000), 59_999, 60_000, HOUR - 1, HOUR, 7 * HOUR + 123, 30 * 24 * HOUR}
    | {int(1.0201**k) for k in range(1, 1_200)}
    | {int(1.0201**k) + 1 for k in range(1, 1_200)}
)


def test_a_durations_bucket_stands_for_it_within_one_percent():
    for duration in SPREAD:
        represented = sketch.value(sketch.index(duration))
        assert abs(represented - duration) <= sketch.ALPHA * duration * (1 + 1e-12), duration


def test_percentiles_from_a_sketch_are_within_one_percent_of_the_exact_ones():
    rng = random.Random(3)
    for size in (1, 2, 3, 20, 1_000):
        durations = [rng.choice([0, 1, rng.randrange(1, 5_000), rng.randrange(HOUR, 9 * HOUR)]) for _ in range(size)]
        counts: dict[int, int] = {}
        for duration in durations:
            counts[sketch.index(duration)] = counts.get(sketch.index(duration), 0) + 1
        for p in (0.0, 0.5, 0.95, 1.0):
            exact = percentile_cont(durations, p)
            assert abs(sketch.percentile(counts, p) - exact) <= sketch.ALPHA * exact * (1 + 1e-12), (size, p)


def test_an_empty_sketch_has_no_percentile():
    assert sketch.percentile({}, 0.5) is None
    assert sketch.unpack(sketch.loads(sketch.dumps(sketch.pack({})))) == {}


def test_stored_sketches_merge_by_adding_their_packed_forms():
    one = {0: 3, sketch.index(1): 1, sketch.index(HOUR): 2**32 - 1}
    other = {sketch.index(1): 4, sketch.index(30 * 24 * HOUR): 7}
    stored = [sketch.dumps(sketch.pack(counts)) for counts in (one, other)]
    assert sketch.unpack(sum(map(sketch.loads, stored))) == {
        0: 3, sketch.index(1): 5, sketch.index(HOUR): 2**32 - 1, sketch.index(30 * 24 * HOUR): 7
    }  # fmt: skip
    merged = sketch.Tally(dict(success=1, failure=0, timeout=0, running=2), sketch.pack(one))
    merged.merge(sketch.Tally(dict(success=0, failure=1, timeout=0, running=0), sketch.pack(other)))
    assert merged.counts == {"success": 1, "failure": 1, "timeout": 0, "running": 2}
    assert merged.durations == sketch.pack(one) + sketch.pack(other)


async def test_sql_puts_every_duration_in_the_bucket_python_does(runs):
    async with runs.db.session() as session:
        for start in range(0, len(SPREAD), 500):
            chunk = SPREAD[start : start + 500]
            query = sa_select(*(sketch.index_sql(literal(duration, BigInteger)) for duration in chunk))
            assert list((await session.execute(query)).one()) == [sketch.index(d) for d in chunk]


def test_where_sqlite_lacks_its_math_functions_python_supplies_the_same_ones():
    connection = WithoutMath(sqlite3.connect(":memory:"))
    sketch.add_sqlite_functions(connection)
    assert connection.added == ["ln", "ceil"]
    for duration in (1, 2, 999, 123_456_789):
        query = "SELECT ceil(ln(?) / ?), ln(0)"
        found = connection.connection.execute(query, (float(duration), sketch.LN_GAMMA)).fetchone()
        assert found == (math.ceil(math.log(duration) / sketch.LN_GAMMA), None)


class WithoutMath:
    """A connection as on an SQLite built without its math functions: ln is "no such function"
    (the ones added here override the built-ins)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.added: list[str] = []

    def cursor(self) -> WithoutMath:
        return self

    def execute(self, sql: str) -> None:
        raise sqlite3.OperationalError("no such function: ln")

    def close(self) -> None:
        pass

    def create_function(self, name: str, arguments: int, function, *, deterministic: bool) -> None:
        self.added.append(name)
        self.connection.create_function(name, arguments, function, deterministic=deterministic)


def percentile_cont(values: list[int], p: float) -> float:
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
