"""Finish pings without ``?rid=`` close their job's newest open run, paired here at ingest.

A ping URL's finish does not know its run: the gateway publishes it with a run id of its own and
``closes_open_run``. The runs service pairs it in the order check-ins reached the stream, inside
the batch's transaction: with a start earlier in the same batch, else with the newest stored run
of the job and source that has a start, no finish and started within 24 hours (an index of open
runs, ``ix_runs_open``). Nothing found: the finish is a run of its own under its own id.

Pairing in stream order needs no request-reply per ping and holds however many gateway processes
took the pings: a start's ack precedes the finish's publish, so the start is always first. Runs
services storing batches of one stream concurrently (several instances) could each miss the
other's uncommitted start; the finish is then a run of its own and the start stays open.

A paired finish keeps its own id in ``closed_by``: redelivered after a crash (stored, not yet
acked), it finds the run it closed and merges into it again, idempotently, rather than closing
the next open run.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, DateTime, Integer, String, TextualSelect, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from crontopus_kit.times import as_utc
from crontopus_runs.merge import RunState
from crontopus_runs.models import Run

OPEN_RUN_MAX_AGE = timedelta(hours=24)
_TABLE = Run.__table__  # type: ignore[attr-defined]

Key = tuple[str, str, str | None]  # tenant, job, source


def needs_pairing(states: list[RunState]) -> bool:
    return any(_unpaired(state) for state in states)


async def pair_finishes(
    *, session: AsyncSession, states: list[RunState], now: datetime | None = None
) -> list[RunState]:
    """``states`` in stream order, each finish with ``closes_open_run`` given the run id it closes.
    Two statements a batch at most, whatever its size: what was paired before, and each job's
    newest stored open runs."""
    since = (now or datetime.now(UTC)) - OPEN_RUN_MAX_AGE
    already = await _already_paired(session, [s for s in states if _unpaired(s)])
    stored = await _stored_open_runs(session, _wanted(states))
    open_in_batch: dict[Key, list[str]] = defaultdict(list)  # newest last
    closed_in_batch: dict[Key, set[str]] = defaultdict(set)
    paired = []
    for state in states:
        key = (state.tenant_id, state.job, state.source)
        if _unpaired(state):
            target = already.get((state.tenant_id, state.run_id))
            if target is None and open_in_batch[key]:
                target = open_in_batch[key][-1]
            if target is None:
                target = _newest_open(stored[key], closed_in_batch[key], since)
            state = replace(state, run_id=target) if target else state
        if state.finished_at is not None:
            closed_in_batch[key].add(state.run_id)
            if state.run_id in open_in_batch[key]:
                open_in_batch[key].remove(state.run_id)
        elif state.started_at is not None and state.run_id not in closed_in_batch[key]:
            open_in_batch[key].append(state.run_id)
        paired.append(state)
    return paired


def _newest_open(stored: list[tuple[str, datetime]], closed: set[str], since: datetime) -> str | None:
    """The newest stored open run not closed earlier in the batch, if it started since ``since``."""
    run_id, started_at = next(((r, s) for r, s in stored if r not in closed), (None, None))
    return run_id if started_at is not None and started_at >= since else None


def _unpaired(state: RunState) -> bool:
    return state.closed_by is not None and state.closed_by == state.run_id


def _wanted(states: list[RunState]) -> dict[Key, int]:
    """How many of each key's newest stored open runs the batch could need: one per finish of
    the key (each closes one at most)."""
    keys = {(s.tenant_id, s.job, s.source) for s in states if _unpaired(s)}
    wanted: dict[Key, int] = dict.fromkeys(keys, 0)
    for state in states:
        key = (state.tenant_id, state.job, state.source)
        if key in wanted and state.finished_at is not None:
            wanted[key] += 1
    return wanted


async def _already_paired(session: AsyncSession, finishes: list[RunState]) -> dict[tuple[str, str], str]:
    """(tenant, finish's own id) -> the run it closed, for finishes stored before (redelivered)."""
    if not finishes:
        return {}
    wanted = {(state.tenant_id, state.run_id) for state in finishes}
    stmt = select(_TABLE.c.tenant_id, _TABLE.c.closed_by, _TABLE.c.run_id).where(
        _TABLE.c.closed_by.is_not(None), tuple_(_TABLE.c.tenant_id, _TABLE.c.closed_by).in_(wanted)
    )
    return {(tenant, closed_by): run_id for tenant, closed_by, run_id in (await session.execute(stmt)).all()}


LOOKUP_CHUNK = 100


async def _stored_open_runs(session: AsyncSession, wanted: dict[Key, int]) -> dict[Key, list[tuple[str, datetime]]]:
    """Each key's newest stored open runs (run id, start), newest first: a walk of ``ix_runs_open``
    from each key's newest entry, as many entries as the batch may need."""
    found: dict[Key, list[tuple[int, str, datetime]]] = defaultdict(list)
    items = list(wanted.items())
    for begin in range(0, len(items), LOOKUP_CHUNK):
        chunk = items[begin : begin + LOOKUP_CHUNK]
        params: dict[str, object] = {}
        for i, ((tenant_id, job, source), limit) in enumerate(chunk):
            params |= {f"tenant_{i}": tenant_id, f"job_{i}": job, f"source_{i}": source, f"limit_{i}": limit}
        for lookup, row_id, run_id, started_at in (await session.execute(_open_runs_lookup(len(chunk)), params)).all():
            found[chunk[lookup][0]].append((row_id, run_id, as_utc(started_at)))
    return defaultdict(list, {key: [(run_id, start) for _, run_id, start in sorted(rows, reverse=True)]
                              for key, rows in found.items()})  # fmt: skip


@functools.cache
def _open_runs_lookup(count: int) -> TextualSelect:
    """The lookups of ``count`` keys as one statement (UNION ALL), built once per size. As text:
    SQLAlchemy built a cache key for a hundred subqueries at every execution, on the event loop."""
    one = (
        "SELECT * FROM (SELECT {i} AS lookup, id, run_id, started_at FROM runs"
        " WHERE tenant_id = :tenant_{i} AND job = :job_{i} AND source = :source_{i}"
        " AND finished_at IS NULL AND started_at IS NOT NULL ORDER BY id DESC LIMIT :limit_{i}) AS lookup_{i}"
    )
    sql = " UNION ALL ".join(one.format(i=i) for i in range(count))
    return text(sql).columns(lookup=Integer, id=BigInteger, run_id=String, started_at=DateTime(timezone=True))
