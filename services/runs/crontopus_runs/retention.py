"""Run-history retention: a pass every CRONTOPUS_RUNS_PRUNE_INTERVAL deletes the runs older than
CRONTOPUS_RUNS_RETENTION_DAYS (see ``service.prune_runs`` for what is kept), and the statistics'
quarter-hour rollups older than any request reads (quarters.KEPT). Several instances may prune at
once: they delete the same rows at most once between them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter

from crontopus_kit.db import Database
from crontopus_kit.logging import get_logger
from crontopus_kit.unit import cancel_and_wait
from crontopus_runs import quarters, service
from crontopus_runs.settings import RunsSettings

log = get_logger(__name__)

RUNS_PRUNED = Counter("crontopus_runs_pruned_total", "Runs deleted by the retention policy")
FIRST_PASS_DELAY_SECONDS = 60  # not at start-up, when a restarted service has a backlog to store


class Pruner:
    def __init__(self, *, db: Database, settings: RunsSettings) -> None:
        self.db = db
        self.settings = settings
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.settings.retention_days:
            self._task = asyncio.create_task(self._prune_forever(), name="runs retention")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def prune_once(self, now: datetime | None = None) -> int:
        """Delete what the retention policy no longer keeps; how many runs went."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=self.settings.retention_days)
        async with self.db.session() as session:
            deleted = await service.prune_runs(session=session, created_before=cutoff)
            # A day older than any a statistics request reads, so none is being built meanwhile.
            unused = (now or datetime.now(UTC)) - quarters.KEPT - timedelta(days=1)
            await quarters.forget_before(session=session, moment=unused)
        RUNS_PRUNED.inc(deleted)
        if deleted:
            log.info("old runs deleted", deleted=deleted, created_before=cutoff.isoformat())
        return deleted

    async def _prune_forever(self) -> None:
        interval = self.settings.prune_interval
        await asyncio.sleep(min(FIRST_PASS_DELAY_SECONDS, interval))
        while True:
            try:
                await self.prune_once()
            except service.DATABASE_ERRORS as exc:
                log.warning("retention pass failed; trying again at the next one", error=str(exc)[:500])
            await asyncio.sleep(interval)
