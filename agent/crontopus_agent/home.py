"""The agent's home folder and its credentials.

Layout of ``<home>`` (default ``$CRONTOPUS_AGENT_HOME``, else ``/var/lib/crontopus-agent`` for
root, ``~/.local/state/crontopus-agent`` for everyone else, ``%LOCALAPPDATA%/crontopus-agent`` on
Windows):

    credentials.json   what enrollment returned (mode 0600): agent id, tenant, NATS login, repository;
                       and this host's own Git login and clone URL, if set (`crontopus-agent repository`)
    repo/              a bare mirror of the jobs repository (manifests are read from the commit's tree)
    jobs/<ns>/<n>.json one spec per installed job, read by ``crontopus-agent exec``
    spool/             check-ins that could not be sent yet (see spool.py)
    locks/             one lock file per job (concurrency policy)
    slots/<ns>/<n>.json which of a guarded job's fire times were run or missed (see slots.py)
    status.json        what the daemon last did (``crontopus-agent status`` prints it)
    crontab-state.json the jobs the crontab backend installed (to tell a deleted entry from a new one)
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NatsClient

from crontopus_schemas.private_files import private_dir
from crontopus_schemas.subjects import agent_inbox_prefix

HOME_ENV = "CRONTOPUS_AGENT_HOME"


def default_home() -> Path:
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV])
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home()) / "crontopus-agent"
    if os.geteuid() == 0:
        return Path("/var/lib/crontopus-agent")
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "crontopus-agent"


class NotEnrolledError(RuntimeError):
    def __init__(self, home: Path) -> None:
        super().__init__(f"this agent is not enrolled (no {home / 'credentials.json'}): run `crontopus-agent enroll`")


@dataclass
class Credentials:
    """What ``POST /api/agents/enroll`` returned; the password is the agent's only secret."""

    agent_id: str
    tenant_id: str
    name: str
    nats_urls: list[str]
    nats_user: str
    nats_password: str
    server_url: str
    clone_url: str | None = None  # where the server says the jobs are (kept up to date by nudges)
    branch: str = "main"
    folder: str = ""  # the jobs folder inside the repository
    labels: dict[str, str] = field(default_factory=dict)
    # Set on this host (`crontopus-agent repository`), never by the server: the URL this host
    # fetches from instead (a mirror it can reach), and a login for a private repository.
    host_clone_url: str | None = None
    git_username: str | None = None
    git_password: str | None = field(default=None, repr=False)

    @property
    def inbox_prefix(self) -> str:
        return agent_inbox_prefix(self.agent_id)

    @property
    def fetch_url(self) -> str | None:
        return self.host_clone_url or self.clone_url

    @property
    def git_login(self) -> tuple[str, str] | None:
        if self.git_password is None:
            return None
        return (self.git_username or "git", self.git_password)

    def save(self, home: Path) -> Path:
        private_dir(home)
        path = home / "credentials.json"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(self), out, indent=2)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, home: Path) -> Credentials:
        try:
            body: dict[str, Any] = json.loads((home / "credentials.json").read_text())
        except FileNotFoundError:
            raise NotEnrolledError(home) from None
        return cls(**{k: v for k, v in body.items() if k in cls.__dataclass_fields__})


async def connect(credentials: Credentials, **options: Any) -> NatsClient:
    """A NATS connection as this agent: its own login and its own reply inbox (the server
    refuses any other inbox, any other tenant's subjects, and a revoked agent). The server puts
    the agent in the agents' own account; answers (JetStream's acknowledgements, gitops') come
    back through its imports to this inbox, so the prefix stays the agent's own: every agent
    shares that account, and ``_INBOX.>`` would be everyone's."""
    options.setdefault("name", f"crontopus-agent {credentials.name}")
    return await nats.connect(
        servers=credentials.nats_urls,
        user=credentials.nats_user,
        password=credentials.nats_password,
        inbox_prefix=credentials.inbox_prefix.encode(),
        **options,
    )
