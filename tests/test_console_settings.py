"""The console's Settings pages and its command palette in a real browser (Debian's Chromium,
driven by Playwright for Python) against `crontopus-server run all`: an API key made in the page
works against the API until it is revoked there; the profile and a change of email; the embedded
repository's clone URL and how to push; an external repository (served over smart HTTP on
loopback, which this module's server allows) connected in the form, with its webhook secret shown
once, each Git host's webhook steps and a manifest's problem with its file and line; Ctrl-K's
palette to a job and to a page. axe-core on every page, phone width in dark mode, screenshots.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from crontopus_gitops import repo
from crontopus_gitops.testing import GitHttp, serve_git_http
from crontopus_server.console_testing import (
    PASSWORD,
    PHONE_DARK,
    Console,
    Visit,
    needs_console,
    open_tab,
    serve_console,
    sign_up_in_the_form,
)
from crontopus_server.testing import outbox_mail

playwright_sync = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python (make install)")
expect = playwright_sync.expect

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.slow

DESKTOP = {"viewport": {"width": 1280, "height": 900}, "color_scheme": "light"}
SECTIONS = re.compile(r"Dashboard|Jobs|Runs|Agents|Incidents|Settings|Alerts")
GOOD = """\
apiVersion: crontopus.io/v1
kind: Job
metadata: {name: first, namespace: ops}
spec: {schedule: "0 * * * *", command: /bin/true}
"""
BROKEN = """\
apiVersion: crontopus.io/v1
kind: Job
metadata: {name: broken, namespace: ops}
spec:
  schedule: "61 * * * *"
  command: /bin/true
"""


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The console, with http:// Git hosts on loopback allowed (the external repository's host)."""
    needs_console()
    yield from serve_console(tmp_path_factory.mktemp("console"), CRONTOPUS_GITOPS_ALLOW_HTTP="1",
                             CRONTOPUS_ALLOW_PRIVATE_NETWORKS="1")  # fmt: skip


@pytest.fixture(scope="module")
def git_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHttp]:
    root = tmp_path_factory.mktemp("hosted")
    path = root / "jobs.git"
    repo.init_bare(path)
    repo.commit_files(path, branch="main", changes={"ops/first.yaml": GOOD, "ops/broken.yaml": BROKEN},
                      author=("Upstream", "upstream@example.com"), message="jobs", expected_head=None)  # fmt: skip
    with serve_git_http(root) as served:
        yield served


def settled_page(visit: Visit, path: str, heading: str) -> None:
    visit.page.goto(path)
    expect(visit.page.get_by_role("heading", level=1, name=heading, exact=True)).to_be_visible()
    visit.settle()


def only_main_navigation_names_sections(page: Page) -> None:
    """docs/console.md: no link but the main navigation's is named after a section."""
    links = page.get_by_role("link", name=SECTIONS)
    main = page.get_by_role("navigation", name="Main").get_by_role("link", name=SECTIONS)
    assert links.count() == main.count(), [links.nth(i).inner_text() for i in range(links.count())]


def jobs_with(key: str, console: Console) -> int:
    return httpx.get(f"{console.url}/api/jobs", headers={"Authorization": f"Bearer {key}"}).status_code


def test_an_api_key_made_in_the_page_works_until_it_is_revoked_there(browser, console, screenshots):
    visit = open_tab(browser, console.url, **DESKTOP)
    page = visit.page
    sign_up_in_the_form(page, "erin")
    settled_page(visit, "/settings/api-keys", "API keys")
    expect(page.get_by_text("No API keys yet.")).to_be_visible()
    expect(page.get_by_text("crontopus api-keys create backup-host --scope write")).to_be_visible()
    visit.assert_accessible()

    page.get_by_label("Key name").fill("ci-deploy")
    page.get_by_label("Scope").select_option("read")
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_label("New key").input_value()
    assert len(key) > 20
    expect(page.get_by_text("it will not be shown again")).to_be_visible()
    visit.assert_accessible()
    visit.shoot(screenshots, "settings-api-key-created")
    assert jobs_with(key, console) == 200

    page.get_by_role("button", name="I have copied it").click()
    expect(page.get_by_label("New key")).to_have_count(0)
    assert key not in page.content()
    row = page.get_by_role("row").filter(has_text="ci-deploy")
    expect(row).to_contain_text("read")
    expect(row).to_contain_text("erin")  # created by
    page.reload()  # and never again after a reload
    expect(page.get_by_role("row").filter(has_text="ci-deploy")).to_be_visible()
    assert key not in page.content()
    visit.assert_accessible()
    visit.shoot(screenshots, "settings-api-keys")

    page.get_by_role("row").filter(has_text="ci-deploy").get_by_role("button", name="Revoke ci-deploy").click()
    dialog = page.get_by_role("alertdialog", name="Revoke ci-deploy?")
    expect(dialog).to_contain_text("cannot be undone")
    dialog.get_by_role("button", name="Revoke ci-deploy").click()
    expect(page.get_by_text("No API keys yet.")).to_be_visible()
    assert jobs_with(key, console) == 401
    assert visit.errors == []


