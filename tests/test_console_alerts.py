"""The console's alert rules and notification channels in a real browser (Chromium, Playwright)
against `crontopus-server run all`, with private network targets allowed
(CRONTOPUS_ALLOW_PRIVATE_NETWORKS) so a channel can post to a receiver on this machine: rules kept
across a reload, the server's refusal at its field, the job overrides from manifests; a webhook
channel made with the guided form and test-sent to a real receiver, a dead one showing its error,
a Slack token never shown, a channel deleted after naming it; read-only for a viewer; axe-core,
phone width in dark mode, screenshots.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from crontopus_kit.nats_server import free_port
from crontopus_server.console_testing import (
    PHONE_DARK,
    Console,
    Visit,
    api_headers,
    create_job,
    needs_console,
    open_tab,
    serve_console,
    sign_up_in_the_form,
)
from crontopus_server.testing import WebhookReceiver

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page, Route

playwright_sync = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python (make install)")
expect = playwright_sync.expect

pytestmark = pytest.mark.slow

SLACK_TOKEN = "xoxb-1234-1234-4ddbc191d40ee098cbaae6f3523ada2d"
SLACK_SECRET = "4ddbc191d40ee098cbaae6f3523ada2d"
MANIFEST = """apiVersion: crontopus.io/v1
kind: Job
metadata: {name: backup, namespace: ops}
spec:
  schedule: "0 3 * * *"
  command: /usr/local/bin/backup
  monitor:
    maxDuration: 30m
    failures: {consecutive: 2}
"""


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """This module's server lets channels reach 127.0.0.1: the test's receiver lives there."""
    needs_console()
    yield from serve_console(tmp_path_factory.mktemp("alerts-console"), CRONTOPUS_ALLOW_PRIVATE_NETWORKS="true")


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    found = WebhookReceiver()
    yield found
    found.stop()


def unexpected_errors(visit: Visit, status: int) -> list[str]:
    """What the browser's console logged, but the refusals the test asked for ("status of 422")."""
    return [error for error in visit.errors if f"status of {status}" not in error]


def channel_row(page: Page, name: str) -> Locator:
    table = page.get_by_role("table", name="Notification channels")
    return table.get_by_role("row").filter(has=page.get_by_text(name, exact=True))


def test_an_admin_sets_the_rules_sees_the_servers_refusal_at_its_field_and_the_job_overrides(
    browser, console, screenshots
):
    visit = open_tab(browser, console.url, viewport={"width": 1280, "height": 900}, color_scheme="light")
    page = visit.page
    sign_up_in_the_form(page, "rita")
    page.goto("/alerts/rules")
    expect(page.get_by_role("heading", name="Alert rules")).to_be_visible()
    expect(page.get_by_role("navigation", name="Alerts").get_by_role("link", name="Rules")).to_have_attribute(
        "aria-current", "page"
    )
    expect(page.get_by_label("Consecutive failures")).to_have_value("1")  # the team's defaults
    expect(page.get_by_label("Re-notify every")).to_have_value("4h")

    page.get_by_label("Consecutive failures").fill("3")
    page.get_by_label("Re-notify every").fill("2h")
    page.get_by_label("Too long").fill("45m")
    page.get_by_role("button", name="Save rules").click()
    expect(page.get_by_text("Alert rules saved")).to_be_visible()
    page.reload()
    expect(page.get_by_label("Consecutive failures")).to_have_value("3")
    expect(page.get_by_label("Re-notify every")).to_have_value("2h")
    expect(page.get_by_label("Too long")).to_have_value("45m")
    rules = httpx.get(f"{console.url}/api/alert-rules", headers=api_headers(console, "rita")).json()
    assert (rules["failures"]["consecutive"], rules["renotify_every"], rules["max_duration"]) == (3, "2h", "45m")

    page.get_by_label("Re-notify every").fill("2 hours")
    page.get_by_role("button", name="Save rules").click()
    field = page.get_by_label("Re-notify every")
    expect(field).to_have_attribute("aria-invalid", "true")
    error_id = field.get_attribute("aria-describedby").split()[-1]
    expect(page.locator(f"#{re.escape(error_id)}")).to_have_text(
        "'2 hours' is not a duration like 30s, 5m, 1h30m, 2d, 1w"
    )
    expect(page.get_by_label("Consecutive failures")).not_to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="Undo changes").click()
    expect(page.get_by_label("Re-notify every")).to_have_value("2h")

    # A job's spec.monitor overrides the team's rules: listed read-only, with a link to the job.
    create_job(console, api_headers(console, "rita"), MANIFEST)
    page.reload()
    overrides = page.get_by_role("table", name="Jobs that override the team's alert rules")
    row = overrides.get_by_role("row").filter(has_text="ops/backup")
    expect(row).to_contain_text("Too long: longer than 30m (team: 45m)")
    expect(row).to_contain_text("Failures: 2 failed runs in a row (team: 3 failed runs in a row)")
    visit.assert_accessible()
    visit.shoot(screenshots, "alert-rules")
    row.get_by_role("link", name="ops/backup").click()
    expect(page).to_have_url(re.compile(r"/jobs/ops/backup$"))
    assert unexpected_errors(visit, 422) == []


