"""Every command that takes `--label key=value` reads it the same way: a pair it cannot read, or a
key given twice, is a usage error naming it, before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest

from crontopus_cli.config import Config, save_config

COMMANDS_WITH_LABELS = [
    ("jobs", "list"),
    ("alerts", "channels", "create", "ops", "json://hooks.example.com/ops"),
    ("alerts", "silences", "create", "--for", "1h"),
]


@pytest.fixture(autouse=True)
def signed_in(gateway: Any) -> None:
    save_config(Config(server=gateway.url, access_token="acc", refresh_token="ref"))


@pytest.mark.parametrize("command", COMMANDS_WITH_LABELS, ids=lambda words: " ".join(words[:3]))
def test_a_label_without_a_value_is_a_usage_error_naming_it(cli: Any, gateway: Any, command: tuple[str, ...]) -> None:
    result = cli(*command, "--label", "owner")
    assert result.exit_code == 2, result.output
    assert "'--label'" in result.output and "expects key=value, got 'owner'" in result.output
    assert gateway.requests == []


@pytest.mark.parametrize("command", COMMANDS_WITH_LABELS, ids=lambda words: " ".join(words[:3]))
def test_one_key_with_two_values_is_a_usage_error(cli: Any, gateway: Any, command: tuple[str, ...]) -> None:
    result = cli(*command, "-l", "team=data", "-l", "team=web")
    assert result.exit_code == 2, result.output
    assert "'team' given twice" in result.output
    assert gateway.requests == []


def test_a_channel_routes_only_the_jobs_with_every_label_given(cli: Any, gateway: Any) -> None:
    created = {"id": "c" * 32, "name": "ops", "kind": "json", "url": "json://…", "match_labels": {},
               "escalation": False}  # fmt: skip
    gateway.on("POST", "/api/channels", 201, json=created)
    result = cli("alerts", "channels", "create", "ops", "json://hooks.example.com/ops", "--label", "team=data",
                 "-l", "owner=")  # fmt: skip
    assert result.exit_code == 0, result.output
    [sent] = gateway.sent("POST", "/api/channels")
    assert gateway.json_body(sent)["match_labels"] == {"team": "data", "owner": ""}