def test_the_profile_shows_the_user_and_changes_the_email_with_a_confirmation_mail(browser, console, screenshots):
    visit = open_tab(browser, console.url, **DESKTOP)
    page = visit.page
    sign_up_in_the_form(page, "fay")
    page.goto("/settings")
    expect(page).to_have_url(re.compile(r"/settings/profile$"))
    account = page.get_by_role("region", name="Your account")
    expect(account).to_contain_text("fay@example.com")
    expect(account).to_contain_text("fay-team")
    expect(account).to_contain_text("owner")
    expect(account).to_contain_text("not confirmed")
    tabs = page.get_by_role("navigation", name="Settings")
    for tab in ("Profile", "Members", "API keys", "Repository", "Audit log"):
        expect(tabs.get_by_role("link", name=tab, exact=True)).to_be_visible()
    expect(page.get_by_role("region", name="Your teams")).to_contain_text("acting for it now")
    only_main_navigation_names_sections(page)
    visit.assert_accessible()
    visit.shoot(screenshots, "settings-profile")

    page.get_by_label("New email").fill("fay.new@example.com")
    page.get_by_label("Current password").fill("not my password")
    page.get_by_role("button", name="Change email").click()
    expect(page.get_by_label("Current password")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_role("button", name="Change email").click()
    expect(page.get_by_role("status").filter(has_text="follow the link we mailed")).to_be_visible()
    expect(account).to_contain_text("fay.new@example.com")
    assert outbox_mail(console.data_dir, "fay.new@example.com")
    assert visit.errors == [] or all("422" in error for error in visit.errors), visit.errors


def test_the_embedded_repository_and_the_palette(browser, console, screenshots):
    visit = open_tab(browser, console.url, **DESKTOP)
    page = visit.page
    sign_up_in_the_form(page, "gil")
    settled_page(visit, "/settings/repository", "Repository")
    sync = page.get_by_role("region", name=re.compile("^Sync"))
    expect(sync).to_contain_text("embedded")
    clone = page.get_by_role("region", name="Clone and push")
    expect(clone.get_by_text(re.compile(r"^git clone \S+ crontopus-jobs$"))).to_be_visible()
    expect(clone.get_by_role("button", name="Copy the clone URL")).to_be_visible()
    expect(clone).to_contain_text("git push origin main")
    expect(page.get_by_role("button", name="Connect repository")).to_be_visible()  # an owner may
    visit.assert_accessible()
    visit.shoot(screenshots, "settings-repository")

    loaded: list[str] = []
    page.on("request", lambda request: loaded.append(request.url))
    page.goto("/runs")
    expect(page.get_by_role("heading", level=1, name="Runs")).to_be_visible()
    assert page.get_by_role("dialog").count() == 0  # closed by default
    assert not [url for url in loaded if "PaletteDialog" in url]  # its chunk comes with the first open
    page.keyboard.press("Control+k")
    dialog = page.get_by_role("dialog", name="Command palette")
    expect(dialog).to_be_visible()
    search = dialog.get_by_role("combobox", name="Go to a page, job, agent or run")
    expect(search).to_be_focused()
    assert [url for url in loaded if "PaletteDialog" in url]
    search.fill("hello")
    expect(dialog.get_by_role("option", name="staging/hello")).to_be_visible()
    assert dialog.get_by_role("link").count() == 0  # options, never links
    visit.assert_accessible()
    visit.shoot(screenshots, "palette")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/jobs/staging/hello$"))
    expect(dialog).to_have_count(0)

    page.keyboard.press("Control+k")
    page.get_by_role("combobox", name="Go to a page, job, agent or run").fill("API keys")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/settings/api-keys$"))

    page.keyboard.press("Control+k")  # on the API keys page, whose Scope select is a combobox too
    dialog.get_by_role("combobox").fill("0f6b1d2c9a8e4f3b8c7d6e5f4a3b2c1d")
    expect(page.get_by_role("option", name="Open run 0f6b1d2c9a8e4f3b8c7d6e5f4a3b2c1d")).to_be_visible()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/runs/0f6b1d2c9a8e4f3b8c7d6e5f4a3b2c1d$"))

    button = page.get_by_role("button", name="Search", exact=True)
    button.click()
    expect(page.get_by_role("dialog", name="Command palette")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(button).to_be_focused()  # focus comes back
    only_main_navigation_names_sections(page)
    assert [e for e in visit.errors if "404" not in e] == [], visit.errors  # the made-up run is not found


def test_an_external_repository_is_connected_in_the_form_with_each_hosts_webhook_steps(
    browser, console, screenshots, git_host
):
    visit = open_tab(browser, console.url, **DESKTOP)
    page = visit.page
    sign_up_in_the_form(page, "hana")
    settled_page(visit, "/settings/repository", "Repository")
    form = page.get_by_role("form", name="Use an external repository")
    form.get_by_label("Repository URL").fill(git_host.url("jobs.git"))
    form.get_by_label("Credentials").select_option("token")
    form.get_by_label("Token", exact=True).fill("a-token-nobody-sees-again")
    form.get_by_role("button", name="Connect repository").click()

    webhook = page.get_by_role("region", name="Push webhook")
    expect(webhook).to_contain_text("it will not be shown again")
    secret = (
        webhook.get_by_role("button", name="Copy the webhook secret")
        .locator("xpath=preceding-sibling::code")
        .inner_text()
    )
    url = (
        webhook.get_by_role("button", name="Copy the webhook URL").locator("xpath=preceding-sibling::code").inner_text()
    )
    assert re.fullmatch(r"https?://\S+/api/gitops/webhooks/[0-9a-f]{32}", url), url
    steps = webhook.get_by_role("list")
    expect(steps).to_contain_text("Payload URL")  # GitHub's steps first
    expect(steps).to_contain_text("Just the push event")
    problems = page.get_by_role("table", name="Manifests with problems")
    expect(problems).to_contain_text("ops/broken.yaml:5")
    expect(problems).to_contain_text("schedule")
    assert "a-token-nobody-sees-again" not in page.content()
    expect(page.get_by_role("region", name="Git host")).to_contain_text("token (stored encrypted, never shown)")
    visit.assert_accessible()
    visit.shoot(screenshots, "settings-repository-external")

    # The secret shown is the one the webhook checks (a GitHub ping, signed with it).
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    ping = httpx.post(url.replace(re.match(r"https?://[^/]+", url).group(0), console.url), content=body,  # type: ignore[union-attr]
                      headers={"X-GitHub-Event": "ping", "X-Hub-Signature-256": signature,
                               "Content-Type": "application/json"})  # fmt: skip
    assert ping.status_code == 200 and ping.json()["status"] == "pong", ping.text

    for host, says in (
        ("GitLab", "Secret token"),
        ("Gitea", "Add webhook → Gitea"),
        ("Forgejo", "Add webhook → Forgejo"),
    ):
        webhook.get_by_role("button", name=host, exact=True).click()
        expect(webhook.get_by_role("button", name=host, exact=True)).to_have_attribute("aria-pressed", "true")
        expect(steps).to_contain_text(says)
    expect(page).to_have_url(re.compile(r"\?host=forgejo$"))

    page.reload()
    expect(page.get_by_role("region", name="Push webhook")).to_contain_text("masked")
    assert secret not in page.content()
    expect(page.get_by_role("button", name="Forgejo", exact=True)).to_have_attribute("aria-pressed", "true")
    assert visit.errors == []


@pytest.mark.parametrize("user, path, heading, name", [
    ("ivy", "/settings/profile", "Profile", "settings-profile"),
    ("jay", "/settings/api-keys", "API keys", "settings-api-keys"),
    ("kim", "/settings/repository", "Repository", "settings-repository"),
])  # fmt: skip
def test_settings_pages_at_phone_width_in_dark_mode(browser, console, screenshots, user, path, heading, name):
    visit = open_tab(browser, console.url, **PHONE_DARK)
    page = visit.page
    sign_up_in_the_form(page, user)
    settled_page(visit, path, heading)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{path} scrolls sideways at 390 px ({width} px wide)"
    visit.assert_accessible()
    visit.shoot(screenshots, f"phone-dark-{name}")
    if path == "/settings/profile":
        page.get_by_role("button", name="Search", exact=True).click()
        dialog = page.get_by_role("dialog", name="Command palette")
        expect(dialog.get_by_role("option", name="Repository")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        visit.assert_accessible()
        visit.shoot(screenshots, "phone-dark-palette")
    assert visit.errors == []