def test_channels_are_created_with_the_guided_form_test_sent_and_deleted(browser, console, screenshots, receiver):
    visit = open_tab(browser, console.url, viewport={"width": 1280, "height": 900}, color_scheme="light")
    page = visit.page
    sign_up_in_the_form(page, "cara")
    page.goto("/alerts/channels")
    expect(page.get_by_text("No channels yet")).to_be_visible()
    visit.assert_accessible()

    hook = f"http://127.0.0.1:{receiver.port}/hooks/crontopus"
    create_webhook(page, "webhook", hook)
    visit.assert_accessible()
    visit.shoot(screenshots, "channel-new")
    page.get_by_role("button", name="Create channel").click()
    expect(page.get_by_text("Channel webhook created")).to_be_visible()
    row = channel_row(page, "webhook")
    expect(row).to_contain_text(f"json://127.0.0.1:{receiver.port}/hooks/crontopus")
    expect(row).to_contain_text("Webhook")
    expect(row).to_contain_text("every job")

    # A test-send reaches the receiver, and the page says it was delivered.
    row.get_by_role("button", name="Send test to webhook").click()
    outcome = page.get_by_role("status").filter(has_text="Test to webhook")
    expect(outcome).to_contain_text("delivered", timeout=15_000)
    expect(row).to_contain_text("delivered")
    [request] = receiver.requests
    path, body = request.path, request.body
    assert path == "/hooks/crontopus" and "test" in (body["title"] + body["message"]).lower(), body

    # A channel whose receiver is gone: the failure and its error show.
    closed = free_port()
    create_webhook(page, "dead-end", f"http://127.0.0.1:{closed}/x")
    page.get_by_role("button", name="Create channel").click()
    dead = channel_row(page, "dead-end")
    dead.get_by_role("button", name="Send test to dead-end").click()
    failure = page.get_by_role("status").filter(has_text="Test to dead-end")
    expect(failure).to_contain_text("failed", timeout=15_000)
    expect(failure.locator("p.mono")).to_have_text(re.compile(r"\S"))  # the error, whatever the words
    expect(dead).to_contain_text("failed, retrying")

    # Slack with a bot token: the form and the list never show the token.
    page.get_by_role("button", name="New channel").click()
    form = page.get_by_role("form", name="New channel")
    form.get_by_text("Slack", exact=True).click()
    form.get_by_label("Connect with").select_option("token")
    form.get_by_label("Bot token").fill(SLACK_TOKEN)
    form.get_by_label("Slack channel").fill("#alerts")
    expect(page.get_by_test_id("built-url")).to_have_text("slack://****/#alerts")
    form.get_by_label("Name", exact=True).fill("ops-slack")
    form.get_by_label("Route by labels").fill("team=ops")
    form.get_by_label("Escalation only").check()
    form.get_by_role("button", name="Create channel").click()
    slack = channel_row(page, "ops-slack")
    expect(slack).to_contain_text("slack://")
    expect(slack).to_contain_text("team=ops")
    assert SLACK_SECRET not in page.content()
    headers = api_headers(console, "cara")
    listed = httpx.get(f"{console.url}/api/channels", headers=headers)
    assert listed.status_code == 200 and SLACK_SECRET not in listed.text
    for channel in listed.json()["channels"]:  # nor does any one channel's answer
        assert SLACK_SECRET not in httpx.get(f"{console.url}/api/channels/{channel['id']}", headers=headers).text
    assert [c["escalation"] for c in listed.json()["channels"] if c["name"] == "ops-slack"] == [True]

    visit.assert_accessible()
    visit.shoot(screenshots, "channels")

    # Deleting asks once, naming the channel.
    dead.get_by_role("button", name="Delete channel dead-end").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("Delete the channel dead-end?")
    dialog.get_by_role("button", name="Delete dead-end").click()
    expect(page.get_by_text("Channel dead-end deleted")).to_be_visible()
    expect(channel_row(page, "dead-end")).to_have_count(0)
    expect(channel_row(page, "webhook")).to_have_count(1)
    assert visit.errors == []


