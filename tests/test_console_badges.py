"""The console's status badges in a real browser, against `crontopus-server run all`: a team
creates a job, copies its badge's SVG URL from Settings > Badges and fetches it without signing
in (green "up"); a failed run turns it red "down"; the job's page shows the badge; rotating the
key in the page (after a confirmation) makes the old URL answer 404 and the new one work. At phone
width in dark mode without sideways scroll, and axe-core on each view. The fixtures and the tab
are in `crontopus_server.console_testing`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

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
CLIPBOARD = ["clipboard-read", "clipboard-write"]


def add_job(console: Console, headers: dict[str, str]) -> str:
    """ops/backup (daily at 03:00: never late during the test); answers its ping URL."""
    manifest = (
        "apiVersion: crontopus.io/v1\nkind: Job\nmetadata:\n  name: backup\n  namespace: ops\n"
        '  labels:\n    team: data\nspec:\n  schedule: "0 3 * * *"\n  command: /usr/local/bin/backup\n'
    )
    created = create_job(console, headers, manifest)
    return str(created["ping_url"])


def badge_status(url: str) -> str | None:
    """The status word of a badge fetched as anyone would (no credential), or None for a 404."""
    answer = httpx.get(url)
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/svg+xml", answer.text
    title = ET.fromstring(answer.text).find("{http://www.w3.org/2000/svg}title")
    assert title is not None and title.text
    return title.text.rpartition(": ")[2]


def copied_svg_url(page) -> str:
    row = page.get_by_role("listitem").filter(has=page.get_by_role("link", name=JOB, exact=True))
    row.get_by_role("button", name=f"Copy the SVG URL of job {JOB}").click()
    expect(page.get_by_text("Copied the SVG URL.").first).to_be_visible()
    return str(page.evaluate("navigator.clipboard.readText()"))


def test_a_team_copies_a_badge_sees_it_go_down_shows_it_on_the_job_page_and_rotates_the_key(
    browser, console, screenshots
):
    visit = open_tab(browser, console.url, viewport={"width": 1280, "height": 860}, color_scheme="light",
                     permissions=CLIPBOARD)  # fmt: skip
    page = visit.page
    sign_up_in_the_form(page, "bea")
    headers = api_headers(console, "bea")
    ping_url = add_job(console, headers)
    assert httpx.get(ping_url).status_code == 200  # it ran once: "up" (before, "new")
    wait_until(lambda: any(b["selector"] == f"job/{JOB}" and b["status"] == "up" for b in
                           httpx.get(f"{console.url}/api/badges", headers=headers).json()["badges"]))  # fmt: skip

    nav(page, "Settings")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Badges", exact=True).click()
    expect(page).to_have_url(re.compile(r"/settings/badges$"))
    expect(page.get_by_role("heading", name="Status badges")).to_be_visible()
    expect(page.get_by_role("link", name=JOB, exact=True)).to_be_visible()
    visit.assert_accessible()

    old_url = copied_svg_url(page)
    assert re.fullmatch(rf"{re.escape(console.url)}/badge/[a-z0-9]+/[a-z2-7]{{16}}/job/{JOB}\.svg", old_url), old_url
    assert badge_status(old_url) == "up"
    green = httpx.get(old_url)
    assert "#2e7d32" in green.text and green.headers["cache-control"] == "public, max-age=60"
    image = page.get_by_role("img", name=f"Status badge of {JOB}: up")
    expect(image).to_be_visible()
    visit.shoot(screenshots, "settings-badges")

    assert httpx.get(f"{ping_url}/fail").status_code == 200
    wait_until(lambda: badge_status(old_url) == "down", timeout=15)
    assert "#c62828" in httpx.get(old_url).text, "red"
    # The page follows the incident live (its event), the image included.
    expect(page.get_by_role("img", name=f"Status badge of {JOB}: down")).to_be_visible(timeout=10_000)

    page.get_by_role("link", name=JOB, exact=True).click()
    expect(page).to_have_url(re.compile(rf"/jobs/{JOB}$"))
    section = page.get_by_role("region", name="Status badge")
    job_image = section.get_by_role("img", name=f"Status badge of {JOB}: down")
    expect(job_image).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=job_image.element_handle())
    expect(section.get_by_text(old_url, exact=True)).to_be_visible()
    expect(section.get_by_role("button", name="Copy the badge Markdown")).to_be_visible()
    visit.assert_accessible()

    page.go_back()
    expect(page).to_have_url(re.compile(r"/settings/badges$"))
    page.get_by_role("button", name="Rotate key").click()
    dialog = page.get_by_role("alertdialog", name="Rotate the badge key?")
    expect(dialog).to_be_visible()
    visit.assert_accessible()
    dialog.get_by_role("button", name="Rotate key").click()
    expect(page.get_by_text("Badge key rotated", exact=False)).to_be_visible()
    expect(dialog).to_be_hidden()
    assert badge_status(old_url) is None, "the old URL answers 404"
    new_url = copied_svg_url(page)
    assert new_url != old_url and badge_status(new_url) == "down"
    assert visit.errors == [], visit.errors


def test_the_badges_page_at_phone_width_in_dark_mode(browser, console, screenshots):
    visit = open_tab(browser, console.url, **PHONE_DARK)
    page = visit.page
    sign_up_in_the_form(page, "phil")
    headers = api_headers(console, "phil")
    add_job(console, headers)
    wait_until(lambda: len(httpx.get(f"{console.url}/api/badges", headers=headers).json()["badges"]) > 5)
    page.goto("/settings/badges")
    expect(page.get_by_role("link", name=JOB, exact=True)).to_be_visible()
    visit.settle()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    visit.assert_accessible()
    visit.shoot(screenshots, "phone-dark-settings-badges")
    page.goto(f"/jobs/{JOB}")
    expect(page.get_by_role("region", name="Status badge").get_by_role("img")).to_be_visible()
    visit.settle()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert visit.errors == [], visit.errors
