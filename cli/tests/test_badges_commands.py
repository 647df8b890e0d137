"""`crontopus badges list|rotate`: the team's badge URLs and rotating their key, against a fake gateway."""

from __future__ import annotations

from typing import Any

from crontopus_cli.config import Config, save_config


def badge(kind: str, name: str, status: str = "up") -> dict[str, Any]:
    url = f"https://cron.example.com/badge/k1/abcdefghijklmnop/{kind}/{name}.svg"
    return {"kind": kind, "name": name, "selector": f"{kind}/{name}", "status": status, "jobs": 1, "svg_url": url,
            "json_url": url.removesuffix(".svg") + ".json", "markdown": f"![{name}]({url})"}  # fmt: skip


LISTED = {
    "key_created_at": "2026-11-27T12:00:00Z",
    "badges": [badge("job", "ops/backup", "down"), badge("namespace", "ops")],
}


def test_list_shows_each_badge_or_only_the_markdown_of_a_kind(cli: Any, gateway: Any) -> None:
    save_config(Config(server=gateway.url, access_token="acc", refresh_token="ref"))
    gateway.on("GET", "/api/badges", 200, json=LISTED)
    result = cli("badges", "list")
    assert result.exit_code == 0, result.output
    assert "ops/backup" in result.stdout and "down" in result.stdout
    markdown = cli("badges", "list", "--kind", "namespace", "--markdown")
    assert markdown.stdout.strip() == "![ops](https://cron.example.com/badge/k1/abcdefghijklmnop/namespace/ops.svg)"
    assert cli("badges", "list", "--kind", "nope").exit_code == 2


def test_rotate_asks_first_unless_told_yes(cli: Any, gateway: Any) -> None:
    save_config(Config(server=gateway.url, access_token="acc", refresh_token="ref"))
    gateway.on("POST", "/api/badges/rotate", 200, json=LISTED)
    refused = cli("badges", "rotate", input="n\n")
    assert refused.exit_code == 1 and gateway.sent("POST", "/api/badges/rotate") == []
    rotated = cli("badges", "rotate", "--yes")
    assert rotated.exit_code == 0, rotated.output
    assert "the old URLs answer 404" in rotated.stdout and len(gateway.sent("POST", "/api/badges/rotate")) == 1
