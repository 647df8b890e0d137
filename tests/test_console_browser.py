"""The web console in a real browser (Debian's Chromium, driven by Playwright for Python) against
`crontopus-server run all` as `make run` starts it: a team's journey from signing up to a failed
run's output, live; a second team that sees none of it; every page at phone width in dark mode;
axe-core on every page; nothing logged in the browser's console; no token in the page's storage.
The fixtures and the tab (`Visit`) are in `crontopus_server.console_testing`.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from crontopus_server.console_testing import (
    LIVE,
    PHONE_DARK,
    Console,
    Visit,
    nav,
    needs_console,
    open_tab,
    serve_console,
    sign_up_in_the_form,
)

playwright_sync = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python (make install)")
Page, expect = playwright_sync.Page, playwright_sync.expect

pytestmark = pytest.mark.slow

PAGES = ["/", "/jobs", "/jobs/new", "/jobs/staging/hello", "/jobs/staging/hello/edit", "/runs",
         "/settings/members", "/settings/audit"]  # fmt: skip
# Agents, incidents, alerts and the other settings pages have browser tests of their own
# (tests/test_console_<area>.py), each with a phone-width dark-mode visit and its screenshots.


def recent_run(page: Page, status: str):
    """The row of the dashboard's recent runs for the journey's job with this status."""
    recent = page.get_by_role("region", name="Recent runs")
    return recent.get_by_role("row").filter(has_text="ops/nightly-report").filter(has_text=status)


def test_a_team_signs_up_creates_a_job_and_sees_its_runs_arrive_live(browser, console, screenshots):
    visit = open_tab(browser, console.url, viewport={"width": 1280, "height": 860}, color_scheme="light")
    page = visit.page
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))  # signed out: sent to sign in, without a 401 logged
    visit.shoot(screenshots, "login")
    page.get_by_role("link", name="Create an account").click()
    visit.shoot(screenshots, "register")
    sign_up_in_the_form(page, "alice")
    visit.assert_accessible()

    nav(page, "Jobs")
    page.get_by_role("link", name="New job").click()
    form = page.get_by_role("form", name="New job")
    form.get_by_label("Namespace").fill("ops")
    form.get_by_label("Name", exact=True).fill("nightly-report")
    form.get_by_label("Schedule").fill("0 9 */2 * 1-5")  # cron's "both days" rule: the preview says so
    expect(page.get_by_text(re.compile("runs only on days that are both day-of-month"))).to_be_visible()
    visit.shoot(screenshots, "job-new-warning")
    form.get_by_label("Schedule").fill("0 3 * * *")
    form.get_by_label("Command").fill("/usr/local/bin/report")
    expect(page.get_by_text("At 03:00").first).to_be_visible()  # the live preview, in words
    visit.assert_accessible()
    visit.shoot(screenshots, "job-new")
    form.get_by_role("button", name="Create job").click()
    expect(page).to_have_url(re.compile(r"/jobs/ops/nightly-report$"))
    expect(page.get_by_role("heading", name=re.compile(r"^ops.nightly-report"))).to_be_visible()

    committed = committed_manifests(console.data_dir)
    assert "/usr/local/bin/report" in committed.get("ops/nightly-report.yaml", ""), sorted(committed)

    nav(page, "Jobs")
    row = page.get_by_role("row").filter(has_text="ops/nightly-report")
    expect(row).to_contain_text("At 03:00")
    visit.assert_accessible()
    visit.shoot(screenshots, "jobs")

    row.get_by_role("link", name="ops/nightly-report").click()
    ping_url = page.locator("code").filter(has_text="/ping/").first.inner_text().strip()
    assert re.fullmatch(rf"{re.escape(console.url)}/ping/\S+", ping_url), ping_url
    visit.assert_accessible()

    nav(page, "Dashboard")
    page.evaluate("window.stillTheSamePage = true")
    assert httpx.post(ping_url, content=b"report sent\n").status_code == 200
    expect(recent_run(page, "success")).to_be_visible(timeout=LIVE)
    assert httpx.post(f"{ping_url}/fail", content=b"\x1b[31mdisk full\x1b[0m: /var/reports\n").status_code == 200
    failed = recent_run(page, "failure")
    expect(failed).to_be_visible(timeout=LIVE)
    assert page.evaluate("window.stillTheSamePage"), "the runs arrived without a reload"
    visit.assert_accessible()
    visit.shoot(screenshots, "dashboard")

    failed.get_by_role("link", name=re.compile("^Output")).click()
    expect(page.get_by_label("Run output")).to_contain_text("disk full: /var/reports")
    status = page.get_by_role("main").get_by_text("failure", exact=True).first
    red, green, blue = status.evaluate(SRGB_OF_TEXT)
    assert red > 2 * max(green, blue), "a failure is red"
    visit.assert_accessible()
    visit.shoot(screenshots, "run")
    failed_run = page.url

    for path, name in (("/jobs/ops/nightly-report", "job"), ("/jobs/ops/nightly-report/edit", "job-edit"),
                       ("/runs", "runs")):  # fmt: skip
        page.goto(path)
        expect(page.get_by_role("main").get_by_role("heading").first).to_be_visible()
        visit.assert_accessible()
        visit.shoot(screenshots, name)

    assert_no_token_is_kept_where_scripts_read(visit)
    assert visit.errors == []

    other = open_tab(browser, console.url)
    sign_up_in_the_form(other.page, "bob")
    expect(other.page.get_by_text("ops/nightly-report")).to_have_count(0)
    nav(other.page, "Jobs")
    expect(other.page.get_by_role("row").first).to_be_visible()
    expect(other.page.get_by_text("ops/nightly-report")).to_have_count(0)
    other.page.goto(failed_run)
    expect(other.page.get_by_text("disk full")).to_have_count(0)
    expect(other.page.get_by_role("main")).to_contain_text(re.compile("not found", re.I))


def test_every_page_works_at_phone_width_in_dark_mode(browser, console, screenshots):
    visit = open_tab(browser, console.url, **PHONE_DARK)
    page = visit.page
    sign_up_in_the_form(page, "carol")
    for path in PAGES:
        page.goto(path)
        expect(page.get_by_role("main").get_by_role("heading").first).to_be_visible()
        visit.settle()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} scrolls sideways at 390 px ({width} px wide)"
        visit.assert_accessible()
        name = "dashboard" if path == "/" else path.strip("/").replace("/", "-").replace("staging-hello", "job")
        visit.shoot(screenshots, f"phone-dark-{name}")
    nav(page, "Runs")  # the navigation is reachable at this width
    expect(page).to_have_url(re.compile(r"/runs$"))
    assert visit.errors == []


def test_a_reload_keeps_the_session_without_a_token_in_storage(browser, console):
    visit = open_tab(browser, console.url)
    page = visit.page
    sign_up_in_the_form(page, "dave")
    page.reload()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    assert_no_token_is_kept_where_scripts_read(visit)
    page.get_by_role("button", name=re.compile("sign out", re.I)).first.click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto("/jobs")
    expect(page).to_have_url(re.compile(r"/login"))  # the cookie was revoked, not only forgotten
    assert visit.errors == []


def assert_no_token_is_kept_where_scripts_read(visit: Visit) -> None:
    page = visit.page
    stored = page.evaluate("JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])")
    assert "eyJ" not in stored and "token" not in stored.lower(), stored  # a JWT starts with eyJ
    assert "crontopus_refresh" not in page.evaluate("document.cookie")
    refresh = [c for c in page.context.cookies() if c["name"] == "crontopus_refresh"]
    assert refresh and refresh[0]["httpOnly"] and refresh[0]["sameSite"] == "Strict"
    assert refresh[0]["path"] == "/api/auth"


def committed_manifests(data_dir: Path) -> dict[str, str]:
    """Every team's manifests at the tip of its embedded repository, by path."""
    found: dict[str, str] = {}
    for repo in (data_dir / "repos").glob("*.git"):
        git = ["git", "--git-dir", str(repo)]
        listed = subprocess.run([*git, "ls-tree", "-r", "--name-only", "HEAD"], capture_output=True, text=True)
        for path in listed.stdout.split():
            found[path] = subprocess.run([*git, "show", f"HEAD:{path}"], capture_output=True, text=True).stdout
    return found


