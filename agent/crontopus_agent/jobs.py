"""The jobs an agent installs: what a manifest says, reduced to what the host needs to run it.

Pure module (no I/O except the job spec files, which the exec wrapper reads to learn a job's
timeout, concurrency, retries, environment and schedule).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from crontopus_agent.files import write_private
from crontopus_schemas.cron import normalise_schedule
from crontopus_schemas.manifest import JobManifest, duration_seconds

Concurrency = Literal["allow", "forbid", "replace"]


@dataclass(frozen=True)
class AgentJob:
    """One job as a scheduler backend installs it."""

    namespace: str
    name: str
    schedule: str  # normalised 5-field cron (macros expanded)
    timezone: str  # IANA name
    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    paused: bool = False  # installed but not run
    timeout_seconds: int | None = None
    concurrency: Concurrency = "forbid"
    retries_limit: int = 0
    retries_backoff_seconds: int = 30
    commit: str | None = None  # the manifest commit the job comes from

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def fingerprint(self) -> str:
        """Changes whenever anything a scheduler entry or a run depends on changes."""
        body = self.to_dict()
        body.pop("commit")  # a commit that leaves the job unchanged does not touch the entry
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @classmethod
    def from_manifest(cls, manifest: JobManifest, *, commit: str | None = None) -> AgentJob:
        spec = manifest.spec
        return cls(
            namespace=manifest.metadata.namespace,
            name=manifest.metadata.name,
            schedule=normalise_schedule(spec.schedule),
            timezone=spec.timezone,
            command=spec.command,
            args=tuple(spec.args),
            env=dict(spec.env),
            working_dir=spec.working_dir,
            paused=spec.paused,
            timeout_seconds=duration_seconds(spec.timeout) if spec.timeout else None,
            concurrency=spec.concurrency,
            retries_limit=spec.retries.limit,
            retries_backoff_seconds=duration_seconds(spec.retries.backoff),
            commit=commit,
        )

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["args"] = list(self.args)
        body["env"] = dict(self.env)
        return body

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> AgentJob:
        known = {k: v for k, v in body.items() if k in cls.__dataclass_fields__}
        known["args"] = tuple(known.get("args", ()))
        known["env"] = dict(known.get("env", {}))
        return cls(**known)


def selects(manifest: JobManifest, labels: Mapping[str, str]) -> bool:
    """Whether an agent with these labels installs the job: enabled, and every label of the
    job's ``spec.target.matchLabels`` matches (an empty selector matches every agent)."""
    if not manifest.spec.enabled:
        return False
    wanted = manifest.spec.target.match_labels
    return all(labels.get(key) == value for key, value in wanted.items())


def desired_jobs(manifests: Iterable[JobManifest], labels: Mapping[str, str], *, commit: str | None) -> list[AgentJob]:
    """The jobs this agent installs, sorted by ref."""
    jobs = [AgentJob.from_manifest(m, commit=commit) for m in manifests if selects(m, labels)]
    return sorted(jobs, key=lambda job: job.ref)


# --- job spec files: <home>/jobs/<namespace>/<name>.json --------------------------------


def spec_path(home: Path, ref: str) -> Path:
    namespace, name = ref.split("/", 1)
    return home / "jobs" / namespace / f"{name}.json"


def write_specs(home: Path, jobs: Iterable[AgentJob]) -> None:
    """Write each job's spec (atomically). Specs of other jobs stay: see ``remove_specs``."""
    for job in jobs:
        write_private(spec_path(home, job.ref), json.dumps(job.to_dict(), indent=2, sort_keys=True))


def spec_refs(home: Path) -> set[str]:
    """The refs of the jobs that have a spec."""
    root = home / "jobs"
    return {f"{path.parent.name}/{path.stem}" for path in root.glob("*/*.json")} if root.exists() else set()


def remove_specs(home: Path, *, keep: Collection[str]) -> list[str]:
    """Remove the spec of every job not in ``keep``; the refs removed.

    Only for jobs the scheduler no longer holds: a wrapper started by an entry whose spec is gone
    runs as a hand run, with no timeout, lock or retries."""
    removed = sorted(spec_refs(home) - set(keep))
    for ref in removed:
        spec_path(home, ref).unlink(missing_ok=True)
    return removed


def read_spec(home: Path, ref: str) -> AgentJob | None:
    """The spec the daemon last wrote for ``ref``, or None (a job run by hand)."""
    try:
        return AgentJob.from_dict(json.loads(spec_path(home, ref).read_text()))
    except FileNotFoundError:
        return None


# --- how a scheduler starts a run ---------------------------------------------------------


def agent_executable() -> list[str]:
    """The command that starts this agent: the installed script next to this interpreter (on
    Windows ``crontopus-agent.exe``, both in a venv's ``Scripts``), else ``python -m
    crontopus_agent``. Absolute, because schedulers run with a bare PATH."""
    name = "crontopus-agent.exe" if sys.platform == "win32" else "crontopus-agent"
    script = Path(sys.executable).with_name(name)
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "crontopus_agent"]


def exec_argv(home: Path, job: AgentJob, *, guard: bool = False) -> list[str]:
    """The argv a scheduler entry runs: ``crontopus-agent exec --home H [--guard] ns/name -- cmd args``.

    ``--guard`` tells the wrapper to run only if now is one of the job's fire times in its own
    time zone; backends use it when their entry fires more often than the job (a zone the
    scheduler cannot express), so the wrapper makes the schedule exact."""
    argv = [*agent_executable(), "exec", "--home", str(home)]
    if guard:
        argv.append("--guard")
    return [*argv, job.ref, "--", job.command, *job.args]