def create_webhook(page: Page, name: str, url: str) -> None:
    page.get_by_role("button", name="New channel").click()
    form = page.get_by_role("form", name="New channel")
    form.get_by_text("Webhook", exact=True).click()
    form.get_by_label("Webhook URL").fill(url)
    expect(page.get_by_test_id("built-url")).to_have_text(url.replace("http://", "json://"))
    form.get_by_label("Name", exact=True).fill(name)


def test_a_viewer_reads_the_rules_and_channels_without_the_buttons_to_change_them(browser, console):
    visit = open_tab(browser, console.url)
    page = visit.page
    sign_up_in_the_form(page, "vera")

    def as_viewer(route: Route) -> None:  # the page decides what to offer from /api/auth/me's role
        response = route.fetch()
        route.fulfill(response=response, json={**response.json(), "role": "viewer"})

    page.route("**/api/auth/me", as_viewer)
    page.goto("/alerts/rules")
    expect(page.get_by_text("Read-only: only admins and owners change the team")).to_be_visible()
    expect(page.get_by_label("Consecutive failures")).to_be_disabled()
    expect(page.get_by_role("button", name="Save rules")).to_have_count(0)
    page.goto("/alerts/channels")
    expect(page.get_by_text("An admin or owner of the team can add one.")).to_be_visible()
    expect(page.get_by_role("button", name="New channel")).to_have_count(0)
    page.goto("/alerts/channels?new=webhook")  # a shared link to the form does not open it either
    expect(page.get_by_role("form", name="New channel")).to_have_count(0)
    assert visit.errors == []


def test_both_pages_work_at_phone_width_in_dark_mode(browser, console, screenshots):
    visit = open_tab(browser, console.url, **PHONE_DARK)
    page = visit.page
    sign_up_in_the_form(page, "pia")
    headers = api_headers(console, "pia")
    email = "mailtos://alerts%40example.com:Secret123@93.184.215.14:587?from=alerts@example.com&to=oncall@example.com"
    body = {"name": "ops-email", "url": email, "match_labels": {"team": "ops"}}
    made = httpx.post(f"{console.url}/api/channels", headers=headers, json=body)
    assert made.status_code == 201, made.text
    for path, name in (
        ("/alerts/rules", "alert-rules"),
        ("/alerts/channels", "channels"),
        ("/alerts/channels?new=email", "channel-new"),
    ):
        page.goto(path)
        expect(page.get_by_role("main").get_by_role("heading").first).to_be_visible()
        visit.settle()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} scrolls sideways at 390 px ({width} px wide)"
        visit.assert_accessible()
        if name != "channel-new":
            visit.shoot(screenshots, f"phone-dark-{name}")
    assert "Secret123" not in page.content()
    assert visit.errors == []
