"""`crontopus alerts silences ...`: a silence for a job, a namespace, a label selector or every job;
the list says what each covers. Against a fake gateway, then a real one."""

from __future__ import annotations

import json
from typing import Any

from crontopus_cli.config import Config, save_config
from crontopus_cli.testing import crontopus
from crontopus_server.testing import Stack


def silence(**covers: Any) -> dict[str, Any]:
    return {"id": "s" * 32, "scope": "team", "job": None, "namespace": None, "match_labels": {},
            "starts_at": "2026-11-27T12:00:00Z", "ends_at": "2026-11-27T14:00:00Z", "reason": "db move",
            "created_by": "u" * 32, **covers}  # fmt: skip


def test_create_sends_the_namespace_or_every_label_pair(cli: Any, gateway: Any) -> None:
    save_config(Config(server=gateway.url, access_token="acc", refresh_token="ref"))
    gateway.on("POST", "/api/silences", 201, json=silence(scope="namespace", namespace="ops"))
    result = cli("alerts", "silences", "create", "--for", "2h", "--namespace", "ops", "--reason", "db move")
    assert result.exit_code == 0, result.output
    assert "Silenced namespace ops until" in result.stdout

    gateway.on("POST", "/api/silences", 201, json=silence(scope="labels", match_labels={"team": "data", "tier": "a"}))
    result = cli("alerts", "silences", "create", "--for", "30m", "--label", "team=data", "-l", "tier=a")
    assert result.exit_code == 0, result.output
    assert "Silenced labels team=data, tier=a until" in result.stdout
    sent = [gateway.json_body(r) for r in gateway.sent("POST", "/api/silences")]
    assert sent == [
        {"duration": "2h", "reason": "db move", "namespace": "ops"},
        {"duration": "30m", "reason": "", "match_labels": {"team": "data", "tier": "a"}},
    ]


def test_two_selectors_or_a_label_without_a_value_are_refused_before_asking_the_server(cli: Any, gateway: Any) -> None:
    save_config(Config(server=gateway.url, access_token="acc", refresh_token="ref"))
    both = cli("alerts", "silences", "create", "--for", "1h", "--job", "ops/a", "--namespace", "ops")
    assert both.exit_code == 1 and "not --job and --namespace" in both.stderr
    bare = cli("alerts", "silences", "create", "--for", "1h", "--label", "team")
    assert bare.exit_code == 2 and "expects key=value, got 'team'" in bare.output
    assert gateway.requests == []


def test_list_says_what_each_silence_covers(cli: Any, gateway: Any) -> None:
    save_config(Config(server=gateway.url, access_token="acc", refresh_token="ref"))
    listed = [silence(scope="job", job="ops/backup"), silence(scope="namespace", namespace="web"),
              silence(scope="labels", match_labels={"team": "data"}), silence()]  # fmt: skip
    gateway.on("GET", "/api/silences", json={"silences": listed})
    result = cli("alerts", "silences", "list")
    assert result.exit_code == 0, result.output
    for covers in ("ops/backup", "namespace web", "labels team=data", "every job"):
        assert covers in result.stdout


def test_a_user_silences_a_namespace_and_a_label_selector_against_a_real_gateway(stack: Stack) -> None:
    crontopus("auth", "register", "--server", stack.url, "-u", "carol", "--email", "c@example.com",
              "--tenant", "carols", "-p", "correct horse battery")  # fmt: skip
    namespace = json.loads(crontopus("alerts", "silences", "create", "--for", "2h", "-n", "ops", "--json").stdout)
    labels = json.loads(
        crontopus("alerts", "silences", "create", "--for", "1h", "-l", "team=data", "-l", "tier=batch", "--json").stdout
    )
    assert (namespace["scope"], namespace["namespace"]) == ("namespace", "ops")
    assert (labels["scope"], labels["match_labels"]) == ("labels", {"team": "data", "tier": "batch"})
    table = crontopus("alerts", "silences", "list").stdout
    assert "namespace ops" in table and "team=data" in table
    refused = crontopus("alerts", "silences", "create", "--for", "1h", "-n", "Not_A_Namespace", expect=1)
    assert "namespace" in refused.stderr
    crontopus("alerts", "silences", "delete", namespace["id"])
    crontopus("alerts", "silences", "delete", labels["id"])
    assert json.loads(crontopus("alerts", "silences", "list", "--json").stdout)["silences"] == []
