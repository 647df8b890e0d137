"""What every scheduler backend does: make the host's scheduler hold exactly the desired jobs.

A backend owns only the entries it wrote (each carries a marker); anything else in the
scheduler belongs to the user and is never touched. Each reconcile reports what it changed and
the drift it found (an owned entry edited or deleted by hand), which it also repaired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from crontopus_agent.jobs import AgentJob

DriftKind = Literal["edited", "deleted", "unknown"]


@dataclass(frozen=True)
class Drift:
    """An owned entry that did not match what the agent last wrote; it has been restored."""

    ref: str
    kind: DriftKind  # edited by hand, deleted by hand, or an owned entry for no desired job
    detail: str = ""


@dataclass
class ReconcileReport:
    backend: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # per job: "ns/name: why"; the rest still applied

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed or self.drift)


class SchedulerError(RuntimeError):
    """The scheduler could not be read or written at all (nothing was changed)."""


class Scheduler(Protocol):
    name: str  # "crontab" | "windows" | "builtin"

    def reconcile(self, jobs: Sequence[AgentJob]) -> ReconcileReport:
        """Make the scheduler's owned entries equal ``jobs``. May block (subprocesses): the
        daemon calls it in a worker thread. Raises SchedulerError when nothing could be done."""
        ...

    def installed(self) -> dict[str, str]:
        """Owned entries now in the scheduler: ref -> fingerprint (as recorded in the marker)."""
        ...
