"""Pytest fixtures for tests against a real cron daemon (loaded by ``-p crontopus_agent.testing``).

- ``root_crontab``: root's real crontab, given back as it was after the test.
- ``cron_daemon``: a running cron (the one already there, else one started for the test).
- ``JobsRepo``, ``manifest``: a jobs repository committed to with the ``git`` binary.
- ``alive``: whether a process still runs (for tests that kill process trees).

They skip, saying why, where there is no cron or the tests do not run as root; `.ci/run`
installs cron (`apt-get install --no-install-recommends cron`).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crontopus_agent.platform import HOST

CRON_DAEMON = Path("/usr/sbin/cron")
ROOT_CRONTAB_LOCK = Path(tempfile.gettempdir()) / "crontopus-tests-root-crontab.lock"


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as gone). Linux: reads /proc."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def manifest(name: str, namespace: str = "prod", *, schedule: str = "0 2 * * *", labels: str = "") -> str:
    """A minimal valid job manifest; ``labels`` is the inside of its target's matchLabels."""
    target = f"  target: {{matchLabels: {{{labels}}}}}\n" if labels else ""
    return (
        "apiVersion: crontopus.io/v1\nkind: Job\n"
        f"metadata:\n  name: {name}\n  namespace: {namespace}\n"
        f'spec:\n  schedule: "{schedule}"\n  command: /bin/true\n{target}'
    )


class JobsRepo:
    """A plain Git repository with a working tree, committed to with the ``git`` binary."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
        env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
        done = subprocess.run(["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    def commit(self, files: dict[str, str | None], message: str = "change") -> str:
        """Write (or, for None, delete) the files and commit them; returns the new commit."""
        for rel, text in files.items():
            target = self.path / rel
            if text is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


def crontab(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """The real `crontab` command (root's table)."""
    return subprocess.run(["crontab", *args], input=stdin, capture_output=True, check=False)


@pytest.fixture
def root_crontab() -> Iterator[None]:
    """Root's real crontab, given back as it was after the test, and this test's alone while it
    runs: the tests run in several processes (pytest-xdist), and root has one crontab."""
    if not CRON_DAEMON.exists():
        pytest.skip(f"needs a real cron: {CRON_DAEMON} is missing (CI installs it with apt-get install cron)")
    if os.geteuid() != 0:
        pytest.skip("needs root: these tests install entries in root's crontab")
    with open(ROOT_CRONTAB_LOCK, "a") as lock:
        HOST.lock(lock.fileno())  # released when the file closes, also when the test dies
        yield from _keeping_root_crontab()


def _keeping_root_crontab() -> Iterator[None]:
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