# Tailwind 4 writes colours in oklch: a canvas turns the computed colour into sRGB bytes.
SRGB_OF_TEXT = """element => {
    const context = document.createElement("canvas").getContext("2d");
    context.fillStyle = getComputedStyle(element).color;
    context.fillRect(0, 0, 1, 1);
    return Array.from(context.getImageData(0, 0, 1, 1).data.slice(0, 3));
}"""


# --- teams: members, invitations, mailed links, single sign-on, the audit log -----------------------


@dataclass
class TeamsConsole(Console):
    inbox: object
    provider: object


@pytest.fixture(scope="module")
def teams_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamsConsole]:
    """`run all` with a real SMTP server (aiosmtpd) and the tests' OpenID Connect provider."""
    import json

    from crontopus_server.oidc_test_provider import OidcTestProvider
    from crontopus_server.testing import SmtpInbox

    needs_console()
    home = tmp_path_factory.mktemp("teams-console")
    inbox, provider = SmtpInbox().start(), OidcTestProvider().start()
    served = serve_console(
        home, CRONTOPUS_SMTP_URL=f"smtp://127.0.0.1:{inbox.port}?starttls=false",
        CRONTOPUS_SSO_PROVIDERS=json.dumps([provider.settings("test")]),
    )  # fmt: skip
    try:
        console = next(served)
        provider.redirect_uris.add(f"{console.url}/api/auth/sso/test/callback")
        yield TeamsConsole(console.url, console.data_dir, console.log, inbox, provider)
    finally:
        served.close()
        inbox.stop()
        provider.stop()


