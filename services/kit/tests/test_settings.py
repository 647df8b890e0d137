import logging
import secrets

import pydantic_settings
import pytest
from pydantic import ValidationError

from crontopus_kit.nats_security import service_password
from crontopus_kit.settings import CrontopusSettings, SettingsError, describe_settings_error, normalise_database_url

STRONG = secrets.token_urlsafe(48)


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


@pytest.mark.parametrize(
    ("weak", "why"),
    [
        ("changeme", "an example value"),
        ("secret", "an example value"),
        ("short-but-not-default", "it has 21 characters, fewer than 32"),
        ("0123456789" * 4, None),
    ],
)
def test_production_refuses_a_short_or_example_secret(tmp_path, weak, why):
    settings = CrontopusSettings(data_dir=tmp_path, database_url="postgresql://db/x", secret_key=weak)
    if why is None:
        assert settings.secret_bytes() == weak.encode()
        return
    with pytest.raises(SettingsError, match="too weak") as refused:
        settings.secret_bytes()
    assert why in str(refused.value) and "secrets.token_urlsafe(48)" in str(refused.value)


def test_a_secret_that_is_not_random_is_taken_with_a_warning_as_it_cannot_be_changed(tmp_path, caplog):
    """Refused, it would lock a deployment that started with it out of its data at an upgrade."""
    settings = CrontopusSettings(data_dir=tmp_path, database_url="postgresql://db/x", secret_key="a" * 40)
    assert settings.secret_bytes() == b"a" * 40
    assert "only 1 different characters" in caplog.text and "secrets.token_urlsafe(48)" in caplog.text
    assert "a" * 40 not in caplog.text


def test_a_weak_secret_is_refused_in_one_sentence_that_never_quotes_it(tmp_path, monkeypatch):
    """The secret reaches a validator through the NATS login; pydantic's own message would show
    every setting's value, the secret's tail and the settings class's name among them."""
    weak = "qa-deploy-this-is-31-chars-secr"
    monkeypatch.setenv("CRONTOPUS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CRONTOPUS_SECRET_KEY", weak)
    monkeypatch.setenv("CRONTOPUS_NATS_URL", "nats://runs@nats:4222")
    with pytest.raises(ValidationError) as refused:
        CrontopusSettings()
    said = describe_settings_error(refused.value)
    assert said.startswith("the server secret (CRONTOPUS_SECRET_KEY or CRONTOPUS_SECRET_KEY_FILE) is too weak")
    assert "31 characters" in said
    for leak in (weak, weak[-8:], "input_value", "CrontopusSettings", str(tmp_path)):
        assert leak not in said


def test_any_other_invalid_setting_is_named_by_its_variable_without_its_value(monkeypatch):
    monkeypatch.setenv("CRONTOPUS_PORT", "eighty")
    with pytest.raises(ValidationError) as refused:
        CrontopusSettings()
    said = describe_settings_error(refused.value)
    assert said.startswith("CRONTOPUS_PORT: Input should be a valid integer") and "eighty" not in said


def test_the_embedded_default_takes_any_secret_it_is_given_but_production_checks_do_not(tmp_path):
    """`nats-config` configures NATS servers other hosts reach: checked even on the embedded default."""
    settings = CrontopusSettings(data_dir=tmp_path, secret_key="short")
    assert settings.secret_bytes() == b"short"
    with pytest.raises(SettingsError, match="too weak"):
        settings.secret_bytes(for_production=True)
    with pytest.raises(SettingsError, match="must be set"):
        CrontopusSettings(data_dir=tmp_path).secret_bytes(for_production=True)
    assert not (tmp_path / "secret.key").exists()


def test_secrets_can_come_from_files(tmp_path, monkeypatch):
    secret_file = tmp_path / "secret"
    secret_file.write_text(STRONG + "\n")
    monkeypatch.setenv("CRONTOPUS_SECRET_KEY_FILE", str(secret_file))
    monkeypatch.setenv("CRONTOPUS_NATS_URL", "nats://nats:4222")
    assert CrontopusSettings().secret_bytes() == STRONG.encode()


def test_a_secret_file_every_user_may_read_is_warned_about_once(tmp_path, monkeypatch, caplog):
    secret_file = tmp_path / "secret"
    secret_file.write_text(STRONG)
    secret_file.chmod(0o644)
    monkeypatch.setenv("CRONTOPUS_SECRET_KEY_FILE", str(secret_file))
    with caplog.at_level(logging.WARNING, logger="crontopus.settings"):
        CrontopusSettings()
        CrontopusSettings()  # every unit reads the settings: one line is enough
    [warning] = [record.getMessage() for record in caplog.records]
    assert f"CRONTOPUS_SECRET_KEY_FILE={secret_file} can be read by every user" in warning
    assert "mode 644" in warning and f"chmod 600 {secret_file}" in warning and STRONG not in warning


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o640])
def test_a_secret_file_kept_from_other_users_is_read_silently(tmp_path, monkeypatch, caplog, mode):
    secret_file = tmp_path / "secret"
    secret_file.write_text(STRONG)
    secret_file.chmod(mode)
    monkeypatch.setenv("CRONTOPUS_SECRET_KEY_FILE", str(secret_file))
    with caplog.at_level(logging.WARNING, logger="crontopus.settings"):
        assert CrontopusSettings().secret_key.get_secret_value() == STRONG
    assert not caplog.records


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
