"""The process notifications are sent from: a child of the alerting service, started on the first
send, with a pool of threads of its own.

Why a process. A notification may only reach public addresses, and the check must see the
address a plugin actually connects to (DNS can change between a check and the connection).
Plugins resolve names themselves (requests, smtplib) through ``socket.getaddrinfo``, with no
resolver or socket factory we could hand them, so the guard replaces that function
(``channels.guarded_connections``). Replaced in the alerting service's own process, it would be
a global hook under every service sharing it (the all-in-one server runs them all in one); in
this child, which does nothing but send notifications, it touches nothing else. A plugin that
crashes or hangs its interpreter also takes only this child with it: the sends in flight fail
with a message, and the next send starts a new child.

A send is bounded in time as a whole, not only per socket operation: a server that answers one
byte every few seconds never trips a read timeout, and would hold a thread of the child (all of
them, with a few channels) for as long as it liked, delaying every team's notifications. While
``time_limited`` holds, every blocking operation on a socket in that thread waits at most until
the send's deadline (its timeout is lowered to what is left), then fails like a timeout.

The child is ``python -m crontopus_alerting.sender`` (not multiprocessing's spawn, which would
import the parent's main module, the whole platform, into it). It gets (id, start-by time,
arguments of ``notify.send_blocking``) over one pipe, pickled (this process is the child's
author), and answers ``[id, ok, error]`` as JSON over another when each send is done, in any
order: the child talks to servers a team chose, so nothing it says is unpickled here.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from multiprocessing.connection import Connection
from typing import Any

from crontopus_kit.logging import get_logger
from crontopus_kit.nats_server import die_with_parent

log = get_logger(__name__)

STOPPED = "the notification sender stopped before it answered; the delivery is tried again"


class Sender:
    """Sends through the child process; ``send_blocking`` is called there with the arguments."""

    def __init__(self, *, threads: int) -> None:
        self.threads = threads
        self._lock = threading.Lock()  # one writer on the pipe; starting the child once
        self._ids = itertools.count()
        self._pending: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Connection]] = {}
        self._conn: Connection | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._ended: weakref.WeakSet[Connection] = weakref.WeakSet()

    async def call(self, *args: Any, start_within: float) -> Any:
        """``notify.send_blocking(*args)`` in the child; its result (an Outcome). A send the child
        cannot start within ``start_within`` seconds (all its threads busy) is not started: its
        caller has stopped waiting, and the delivery's retry would send it a second time."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()
        job = next(self._ids)
        try:
            with self._lock:
                work = (job, time.time() + start_within, args)  # wall clock: the child's is the same
                try:
                    self._send(work, loop, answer)
                except OSError:  # the child died since the last send (and was not yet reaped)
                    self._stop_child()
                    self._send(work, loop, answer)
            return await answer
        finally:
            self._pending.pop(job, None)

    async def ready(self, timeout: float = 60) -> None:
        """Start the child if it is not running, and wait until it answers (its imports done), so
        the next send's start deadline is not spent on them."""
        async with asyncio.timeout(timeout):
            await self.call(start_within=timeout)

    def _send(self, work: tuple[int, float, tuple[Any, ...]], loop: asyncio.AbstractEventLoop,
              answer: asyncio.Future[Any]) -> None:  # fmt: skip
        conn = self._connection()
        self._pending[work[0]] = (loop, answer, conn)  # which child has it: only its end fails it
        conn.send(work)

    def close(self) -> None:
        with self._lock:
            self._stop_child()

    def _stop_child(self) -> None:
        conn, process, self._conn, self._process = self._conn, self._process, None, None
        if conn is not None:
            conn.close()  # the child's recv() ends: it finishes its sends and exits
        if process is not None:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _connection(self) -> Connection:
        # `ended`: its reader saw the child go (poll() may still say None while another thread
        # holds the process's waitpid lock).
        if self._conn is None or self._conn in self._ended or self._process is None or self._process.poll() is not None:
            return self._start()
        return self._conn

    def _start(self) -> Connection:
        """A new child, with a pipe each way (its stdout and stderr stay the service's log)."""
        jobs_read, jobs_write = os.pipe()
        answers_read, answers_write = os.pipe()
        command = [sys.executable, "-m", __name__, str(jobs_read), str(answers_write), str(self.threads)]
        process = subprocess.Popen(command, pass_fds=(jobs_read, answers_write), preexec_fn=die_with_parent)
        os.close(jobs_read)
        os.close(answers_write)
        self._conn, self._process = Connection(jobs_write, readable=False), process
        answers = Connection(answers_read, writable=False)
        reader = threading.Thread(
            target=self._read, args=(answers, self._conn, process), name="crontopus-notify-answers", daemon=True
        )
        reader.start()
        log.info("notification sender started", pid=process.pid)
        return self._conn

    def _read(self, answers: Connection, jobs: Connection, process: subprocess.Popen[bytes]) -> None:
        """Hands each answer to the send waiting for it; when the child is gone (or answers what is
        not an answer: it is ended), fails the sends it had (a new child may already have others)."""
        from crontopus_alerting.notify import Outcome  # here: notify imports this module

        while True:
            try:
                job, ok, error = json.loads(answers.recv_bytes())
            except (EOFError, OSError, ValueError):
                break
            self._answer(job, Outcome(bool(ok), str(error) if error is not None else None))
        self._ended.add(jobs)  # the next send starts another child
        if process.poll() is None:
            process.kill()

        for job, (_, _, sent_to) in list(self._pending.items()):
            if sent_to is jobs:
                self._answer(job, Outcome(False, STOPPED))

    def _answer(self, job: int, outcome: Any) -> None:
        waiting = self._pending.get(job)
        if waiting is None:
            return  # its caller stopped waiting (timeout)
        loop, answer, _ = waiting
        loop.call_soon_threadsafe(_settle, answer, outcome)


