"""Syncing tenants' repositories into the job index, one sync at a time per tenant, and
announcing each new commit (the agents' nudge)."""

from __future__ import annotations

import asyncio

from nats.aio.msg import Msg
from pydantic import ValidationError

from crontopus_gitops import external, repo, service
from crontopus_gitops.models import Repository
from crontopus_gitops.remote_url import RefusedUrl
from crontopus_gitops.remotes import Remotes
from crontopus_gitops.schedules import NextFireCache
from crontopus_gitops.service import HookCommand
from crontopus_gitops.settings import GitopsSettings
from crontopus_kit.broker import Publisher
from crontopus_kit.db import Database
from crontopus_kit.egress import PrivateTarget
from crontopus_kit.jetstream import BatchPuller
from crontopus_kit.locks import KeyedLocks
from crontopus_kit.logging import get_logger
from crontopus_schemas import subjects
from crontopus_schemas.gitops import ManifestsChanged, TenantCreated

log = get_logger(__name__)
RETRY_DELAY_SECONDS = 5


class Syncer:
    """Syncs repositories, one at a time per tenant (teams never wait for each other), and
    announces each new commit."""

    def __init__(self, *, db: Database, settings: GitopsSettings, hook: HookCommand, publisher: Publisher) -> None:
        self.db, self.settings, self.hook, self.publisher = db, settings, hook, publisher
        self.secret = settings.secret_bytes()
        self.links = service.Links(base_url=settings.base_url, secret=self.secret)
        self.schedules = NextFireCache()  # jobs' next fire times, shared by every query
        self.remotes = Remotes(settings)
        self._locks = KeyedLocks()
        self._polls: dict[str, asyncio.Task[None]] = {}
        self._poll_slots = asyncio.Semaphore(settings.poll_concurrency)

    async def repository(self, tenant_id: str) -> Repository:
        async with self.db.session() as session:
            return await service.ensure_repository(
                session=session, settings=self.settings, hook=self.hook, tenant_id=tenant_id
            )

    def lock(self, tenant_id: str) -> asyncio.Lock:
        return self._locks(tenant_id)

    def busy(self, tenant_id: str) -> bool:
        """A sync, an edit or a connection of this team's repository is under way."""
        return self._locks.busy(tenant_id)

    async def sync(self, tenant_id: str, *, fetch_remote: bool = False) -> Repository:
        """Index the repository's head if it moved (creating the repository on first need) and
        return its row. ``fetch_remote``: fetch an external repository first (the poll and
        webhooks do; queries only look at what was fetched)."""
        async with self.lock(tenant_id), self.db.session() as session:
            row = await service.ensure_repository(
                session=session, settings=self.settings, hook=self.hook, tenant_id=tenant_id
            )
            try:
                if fetch_remote and row.kind == "external":
                    await external.fetch(self.remotes, row, self.secret)
                changed = await service.sync(session=session, row=row, secret=self.secret)
            except Exception as exc:
                await session.rollback()
                await service.record_sync_error(session=session, row=row, error=self._sync_error(tenant_id, exc))
                return row
        if changed:
            await self._announce(tenant_id, changed)
        return row

    @staticmethod
    def _sync_error(tenant_id: str, exc: Exception) -> str:
        """What ``last_error`` says: what the user can act on, never a path or a remote's text."""
        if isinstance(exc, repo.RemoteError | RefusedUrl | PrivateTarget):
            log.info("repository sync failed", tenant_id=tenant_id, error=exc.message)
            return exc.message
        log.exception("repository sync failed", tenant_id=tenant_id)
        return "the repository could not be synced because of an error in Crontopus (the server log has the details)"

    async def _announce(self, tenant_id: str, event: ManifestsChanged) -> None:
        await self.publisher.publish(
            event.model_dump_json().encode(),
            subjects.manifests_changed_subject(tenant_id),
            headers={"Nats-Msg-Id": f"{tenant_id}:{event.commit}"},
            stream=subjects.GITOPS_STREAM.name,
        )
        log.info("manifests changed", tenant_id=tenant_id, commit=event.commit, added=len(event.added),
                 changed=len(event.changed), removed=len(event.removed), errors=event.errors)  # fmt: skip

    async def sync_all(self) -> None:
        """One round of the poll, waited for: every team's sync is started (see start_round)."""
        started = await self.start_round()
        await asyncio.gather(*started, return_exceptions=True)

    async def start_round(self) -> list[asyncio.Task[None]]:
        """Start syncing every team, ``poll_concurrency`` at a time, without waiting. A team whose
        sync is still running (a slow host, an edit, a webhook) is skipped, not queued: the next
        round looks again, and the other teams never wait for it."""
        async with self.db.session() as session:
            tenants = [row.tenant_id for row in await service.all_repositories(session=session)]
        started = []
        for tenant_id in tenants:
            if tenant_id in self._polls or self.busy(tenant_id):
                continue
            task = asyncio.create_task(self._poll_one(tenant_id), name=f"gitops poll {tenant_id}")
            self._polls[tenant_id] = task
            started.append(task)
        return started

    async def _poll_one(self, tenant_id: str) -> None:
        try:
            async with self._poll_slots:
                await self.sync(tenant_id, fetch_remote=True)
        except Exception:
            log.exception("repository poll failed", tenant_id=tenant_id)
        finally:
            self._polls.pop(tenant_id, None)

    async def poll_forever(self) -> None:
        """The fallback when a push notice or webhook never arrives."""
        while True:
            try:
                await self.start_round()
            except Exception:
                log.exception("repository poll failed")
            await asyncio.sleep(self.settings.poll_seconds)

    async def close(self) -> None:
        """Stop the poll's syncs (a fetch already in a thread ends by its own time bound)."""
        for task in list(self._polls.values()):
            task.cancel()
        await asyncio.gather(*self._polls.values(), return_exceptions=True)
        self.remotes.close()

    async def on_tenants_created(self, messages: list[Msg]) -> None:
        for msg in messages:
            try:
                event = TenantCreated.model_validate_json(msg.data)
            except ValidationError:
                log.warning("malformed tenant-created event dropped", subject=msg.subject)
                await msg.ack()
                continue
            try:
                await self.sync(event.tenant_id)
            except Exception:
                log.exception("tenant repository not set up; retrying", tenant_id=event.tenant_id)
                await msg.nak(delay=RETRY_DELAY_SECONDS)
                continue
            await msg.ack()

    def tenants_puller(self) -> BatchPuller:
        return BatchPuller(
            stream=subjects.TENANTS_STREAM.name, durable=subjects.GITOPS_TENANTS_DURABLE,
            filter_subject=f"{subjects.TENANTS_ROOT}.created.*", handler=self.on_tenants_created,
            batch_size=16, linger=0.01, ack_wait=60, max_ack_pending=256,
        )  # fmt: skip
