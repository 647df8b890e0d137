from __future__ import annotations

from datetime import datetime

import httpx
import pytest

from crontopus_cli.client import error_message
from crontopus_cli.output import human_duration, short_time


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, "-"),
        (450, "450ms"),
        (2500, "2.5s"),
        (45_000, "45s"),
        (60_000, "1m"),
        (90_000, "1m 30s"),
        (3_600_000 + 5 * 60_000 + 7000, "1h 5m"),
        (3 * 86_400_000 + 4 * 3_600_000, "3d 4h"),
    ],
)
def test_durations_read_like_a_person_would_say_them(ms: int | None, text: str) -> None:
    assert human_duration(ms) == text


def test_times_today_show_only_the_clock() -> None:
    now = datetime(2024, 5, 1, 18, 0).astimezone()
    started = datetime(2024, 5, 1, 14, 3, 22).astimezone().isoformat()
    assert short_time(started, now=now) == "14:03:22"


def test_times_earlier_this_year_show_the_day() -> None:
    now = datetime(2024, 5, 1, 18, 0).astimezone()
    assert short_time(datetime(2024, 3, 5, 9, 7).astimezone().isoformat(), now=now) == "Mar 05 09:07"


def test_times_of_other_years_show_the_year() -> None:
    now = datetime(2024, 5, 1, 18, 0).astimezone()
    assert short_time(datetime(2022, 3, 5, 9, 7).astimezone().isoformat(), now=now) == "2022-03-05 09:07"


def test_times_are_shown_in_local_time() -> None:
    utc = "2024-05-01T12:00:00+00:00"
    expected = datetime.fromisoformat(utc).astimezone().strftime("%H:%M:%S")
    assert short_time(utc, now=datetime.fromisoformat(utc)) == expected


def test_a_validation_error_lists_each_field_readably() -> None:
    response = httpx.Response(
        422,
        json={
            "detail": [
                {"loc": ["query", "limit"], "msg": "Input should be less than or equal to 500", "type": "x"},
                {"loc": ["body", "job"], "msg": "String should match pattern", "type": "y"},
            ]
        },
    )
    assert error_message(response) == (
        "the server rejected the request:\n"
        "  - limit: Input should be less than or equal to 500\n"
        "  - job: String should match pattern"
    )


def test_a_plain_detail_is_shown_as_is() -> None:
    assert error_message(httpx.Response(404, json={"detail": "run not found"})) == "run not found"


def test_a_server_failure_says_so() -> None:
    message = error_message(httpx.Response(500, text="boom"))
    assert message == "the server failed (HTTP 500): HTTP 500 Internal Server Error"
