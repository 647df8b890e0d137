"""What the daemon says about its NATS connection, and how soon it notices a dead one.

nats-py hands every failed (re)connect to ``error_cb``: while NATS is away that is a line or two
per ``reconnect_wait``. What each one means, measured with nats-server 2.15 and nats-py 2.16:

- A server that stops or restarts: ``UnexpectedEOF`` on the open connection, then
  ``ConnectionRefusedError`` per try until it listens again. Said once per outage, as a WARNING.
- A login refused: ``Error("nats: 'Authorization Violation'")`` (then a ``ConnectionResetError``).
  It means a revoked agent, but also a control plane that is starting: the embedded NATS listens
  before the agents service answers its auth callout, and until then it refuses every agent
  (each try waits the callout's 2 s). Only refusals that go on for ``REFUSAL_GRACE_SECONDS``
  without a connect between them are an ERROR; before that it is said once, at INFO. (Not reset
  when a server is found down in between: with several servers, one may be down for good.)
- A login that expired (``CRONTOPUS_AGENTS_CREDENTIAL_TTL``, an hour): the server sends
  ``-ERR 'User Authentication Expired'`` and nats-py closes the client for good, with no
  ``error_cb``. The daemon logs in again (``closed``); that is routine, said at INFO.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import nats.errors

# nats-py's defaults (a ping every 120 s, 2 unanswered allowed) notice a connection that went
# silent (its read loop ended, a peer gone without a FIN, a NAT entry dropped) only after 4 to 6
# minutes: a socket left in CLOSE-WAIT for 4.5 minutes after a server restart. A third ping
# unanswered ends the connection, so a dead one is noticed 30 to 45 s after it went silent.
PING_INTERVAL_SECONDS = 15
MAX_OUTSTANDING_PINGS = 2
# Longer than a control plane takes to start its agents service (seconds; 30 s seen on a loaded
# 2-core machine), short enough that a revoked agent is told within a minute or two.
REFUSAL_GRACE_SECONDS = 60.0

REVOKED_OR_NO_CALLOUT = (
    "the agent was revoked (enroll again with a new token and `crontopus-agent enroll --force`), or the "
    "agents service does not answer NATS's auth callout (see 'Authorization Violation' in "
    "docs/troubleshooting.md). Jobs keep running; their check-ins wait in the spool"
)


def dead_connection_bound() -> float:
    """Seconds at most between a connection going silent and nats-py ending it."""
    return PING_INTERVAL_SECONDS * (MAX_OUTSTANDING_PINGS + 1)


def is_refusal(error: BaseException) -> bool:
    """The server refused the login (nats-py reports it as either of these)."""
    return isinstance(error, nats.errors.AuthorizationError) or "authorization violation" in str(error).lower()


_CONNECTION_TROUBLE = (
    OSError,  # refused, reset, unreachable
    TimeoutError,  # nats-py's own timeouts derive from it
    nats.errors.StaleConnectionError,  # and UnexpectedEOF
    nats.errors.ConnectionClosedError,
    nats.errors.NoServersError,
)


def is_connection_trouble(error: BaseException) -> bool:
    """Unreachable, reset, closed, timed out: what a server that is away or restarting looks like."""
    return isinstance(error, _CONNECTION_TROUBLE)


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".rstrip(": ")


@dataclass(frozen=True)
class Said:
    """A log line, and what ``status.json`` shows as the connection's error (None: leave it)."""

    level: int
    line: str
    status: str | None = None


class ConnectionTrouble:
    """Decides what is said about each NATS event, once per outage rather than once per try.

    An outage runs from a lost connection (or the start) until the next connect."""

    def __init__(
        self,
        *,
        reconnect_wait: float,
        refusal_grace: float = REFUSAL_GRACE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reconnect_wait = reconnect_wait
        self.refusal_grace = refusal_grace
        self._clock = clock
        self._outage_said = False
        self._refused_since: float | None = None
        self._refusal_level_said: int | None = None
        self._said: set[str] = set()  # other errors said since the last connect

    def connected(self) -> None:
        self._outage_said = False
        self._refused_since = self._refusal_level_said = None
        self._said.clear()

    def lost(self) -> Said:
        """The connection dropped; nats-py reconnects. (The status keeps the error that came with it.)"""
        said = self._outage("disconnected")
        return Said(said.level, said.line)

    def closed(self, reason: BaseException | None) -> Said:
        """nats-py closed the client for good (it does on most ``-ERR`` from the server); the
        daemon connects again."""
        self.connected()
        self._outage_said = True
        if reason is not None and "authentication expired" in str(reason).lower():
            return Said(logging.INFO, "this agent's login expired (it does every hour); logging in again")
        cause = describe(reason) if reason else "no reason given"
        return Said(logging.WARNING, f"the connection was closed ({cause}); connecting again", status=cause)

    def error(self, error: BaseException) -> Said:
        if is_refusal(error):
            return self._refusal(error)
        if is_connection_trouble(error):
            if self._refused_since is not None:  # the reset that follows each refusal: the refusal says it
                return Said(logging.DEBUG, describe(error))
            return self._outage(describe(error))
        message = describe(error)
        first_time = message not in self._said
        self._said.add(message)
        return Said(logging.WARNING if first_time else logging.DEBUG, message, status=message)

    def _outage(self, cause: str) -> Said:
        line = (
            f"unreachable ({cause}); reconnecting every {self.reconnect_wait:g} s. Jobs keep running; "
            "their check-ins wait in the spool"
        )
        level = logging.DEBUG if self._outage_said else logging.WARNING
        self._outage_said = True
        return Said(level, line, status=cause)

    def _refusal(self, error: BaseException) -> Said:
        now = self._clock()
        if self._refused_since is None:
            self._refused_since = now
        refused_for = now - self._refused_since
        if refused_for < self.refusal_grace:
            line = (
                f"{describe(error)}: this agent's login was refused; retrying (a control plane that is "
                f"starting refuses logins until its agents service answers; said as an error after "
                f"{self.refusal_grace:g} s)"
            )
            return self._say_refusal(logging.INFO, line, f"{describe(error)} (retrying)")
        line = (
            f"{describe(error)}: this agent's login has been refused for over {self.refusal_grace:g} s: "
            f"{REVOKED_OR_NO_CALLOUT}"
        )
        return self._say_refusal(logging.ERROR, line, line)

    def _say_refusal(self, level: int, line: str, status: str) -> Said:
        first_time = self._refusal_level_said != level
        self._refusal_level_said = level
        return Said(level if first_time else logging.DEBUG, line, status=status)
