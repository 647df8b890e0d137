"""The console's silences page in a real browser, against `crontopus-server run all`: a team
silences a namespace in the form; the list shows what it covers and how long it has left; a
failed run's incident opens marked silenced; ending it early empties the list; a label-selector
silence made in the form shows its selector, and its remaining time is still right after a
reload. At phone width in dark mode without sideways scroll, and axe-core on each view. The
fixtures and the tab are in `crontopus_server.console_testing`.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from crontopus_server.console_testing import (
    PHONE_DARK,
    Console,
    api_headers,
    create_job,
    nav,
    open_tab,
    sign_up_in_the_form,
)
from crontopus_server.testing import wait_until

playwright_sync = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python (make install)")
expect = playwright_sync.expect

pytestmark = pytest.mark.slow

JOB = "ops/backup"


def add_job(console: Console, headers: dict[str, str]) -> None:
    """ops/backup, labelled team=data and purpose=drill (a new team's example jobs have team=data too)."""
    manifest = (
        "apiVersion: crontopus.io/v1\nkind: Job\nmetadata:\n  name: backup\n  namespace: ops\n"
        "  labels:\n    team: data\n    purpose: drill\n"
        'spec:\n  schedule: "0 3 * * *"\n  command: /usr/local/bin/backup\n'
    )
    create_job(console, headers, manifest)
    wait_until(lambda: httpx.get(f"{console.url}/api/jobs", headers=headers).json()["jobs"])


def incidents_of(console: Console, headers: dict[str, str]) -> list[dict[str, Any]]:
    answer = httpx.get(f"{console.url}/api/incidents", params={"job": JOB}, headers=headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["incidents"])


def silences_of(console: Console, headers: dict[str, str]) -> list[dict[str, Any]]:
    return list(httpx.get(f"{console.url}/api/silences", headers=headers).json()["silences"])


def test_a_team_silences_a_namespace_sees_its_incident_silenced_ends_it_and_silences_a_label(
    browser, console, screenshots
):
    visit = open_tab(browser, console.url, viewport={"width": 1280, "height": 860}, color_scheme="light")
    page = visit.page
    sign_up_in_the_form(page, "sam")
    headers = api_headers(console, "sam")
    add_job(console, headers)

    nav(page, "Alerts")
    page.get_by_role("navigation", name="Alerts").get_by_role("link", name="Silences", exact=True).click()
    expect(page).to_have_url(re.compile(r"/alerts/silences$"))
    expect(page.get_by_text("No silences right now.")).to_be_visible()
    visit.assert_accessible()

    form = page.get_by_role("region", name="New silence")
    form.get_by_role("radio", name="A namespace").check()
    form.get_by_label("Namespace", exact=True).fill("ops")
    expect(form.get_by_text(f"Covers 1 job today: {JOB}.")).to_be_visible()
    form.get_by_label("Duration", exact=True).fill("2h")
    form.get_by_label("Reason", exact=True).fill("database migration")
    form.get_by_role("button", name="Create silence").click()

    listed = page.get_by_role("table", name="Current and upcoming silences")
    row = listed.get_by_role("row").filter(has_text="namespace ops")
    expect(row).to_contain_text("database migration")
    expect(row).to_contain_text("active")
    expect(row).to_contain_text(re.compile(r"ends in 1 h 5\d min"))
    expect(row).to_contain_text("you")
    [made] = silences_of(console, headers)
    assert (made["scope"], made["namespace"], made["reason"]) == ("namespace", "ops", "database migration")
    visit.assert_accessible()
    visit.shoot(screenshots, "silences")

    body = {"job": JOB, "run_id": uuid.uuid4().hex, "status": "failure", "exit_code": 1}
    assert httpx.post(f"{console.url}/api/checkins", json=body, headers=headers).status_code == 202
    [incident] = wait_until(lambda: incidents_of(console, headers))
    assert (incident["status"], incident["silenced"]) == ("open", True), incident

    row.get_by_role("button", name=re.compile("^End now")).click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("End the silence of namespace ops now?")
    dialog.get_by_role("button", name="End silence").click()
    expect(page.get_by_text("No silences right now.")).to_be_visible()
    assert silences_of(console, headers) == []

    form.get_by_role("radio", name="Jobs with labels").check()
    form.get_by_label("Labels", exact=True).fill("purpose=drill team=data")
    expect(form.get_by_text(f"Covers 1 job today: {JOB}.")).to_be_visible()
    form.get_by_role("radio", name="At a date and time").check()
    three_hours = page.evaluate(
        "() => { const d = new Date(Date.now() + 3 * 3600e3 + 30e3); d.setSeconds(0, 0);"
        " const p = n => String(n).padStart(2, '0');"
        " return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`"
        " + `T${p(d.getHours())}:${p(d.getMinutes())}`; }"
    )
    form.get_by_label("Until", exact=True).fill(three_hours)
    form.get_by_role("button", name="Create silence").click()
    row = listed.get_by_role("row").filter(has_text="jobs with")
    expect(row.get_by_role("list", name="Labels")).to_contain_text("purpose=drill")
    expect(row.get_by_role("list", name="Labels")).to_contain_text("team=data")
    expect(row).to_contain_text(re.compile(r"ends in (2 h 59 min|3 h)"))
    [labelled] = silences_of(console, headers)
    assert (labelled["scope"], labelled["match_labels"]) == ("labels", {"purpose": "drill", "team": "data"})

    page.reload()  # the remaining time comes from the clock, not from when the page opened
    row = (
        page.get_by_role("table", name="Current and upcoming silences").get_by_role("row").filter(has_text="jobs with")
    )
    expect(row).to_contain_text(re.compile(r"ends in (2 h 5\d min|3 h)"))
    visit.assert_accessible()
    assert visit.errors == []


def test_the_silences_page_at_phone_width_in_dark_mode(browser, console, screenshots):
    visit = open_tab(browser, console.url, **PHONE_DARK)
    page = visit.page
    sign_up_in_the_form(page, "tess")
    headers = api_headers(console, "tess")
    add_job(console, headers)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    for body in ({"match_labels": {"team": "data", "tier": "nightly-batch"}, "duration": "90m", "reason": "warehouse"},
                 {"job": JOB, "starts_at": tomorrow, "duration": "1h"}):  # fmt: skip
        assert httpx.post(f"{console.url}/api/silences", json=body, headers=headers).status_code == 201
    page.goto("/alerts/silences")
    rows = page.get_by_role("table", name="Current and upcoming silences").get_by_role("row")
    expect(rows.filter(has_text="jobs with")).to_contain_text(re.compile(r"ends in 1 h 2\d min"))
    expect(rows.filter(has_text=JOB)).to_contain_text("upcoming")
    visit.settle()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"/alerts/silences scrolls sideways at 390 px ({width} px wide)"
    visit.assert_accessible()
    visit.shoot(screenshots, "phone-dark-silences")
    assert visit.errors == []
