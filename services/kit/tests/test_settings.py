import pydantic_settings
import pytest

from crontopus_kit.nats_security import service_password
from crontopus_kit.settings import CrontopusSettings, SettingsError, describe_settings_error, normalise_database_url

STRONG = "s" * 48


def test_the_embedded_default_generates_a_private_secret_once(tmp_path):
    settings = CrontopusSettings(data_dir=tmp_path)
    first = settings.secret_bytes()
    assert first == CrontopusSettings(data_dir=tmp_path).secret_bytes()
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    assert len(first) >= 32


def test_production_refuses_to_start_without_a_secret(tmp_path):
    settings = CrontopusSettings(data_dir=tmp_path, nats_url="nats://nats:4222")
    with pytest.raises(SettingsError, match="CRONTOPUS_SECRET_KEY"):
        settings.secret_bytes()


@pytest.mark.parametrize("weak", ["changeme", "secret", "short-but-not-default"])
def test_production_refuses_a_weak_or_default_secret(tmp_path, weak):
    settings = CrontopusSettings(data_dir=tmp_path, database_url="postgresql://db/x", secret_key=weak)
    with pytest.raises(SettingsError, match="weak"):
        settings.secret_bytes()


def test_secrets_can_come_from_files(tmp_path, monkeypatch):
    secret_file = tmp_path / "secret"
    secret_file.write_text(STRONG + "\n")
    monkeypatch.setenv("CRONTOPUS_SECRET_KEY_FILE", str(secret_file))
    monkeypatch.setenv("CRONTOPUS_NATS_URL", "nats://nats:4222")
    assert CrontopusSettings().secret_bytes() == STRONG.encode()


def test_a_missing_secret_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CRONTOPUS_SECRET_KEY_FILE", str(tmp_path / "nope"))
    with pytest.raises(pydantic_settings.SettingsError) as raised:
        CrontopusSettings()
    assert "CRONTOPUS_SECRET_KEY_FILE" in describe_settings_error(raised.value)


def test_each_service_gets_its_own_sqlite_file_or_database(tmp_path, monkeypatch):
    settings = CrontopusSettings(data_dir=tmp_path)
    assert settings.database_url_for("runs").endswith("/runs.db")
    assert settings.embedded
    monkeypatch.setenv("CRONTOPUS_RUNS_DATABASE_URL", "postgresql://db/runs")
    assert settings.database_url_for("runs") == "postgresql+asyncpg://db/runs"
    assert settings.database_url_for("identity").endswith("/identity.db")


def test_plain_postgres_urls_are_given_the_async_driver():
    assert normalise_database_url("postgres://u@h/d") == "postgresql+asyncpg://u@h/d"


def test_a_nats_user_named_without_a_password_logs_in_with_the_one_derived_from_the_secret(tmp_path):
    runs_password = service_password(STRONG.encode(), "runs")
    derived = CrontopusSettings(data_dir=tmp_path, secret_key=STRONG, nats_url="nats://runs@n1:4222, nats://runs@n2")
    assert derived.nats_url == f"nats://runs:{runs_password}@n1:4222,nats://runs:{runs_password}@n2"
    explicit = CrontopusSettings(data_dir=tmp_path, secret_key=STRONG, nats_url="nats://runs:mine@n1:4222")
    assert explicit.nats_url == "nats://runs:mine@n1:4222"
    assert CrontopusSettings(data_dir=tmp_path, nats_url="nats://n1:4222").nats_url == "nats://n1:4222"
    with pytest.raises(ValueError, match="CRONTOPUS_SECRET_KEY"):
        CrontopusSettings(data_dir=tmp_path, nats_url="nats://runs@n1:4222")
