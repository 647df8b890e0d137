"""What the console's pages read, through the REST API of a live stack: next runs and schedules
in words, the team's upcoming runs, a schedule's preview, run statistics, the runs list's source
filter and paging both ways. A read-only key may read all of it."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crontopus_server.testing import create_api_key, refusal, sign_up, wait_until


@pytest.fixture
def database_backend() -> str:
    return "sqlite"  # the SQL itself runs on both backends in the runs service's own tests


@pytest.fixture
def alice(api):
    account = sign_up(api, "alice")
    wait_until(lambda: api.get("/api/jobs", headers=account.headers).json()["jobs"])
    return account


@pytest.fixture
def backup(api, alice) -> None:
    """The seeded production/backup-database, unpaused as its comment says to once a host
    labelled role=db runs an agent."""
    job = api.get("/api/jobs/production/backup-database", headers=alice.headers).json()
    manifest = "\n".join(line for line in job["yaml"].splitlines() if not line.strip().startswith("paused:"))
    edit = {"manifest": manifest, "base_commit": job["commit"]}
    assert api.put("/api/jobs/production/backup-database", headers=alice.headers, json=edit).status_code == 200
    wait_until(lambda: not api.get("/api/jobs/production/backup-database", headers=alice.headers).json()["paused"])


@pytest.fixture
def reader(api, alice) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_api_key(api, alice, 'read')}"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_jobs_show_their_next_run_in_their_zone_and_their_schedule_in_words(api, reader, backup):
    jobs = {job["job"]: job for job in api.get("/api/jobs", headers=reader).json()["jobs"]}
    hello, backup, cleanup = jobs["staging/hello"], jobs["production/backup-database"], jobs["staging/cleanup-tmp"]
    now = datetime.now(UTC)
    assert hello["schedule_description"] == "Every minute"
    assert now < at(hello["next_run"]) <= now + timedelta(seconds=61)
    assert backup["schedule_description"] == "At 02:00"
    berlin = at(backup["next_run"]).astimezone(ZoneInfo("Europe/Berlin"))
    assert at(backup["next_run"]).utcoffset() == berlin.utcoffset()
    assert at(backup["next_run"]).strftime("%H:%M") == "02:00"
    assert cleanup["paused"] and cleanup["next_run"] is None, "a paused job does not run"
    assert cleanup["schedule_description"] == "At 04:00, only on Sunday"


def test_a_jobs_page_shows_its_next_five_runs_and_its_history(api, reader, backup):
    detail = api.get("/api/jobs/production/backup-database", headers=reader).json()
    times = [at(run["at"]) for run in detail["next_runs"]]
    assert len(times) == 5 and times == sorted(times) and times[0] == at(detail["next_run"])
    assert all(
        b - a in (timedelta(hours=23), timedelta(hours=24), timedelta(hours=25)) for a, b in itertools.pairwise(times)
    )
    assert detail["history"][0].keys() == {"sha", "author", "message", "committed_at"}
    paused = api.get("/api/jobs/staging/cleanup-tmp", headers=reader).json()
    assert paused["next_runs"] == []


def test_upcoming_runs_are_the_teams_next_fire_times_soonest_first(api, reader):
    answer = api.get("/api/jobs/upcoming", params={"limit": 5}, headers=reader)
    assert answer.status_code == 200, answer.text
    runs = answer.json()["runs"]
    assert len(runs) == 5 and [at(r["at"]) for r in runs] == sorted(at(r["at"]) for r in runs)
    assert {r["job"] for r in runs} <= {"staging/hello", "production/rotate-logs"}, "the soonest: every minute, hourly"
    assert all(r.keys() == {"job", "at", "timezone", "note"} for r in runs)
    assert "staging/cleanup-tmp" not in {
        r["job"] for r in api.get("/api/jobs/upcoming?limit=100", headers=reader).json()["runs"]
    }
    assert api.get("/api/jobs/upcoming", params={"limit": 101}, headers=reader).status_code == 422


def test_a_schedule_preview_gives_fire_times_and_words_or_says_what_is_wrong(api, reader):
    preview = api.get(
        "/api/schedule/preview", params={"schedule": "*/5  * * * *", "timezone": "Europe/Berlin", "count": 3},
        headers=reader,
    )  # fmt: skip
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert (body["valid"], body["schedule"], body["description"]) == (True, "*/5 * * * *", "Every 5 minutes")
    times = [at(fire["at"]) for fire in body["next"]]
    assert len(times) == 3 and times[1] - times[0] == timedelta(minutes=5)
    assert at(body["next"][0]["at"]).utcoffset() == timedelta(hours=1)  # Berlin in winter
    daily = api.get("/api/schedule/preview", params={"schedule": "@daily"}, headers=reader).json()
    assert (daily["schedule"], daily["description"], daily["timezone"], daily["warnings"]) == (
        "0 0 * * *", "At 00:00", "UTC", [])  # fmt: skip
    weekdays = api.get(
        "/api/schedule/preview", params={"schedule": "0 9 */2 * 1-5", "count": 10}, headers=reader
    ).json()
    assert all(at(fire["at"]).weekday() < 5 and at(fire["at"]).day % 2 for fire in weekdays["next"])
    assert "days that are both day-of-month */2 and day-of-week 1-5" in weekdays["warnings"][0]
    wrong = {
        "0 0 31 2 *": "schedule: never fires: day 31 does not exist in month 2",
        "61 * * * *": "schedule: not a valid cron expression",
        "* * * *": "schedule: a schedule has 5 fields",
        "@reboot": "schedule: @reboot is not supported",
        "0 0 L * *": "schedule: not a valid cron expression: day-of-month: 'L' is not cron syntax (L, W, # and ?",
    }
    for schedule, message in wrong.items():
        refused = api.get("/api/schedule/preview", params={"schedule": schedule}, headers=reader)
        assert refusal(refused).startswith(message), (schedule, refused.text)
    zone = api.get("/api/schedule/preview", params={"schedule": "0 2 * * *", "timezone": "Mars/Base"}, headers=reader)
    assert refusal(zone).startswith("timezone: unknown time zone 'Mars/Base'")
    assert api.get("/api/schedule/preview", params={"schedule": "0 2 * * *"}).status_code == 401


def checkin(api, alice, status: str, *, seconds: int, job: str = "staging/hello") -> str:
    run_id = uuid.uuid4().hex
    now = datetime.now(UTC)
    start = {
        "job": job,
        "run_id": run_id,
        "status": "running",
        "timestamp": (now - timedelta(seconds=seconds)).isoformat(),
    }
    finish = {"job": job, "run_id": run_id, "status": status, "timestamp": now.isoformat()}
    for body in (start, finish):
        assert api.post("/api/checkins", json=body, headers=alice.headers).status_code == 202
    return run_id


def test_run_statistics_count_by_status_with_duration_percentiles(api, alice, reader):
    for status, seconds in (("success", 10), ("success", 20), ("success", 30), ("failure", 40)):
        checkin(api, alice, status, seconds=seconds)
    checkin(api, alice, "timeout", seconds=50, job="production/backup-database")

    def totals():
        body = api.get("/api/runs/stats", headers=reader).json()
        settled = body["totals"]["runs"] == 5 and body["totals"]["running"] == 0  # each finish is its own message
        return body if settled else None

    body = wait_until(totals)
    assert body["bucket"] == "hour" and body["timezone"] == "UTC" and len(body["buckets"]) == 25
    assert body["totals"] == {"runs": 5, "success": 3, "failure": 1, "timeout": 1, "running": 0, "success_rate": 0.6}
    busy = [b for b in body["buckets"] if b["success"] + b["failure"] + b["timeout"]]
    assert sum(b["success"] for b in busy) == 3 and all(b["p50_ms"] is not None for b in busy)
    assert next(b for b in body["buckets"] if b not in busy) == {
        "start": body["buckets"][0]["start"], "success": 0, "failure": 0, "timeout": 0, "running": 0,
        "p50_ms": None, "p95_ms": None,
    }  # fmt: skip
    hello = api.get("/api/runs/stats", params={"job": "staging/hello", "bucket": "day"}, headers=reader).json()
    assert hello["totals"]["runs"] == 4 and hello["bucket"] == "day" and len(hello["buckets"]) == 31
    today = hello["buckets"][-1]
    # percentile_cont of 10, 20, 30, 40 s is 25 and 38.5 s; a sketch's estimate is within 1 %
    assert today["p50_ms"] == pytest.approx(25_000, rel=0.01)
    assert today["p95_ms"] == pytest.approx(38_500, rel=0.01)
    assert api.get("/api/runs/stats", params={"bucket": "week"}, headers=reader).status_code == 422
    week_by_hour = {"since": (datetime.now(UTC) - timedelta(days=40)).isoformat()}
    refused = api.get("/api/runs/stats", params=week_by_hour, headers=reader)
    assert refusal(refused).startswith("since: at most 31 days by hour")


def test_runs_filter_by_source_and_page_back_to_newer_runs(api, alice, reader):
    ids = [checkin(api, alice, "success", seconds=1) for _ in range(5)]
    ping_url = api.get("/api/jobs/staging/hello", headers=alice.headers).json()["ping_url"]
    assert api.get(ping_url).status_code == 200
    wait_until(lambda: len(api.get("/api/runs", headers=reader).json()["runs"]) == 6)
    by_ping = api.get("/api/runs", params={"source": "ping"}, headers=reader).json()["runs"]
    by_api = api.get("/api/runs", params={"source": "api"}, headers=reader).json()["runs"]
    assert [r["source"] for r in by_ping] == ["ping"] and sorted(r["run_id"] for r in by_api) == sorted(ids)
    assert api.get("/api/runs", params={"source": "no spaces"}, headers=reader).status_code == 422
    first = api.get("/api/runs", params={"limit": 2}, headers=reader).json()
    second = api.get("/api/runs", params={"limit": 2, "cursor": first["next_cursor"]}, headers=reader).json()
    back = api.get("/api/runs", params={"limit": 2, "cursor": second["prev_cursor"]}, headers=reader).json()
    assert first["prev_cursor"] is None and back["runs"] == first["runs"] and back["prev_cursor"] is None
