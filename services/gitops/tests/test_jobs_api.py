"""Jobs from Git through the REST API of a live stack: the seeded examples, a `git push` that
appears within 2 seconds, a broken manifest reported with its file and line, tenant isolation."""

import subprocess
import time
from pathlib import Path

import pytest

from crontopus_server.testing import NIGHTLY_EXPORT, create_api_key, sign_up, wait_until


def git(*args: str, cwd: Path) -> str:
    env = {"GIT_AUTHOR_NAME": "Alice", "GIT_AUTHOR_EMAIL": "alice@example.com",
           "GIT_COMMITTER_NAME": "Alice", "GIT_COMMITTER_EMAIL": "alice@example.com", "HOME": str(cwd)}  # fmt: skip
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True, timeout=30)
    return done.stdout.strip()


def clone(api, account, tmp_path: Path) -> Path:
    repository = api.get("/api/gitops/repository", headers=account.headers).json()
    checkout = tmp_path / f"{account.username}-checkout"
    git("clone", "--quiet", repository["clone_url"], str(checkout), cwd=tmp_path)
    return checkout


def push_file(api, account, tmp_path: Path, name: str, text: str, message: str) -> dict:
    """Commit one file to the team's repository and push it; the repository once that is synced."""
    checkout = clone(api, account, tmp_path)
    (checkout / name).parent.mkdir(parents=True, exist_ok=True)
    (checkout / name).write_text(text)
    git("add", ".", cwd=checkout)
    git("commit", "--quiet", "-m", message, cwd=checkout)
    git("push", "--quiet", "origin", "HEAD:main", cwd=checkout)
    sha = git("rev-parse", "HEAD", cwd=checkout)

    def synced():
        repository = api.get("/api/gitops/repository", headers=account.headers).json()
        return repository if repository["head_commit"] == sha else None

    return wait_until(synced, timeout=5)


def jobs(api, account) -> dict[str, dict]:
    return {job["job"]: job for job in api.get("/api/jobs", headers=account.headers).json()["jobs"]}


def test_a_new_team_sees_the_seeded_example_jobs(api):
    alice = sign_up(api, "alice")
    listed = wait_until(lambda: jobs(api, alice))
    assert {"staging/hello", "production/backup-database"} <= set(listed)
    hello = listed["staging/hello"]
    assert (hello["schedule"], hello["timezone"], hello["enabled"], hello["paused"]) == (
        "* * * * *",
        "UTC",
        True,
        False,
    )
    repository = api.get("/api/gitops/repository", headers=alice.headers).json()
    assert repository["head_commit"] == hello["commit"] and repository["errors"] == []


def test_a_pushed_manifest_is_listed_within_two_seconds_with_its_commit(api, tmp_path):
    alice = sign_up(api, "alice")
    checkout = clone(api, alice, tmp_path)
    (checkout / "production" / "nightly-export.yaml").write_text(NIGHTLY_EXPORT)
    git("add", ".", cwd=checkout)
    git("commit", "--quiet", "-m", "Add the nightly export", cwd=checkout)
    sha = git("rev-parse", "HEAD", cwd=checkout)
    pushed_at = time.monotonic()
    git("push", "--quiet", "origin", "HEAD:main", cwd=checkout)
    job = wait_until(lambda: jobs(api, alice).get("production/nightly-export"), timeout=2, interval=0.05)
    assert time.monotonic() - pushed_at < 2
    assert job["commit"] == sha and job["timezone"] == "Europe/Berlin"
    detail = api.get("/api/jobs/production/nightly-export", headers=alice.headers).json()
    assert detail["yaml"] == NIGHTLY_EXPORT and detail["manifest"]["spec"]["schedule"] == "15 3 * * *"
    assert [commit["message"] for commit in detail["history"]] == ["Add the nightly export"]


def test_a_broken_manifest_is_reported_with_file_and_line_and_the_other_jobs_stay(api, tmp_path):
    alice = sign_up(api, "alice")
    before = set(wait_until(lambda: jobs(api, alice)))
    broken = NIGHTLY_EXPORT.replace('"15 3 * * *"', '"0 0 31 2 *"')
    repository = push_file(api, alice, tmp_path, "production/broken.yaml", broken, "A schedule that never fires")
    assert repository["errors"] == [
        {"file": "production/broken.yaml", "line": 7, "field": "spec.schedule",
         "message": "never fires: day 31 does not exist in month 2"}
    ]  # fmt: skip
    assert set(jobs(api, alice)) == before


