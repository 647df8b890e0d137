"""What the agent writes in its home is its user's alone (docs/security.md): enrollment, a sync
with the crontab backend (a stand-in `crontab` command), a wrapper run and a status write, all
under the usual umask 022."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from crontopus_agent.daemon import Daemon
from crontopus_agent.enroll import enroll
from crontopus_agent.files import tighten_home
from crontopus_agent.home import Credentials
from crontopus_agent.runner import JobLock, execute
from crontopus_agent.schedulers.crontab import CrontabBackend
from crontopus_agent.testing import JobsRepo, manifest
from crontopus_kit.nats_server import free_port

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")

# `crontab -l` and `crontab -` on a file next to the script.
FAKE_CRONTAB = """#!/bin/sh
tab="$(dirname "$0")/crontab.txt"
for last; do :; done
if [ "$last" = "-" ]; then cat > "$tab"; exit; fi
[ -f "$tab" ] && exec cat "$tab"
echo "no crontab for t" >&2; exit 1
"""


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def readable_by_others(home: Path) -> list[str]:
    found = [home, *home.rglob("*")]
    return [f"{path} {stat.S_IMODE(path.stat().st_mode):03o}" for path in found
            if not path.is_symlink() and stat.S_IMODE(path.stat().st_mode) & 0o077]  # fmt: skip


def enrolled(home: Path, remote: JobsRepo) -> Credentials:
    """Enrolled against a stand-in server; NATS is a closed port, so the wrapper spools."""
    body = {"agent_id": "a" * 32, "tenant_id": "t" * 32, "name": "web-1", "labels": {}, "nats_user": "agent-a",
            "nats_password": "pw", "nats_urls": [f"nats://127.0.0.1:{free_port()}"], "server_url": "http://127.0.0.1:9",
            "clone_url": str(remote.path), "branch": "main", "folder": ""}  # fmt: skip
    transport = httpx.MockTransport(lambda _: httpx.Response(201, json=body))
    return enroll(server="http://127.0.0.1:9", token="enroll-token-0123456789", home=home, transport=transport)


def test_nothing_the_agent_writes_in_its_home_can_be_read_by_other_users(tmp_path: Path, umask_022: None) -> None:
    remote = JobsRepo(tmp_path / "remote")
    remote.commit({"team/backup.yaml": manifest("backup", "team", schedule="* * * * *")})
    (tmp_path / "crontab").write_text(FAKE_CRONTAB)
    (tmp_path / "crontab").chmod(0o755)
    home = tmp_path / "home"
    credentials = enrolled(home, remote)

    scheduler = CrontabBackend(home, crontab_command=[str(tmp_path / "crontab")], agent_command=["crontopus-agent"])
    asyncio.run(Daemon(home, credentials, scheduler).sync_once())  # mirror, specs, slot books, state, status
    assert execute(home=home, ref="team/backup", argv=["true"], guard=False) == 0  # lock, spool
    JobLock.for_job(home, "team/backup").mark_replaced("run-1", by="run-2")

    assert (home / "crontab-state.json").exists() and (home / "status.json").exists()
    assert list((home / "spool").glob("*.json")) and (home / "repo" / "objects").is_dir()
    assert readable_by_others(home) == []


def test_what_an_older_agent_left_readable_is_made_private_when_the_daemon_starts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "jobs" / "team").mkdir(parents=True)
    home.chmod(0o700)  # the home itself: private_dir, as before
    for folder in (home / "jobs", home / "jobs" / "team"):
        folder.chmod(0o755)
    (home / "jobs" / "team" / "backup.json").write_text("{}")
    (home / "jobs" / "team" / "backup.json").chmod(0o644)
    (tmp_path / "shared").mkdir(mode=0o755)
    (tmp_path / "shared").chmod(0o755)
    (home / "shared").symlink_to(tmp_path / "shared")  # a link may point outside: not followed

    assert tighten_home(home) == 3
    assert readable_by_others(home) == []
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o755
