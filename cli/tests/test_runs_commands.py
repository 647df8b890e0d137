from __future__ import annotations

import json
from typing import Any

import httpx

from crontopus_cli.config import Config, save_config


def signed_in(gateway: Any) -> None:
    save_config(Config(server=gateway.url, access_token="acc", refresh_token="ref"))


def test_runs_list_shows_a_table_with_status_and_human_duration(cli: Any, gateway: Any, a_run: Any) -> None:
    signed_in(gateway)
    runs = [a_run("r-1"), a_run("r-2", status="failure", exit_code=3, duration_ms=450)]
    gateway.on("GET", "/api/runs", json={"runs": runs, "next_cursor": None})
    result = cli("runs", "list")

    assert result.exit_code == 0, result.output
    assert "RUN ID" in result.stdout
    assert "production/backup" in result.stdout
    assert "1m 30s" in result.stdout
    assert "failure" in result.stdout
    assert "450ms" in result.stdout


def test_runs_list_json_prints_only_the_json(cli: Any, gateway: Any, a_run: Any) -> None:
    signed_in(gateway)
    page = {"runs": [a_run()], "next_cursor": "c2"}
    gateway.on("GET", "/api/runs", json=page)
    result = cli("runs", "list", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == page


def test_runs_list_passes_the_filters_to_the_server(cli: Any, gateway: Any) -> None:
    signed_in(gateway)
    gateway.on("GET", "/api/runs", json={"runs": [], "next_cursor": None})
    result = cli(
        "runs", "list", "--job", "production/backup", "--status", "failure", "--limit", "5", "--cursor", "abc",
        "--since", "2024-05-01T00:00:00+00:00",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    params = gateway.requests[0].url.params
    assert params["job"] == "production/backup"
    assert params["status"] == "failure"
    assert params["limit"] == "5"
    assert params["cursor"] == "abc"
    assert params["since"] == "2024-05-01T00:00:00+00:00"
    assert "No runs match these filters." in result.stdout


def test_runs_list_hints_at_the_next_page(cli: Any, gateway: Any, a_run: Any) -> None:
    signed_in(gateway)
    gateway.on("GET", "/api/runs", json={"runs": [a_run()], "next_cursor": "c2"})
    result = cli("runs", "list", "--job", "production/backup")

    assert "crontopus runs list --job production/backup --cursor c2" in result.stderr


def test_runs_list_all_follows_the_cursor_to_the_end(cli: Any, gateway: Any, a_run: Any) -> None:
    signed_in(gateway)
    pages = {None: (["r-1", "r-2"], "c2"), "c2": (["r-3"], "c3"), "c3": (["r-4"], None)}

    def paged(request: httpx.Request) -> httpx.Response:
        ids, next_cursor = pages[request.url.params.get("cursor")]
        return httpx.Response(200, json={"runs": [a_run(i) for i in ids], "next_cursor": next_cursor})

    gateway.routes["GET /api/runs"] = paged
    result = cli("runs", "list", "--all", "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [r["run_id"] for r in data["runs"]] == ["r-1", "r-2", "r-3", "r-4"]
    assert data["next_cursor"] is None


def test_runs_list_rejects_a_malformed_job_before_asking(cli: Any, gateway: Any) -> None:
    result = cli("runs", "list", "--job", "backup")
    assert result.exit_code == 2
    assert "<namespace>/<name>" in result.output
    assert gateway.requests == []


def test_runs_list_accepts_a_relative_since(cli: Any, gateway: Any) -> None:
    signed_in(gateway)
    gateway.on("GET", "/api/runs", json={"runs": [], "next_cursor": None})
    result = cli("runs", "list", "--since", "2h")

    assert result.exit_code == 0, result.output
    assert "T" in gateway.requests[0].url.params["since"]


def test_a_validation_error_from_the_server_is_readable(cli: Any, gateway: Any) -> None:
    signed_in(gateway)
    detail = [{"loc": ["query", "cursor"], "msg": "String should have at most 64 characters", "type": "x"}]
    gateway.on("GET", "/api/runs", 422, {"detail": detail})
    result = cli("runs", "list", "--cursor", "x" * 80)

    assert result.exit_code == 1
    assert "cursor: String should have at most 64 characters" in result.stderr
    assert "Traceback" not in result.output


def test_runs_show_prints_details_and_output(cli: Any, gateway: Any, a_run: Any) -> None:
    signed_in(gateway)
    gateway.on("GET", "/api/runs/r-1", json=a_run(output="backup done [ok]\n", output_truncated=False))
    result = cli("runs", "show", "r-1")

    assert result.exit_code == 0, result.output
    assert "production/backup" in result.stdout
    assert "1m 30s" in result.stdout
    assert "backup done [ok]" in result.stdout  # printed verbatim, not taken as markup


def test_runs_show_names_the_run_that_replaced_a_stopped_one(cli: Any, gateway: Any, a_run: Any) -> None:
    signed_in(gateway)
    gateway.on(
        "GET", "/api/runs/r-1", json=a_run(status="failure", replaced_by="r-2", output="", output_truncated=False)
    )
    result = cli("runs", "show", "r-1")
    assert "Replaced by" in result.stdout and "r-2 (concurrency: replace)" in result.stdout


def test_runs_show_says_when_output_was_truncated(cli: Any, gateway: Any, a_run: Any) -> None:
    signed_in(gateway)
    gateway.on("GET", "/api/runs/r-1", json=a_run(output="tail", output_truncated=True, output_size=5000))
    result = cli("runs", "show", "r-1")
    assert "the last 4 B of 4.9 KiB" in result.stdout


def test_runs_show_json(cli: Any, gateway: Any, a_run: Any) -> None:
    signed_in(gateway)
    run = a_run(output="hi", output_truncated=False)
    gateway.on("GET", "/api/runs/r-1", json=run)
    result = cli("runs", "show", "r-1", "--json")
    assert json.loads(result.stdout) == run


def test_runs_show_of_an_unknown_run_prints_the_servers_detail(cli: Any, gateway: Any) -> None:
    signed_in(gateway)
    gateway.on("GET", "/api/runs/nope", 404, {"detail": "run nope not found"})
    result = cli("runs", "show", "nope")
    assert result.exit_code == 1
    assert "error: run nope not found" in result.stderr
