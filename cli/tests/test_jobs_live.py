"""`crontopus jobs list|show|create|delete` against a real gateway (nats-server + the all-in-one app)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from crontopus_cli.testing import crontopus
from crontopus_server.testing import Stack, wait_until

EXPORT = """\
apiVersion: crontopus.io/v1
kind: Job
metadata:
  name: nightly-export
  namespace: production
  labels: {team: finance}
spec:
  schedule: "15 3 * * *"
  timezone: Europe/Berlin
  command: /usr/local/bin/export.sh
  target: {matchLabels: {role: reports}}
"""


@pytest.fixture
def alice(stack: Stack) -> None:
    crontopus("auth", "register", "--server", stack.url, "-u", "alice", "--email", "alice@example.com",
              "--tenant", "acme", "-p", "correct horse battery")  # fmt: skip


def test_list_shows_the_teams_jobs_with_schedule_state_and_commit(alice: None) -> None:
    listed = json.loads(crontopus("jobs", "list", "--json").stdout)["jobs"]
    hello = next(job for job in listed if job["job"] == "staging/hello")
    table = crontopus("jobs", "list").stdout
    assert "JOB" in table and "COMMIT" in table
    assert "staging/hello" in table and "* * * * *" in table and hello["commit"][:7] in table
    only_data = json.loads(crontopus("jobs", "list", "--label", "team=data", "--json").stdout)["jobs"]
    assert [job["job"] for job in only_data] == ["production/backup-database"]
    assert "staging/hello" not in crontopus("jobs", "list", "--namespace", "production").stdout


def test_create_show_and_delete_a_job(alice: None, tmp_path: Path) -> None:
    manifest = tmp_path / "export.yaml"  # not in a namespace folder: the server files it
    manifest.write_text(EXPORT)
    created = crontopus("jobs", "create", str(manifest), "-m", "for finance").stdout
    detail = json.loads(crontopus("jobs", "show", "production/nightly-export", "--json").stdout)
    assert f"Created production/nightly-export in commit {detail['commit']}." in created
    assert detail["history"][0]["author"] == "alice"

    shown = crontopus("jobs", "show", "production/nightly-export").stdout
    assert "15 3 * * *" in shown and "Europe/Berlin" in shown
    assert "agents labelled role=reports" in shown  # where it would run
    assert "command: /usr/local/bin/export.sh" in shown  # the manifest as committed
    assert "Create production/nightly-export via the API" in shown  # the history

    crontopus("jobs", "delete", "production/nightly-export", input="n\n", expect=1)
    assert "production/nightly-export" in crontopus("jobs", "list").stdout
    deleted = crontopus("jobs", "delete", "production/nightly-export", "--yes").stdout
    assert "Deleted production/nightly-export in commit" in deleted
    assert "production/nightly-export" not in crontopus("jobs", "list").stdout


def test_create_checks_the_manifest_before_sending_it(alice: None, tmp_path: Path) -> None:
    manifest = tmp_path / "broken.yaml"
    manifest.write_text(EXPORT.replace('"15 3 * * *"', '"0 0 31 2 *"'))
    result = crontopus("jobs", "create", str(manifest), expect=1)
    assert f"{manifest}:8: spec.schedule: never fires" in result.stdout
    assert "not created" in result.stderr
    listed = json.loads(crontopus("jobs", "list", "--json").stdout)["jobs"]
    assert "production/nightly-export" not in {job["job"] for job in listed}


def test_creating_an_existing_job_says_how_to_change_it(alice: None, tmp_path: Path) -> None:
    manifest = tmp_path / "backup.yaml"
    manifest.write_text(EXPORT.replace("nightly-export", "backup-database"))
    result = crontopus("jobs", "create", str(manifest), expect=1)
    detail = json.loads(crontopus("jobs", "show", "production/backup-database", "--json").stdout)
    assert f"production/backup-database already exists (in {detail['file']})" in result.stderr
    assert "update it instead" not in result.stderr  # the CLI has no update command
    assert f"/api/jobs/production/backup-database with base_commit={detail['commit']}" in result.stderr


def test_a_manifest_that_did_not_load_is_pointed_out_by_list_and_shown_by_problems(
    alice: None, stack: Stack, tmp_path: Path
) -> None:
    assert json.loads(crontopus("jobs", "problems", "--json").stdout) == {"errors": [], "last_error": None}
    assert "Every manifest at" in crontopus("jobs", "problems").stdout
    clone_url = _clone_url(stack)
    checkout = tmp_path / "jobs"
    _git("clone", "--quiet", clone_url, str(checkout), cwd=tmp_path)
    (checkout / "staging" / "broken.yaml").write_text(EXPORT.replace("production", "staging").replace("15 3", "99 3"))
    _git("add", ".", cwd=checkout)
    _git("commit", "--quiet", "-m", "A typo", cwd=checkout)
    _git("push", "--quiet", "origin", "HEAD:main", cwd=checkout)
    problems = wait_until(lambda: json.loads(crontopus("jobs", "problems", "--json").stdout)["errors"], timeout=30)
    assert [(p["file"], p["field"]) for p in problems] == [("staging/broken.yaml", "spec.schedule")]
    assert "staging/broken.yaml:8: spec.schedule: " in crontopus("jobs", "problems").stdout
    listed = crontopus("jobs", "list")
    assert "staging/hello" in listed.stdout and "nightly-export" not in listed.stdout
    assert "1 manifest file(s) did not load, so their jobs are missing: crontopus jobs problems" in listed.stderr


def _clone_url(stack: Stack) -> str:
    form = {"username": "alice", "password": "correct horse battery"}
    token = httpx.post(f"{stack.url}/api/auth/login", data=form).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    return str(httpx.get(f"{stack.url}/api/gitops/repository", headers=headers).json()["clone_url"])


def _git(*args: str, cwd: Path) -> None:
    env = {"GIT_AUTHOR_NAME": "Alice", "GIT_AUTHOR_EMAIL": "alice@example.com",
           "GIT_COMMITTER_NAME": "Alice", "GIT_COMMITTER_EMAIL": "alice@example.com", "HOME": str(cwd)}  # fmt: skip
    subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True, timeout=30)
