"""What the web console's browser tests share (a pytest plugin, see pyproject's addopts): the
`console` fixture (`crontopus-server run all` serving the built console, as `make run` starts it,
one per test module), a `browser` (Debian's Chromium driven by Playwright for Python), a
`screenshots` folder, and a tab that records what a user's browser console would show and runs
axe-core.

Screenshots go to a temporary folder, or to ``$CRONTOPUS_SCREENSHOTS`` when set (`make
screenshots` sets it to docs/console/).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from crontopus_kit.nats_server import free_port
from crontopus_server.testing import start_run_all, stop_run_all, wait_healthy

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

ROOT = Path(__file__).resolve().parents[3]
# A build elsewhere (vite build --outDir) can be tested while web/dist is being rebuilt.
WEB_DIST = Path(os.environ.get("CRONTOPUS_TEST_WEB_DIST") or ROOT / "web" / "dist")
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
# Debian's /usr/bin/chromium is a shell wrapper around this binary.
CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", shutil.which("chromium")) if p and Path(p).exists()), None)
PASSWORD = "correct horse battery"
LIVE = 5_000  # ms: "within a second" of a check-in, with room for a busy CI machine
EXPECT_TIMEOUT_MS = 12_000
# A phone in dark mode: every page is visited so (no sideways scroll at 390 px, axe clean).
PHONE_DARK: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844}, "color_scheme": "dark", "is_mobile": True, "has_touch": True,
}  # fmt: skip
SETTLED = """() => document.querySelector('main') && !document.querySelector('[aria-busy="true"]')
    && !/Loading/.test(document.querySelector('main').innerText)"""


@dataclass
class Console:
    url: str
    data_dir: Path
    log: Path


def needs_console() -> None:
    """Skip, saying what is missing, where the browser tests cannot run."""
    pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python (make install)")
    if not (WEB_DIST / "index.html").exists():
        pytest.skip("needs the built console: make web (make test builds it where node 20.19+ is installed)")
    if not AXE.exists():
        pytest.skip("needs axe-core from web/node_modules (make web installs it)")
    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium (.ci/run installs it: apt-get install chromium)")


def serve_console(home: Path, **env: str) -> Iterator[Console]:
    """`run all` with the built console in ``home``, until the generator is closed. Without
    `make run`'s local agent unless ``env`` asks for it: with it the server hosts one team, and the
    browser tests sign up several."""
    port = free_port()
    settings = {"CRONTOPUS_WEB_DIR": str(WEB_DIST), "CRONTOPUS_LOCAL_AGENT": "off", **env}
    server = start_run_all(home / "data", port, home / "server.log", own_group=False, **settings)
    try:
        wait_healthy(port, server)
        yield Console(f"http://127.0.0.1:{port}", home / "data", home / "server.log")
    finally:
        stop_run_all(server)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    needs_console()
    yield from serve_console(tmp_path_factory.mktemp("console"))


@pytest.fixture(scope="module")
def browser(console: Console) -> Iterator[Browser]:
    from playwright.sync_api import expect, sync_playwright

    # Seven browser modules may run beside the rest of the suite on two cores: a page that takes
    # more than Playwright's 5 s there is slow, not wrong. What must be fast says so (LIVE).
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("CRONTOPUS_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Visit:
    """A browser tab and what went wrong in it that a user's console would show."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def settle(self) -> None:
        """Until nothing on the page is loading (the event stream keeps the network busy for good)."""
        self.page.wait_for_function(SETTLED)

    def shoot(self, folder: Path, name: str) -> None:
        self.settle()
        self.page.screenshot(path=folder / f"{name}.jpg", full_page=True, quality=80)

    def assert_accessible(self) -> None:
        """axe-core finds no serious or critical violation on the page once it is drawn. A violation
        seen once is looked for again a second later: on a loaded CI machine axe has caught a chart
        half-drawn (a colour-contrast hit on an element uPlot was still styling); one that stays fails."""
        self.settle()
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            self.page.evaluate(AXE.read_text())  # through the debugger: the page's CSP rightly refuses inline script
        found = self._violations()
        if found:
            self.page.wait_for_timeout(1000)
            self.settle()
            found = self._violations()
        assert found == [], f"{self.page.url}: {found}"

    def _violations(self) -> list[str]:
        return self.page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
            ".map(v => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)"
        )


def open_tab(browser: Browser, base_url: str, **context_options: Any) -> Visit:
    context = browser.new_context(base_url=base_url, **context_options)
    page = context.new_page()
    visit = Visit(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            visit.errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: visit.errors.append(str(error)))
    return visit


def sign_up_in_the_form(page: Page, name: str) -> None:
    from playwright.sync_api import expect

    page.goto("/register")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Email").fill(f"{name}@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm password").fill(PASSWORD)
    page.get_by_label("Team").fill(f"{name}-team")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


def api_headers(console: Console, username: str) -> dict[str, str]:
    """API headers for an account signed up in the form (the page keeps its own token in memory)."""
    import httpx

    tokens = httpx.post(f"{console.url}/api/auth/login", data={"username": username, "password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


def create_job(console: Console, headers: dict[str, str], manifest: str) -> dict[str, Any]:
    """A job committed through the API, as a script would (201 or the test fails); its JSON."""
    import httpx

    created = httpx.post(f"{console.url}/api/jobs", json={"manifest": manifest}, headers=headers)
    assert created.status_code == 201, created.text
    return dict(created.json())
