from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from crontopus_cli.config import Config, config_dir, load_config, save_config
from crontopus_cli.errors import CliError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_it_writes_the_tokens_readable_only_by_the_user(isolated_config: Path) -> None:
    path = save_config(Config(server="http://h:1", access_token="a", refresh_token="r"))
    assert path == isolated_config / "config.json"
    assert mode(path) == 0o600
    assert mode(isolated_config) == 0o700
    assert json.loads(path.read_text()) == {"server": "http://h:1", "access_token": "a", "refresh_token": "r"}


def test_it_tightens_a_file_that_was_world_readable(isolated_config: Path) -> None:
    isolated_config.mkdir(mode=0o700)
    (isolated_config / "config.json").write_text("{}")
    (isolated_config / "config.json").chmod(0o644)
    save_config(Config(access_token="a"))
    assert mode(isolated_config / "config.json") == 0o600


def test_it_reads_back_what_it_saved() -> None:
    save_config(Config(server="http://h:1", access_token="a"))
    assert load_config() == Config(server="http://h:1", access_token="a", refresh_token=None)


def test_a_missing_file_means_an_empty_config() -> None:
    assert load_config() == Config()


def test_a_corrupt_file_gets_a_message_naming_it(isolated_config: Path) -> None:
    isolated_config.mkdir()
    (isolated_config / "config.json").write_text("{not json")
    with pytest.raises(CliError, match=r"config\.json is not valid JSON"):
        load_config()


def test_it_lives_under_xdg_config_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CRONTOPUS_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_dir() == tmp_path / "xdg" / "crontopus"


def test_it_defaults_to_dot_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CRONTOPUS_CONFIG_DIR")
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_dir() == tmp_path / ".config" / "crontopus"
