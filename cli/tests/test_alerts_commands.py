from __future__ import annotations

from typing import Any

from crontopus_cli.config import Config, save_config

INCIDENT = {
    "id": "a" * 32, "job": "production/backup", "agent_id": None, "cause": "failed", "status": "open",
    "detail": "exit code 1", "run_id": "r-1", "commit": "abc1234", "silenced": False,
    "opened_at": "2026-11-27T02:00:00Z", "acknowledged_at": None, "acknowledged_by": None,
    "resolved_at": None, "resolved_by": None,
}  # fmt: skip


def delivery(channel_name: str | None, status: str, attempts: int, last_error: str | None) -> dict[str, Any]:
    return {"id": "d" * 32, "incident_id": "a" * 32, "channel_id": "c" * 32, "channel_name": channel_name,
            "event": "trigger", "status": status, "attempts": attempts, "last_error": last_error,
            "created_at": "2026-11-27T02:00:01Z", "sent_at": None}  # fmt: skip


def test_incidents_show_says_which_notifications_arrived_and_why_one_did_not(cli: Any, gateway: Any) -> None:
    save_config(Config(server=gateway.url, access_token="acc", refresh_token="ref"))
    deliveries = [delivery("ops-slack", "sent", 1, None), delivery(None, "gave_up", 6, "HTTP 500 from the webhook")]
    gateway.on("GET", f"/api/incidents/{'a' * 32}", json={**INCIDENT, "deliveries": deliveries})
    result = cli("alerts", "incidents", "show", "a" * 32)

    assert result.exit_code == 0, result.output
    assert "production/backup" in result.stdout
    assert "ops-slack" in result.stdout and "sent" in result.stdout
    assert "c" * 32 in result.stdout  # a deleted channel shows by its id
    assert "gave_up" in result.stdout and "HTTP 500 from the webhook" in result.stdout


def test_incidents_list_asks_for_every_status_given(cli: Any, gateway: Any) -> None:
    save_config(Config(server=gateway.url, access_token="acc", refresh_token="ref"))
    acknowledged = {**INCIDENT, "id": "b" * 32, "status": "acknowledged"}
    gateway.on("GET", "/api/incidents", json={"incidents": [INCIDENT, acknowledged], "next_cursor": None})
    result = cli("alerts", "incidents", "list", "--status", "open", "--status", "acknowledged")

    assert result.exit_code == 0, result.output
    [sent] = gateway.sent("GET", "/api/incidents")
    assert sent.url.params.get_list("status") == ["open", "acknowledged"]
    assert "a" * 32 in result.stdout and "b" * 32 in result.stdout


def test_incidents_list_refuses_a_status_that_does_not_exist(cli: Any, gateway: Any) -> None:
    result = cli("alerts", "incidents", "list", "--status", "closed")
    assert result.exit_code == 2 and "'closed'" in result.output
    assert gateway.requests == []
