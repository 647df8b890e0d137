"""A job's effective policy: its monitor over the team's rules, finish deadlines, silences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from crontopus_alerting.policy import Policy, effective_policy, in_silence
from crontopus_schemas.alerting import AlertRules
from crontopus_schemas.manifest import Monitor

T = datetime(2026, 11, 27, 12, tzinfo=UTC)


def test_an_empty_monitor_takes_the_team_defaults():
    policy = effective_policy(AlertRules(grace="2m", missed=False), Monitor(), timeout_seconds=None)
    assert (policy.grace, policy.missed, policy.finish_after) == (120, False, 3600)


def test_the_monitor_overrides_each_field_it_sets_even_to_zero():
    policy = effective_policy(AlertRules(grace="10m"), Monitor(grace="0s", missed=True), timeout_seconds=None)
    assert (policy.grace, policy.missed) == (0, True)


def test_a_job_with_a_timeout_must_finish_by_then_plus_its_grace():
    policy = effective_policy(AlertRules(grace="5m"), Monitor(), timeout_seconds=1800)
    assert policy.finish_after == 1800 + 300


def test_a_job_with_a_timeout_and_no_grace_still_gets_a_minute_to_report():
    policy = effective_policy(AlertRules(grace="0s"), Monitor(), timeout_seconds=1800)
    assert policy.finish_after == 1800 + 60


def test_max_duration_is_the_deadline_when_there_is_no_timeout():
    policy = effective_policy(AlertRules(), Monitor(max_duration="20m"), timeout_seconds=None)
    assert policy.finish_after == 1200 + 300
    assert policy.max_duration == 1200


def test_the_monitors_finish_grace_is_added_to_the_deadline():
    policy = effective_policy(AlertRules(), Monitor(finish_grace="2m", max_duration="20m"), timeout_seconds=600)
    assert policy.finish_after == 600 + 120


def test_the_team_finish_grace_applies_to_jobs_without_a_deadline():
    policy = effective_policy(AlertRules(finish_grace="3h"), Monitor(), timeout_seconds=None)
    assert policy.finish_after == 3 * 3600


def test_a_policy_survives_its_json():
    window = {"start": T, "end": T + timedelta(hours=1), "reason": "upgrade"}
    plus_two = timezone(timedelta(hours=2))
    monitor = Monitor.model_validate(
        {"maintenance": [window], "snoozeUntil": T.astimezone(plus_two), "maxRuns": {"count": 3, "per": "1h"}}
    )
    policy = effective_policy(AlertRules(), monitor, timeout_seconds=60)
    assert Policy.from_json(policy.to_json()) == policy
    assert Policy.from_json("{}") == Policy()


def test_notifications_are_silenced_inside_a_maintenance_window_and_before_a_snooze_ends():
    monitor = Monitor.model_validate(
        {"maintenance": [{"start": T, "end": T + timedelta(hours=1)}], "snoozeUntil": T - timedelta(hours=1)}
    )
    policy = effective_policy(AlertRules(), monitor, timeout_seconds=None)
    assert in_silence(policy, T - timedelta(hours=2))
    assert not in_silence(policy, T - timedelta(minutes=30))
    assert in_silence(policy, T)
    assert not in_silence(policy, T + timedelta(hours=1))