def mailed_link(inbox, address: str, subject_has: str) -> str:
    from crontopus_server.testing import link_in

    path, token = link_in(inbox.mail_to(address, subject_has, timeout=20))
    return f"{path}?token={token}"


def test_an_owner_invites_a_person_who_joins_from_the_mail_and_the_audit_log_shows_it(
    browser, teams_console, screenshots
):
    owner = open_tab(browser, teams_console.url)
    page = owner.page
    sign_up_in_the_form(page, "olive")
    page.goto("/settings/members")
    page.get_by_label("Email").fill("bob@example.com")
    page.get_by_label("Role", exact=True).select_option("member")
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_role("table", name="Pending invitations").get_by_text("bob@example.com")).to_be_visible()

    guest = open_tab(browser, teams_console.url)
    guest.page.goto(mailed_link(teams_console.inbox, "bob@example.com", "invited you"))
    expect(guest.page.get_by_role("heading", name="Join a team")).to_be_visible()
    guest.assert_accessible()
    guest.shoot(screenshots, "accept-invitation")
    guest.page.get_by_label("Username").fill("bob")
    guest.page.get_by_label("Password").fill("violet kettle nineteen umbrellas")
    guest.page.get_by_role("button", name="Join the team").click()
    expect(guest.page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(guest.page.get_by_text("olive-team · member")).to_be_visible()

    page.reload()
    page.get_by_label("Role of bob").select_option("viewer")
    expect(page.get_by_text("bob is now viewer.")).to_be_visible()
    owner.assert_accessible()
    owner.shoot(screenshots, "settings-members")
    page.goto("/settings/audit")
    log = page.get_by_role("table", name="Audit log")
    expect(log.get_by_text("member.role")).to_be_visible()
    expect(log.get_by_text("invitation.accept")).to_be_visible()
    owner.assert_accessible()
    owner.shoot(screenshots, "settings-audit")
    assert owner.errors == [] and guest.errors == []


def test_a_forgotten_password_is_reset_from_the_mailed_link(browser, teams_console, screenshots):
    visit = open_tab(browser, teams_console.url)
    page = visit.page
    sign_up_in_the_form(page, "pat")
    page.get_by_role("button", name=re.compile("sign out", re.I)).first.click()
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("pat@example.com")
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("status")).to_contain_text("on its way")
    page.goto(mailed_link(teams_console.inbox, "pat@example.com", "Reset your"))
    page.get_by_label("New password").fill("amber walrus quietly juggles")
    page.get_by_role("button", name="Set the password").click()
    expect(page.get_by_role("status")).to_contain_text("every session of your account has ended")
    visit.shoot(screenshots, "reset-password")
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("Username").fill("pat")
    page.get_by_label("Password").fill("amber walrus quietly juggles")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    assert visit.errors == []


def test_a_person_signs_in_with_the_identity_provider(browser, teams_console, screenshots):
    visit = open_tab(browser, teams_console.url, viewport={"width": 390, "height": 844}, color_scheme="dark")
    page = visit.page
    page.goto("/login")
    button = page.get_by_role("button", name="Sign in with Test IdP")
    expect(button).to_be_visible()
    visit.assert_accessible()
    visit.shoot(screenshots, "phone-dark-login-sso")
    teams_console.provider.sign_with_other_key = True  # a forged ID token: refused, and the page says why
    try:
        button.click()
        expect(page.get_by_role("alert")).to_contain_text("does not verify")
    finally:
        teams_console.provider.sign_with_other_key = False
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_role("button", name="Sign in with Test IdP").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.goto("/settings")
    expect(page.get_by_text("ada@example.com")).to_be_visible()
    assert visit.errors == []
