"""The console's incident pages in a real browser, against `crontopus-server run all` with a
webhook channel on a local receiver: a failed run's incident appears live on /incidents; its page
tells the cause in words, links the run, shows the notification as sent and its timeline; the
user acknowledges and resolves it there; the list's default view then leaves it out and the
switch brings it back. Another team gets "not found" for it. Both pages at phone width in dark
mode, and axe-core on each. The fixtures and the tab are in `crontopus_server.console_testing`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from crontopus_server.console_testing import (
    LIVE,
    PHONE_DARK,
    Console,
    api_headers,
    create_job,
    nav,
    needs_console,
    open_tab,
    serve_console,
    sign_up_in_the_form,
)
from crontopus_server.testing import WebhookReceiver, wait_until

playwright_sync = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python (make install)")
expect = playwright_sync.expect

pytestmark = pytest.mark.slow

JOB = "ops/backup"
# ms: a notification's delivery (the sender child's first Apprise call imports it; CI machines are busy)
SENDING = 30_000


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    needs_console()
    yield from serve_console(
        tmp_path_factory.mktemp("console"),
        CRONTOPUS_ALLOW_PRIVATE_NETWORKS="true",  # the webhook receiver is on 127.0.0.1
        CRONTOPUS_ALERTING_DELIVERY_BACKOFF="0.2",
    )


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    running = WebhookReceiver()
    yield running
    running.stop()


def add_job(console: Console, headers: dict[str, str], job: str = JOB) -> None:
    namespace, name = job.split("/")
    manifest = (
        f"apiVersion: crontopus.io/v1\nkind: Job\nmetadata:\n  name: {name}\n  namespace: {namespace}\n"
        'spec:\n  schedule: "0 3 * * *"\n  command: /usr/local/bin/backup\n'
    )
    create_job(console, headers, manifest)
    wait_until(lambda: httpx.get(f"{console.url}/api/jobs", headers=headers).json()["jobs"])


def fail_a_run(console: Console, headers: dict[str, str], exit_code: int = 2, job: str = JOB) -> str:
    run_id = uuid.uuid4().hex
    body = {"job": job, "run_id": run_id, "status": "failure", "exit_code": exit_code}
    sent = httpx.post(f"{console.url}/api/checkins", json=body, headers=headers)
    assert sent.status_code == 202, sent.text
    return run_id


def open_incidents(console: Console, headers: dict[str, str]) -> list[dict[str, Any]]:
    answer = httpx.get(f"{console.url}/api/incidents", params={"status": "open"}, headers=headers)
    return list(answer.json()["incidents"])


def test_a_failed_runs_incident_appears_live_is_acknowledged_and_resolved_in_the_page(
    browser, console, screenshots, receiver
):
    visit = open_tab(browser, console.url, viewport={"width": 1280, "height": 860}, color_scheme="light")
    page = visit.page
    sign_up_in_the_form(page, "dora")
    headers = api_headers(console, "dora")
    add_job(console, headers)
    channel = httpx.post(
        f"{console.url}/api/channels", json={"name": "ops webhook", "url": receiver.url()}, headers=headers
    )
    assert channel.status_code == 201, channel.text

    nav(page, "Incidents")
    expect(page.get_by_text("No open incidents: every job behaved.")).to_be_visible()
    visit.assert_accessible()
    page.evaluate("window.stillTheSamePage = true")
    run_id = fail_a_run(console, headers)
    row = page.get_by_role("row").filter(has_text=JOB)
    expect(row).to_contain_text("open", timeout=LIVE)
    expect(row).to_contain_text("exited with 2")
    assert page.evaluate("window.stillTheSamePage"), "the incident arrived without a reload"
    status = row.get_by_text("open", exact=True)
    red, green, blue = status.evaluate(SRGB_OF_TEXT)
    assert red > 2 * max(green, blue), "an open incident is red"
    visit.assert_accessible()
    visit.shoot(screenshots, "incidents")

    row.get_by_role("link", name="failed").click()
    expect(page).to_have_url(re.compile(r"/incidents/[0-9a-f]{32}$"))
    incident_url = page.url
    main = page.get_by_role("main")
    expect(main.get_by_role("heading", name=re.compile(r"^ops.backup failed"))).to_be_visible()
    expect(main.get_by_text(f"{JOB} failed: exited with 2", exact=True)).to_be_visible()
    run_link = main.get_by_role("link", name=re.compile("^Output of run"))
    assert run_link.get_attribute("href") == f"/runs/{run_id}"
    [incident] = open_incidents(console, headers)
    if incident["commit"]:
        expect(main.get_by_text(incident["commit"][:7], exact=True)).to_be_visible()

    notifications = page.get_by_role("table", name=re.compile("Notifications sent"))
    sent = notifications.get_by_role("row").filter(has_text="ops webhook").filter(has_text="opened")
    expect(sent).to_contain_text("sent", timeout=SENDING)  # the page follows the delivery without a reload
    expect(sent.get_by_role("cell").nth(3)).to_have_text("1")  # attempts
    assert any(JOB in title for title in receiver.titles()), receiver.titles()
    timeline = page.get_by_role("list", name="Timeline")
    expect(timeline).to_contain_text("Opened")
    expect(timeline).to_contain_text("Notified 1 channel")
    visit.assert_accessible()

    page.get_by_role("button", name="Acknowledge").click()
    expect(timeline).to_contain_text("Acknowledged by dora")
    expect(main.get_by_text("acknowledged", exact=True).first).to_be_visible()
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)

    page.get_by_role("button", name="Resolve").click()
    expect(timeline).to_contain_text("Resolved by dora")
    expect(page.get_by_role("button", name="Resolve")).to_have_count(0)
    expect(main.get_by_text("resolved", exact=True).first).to_be_visible()
    resolved = notifications.get_by_role("row").filter(has_text="resolved")
    expect(resolved).to_contain_text("sent", timeout=SENDING)
    expect(timeline).to_contain_text("Resolved by dora; 1 channel told")
    visit.assert_accessible()
    visit.shoot(screenshots, "incident")

    nav(page, "Incidents")
    expect(page.get_by_text("No open incidents: every job behaved.")).to_be_visible()
    page.get_by_label("Show resolved incidents too").check()
    expect(page).to_have_url(re.compile(r"[?&]show=all"))
    expect(page.get_by_role("row").filter(has_text=JOB)).to_contain_text("resolved")
    page.reload()  # the switch is in the URL
    expect(page.get_by_label("Show resolved incidents too")).to_be_checked()
    expect(page.get_by_role("row").filter(has_text=JOB)).to_contain_text("resolved")
    visit.assert_accessible()
    assert visit.errors == []

    other = open_tab(browser, console.url)
    sign_up_in_the_form(other.page, "mallory")
    other.page.goto(incident_url)
    expect(other.page.get_by_role("heading", name="Incident not found")).to_be_visible()
    expect(other.page.get_by_text(JOB)).to_have_count(0)
    other.page.goto("/incidents/not-an-incident")
    expect(other.page.get_by_role("heading", name="Incident not found")).to_be_visible()


def test_both_pages_work_at_phone_width_in_dark_mode(browser, console, screenshots):
    visit = open_tab(browser, console.url, **PHONE_DARK)
    page = visit.page
    sign_up_in_the_form(page, "erin")
    headers = api_headers(console, "erin")
    add_job(console, headers, "nightly/a-job-with-a-rather-long-name-for-a-phone")
    fail_a_run(console, headers, exit_code=137, job="nightly/a-job-with-a-rather-long-name-for-a-phone")
    [incident] = wait_until(lambda: open_incidents(console, headers), timeout=LIVE / 1000)
    for path, name in (("/incidents", "phone-dark-incidents"), (f"/incidents/{incident['id']}", "phone-dark-incident")):
        page.goto(path)
        expect(page.get_by_role("main").get_by_role("heading").first).to_be_visible()
        expect(page.get_by_role("main")).to_contain_text("exited with 137")
        visit.settle()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} scrolls sideways at 390 px ({width} px wide)"
        visit.assert_accessible()
        visit.shoot(screenshots, name)
    assert visit.errors == []


# The computed colour of an element's text as sRGB 0-255 (Chromium may answer in oklch or lab).
SRGB_OF_TEXT = """(element) => {
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = 1;
    const context = canvas.getContext('2d');
    context.fillStyle = getComputedStyle(element).color;
    context.fillRect(0, 0, 1, 1);
    return Array.from(context.getImageData(0, 0, 1, 1).data.slice(0, 3));
}"""
