"""The agent daemon (``crontopus-agent run``): keeps this host's scheduler equal to Git and tells the
control plane how it is doing.

What it guarantees
- Syncs: once at start, at once on every nudge (a message on ``manifests_changed_subject``), and
  every ``poll_interval`` seconds as a fallback for lost nudges. A nudge also says where the
  team's repository is: when that moved (URL, branch or folder), the daemon fetches from there
  and stores it in the credentials (a clone URL set on the host still wins). Nudges sent while
  the agent was offline are lost, so it also asks where the repository is on every (re)connect.
  Bursts coalesce: at most one sync runs and at most one more is pending, however many nudges
  arrive. Each sync fetches the branch (``sync.Mirror``), selects the jobs for this agent's
  labels (``jobs.desired_jobs``), writes their spec files and reconciles the scheduler in a
  worker thread. The reconcile happens even when the commit did not change: that is what finds and
  repairs entries edited by hand.
- Never empties the scheduler because something is unreachable: when the fetch fails, the jobs of
  the last good commit (in memory, or the mirror's last fetched commit after a restart) are
  reconciled again; with no commit known at all, the scheduler is left alone.
- Works without NATS: syncing from Git and running jobs do not wait for the broker. The
  connection is retried forever (``reconnect_wait`` between tries), also after nats-py closed
  it for good (an expired login); a connection gone silent is given up within 45 s (pings,
  see connection.py). After each (re)connect the daemon sends a heartbeat at once and drains
  the check-in spool. Each outage is said once (``connection.ConnectionTrouble``); a refused
  login is an ERROR only once it has lasted ``refusal_grace``.
- Tells the control plane: a heartbeat every ``heartbeat_interval`` on
  ``agent_heartbeat_subject`` and a report after every sync on ``agent_report_subject``, both an
  ``AgentStatusReport``; both are skipped (not queued) while disconnected, since the next one
  repeats the whole state. ``<home>/status.json`` is rewritten after every sync.
- ``last_sync_at`` is when the last *successful* fetch finished; ``sync_error`` is set while the
  latest attempt failed (fetch or a whole-scheduler failure); ``applied_commit`` is the commit
  whose jobs the scheduler was last successfully reconciled to.
- Stops cleanly on SIGTERM/SIGINT (or ``stop()``): no new syncs, the running one finishes (up to
  ``shutdown_timeout``), a last heartbeat is sent, the connection drained and closed. With the
  built-in scheduler its loop stops launching; runs already started keep running (own session).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from nats.aio.client import Client as NatsClient
from pydantic import ValidationError

from crontopus_agent import __version__
from crontopus_agent.connection import (
    MAX_OUTSTANDING_PINGS,
    PING_INTERVAL_SECONDS,
    REFUSAL_GRACE_SECONDS,
    ConnectionTrouble,
    Said,
)
from crontopus_agent.files import write_private
from crontopus_agent.home import Credentials, connect
from crontopus_agent.jobs import AgentJob, desired_jobs, remove_specs, spec_refs, write_specs
from crontopus_agent.schedulers.base import ReconcileReport, Scheduler, SchedulerError
from crontopus_agent.schedulers.builtin import BuiltinScheduler
from crontopus_agent.slots import SLOTS_DIR, remove_book, start_books
from crontopus_agent.status import STATUS_FILE, spool_stats
from crontopus_agent.sync import Mirror, Snapshot, SyncError, mirror_for
from crontopus_schemas.agents import AgentStatusReport, DriftItem, SchedulerName
from crontopus_schemas.events import utcnow
from crontopus_schemas.gitops import ManifestsChanged, RepositoryLocation
from crontopus_schemas.rpc import RpcReply
from crontopus_schemas.subjects import (
    agent_heartbeat_subject,
    agent_report_subject,
    manifests_changed_subject,
    repository_location_subject,
)

log = logging.getLogger(__name__)

CRON_PIDFILES = ("/var/run/crond.pid", "/var/run/cron.pid", "/run/crond.pid", "/run/cron.pid")
CRON_PROCESS_NAMES = frozenset({"cron", "crond", "cronie", "busybox-crond"})

SpoolDrain = Callable[[NatsClient], Awaitable[object]]


# --- which scheduler ------------------------------------------------------------------------


def choose_scheduler(choice: str, home: Path) -> Scheduler:
    """The backend for ``--scheduler``; ``auto``: Task Scheduler on Windows, crontab where a
    ``crontab`` command and a running cron daemon exist, else the built-in loop."""
    if choice == "auto":
        choice = detect_scheduler()
    if choice == "builtin":
        return BuiltinScheduler(home)
    if choice == "crontab":
        from crontopus_agent.schedulers.crontab import CrontabBackend

        return CrontabBackend(home)
    if choice == "windows":
        from crontopus_agent.schedulers.windows import TaskSchedulerBackend

        return TaskSchedulerBackend(home)
    raise ValueError(f"unknown scheduler {choice!r}: use auto, crontab, builtin or windows")


def detect_scheduler() -> str:
    if sys.platform == "win32":
        return "windows"
    if shutil.which("crontab") and cron_daemon_running():
        return "crontab"
    return "builtin"


def cron_daemon_running() -> bool:
    """A cron daemon's pid file, or a process named like one (Linux /proc). On macOS launchd
    starts cron on demand, so a ``crontab`` command is taken as enough there."""
    if sys.platform == "darwin":
        return True
    if any(Path(pidfile).exists() for pidfile in CRON_PIDFILES):
        return True
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if comm.read_text().strip() in CRON_PROCESS_NAMES:
                return True
    return False


# --- the daemon ---------------------------------------------------------------------------------


class Daemon:
    """See the module docstring. ``run()`` until ``stop()`` or a signal (``handle_signals``)."""

    def __init__(
        self,
        home: Path,
        credentials: Credentials,
        scheduler: Scheduler,
        *,
        heartbeat_interval: float = 30.0,
        poll_interval: float = 60.0,
        reconnect_wait: float = 2.0,
        connect_timeout: float = 5.0,
        shutdown_timeout: float = 30.0,
        refusal_grace: float = REFUSAL_GRACE_SECONDS,
        mirror: Mirror | None = None,
        drain_spool: SpoolDrain | None = None,
        hostname: str | None = None,
    ) -> None:
        self.home = home
        self.credentials = credentials
        self.scheduler = scheduler
        self.heartbeat_interval = heartbeat_interval
        self.poll_interval = poll_interval
        self.reconnect_wait = reconnect_wait
        self.connect_timeout = connect_timeout
        self.shutdown_timeout = shutdown_timeout
        self.mirror = mirror or mirror_for(
            home, url=credentials.fetch_url, branch=credentials.branch, folder=credentials.folder,
            login=credentials.git_login,
        )  # fmt: skip
        self.hostname = hostname or socket.gethostname()
        self._drain_spool_with = drain_spool or self._drain_with_reporter
        self._stopping = asyncio.Event()
        self._wanted = asyncio.Event()
        self._nc: NatsClient | None = None
        self._last_nats_error: str | None = None
        self._trouble = ConnectionTrouble(reconnect_wait=reconnect_wait, refusal_grace=refusal_grace)
        self._status_lock = threading.Lock()
        self._background: set[asyncio.Task[Any]] = set()
        # what the last syncs found
        self._snapshot: Snapshot | None = None
        self._applied_commit: str | None = None
        self._last_sync_at: datetime | None = None
        self._sync_error: str | None = None
        self._installed: list[str] = []
        self._scheduled: set[str] | None = None  # refs the scheduler held after the last reconcile
        self._reconcile = ReconcileReport(backend=scheduler.name)
        self.syncs = 0  # finished sync attempts, for tests and status
        self.nudges = 0  # nudges received, for tests
        self._syncing = False

    # --- control

    def stop(self) -> None:
        """Ask ``run()`` to shut down (safe to call more than once)."""
        self._stopping.set()
        self._wanted.set()  # wakes the sync loop so it sees the stop

    def request_sync(self) -> None:
        """Sync as soon as the current sync (if any) is done; repeated requests coalesce."""
        self._wanted.set()

    @property
    def settled(self) -> bool:
        """No sync running and none asked for."""
        return not (self._syncing or self._wanted.is_set())

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    @property
    def applied_commit(self) -> str | None:
        return self._applied_commit

    # --- run

    async def run(self, *, handle_signals: bool = False) -> None:
        """Sync, heartbeat and (with the built-in scheduler) launch jobs until stopped."""
        log.info(
            "agent %s (%s) starting: scheduler=%s repository=%s branch=%s folder=%r labels=%s",
            self.credentials.name,
            self.credentials.agent_id,
            self.scheduler.name,
            self.mirror.safe_url or None,
            self.mirror.branch,
            self.mirror.folder,
            self.credentials.labels,
        )
        if handle_signals:
            self._install_signal_handlers()
        self._wanted.set()  # the first sync at once
        sync_task = asyncio.create_task(self._sync_loop(), name="crontopus-sync")
        others = [
            asyncio.create_task(self._connect(), name="crontopus-connect"),
            asyncio.create_task(self._heartbeat_loop(), name="crontopus-heartbeat"),
        ]
        if isinstance(self.scheduler, BuiltinScheduler):
            others.append(asyncio.create_task(self.scheduler.serve(), name="crontopus-builtin-scheduler"))
        try:
            failure = await self._until_stopped([sync_task, *others])
        finally:
            await self._shut_down(sync_task, others)
            if handle_signals:
                self._remove_signal_handlers()
        if failure is not None:
            raise failure

    async def _until_stopped(self, tasks: Sequence[asyncio.Task[Any]]) -> BaseException | None:
        """Wait for a stop; a task that dies on its own (a bug) stops the daemon too, so the
        service manager restarts it instead of it running half-alive."""
        stopper = asyncio.create_task(self._stopping.wait())
        try:
            while not self._stopping.is_set():
                done, _ = await asyncio.wait({stopper, *tasks}, return_when=asyncio.FIRST_COMPLETED)
                for task in done - {stopper}:
                    if task.cancelled() or task.exception() is None:
                        continue  # the connect task finishes once connected
                    log.error("%s failed; stopping", task.get_name(), exc_info=task.exception())
                    return task.exception()
                tasks = [task for task in tasks if not task.done()]
        finally:
            stopper.cancel()
        return None

    async def _shut_down(self, sync_task: asyncio.Task[None], others: Sequence[asyncio.Task[Any]]) -> None:
        self.stop()
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        try:
            await asyncio.wait_for(sync_task, self.shutdown_timeout)
        except TimeoutError:
            log.warning("the running sync did not finish within %ss; stopping anyway", self.shutdown_timeout)
        except Exception:
            log.exception("the sync loop failed")
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self._close_nats()
        log.info("agent stopped")

    async def _close_nats(self) -> None:
        nc, self._nc = self._nc, None
        if nc is None or nc.is_closed:
            return
        if nc.is_connected:
            await self._publish(nc, agent_heartbeat_subject(self.credentials.tenant_id, self.credentials.agent_id))
        try:
            await asyncio.wait_for(nc.drain(), self.connect_timeout)
        except Exception as exc:  # a dead connection cannot drain; closing is all that is left
            log.debug("draining the NATS connection: %r", exc)
            with contextlib.suppress(Exception):
                await nc.close()

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError):  # Windows, or not the main thread
                signal.signal(sig, lambda number, _frame: loop.call_soon_threadsafe(self._on_signal, number))

    def _remove_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)

    def _on_signal(self, number: int) -> None:
        log.info("received %s: shutting down", signal.Signals(number).name)
        self.stop()

    # --- syncing

    async def _sync_loop(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wanted.wait(), self.poll_interval)
            if self._stopping.is_set():
                return
            self._wanted.clear()  # a nudge from now on means one more sync after this one
            self._syncing = True
            try:
                await self.sync_once()
            except Exception as exc:  # a bug must not end syncing for good
                log.exception("sync failed unexpectedly")
                self._sync_error = f"unexpected error: {exc!r}"
            finally:
                self._syncing = False

    async def sync_once(self) -> None:
        """One sync: fetch, select, write specs, reconcile, report (see the module docstring)."""
        started = time.monotonic()
        snapshot = await self._fetch()
        if snapshot is not None:  # None: nothing ever fetched, and the fetch failed (said by _fetch)
            await self._apply(snapshot, started=started)
        self.syncs += 1
        await asyncio.to_thread(self._write_status, self._status_file_body())
        if self._nc is not None and self._nc.is_connected:
            await self._publish(self._nc, agent_report_subject(self.credentials.tenant_id, self.credentials.agent_id))

    async def _fetch(self) -> Snapshot | None:
        try:
            snapshot = await asyncio.to_thread(self.mirror.sync)
        except SyncError as exc:
            new_error, self._sync_error = str(exc) != self._sync_error, str(exc)
            if self._snapshot is None:  # just started: fall back on what the mirror fetched before
                with contextlib.suppress(SyncError):
                    self._snapshot = await asyncio.to_thread(self.mirror.last)
            if new_error:  # once per outage, not once per poll; one line saying what and what now
                kept = (
                    "jobs of the last fetched commit kept"
                    if self._snapshot is not None
                    else "no commit fetched yet: scheduler left alone"
                )
                log.warning("sync: %s (%s)", exc, kept)
            return self._snapshot
        if self._snapshot is None or snapshot.commit != self._snapshot.commit:
            for error in snapshot.errors:
                log.warning("manifest skipped at %s: %s", snapshot.commit[:12], error)
        self._snapshot, self._sync_error, self._last_sync_at = snapshot, None, utcnow()
        return snapshot

    async def _apply(self, snapshot: Snapshot, *, started: float) -> None:
        jobs = desired_jobs(snapshot.manifests, self.credentials.labels, commit=snapshot.commit)
        try:
            report, installed = await asyncio.to_thread(self._reconcile_in_thread, jobs)
        except SchedulerError as exc:
            self._sync_error = f"cannot update the {self.scheduler.name} scheduler: {exc}"
            log.error("sync: %s (commit %s not applied)", self._sync_error, snapshot.commit[:12])
            return
        known_errors = set(self._reconcile.errors)
        self._applied_commit, self._reconcile, self._installed = snapshot.commit, report, installed
        log.info(
            "sync commit=%s jobs=%d added=%d updated=%d removed=%d drift=%d errors=%d manifest_errors=%d took=%.2fs%s",
            snapshot.commit[:12],
            len(installed),
            len(report.added),
            len(report.updated),
            len(report.removed),
            len(report.drift),
            len(report.errors),
            len(snapshot.errors),
            time.monotonic() - started,
            " (fetch failed: the jobs of this last fetched commit were kept)" if self._sync_error else "",
        )
        for drift in report.drift:
            log.warning("drift repaired: %s %s %s", drift.ref, drift.kind, drift.detail)
        for error in report.errors:
            if error not in known_errors:  # a job that cannot be installed is said once, not every poll
                log.warning("job not installed: %s", error)

    def _reconcile_in_thread(self, jobs: list[AgentJob]) -> tuple[ReconcileReport, list[str]]:
        # Specs first: an entry the reconcile adds may fire at once, and the wrapper reads its spec.
        write_specs(self.home, jobs)
        self._start_slot_books(jobs)
        report = self.scheduler.reconcile(jobs)
        installed = set(self.scheduler.installed())
        self._remove_unscheduled_specs(jobs, installed)
        return report, sorted(installed)

    def _start_slot_books(self, jobs: list[AgentJob]) -> None:
        """From now on a run a guarded wrapper misses is said, not skipped silently (slots.py)."""
        try:
            start_books(self.home, jobs, now=utcnow())
        except OSError as exc:  # the wrappers start their books themselves, only later
            log.warning("cannot start the slot books in %s: %s", self.home / SLOTS_DIR, exc)

    def _remove_unscheduled_specs(self, jobs: list[AgentJob], installed: set[str]) -> None:
        """Remove the specs of jobs no longer desired, only once their entries are gone.

        The wrapper reads a job's timeout, lock and retries from its spec; an entry that fires
        after its spec went runs the command bare. So a spec stays while the scheduler still
        lists its entry (a reconcile that raised or left it behind is retried at the next sync)
        and one sync longer, for a wrapper the entry started just before it went. After a restart
        what the scheduler held before is unknown: no spec goes at the first sync."""
        held_before = self._scheduled if self._scheduled is not None else spec_refs(self.home)
        keep = {job.ref for job in jobs} | installed | held_before
        for ref in remove_specs(self.home, keep=keep):
            remove_book(self.home, ref)
            log.info("spec removed ref=%s (its scheduler entry is gone)", ref)
        self._scheduled = installed

    # --- status

    def status(self) -> AgentStatusReport:
        """What this agent reports about itself now."""
        stats = spool_stats(self.home)
        return AgentStatusReport(
            version=__version__,
            hostname=self.hostname,
            scheduler=cast(SchedulerName, self.scheduler.name),
            applied_commit=self._applied_commit,
            last_sync_at=self._last_sync_at,
            sync_error=self._sync_error,
            jobs=self._installed,
            drift=[DriftItem(ref=d.ref, kind=d.kind, detail=d.detail) for d in self._reconcile.drift],
            errors=self._reconcile.errors,
            spool_pending=stats.pending,
            spool_dropped=stats.dropped,
        )

    def _forget_nats_errors(self) -> None:
        self._last_nats_error = None
        self._trouble.connected()
        self._connection_changed()

    def _connection_changed(self) -> None:
        """``crontopus-agent status`` shows the connection as it is, not as of the last sync."""
        self._spawn(asyncio.to_thread(self._write_status, self._status_file_body()), "crontopus-status")

    def _status_file_body(self) -> dict[str, Any]:
        """What ``status.json`` holds, read here on the event loop: a thread only writes it."""
        body = self.status().model_dump(mode="json")
        body["nats"] = {"connected": self.connected, "error": self._last_nats_error}
        body["agent_id"] = self.credentials.agent_id
        body["pid"] = os.getpid()
        body["manifest_errors"] = [str(error) for error in self._snapshot.errors] if self._snapshot else []
        return body

    def _write_status(self, body: dict[str, Any]) -> None:
        # A sync and a connection change may both write: one at a time through the one temp file.
        with self._status_lock:
            write_private(self.home / STATUS_FILE, json.dumps(body, indent=2) + "\n")

    # --- NATS

    async def _connect(self) -> None:
        """Connect, retrying forever; nats-py then keeps reconnecting by itself."""
        while not self._stopping.is_set():
            try:
                nc = await connect(
                    self.credentials,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,  # also makes the first connect retry until it works
                    reconnect_time_wait=self.reconnect_wait,
                    connect_timeout=self.connect_timeout,
                    ping_interval=PING_INTERVAL_SECONDS,  # a dead connection is noticed within 45 s
                    max_outstanding_pings=MAX_OUTSTANDING_PINGS,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    closed_cb=self._on_closed,
                )
            except Exception as exc:  # e.g. a malformed URL: nats-py gives up at once
                await self._on_error(exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.reconnect_wait)
                continue
            try:
                await nc.subscribe(manifests_changed_subject(self.credentials.tenant_id), cb=self._on_nudge)
                await nc.flush()  # the server has the subscription: from here on no nudge is missed
            except Exception as exc:  # lost again at once: start over rather than run without nudges
                await self._on_error(exc)
                with contextlib.suppress(Exception):
                    await nc.close()
                continue
            self._nc = nc
            log.info("connected to NATS at %s", nc.connected_url.netloc if nc.connected_url else "?")
            self._forget_nats_errors()
            self._after_connect(nc)
            return

    async def _on_nudge(self, msg: Any) -> None:
        log.debug("nudge: manifests changed")
        self.nudges += 1
        try:
            location = ManifestsChanged.model_validate_json(msg.data).repository
        except ValidationError:
            location = None  # a nudge is still a nudge
        if location is not None:
            self._follow_repository(location)
        self.request_sync()

    async def _ask_where_the_jobs_are(self, nc: NatsClient) -> None:
        """A nudge saying the repository moved is lost while this agent is offline: ask on every
        (re)connect, and sync at once if it did move. Without an answer (a control plane older
        than this agent, or busy) the known location stays; the next nudge says it again."""
        subject = repository_location_subject(self.credentials.tenant_id, self.credentials.agent_id)
        try:
            answer = await nc.request(subject, b"{}", timeout=self.connect_timeout)
            location = RpcReply[RepositoryLocation].model_validate_json(answer.data).result
            if location is None:
                raise ValueError("no location in the reply")
        except Exception as exc:  # no responders, timeout, lost connection, an error reply
            log.info("could not ask where the jobs repository is: %r", exc)
            return
        if self._follow_repository(location):
            self.request_sync()

    def _follow_repository(self, location: RepositoryLocation) -> bool:
        """The team's repository moved (another URL, branch or folder, e.g. to a Git host):
        fetch from there from now on, and remember it. A URL set on this host still wins.
        Returns whether it moved."""
        known = self.credentials
        if (location.clone_url, location.branch, location.folder) == (known.clone_url, known.branch, known.folder):
            return False
        log.info("the jobs repository is now %s (branch %s, folder %r)", location.clone_url, location.branch,
                 location.folder)  # fmt: skip
        known.clone_url, known.branch, known.folder = location.clone_url, location.branch, location.folder
        try:
            known.save(self.home)
        except OSError as exc:
            log.warning("cannot remember the new repository in %s: %s", self.home, exc)
        # A new Mirror rather than edits to the old one: a sync running in its thread keeps a consistent one.
        self.mirror = Mirror(
            self.mirror.path, url=known.fetch_url, branch=known.branch, folder=known.folder, login=self.mirror.login
        )
        return True

    async def _on_error(self, error: Exception) -> None:
        # nats-py reports every failed attempt: what is said, and how loud, is ConnectionTrouble's.
        self._say(self._trouble.error(error))

    def _say(self, said: Said) -> None:
        log.log(said.level, "NATS: %s", said.line)
        if said.status is not None and said.status != self._last_nats_error:
            self._last_nats_error = said.status
            self._connection_changed()

    async def _on_disconnected(self) -> None:
        nc = self._nc
        if self._stopping.is_set() or (nc is not None and nc.is_closed):
            return  # stopping, or closed for good: _on_closed says it
        self._say(self._trouble.lost())

    async def _on_reconnected(self) -> None:
        log.info("reconnected to NATS")
        self._forget_nats_errors()
        if self._nc is not None:
            self._after_connect(self._nc)

    async def _on_closed(self) -> None:
        """nats-py closes the client for good on most errors the server sends, among them the
        expiry of the agent's login (hourly): connect again, as a new client with a fresh login."""
        nc = self._nc
        if self._stopping.is_set() or nc is None or not nc.is_closed:
            log.debug("NATS connection closed")  # ours: a stop, or a connect attempt given up
            return
        self._nc = None
        self._say(self._trouble.closed(nc.last_error))
        self._connection_changed()
        self._spawn(self._connect(), "crontopus-connect")

    def _after_connect(self, nc: NatsClient) -> None:
        """Heartbeat at once (the server learns we are back), send what the wrappers spooled, and
        ask where the jobs repository is now."""
        subject = agent_heartbeat_subject(self.credentials.tenant_id, self.credentials.agent_id)
        self._spawn(self._publish(nc, subject), "crontopus-heartbeat-now")
        self._spawn(self._drain_spool(nc), "crontopus-spool-drain")
        self._spawn(self._ask_where_the_jobs_are(nc), "crontopus-repository-location")

    async def _heartbeat_loop(self) -> None:
        subject = agent_heartbeat_subject(self.credentials.tenant_id, self.credentials.agent_id)
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            nc = self._nc
            if nc is not None and nc.is_connected:
                await self._publish(nc, subject)
                if spool_stats(self.home).pending:  # a wrapper could not send: the daemon can
                    await self._drain_spool(nc)

    async def _publish(self, nc: NatsClient, subject: str) -> None:
        try:
            await nc.publish(subject, self.status().model_dump_json().encode())
        except Exception as exc:
            log.warning("could not publish on %s: %r", subject, exc)

    async def _drain_spool(self, nc: NatsClient) -> None:
        try:
            await self._drain_spool_with(nc)
        except Exception:
            log.exception("draining the check-in spool failed; the check-ins stay spooled")

    async def _drain_with_reporter(self, nc: NatsClient) -> object:
        from crontopus_agent.reporting import CheckInReporter

        sent = await CheckInReporter(home=self.home, credentials=self.credentials, nc=nc, budget=None).drain()
        if sent:
            log.info("sent %d spooled check-ins", sent)
        return sent

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
