"""The built-in repositories' post-receive hook: it reaches a NATS with a login through a list of
servers, keeps the password off its command line and out of the hook file, and is brought up to
date when the gitops service starts."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from faststream.nats import NatsBroker

from crontopus_gitops import repo, service
from crontopus_gitops.settings import GitopsSettings
from crontopus_gitops.unit import GitopsUnit
from crontopus_kit.nats_server import NatsServerProcess, free_port
from crontopus_schemas.subjects import pushed_subject

ALICE = "a" * 32
USER, PASSWORD = "gitops", "hook-s3cret-pw"


@pytest.fixture
def secured_nats(tmp_path: Path) -> Iterator[NatsServerProcess]:
    config = tmp_path / "nats.conf"
    config.write_text(f'authorization {{ users: [ {{ user: "{USER}", password: "{PASSWORD}" }} ] }}\n')
    server = NatsServerProcess(store_dir=tmp_path / "nats", config_file=config, log_file=tmp_path / "nats.log")
    server.start()
    yield server
    server.stop()


def with_login(port: int, password: str = PASSWORD) -> str:
    return f"nats://{USER}:{password}@127.0.0.1:{port}"


async def prepared_unit(settings_factory, nats_url: str) -> GitopsUnit:
    unit = GitopsUnit(settings_factory(GitopsSettings, nats_url=nats_url), broker=NatsBroker())
    await unit.prepare()
    return unit


async def repository(unit: GitopsUnit, hook: service.HookCommand) -> Path:
    async with unit.db.session() as session:
        row = await service.ensure_repository(session=session, settings=unit.settings, hook=hook, tenant_id=ALICE)
    return Path(row.path)


def recording_python(tmp_path: Path) -> tuple[Path, Path]:
    """An interpreter that writes down the arguments it was started with (what `ps` shows)."""
    python, argv = tmp_path / "python", tmp_path / "argv"
    python.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{argv}"\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    return python, argv


def push_a_commit(bare: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True, capture_output=True)
    (clone / "staging").mkdir(exist_ok=True)
    (clone / "staging" / "note.txt").write_text("pushed\n")
    identity = ["-c", "user.name=Carol", "-c", "user.email=carol@example.com"]
    subprocess.run(["git", *identity, "-C", str(clone), "add", "-A"], check=True, capture_output=True)
    subprocess.run(["git", *identity, "-C", str(clone), "commit", "-qm", "note"], check=True, capture_output=True)
    return subprocess.run(
        ["git", "-C", str(clone), "push", "origin", "HEAD"], check=True, capture_output=True, text=True
    )


async def test_a_push_notifies_through_a_list_of_servers_and_no_local_user_can_read_the_password(
    settings_factory, secured_nats: NatsServerProcess, tmp_path: Path
) -> None:
    # A cluster's list, as CRONTOPUS_NATS_URL may be; one of its servers is down.
    unit = await prepared_unit(settings_factory, f"{with_login(free_port())},{with_login(secured_nats.port)}")
    python, argv = recording_python(tmp_path)
    bare = await repository(unit, dataclasses.replace(unit.syncer.hook, python=str(python)))
    listener = await nats.connect(secured_nats.url, user=USER, password=PASSWORD)
    try:
        notices = await listener.subscribe(pushed_subject(ALICE))
        await listener.flush()

        pushed = await asyncio.to_thread(push_a_commit, bare, tmp_path)

        await notices.next_msg(timeout=10)
    finally:
        await listener.close()
        await unit.close()
    assert "could not notify" not in pushed.stderr
    assert "--nats-url-file" in argv.read_text() and PASSWORD not in argv.read_text()
    assert PASSWORD not in (bare / "hooks" / "post-receive").read_text()
    url_file = unit.syncer.hook.nats_url_file
    assert PASSWORD in url_file.read_text() and stat.S_IMODE(url_file.stat().st_mode) == 0o600


async def test_a_start_brings_stale_hooks_and_the_url_they_read_up_to_date(settings_factory, tmp_path: Path) -> None:
    old = await prepared_unit(settings_factory, with_login(4222, "old-pw"))
    bare = await repository(old, old.syncer.hook)
    await old.close()
    # As an older version wrote it: another interpreter, the URL with its password inline.
    repo.install_post_receive_hook(
        bare, command=["/gone/python", "-m", "crontopus_gitops.hook", "--nats-url", with_login(4222, "old-pw"), ALICE]
    )

    # The secret changed (and with it the derived password); an upgrade moved the interpreter.
    new = await prepared_unit(settings_factory, with_login(4222, "new-pw"))
    await new.close()

    hook = bare / "hooks" / "post-receive"
    assert new.syncer.hook.for_tenant(ALICE) == [sys.executable, "-m", "crontopus_gitops.hook", "--nats-url-file",
                                          str(new.syncer.hook.nats_url_file), ALICE]  # fmt: skip
    assert sys.executable in hook.read_text() and "/gone/python" not in hook.read_text()
    assert "pw" not in hook.read_text()
    assert new.syncer.hook.nats_url_file.read_text() == with_login(4222, "new-pw") + "\n"

    written = os.stat(hook)
    again = await prepared_unit(settings_factory, with_login(4222, "new-pw"))
    await again.close()
    assert os.stat(hook).st_mtime_ns == written.st_mtime_ns and os.stat(hook).st_ino == written.st_ino
