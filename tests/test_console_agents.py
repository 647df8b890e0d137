"""The console's agents pages in a real browser: an admin adds an agent with the commands the page
shows (the Linux ones, run for real against a crontab file of the test's own, never the machine's),
watches it come online without a reload, sees its jobs and a hand edit it repaired, and revokes it;
the agent is cut off at once. Every page passes axe-core and works at 390 px in dark mode.
The fixtures and the tab (`Visit`) are in `crontopus_server.console_testing`.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from crontopus_server.console_testing import (
    LIVE,
    PASSWORD,
    PHONE_DARK,
    Console,
    Visit,
    nav,
    needs_console,
    open_tab,
    serve_console,
    sign_up_in_the_form,
)
from crontopus_server.testing import wait_until

playwright_sync = pytest.importorskip("playwright.sync_api", reason="needs Playwright for Python (make install)")
expect = playwright_sync.expect

pytestmark = pytest.mark.slow

AGENT = Path(sys.executable).with_name("crontopus-agent")  # .venv/bin, next to this Python
PAGE_AGENT = "/opt/crontopus-agent/bin/crontopus-agent"  # where the page's commands install it
AGENT_NAME = "db-test-1"
# Enrolling, connecting through the auth callout and the first heartbeat: a few seconds.
COMES_ONLINE = 30_000
# The applied commit comes with the agent's reports; the page also asks again every 30 s.
REPORTED = 40_000

# A `crontab` command for the agent's crontab backend that keeps the table in a file of the test's.
FAKE_CRONTAB = """#!/bin/sh
case "$1" in
  -l) if [ -f "$FAKE_CRONTAB_FILE" ]; then exec cat "$FAKE_CRONTAB_FILE"; fi
      echo "no crontab for $(id -un)" >&2; exit 1 ;;
  -) exec cat > "$FAKE_CRONTAB_FILE" ;;
  *) echo "fake crontab: $* is not supported" >&2; exit 2 ;;
esac
"""


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """`run all` without `make run`'s local agent: the first team starts with no agent."""
    needs_console()
    yield from serve_console(tmp_path_factory.mktemp("agents-console"), CRONTOPUS_LOCAL_AGENT="off")