def _settle(answer: asyncio.Future[Any], outcome: Any) -> None:
    if not answer.done():  # cancelled meanwhile (its caller's timeout)
        answer.set_result(outcome)


# --- the whole send's deadline (in the child) -------------------------------------------------------

_deadline: ContextVar[float | None] = ContextVar("crontopus_send_deadline", default=None)
_deadlines_installed = False
_install_lock = threading.Lock()
# What a plugin can block in: plain sockets' and TLS sockets' own methods (http.client and smtplib
# read through makefile(), which calls recv_into).
_BLOCKING = {
    socket.socket: ("connect", "recv", "recv_into", "send", "sendall"),
    ssl.SSLSocket: ("do_handshake", "read", "recv", "recv_into", "write", "send", "sendall"),
}


@contextlib.contextmanager
def time_limited(seconds: float) -> Iterator[None]:
    """Inside, in this thread, no socket operation waits past ``seconds`` from now."""
    _install_deadlines()
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _install_deadlines() -> None:
    global _deadlines_installed
    with _install_lock:
        if not _deadlines_installed:
            for cls, names in _BLOCKING.items():
                for name in names:
                    setattr(cls, name, _until_deadline(getattr(cls, name)))
            _deadlines_installed = True


def _until_deadline(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def bounded(sock: socket.socket, *args: Any, **kwargs: Any) -> Any:
        ends = _deadline.get()
        if ends is not None:
            left = ends - time.monotonic()
            if left <= 0:
                raise TimeoutError("the send's time is up")
            timeout = sock.gettimeout()
            if timeout is None or timeout > left:
                sock.settimeout(left)
        return method(sock, *args, **kwargs)

    return bounded


# --- the child ----------------------------------------------------------------------------------


def serve(jobs: Connection, answers: Connection, threads: int) -> None:
    """The child: runs each send in a thread of its pool and answers when it is done."""
    from crontopus_alerting.channels import scrub  # here: notify imports this module
    from crontopus_alerting.notify import MAX_ERROR, Outcome, send_blocking

    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="crontopus-notify")
    writing = threading.Lock()

    def run(job: int, start_by: float, args: tuple[Any, ...]) -> None:
        try:
            if not args:  # ready(): nothing to send
                outcome = Outcome(True, None)
            elif time.time() > start_by:
                outcome = Outcome(False, "not started in time: every sending thread was busy")
            else:
                outcome = send_blocking(*args)
        except Exception as exc:  # a plugin bug is that delivery's error, not the sender's end
            outcome = Outcome(False, scrub(f"{type(exc).__name__}: {exc}", args[0])[:MAX_ERROR])
        with writing, contextlib.suppress(OSError):  # the parent is gone: nobody to answer
            answers.send_bytes(json.dumps([job, outcome.ok, outcome.error]).encode())

    while True:
        try:
            job, start_by, args = jobs.recv()
        except (EOFError, OSError):
            break
        pool.submit(run, job, start_by, args)
    pool.shutdown(wait=True)


if __name__ == "__main__":
    jobs_fd, answers_fd, threads = (int(arg) for arg in sys.argv[1:4])
    serve(Connection(jobs_fd, writable=False), Connection(answers_fd, readable=False), threads)
