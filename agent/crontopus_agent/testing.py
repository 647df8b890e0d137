"""Pytest fixtures for tests against a real cron daemon (loaded by ``-p crontopus_agent.testing``).

- ``root_crontab``: root's real crontab, given back as it was after the test.
- ``cron_daemon``: a running cron (the one already there, else one started for the test).

They skip, saying why, where there is no cron or the tests do not run as root; `.ci/run`
installs cron (`apt-get install --no-install-recommends cron`).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CRON_DAEMON = Path("/usr/sbin/cron")


def crontab(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """The real `crontab` command (root's table)."""
    return subprocess.run(["crontab", *args], input=stdin, capture_output=True, check=False)


@pytest.fixture
def root_crontab() -> Iterator[None]:
    """Root's real crontab, given back as it was after the test."""
    if not CRON_DAEMON.exists():
        pytest.skip(f"needs a real cron: {CRON_DAEMON} is missing (CI installs it with apt-get install cron)")
    if os.geteuid() != 0:
        pytest.skip("needs root: these tests install entries in root's crontab")
    saved = crontab("-l")
    if saved.returncode != 0 and b"no crontab for" not in saved.stderr:
        pytest.fail(f"cannot read root's crontab: {saved.stderr.decode()}")
    yield
    if saved.returncode == 0:
        crontab("-", stdin=saved.stdout)
    else:
        crontab("-r")


def cron_running() -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text()
        except OSError:
            continue  # the process ended while we looked
        name, state = fields[fields.index("(") + 1 : fields.rindex(")")], fields[fields.rindex(")") + 2]
        if name == "cron" and state != "Z":
            return True
    return False


@pytest.fixture
def cron_daemon(root_crontab: None) -> Iterator[None]:
    """A running cron: the one already there, else one started for the test."""
    if cron_running():
        yield
        return
    daemon = subprocess.Popen([str(CRON_DAEMON), "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # cron notices a changed crontab by the spool folder's mtime in whole seconds: a write in the
    # same second as its first load would go unseen, so the test writes one second later.
    time.sleep(1.1)
    if daemon.poll() is not None:
        pytest.fail(f"cron did not start: {daemon.stderr.read().decode() if daemon.stderr else ''}")
    try:
        yield
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)