@pytest.fixture
def host(tmp_path: Path) -> dict[str, str]:
    """The environment of a pretend host: its own agent home and a crontab in a file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    crontab = bin_dir / "crontab"
    crontab.write_text(FAKE_CRONTAB)
    crontab.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRONTOPUS_")}
    env |= {
        "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        "CRONTOPUS_AGENT_HOME": str(tmp_path / "agent-home"),
        "FAKE_CRONTAB_FILE": str(tmp_path / "crontab.txt"),
    }
    return env


def page_commands(text: str) -> dict[str, list[str]]:
    """The page's Linux commands as argv lists, by `crontopus-agent` subcommand (`enroll`, and
    `run` from the systemd unit's ExecStart), with the agent of this checkout instead of the one
    the page installs into /opt, and without sudo or the home folder: the test has its own home
    and crontab. The enroll line and the unit must name the same home (the credentials are there)."""
    found: dict[str, list[str]] = {}
    homes = set()
    for line in text.splitlines():
        if line.startswith("Environment=CRONTOPUS_AGENT_HOME="):
            homes.add(line.partition("HOME=")[2])
        if line.startswith("#") or PAGE_AGENT not in line:
            continue
        argv = shlex.split(line.removeprefix("ExecStart="))
        if argv[0] == "sudo":
            assert argv[1].startswith("CRONTOPUS_AGENT_HOME="), line
            homes.add(argv[1].partition("=")[2])
            argv = argv[2:]
        assert argv[0] == PAGE_AGENT, line
        found[argv[1]] = [str(AGENT), *argv[1:]]
    assert len(homes) == 1, f"enroll and the service use different homes: {homes}"
    return found


def test_an_admin_adds_an_agent_with_the_pages_commands_watches_it_come_online_and_revokes_it(
    browser, console, screenshots, host, tmp_path
):
    visit = open_tab(browser, console.url, viewport={"width": 1280, "height": 860}, color_scheme="light")
    page = visit.page
    sign_up_in_the_form(page, "agnes")
    nav(page, "Agents")
    expect(page.get_by_text("No agent yet.")).to_be_visible()
    visit.assert_accessible()
    page.evaluate("window.stillTheSamePage = true")

    page.get_by_role("button", name="Add an agent").click()
    dialog = page.get_by_role("dialog", name="Add an agent")
    dialog.get_by_label("Labels").fill("role=db, zone=eu")
    dialog.get_by_label("Token valid for").select_option(label="1 day")
    dialog.get_by_role("button", name="Create enrollment token").click()
    linux = dialog.get_by_role("region", name="Linux with cron")
    expect(linux.locator("pre")).to_contain_text("--token ctpe_")
    dialog.get_by_label("Agent name").fill(AGENT_NAME)
    expect(linux.locator("pre")).to_contain_text(f"--name {AGENT_NAME}")
    for other in ("Container, built-in scheduler", "Windows (Task Scheduler)"):
        expect(
            dialog.get_by_role("region", name=other).get_by_role("button", name=re.compile("^Copy the"))
        ).to_be_visible()
    visit.assert_accessible()
    visit.shoot(screenshots, "agent-add")
    commands = page_commands(linux.locator("pre").inner_text())
    dialog.get_by_role("button", name="Done").click()
    expect(dialog).to_have_count(0)

    enroll = commands["enroll"]
    assert enroll[enroll.index("--server") + 1] == console.url  # the server as the browser reaches it
    enrolled = subprocess.run(enroll, env=host, capture_output=True, text=True, timeout=60)
    assert enrolled.returncode == 0, enrolled.stderr
    assert f"enrolled as {AGENT_NAME}" in enrolled.stdout

    assert commands["run"][1:] == ["run", "--scheduler", "crontab"]
    log = tmp_path / "agent.log"
    with open(log, "wb") as out:
        agent = subprocess.Popen(commands["run"], env=host, stdout=out, stderr=subprocess.STDOUT)
    try:
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=AGENT_NAME))
        expect(row).to_contain_text("online", timeout=COMES_ONLINE)
        expect(row).to_contain_text("at head", timeout=REPORTED)
        expect(row).to_contain_text("role=db")
        assert page.evaluate("window.stillTheSamePage"), "the agent arrived without a reload"
        crontab = Path(host["FAKE_CRONTAB_FILE"])
        assert "# crontopus: job=staging/hello " in crontab.read_text()  # the agent wrote its jobs there
        page.get_by_label("Status", exact=True).select_option("online")
        expect(page).to_have_url(re.compile(r"/agents\?status=online$"))
        expect(row).to_be_visible()
        visit.assert_accessible()
        visit.shoot(screenshots, "agents")

        row.get_by_role("link", name=AGENT_NAME).click()
        expect(page.get_by_role("heading", name=re.compile(AGENT_NAME))).to_be_visible()
        agent_url = page.url
        jobs = page.get_by_role("region", name=re.compile("^Installed jobs"))
        expect(jobs.get_by_role("link", name="staging/hello")).to_have_attribute("href", "/jobs/staging/hello")

        # A hand edit of its entry, then a commit: the agent syncs on the nudge and repairs it.
        crontab.write_text(re.sub(r"(?m)^\* \* \* \* \* (.*staging/hello)", r"*/5 * * * * \1", crontab.read_text()))
        api = httpx.Client(base_url=console.url)
        login = api.post("/api/auth/login", data={"username": "agnes", "password": PASSWORD})
        token = {"Authorization": f"Bearer {login.json()['access_token']}"}
        manifest = ("apiVersion: crontopus.io/v1\nkind: Job\nmetadata: {name: nudge, namespace: ops}\n"
                    "spec: {schedule: '0 3 * * *', command: /bin/true}\n")  # fmt: skip
        created = api.post("/api/jobs", json={"manifest": manifest}, headers=token)
        assert created.status_code == 201, created.text
        drift = page.get_by_role("table", name="Drift repaired at the last sync")
        expect(drift.get_by_role("row").filter(has_text="staging/hello")).to_contain_text(
            "changed by hand; restored as Git says", timeout=REPORTED
        )
        expect(jobs.get_by_role("link", name="ops/nudge")).to_be_visible(timeout=REPORTED)
        assert "*/5 * * * *" not in crontab.read_text()
        applied = page.get_by_role("region", name="Sync").get_by_role("definition").first
        expect(applied).to_have_text(re.compile(rf"^{created.json()['commit'][:7]}\s*at head$"), timeout=LIVE)
        visit.assert_accessible()
        visit.shoot(screenshots, "agent")

        page.get_by_role("button", name="Revoke").click()
        confirm = page.get_by_role("alertdialog", name=f"Revoke {AGENT_NAME}?")
        confirm.get_by_role("button", name=f"Revoke {AGENT_NAME}").click()
        expect(page.get_by_text(re.compile("the server refuses its credentials"))).to_be_visible()
        expect(page.get_by_role("heading", level=1)).to_contain_text("revoked")
        expect(page.get_by_role("button", name="Revoke")).to_have_count(0)
        # The server closed its connection at once and refuses it since.
        wait_until(lambda: "Authorization Violation" in log.read_text(errors="replace"), timeout=15)
        shown = api.get("/api/agents", headers=token).json()["agents"]
        assert [(a["name"], a["status"]) for a in shown] == [(AGENT_NAME, "revoked")]
        visit.assert_accessible()
        assert agent.poll() is None  # revoking does not touch the host: the daemon keeps retrying
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=40)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()

    assert visit.errors == []

    page.goto("/agents/0123456789abcdef0123456789abcdef")
    expect(page.get_by_role("heading", name="Agent not found")).to_be_visible()
    visit.assert_accessible()
    assert only_the_404_of(visit)

    other = open_tab(browser, console.url)
    sign_up_in_the_form(other.page, "bruno")
    other.page.goto(agent_url)  # another team's agent is not found either
    expect(other.page.get_by_role("heading", name="Agent not found")).to_be_visible()
    expect(other.page.get_by_text(AGENT_NAME)).to_have_count(0)
    nav(other.page, "Agents")
    expect(other.page.get_by_text("No agent yet.")).to_be_visible()
    assert only_the_404_of(other)

    phone = open_tab(browser, console.url, **PHONE_DARK)
    sign_in(phone, "agnes")
    for path, name in (("/agents", "phone-dark-agents"), (agent_url.removeprefix(console.url), "phone-dark-agent")):
        phone.page.goto(path)
        expect(phone.page.get_by_role("main").get_by_role("heading").first).to_be_visible()
        revoked = phone.page.get_by_role("main").locator("span:visible", has_text=re.compile(r"^revoked$"))
        expect(revoked.first).to_be_visible()
        phone.settle()
        width = phone.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} scrolls sideways at 390 px ({width} px wide)"
        phone.assert_accessible()
        phone.shoot(screenshots, name)
    assert phone.errors == []


def only_the_404_of(visit: Visit) -> bool:
    """A not-found page's request answers 404, which Chromium logs; nothing else may be logged."""
    assert visit.errors, "the not-found page asked the API"
    return all(re.fullmatch(r"Failed to load resource: .*404 \(Not Found\)", e) for e in visit.errors)


def sign_in(visit: Visit, name: str) -> None:
    page = visit.page
    page.goto("/login")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