def test_an_oversized_manifest_is_reported_with_the_limit_and_the_other_jobs_stay(api, tmp_path):
    alice = sign_up(api, "alice")
    before = set(wait_until(lambda: jobs(api, alice)))
    huge = NIGHTLY_EXPORT + ("# padding\n" * (5 * 1024 * 1024 // 10))
    repository = push_file(api, alice, tmp_path, "production/nightly-export.yaml", huge, "A 5 MiB manifest")
    assert repository["errors"] == [
        {"file": "production/nightly-export.yaml", "line": None, "field": None,
         "message": "larger than 256 KiB, the most a manifest may be: none of its jobs are loaded"}
    ]  # fmt: skip
    assert set(jobs(api, alice)) == before


def test_alice_cannot_see_bobs_jobs_or_repository(api):
    alice, bob = sign_up(api, "alice"), sign_up(api, "bob")
    wait_until(lambda: jobs(api, bob))
    alice_repo = api.get("/api/gitops/repository", headers=alice.headers).json()
    bob_repo = api.get("/api/gitops/repository", headers=bob.headers).json()
    assert alice_repo["clone_url"] != bob_repo["clone_url"]
    assert api.get("/api/jobs/staging/hello", headers=alice.headers).json()["commit"] == alice_repo["head_commit"]
    assert api.get("/api/jobs/staging/does-not-exist", headers=alice.headers).status_code == 404
    assert api.get("/api/jobs").status_code == 401


def test_jobs_show_the_status_of_their_newest_run_and_filter_on_it(api):
    alice = sign_up(api, "alice")
    wait_until(lambda: jobs(api, alice))
    key = {"X-Api-Key": create_api_key(api, alice)}
    body = {"job": "staging/hello", "run_id": "r1", "status": "failure", "exit_code": 3}
    assert api.post("/api/checkins", headers=key, json=body).status_code == 202
    wait_until(lambda: jobs(api, alice)["staging/hello"]["last_status"] == "failure")
    failing = api.get("/api/jobs", headers=alice.headers, params={"last_status": "failure"}).json()["jobs"]
    never = api.get("/api/jobs", headers=alice.headers, params={"last_status": "never"}).json()["jobs"]
    assert [job["job"] for job in failing] == ["staging/hello"]
    assert "staging/hello" not in {job["job"] for job in never} and len(never) >= 3
    assert api.get("/api/jobs/staging/hello", headers=alice.headers).json()["last_status"] == "failure"


def test_the_summary_counts_the_teams_jobs_and_names_those_failing_now(api):
    alice, bob = sign_up(api, "alice"), sign_up(api, "bob")
    wait_until(lambda: jobs(api, alice) and jobs(api, bob))
    key = {"X-Api-Key": create_api_key(api, alice)}
    for job, status, code in (("staging/hello", "timeout", -9), ("staging/cleanup-tmp", "failure", 1)):
        body = {"job": job, "run_id": f"run-{status}", "status": status, "exit_code": code}
        assert api.post("/api/checkins", headers=key, json=body).status_code == 202
    listed = wait_until(lambda: (found := jobs(api, alice))["staging/cleanup-tmp"]["last_status"] == "failure"
                        and found["staging/hello"]["last_status"] == "timeout" and found)  # fmt: skip
    summary = api.get("/api/jobs/summary", headers=alice.headers).json()
    assert summary == {
        "jobs": len(listed),
        "paused": sum(job["paused"] for job in listed.values()),
        "disabled": sum(not job["enabled"] for job in listed.values()),
        # staging/cleanup-tmp failed too, but it is paused: nothing to act on now
        "failing": [{"job": "staging/hello", "last_status": "timeout"}],
    }
    assert listed["staging/cleanup-tmp"]["paused"] and summary["paused"] >= 1
    bobs = api.get("/api/jobs/summary", headers=bob.headers).json()
    assert (bobs["jobs"], bobs["failing"]) == (len(jobs(api, bob)), [])


@pytest.mark.parametrize("database_backend", ["sqlite"])  # the limit is NATS's, not the database's
def test_a_team_with_thousands_of_jobs_lists_them_all(secure_stack, tmp_path):
    """3,000 jobs make a listing of ~1.3 MB: over NATS's default message limit (1 MB). gitops
    answers in pages (``JobPage``) and the generated NATS configuration allows 8 MB anyway. The first
    listing (~0.4 s alone) meets every service digesting the 3,000 new jobs in the same process; on
    a CI machine loaded by the other test workers it once took over 10 s, hence the longer timeout:
    this test is about a complete listing, not its speed."""
    with secure_stack.client(timeout=60) as api:
        alice = sign_up(api, "alice")
        checkout = clone(api, alice, tmp_path)
        (checkout / "fleet").mkdir()
        for i in range(3000):
            (checkout / "fleet" / f"host-{i:04}.yaml").write_text(FLEET_JOB.format(i=i))
        git("add", ".", cwd=checkout)
        git("commit", "--quiet", "-m", "The fleet", cwd=checkout)
        git("push", "--quiet", "origin", "HEAD:main", cwd=checkout)
        listed = wait_until(lambda: _all_listed(api, alice, at_least=3000), timeout=60, interval=0.5)
        # gitops answers in pages of 1,000 (before filters): a filter must still see every page
        fleet = api.get("/api/jobs", params={"label": "tier=fleet"}, headers=alice.headers).json()["jobs"]
        summary = api.get("/api/jobs/summary", headers=alice.headers).json()  # counted over every page too
    assert sum(job.startswith("fleet/") for job in listed) == 3000 == len(listed) - 5  # and the 5 examples
    assert [job["job"] for job in fleet] == [f"fleet/host-{i:04}" for i in range(3000)]
    assert (summary["jobs"], summary["paused"], summary["failing"]) == (3005, 4, [])  # the examples: 4 paused


FLEET_JOB = """apiVersion: crontopus.io/v1
kind: Job
metadata: {{name: host-{i:04}, namespace: fleet, labels: {{team: platform, tier: fleet}}}}
spec:
  schedule: "*/15 * * * *"
  timezone: Europe/Berlin
  command: /usr/local/bin/collect-metrics --host host-{i:04}.fleet.example.com --verbose
"""


def _all_listed(api, account, *, at_least: int) -> list[str] | None:
    response = api.get("/api/jobs", headers=account.headers)
    assert response.status_code == 200, response.text
    names = [job["job"] for job in response.json()["jobs"]]
    return names if len(names) >= at_least else None
