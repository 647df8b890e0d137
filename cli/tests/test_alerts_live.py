"""`crontopus alerts ...` against a real gateway: rules, channels, incidents."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from crontopus_cli.testing import crontopus
from crontopus_server.testing import Stack

SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"


def test_a_user_sets_rules_adds_and_removes_a_channel_and_lists_incidents(stack: Stack) -> None:
    crontopus("auth", "register", "--server", stack.url, "-u", "alice", "--email", "a@example.com",
              "--tenant", "acme", "-p", "correct horse battery")  # fmt: skip
    crontopus("alerts", "rules", "set", "grace=10m", "missed=false", "escalate_after=30m")
    rules = json.loads(crontopus("alerts", "rules", "show", "--json").stdout)
    assert (rules["grace"], rules["missed"], rules["escalate_after"]) == ("10m", False, "30m")

    created = json.loads(
        crontopus("alerts", "channels", "create", "ops", SLACK, "--label", "team=data", "--json").stdout
    )
    assert created["kind"] == "slack" and "TIiajkdnlazkcOXrIdevi7FQ" not in created["url"]
    table = crontopus("alerts", "channels", "list").stdout
    assert "ops" in table and "team=data" in table
    refused = crontopus("alerts", "channels", "create", "hook", "json://127.0.0.1:9/x", expect=1)
    assert "127.0.0.1" in refused.stderr
    crontopus("alerts", "channels", "delete", created["id"])
    assert json.loads(crontopus("alerts", "channels", "list", "--json").stdout)["channels"] == []

    assert json.loads(crontopus("alerts", "incidents", "list", "--json").stdout)["incidents"] == []
    assert "no incident" in crontopus("alerts", "incidents", "show", "0" * 32, expect=1).stderr


def test_a_user_silences_a_job_for_two_hours_and_ends_it(stack: Stack) -> None:
    crontopus("auth", "register", "--server", stack.url, "-u", "bob", "--email", "b@example.com",
              "--tenant", "bobs", "-p", "correct horse battery")  # fmt: skip
    created = json.loads(
        crontopus("alerts", "silences", "create", "--for", "2h", "--job", "ops/backup", "--reason", "db move",
                  "--json").stdout
    )  # fmt: skip
    assert created["job"] == "ops/backup" and created["reason"] == "db move"
    assert "ops/backup" in crontopus("alerts", "silences", "list").stdout
    crontopus("alerts", "silences", "delete", created["id"])
    assert json.loads(crontopus("alerts", "silences", "list", "--json").stdout)["silences"] == []
    forever = crontopus("alerts", "silences", "create", "--for", "3000h", expect=1)
    assert "90 days" in forever.stderr


def test_a_user_silences_everything_for_two_days_but_not_for_more_than_90(stack: Stack) -> None:
    crontopus("auth", "register", "--server", stack.url, "-u", "carol", "--email", "c@example.com",
              "--tenant", "carols", "-p", "correct horse battery")  # fmt: skip
    created = json.loads(crontopus("alerts", "silences", "create", "--for", "2d", "--json").stdout)
    starts, ends = (datetime.fromisoformat(created[key]) for key in ("starts_at", "ends_at"))
    assert ends - starts == timedelta(days=2)
    week = json.loads(crontopus("alerts", "silences", "create", "--for", "1w12h", "--json").stdout)
    assert datetime.fromisoformat(week["ends_at"]) - datetime.fromisoformat(week["starts_at"]) == timedelta(days=7.5)
    assert "90 days" in crontopus("alerts", "silences", "create", "--for", "13w", expect=1).stderr
    assert (
        "like 30s, 5m, 1h30m, 2d, 1w" in crontopus("alerts", "silences", "create", "--for", "2 days", expect=1).stderr
    )
