"""`crontopus-server` as an operator meets it: refusals of a bad secret, `nats-config`, `migrate`,
and what `run --help` promises."""

from __future__ import annotations

import os
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crontopus_kit.nats_server import free_port
from crontopus_server.cli import cli
from crontopus_server.platform import SERVICES

STRONG = secrets.token_urlsafe(48)
runner = CliRunner()


@pytest.fixture(autouse=True)
def production_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in os.environ:
        if name.startswith("CRONTOPUS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CRONTOPUS_DATA_DIR", str(tmp_path / "data"))


@pytest.mark.parametrize("weak", ["short", "changeme"])
def test_nats_config_refuses_a_weak_secret_and_prints_no_configuration(monkeypatch, weak):
    monkeypatch.setenv("CRONTOPUS_SECRET_KEY", weak)
    result = runner.invoke(cli, ["nats-config"])
    assert result.exit_code == 2
    assert "is too weak" in result.output and "secrets.token_urlsafe(48)" in result.output
    assert "authorization" not in result.output and weak not in result.output


def test_nats_config_refuses_to_make_up_a_secret(tmp_path):
    result = runner.invoke(cli, ["nats-config"])
    assert result.exit_code == 2 and "CRONTOPUS_SECRET_KEY (or CRONTOPUS_SECRET_KEY_FILE) must be set" in result.output
    assert not (tmp_path / "data" / "secret.key").exists()


def test_nats_config_output_is_readable_by_its_owner_only_whatever_the_umask(monkeypatch, tmp_path):
    monkeypatch.setenv("CRONTOPUS_SECRET_KEY", STRONG)
    target = tmp_path / "crontopus.conf"
    target.write_text("old")
    target.chmod(0o644)
    previous = os.umask(0o022)
    try:
        result = runner.invoke(cli, ["nats-config", "--output", str(target)])
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert target.stat().st_mode & 0o777 == 0o600
    assert "auth_callout" in target.read_text() and "auth_callout" not in result.stdout
    assert [path.name for path in tmp_path.iterdir()] == ["crontopus.conf"]  # no temporary file left


def test_a_service_refuses_a_weak_secret_without_quoting_it_or_naming_a_settings_class(monkeypatch):
    weak = "qa-deploy-this-is-31-chars-secr"
    monkeypatch.setenv("CRONTOPUS_SECRET_KEY", weak)
    monkeypatch.setenv("CRONTOPUS_NATS_URL", "nats://runs@127.0.0.1:4222")
    result = runner.invoke(cli, ["run", "runs"])
    assert result.exit_code == 2
    assert result.output.startswith("error: the server secret (CRONTOPUS_SECRET_KEY or CRONTOPUS_SECRET_KEY_FILE)")
    for leak in (weak[-8:], "input_value", "GatewaySettings", "validation error"):
        assert leak not in result.output


def test_run_help_gives_the_ports_a_service_alone_really_uses():
    result = runner.invoke(cli, ["run", "--help"], env={"COLUMNS": "200"})
    assert "8081 to 8085" in result.output and "CRONTOPUS_PORT is not read" in result.output


def test_migrate_brings_every_services_database_up_to_date_without_nats(monkeypatch, tmp_path):
    monkeypatch.setenv("CRONTOPUS_SECRET_KEY", STRONG)
    monkeypatch.setenv("CRONTOPUS_NATS_URL", f"nats://127.0.0.1:{free_port()}")  # production; nothing listens
    for _ in range(2):  # the second time, there is nothing to do
        result = runner.invoke(cli, ["migrate"])
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines() == [f"{name}: migrated" for name in SERVICES]
    for name in SERVICES:
        with sqlite3.connect(tmp_path / "data" / f"{name}.db") as db:
            [(version,)] = db.execute(f"select version_num from alembic_version_{name}").fetchall()
        assert version


def test_identity_started_with_another_secret_says_so_in_one_line_and_fails(monkeypatch, tmp_path):
    monkeypatch.setenv("CRONTOPUS_NATS_URL", f"nats://identity@127.0.0.1:{free_port()}")
    monkeypatch.setenv("CRONTOPUS_SECRET_KEY", STRONG)
    assert runner.invoke(cli, ["migrate", "identity"]).exit_code == 0  # the database, its keys under STRONG
    env = os.environ | {"CRONTOPUS_SECRET_KEY": secrets.token_urlsafe(48), "CRONTOPUS_LOG_FORMAT": "console"}
    command = [sys.executable, "-m", "crontopus_server.cli", "run", "identity", "--port", str(free_port())]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    log = done.stdout + done.stderr
    assert done.returncode != 0, log
    assert "does not match the one this identity database's signing keys were encrypted with" in log
    assert "Traceback" not in log and "could not decrypt" not in log
