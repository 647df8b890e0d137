"""Healthchecks-style ping URLs through a live stack: starts and finishes become runs of the job
the key belongs to, in the key's tenant only; unknown keys store nothing."""

import uuid
from urllib.parse import urlsplit

import pytest
from fastapi.routing import APIRoute

from crontopus_gateway.routes import pings
from crontopus_gateway.routes.pings import PING_BODY_LIMIT
from crontopus_schemas.events import MAX_STORED_OUTPUT_BYTES
from crontopus_server.testing import sign_up, wait_until

JOB = "staging/hello"


@pytest.fixture
def alice(api):
    return sign_up(api, "alice")


def ping_url(api, account, job: str = JOB) -> str:
    """The job's ping URL as a path on the test stack (its host is the configured public URL)."""
    jobs = wait_until(lambda: api.get("/api/jobs", headers=account.headers).json()["jobs"])
    url = urlsplit(next(entry["ping_url"] for entry in jobs if entry["job"] == job))
    assert url.path.startswith("/ping/") and len(url.path) == len("/ping/") + 22
    return url.path


def runs(api, account, job: str = JOB) -> list[dict]:
    return api.get("/api/runs", headers=account.headers, params={"job": job}).json()["runs"]


def finished_runs(api, account, count: int = 1) -> list[dict]:
    return wait_until(lambda: (found := runs(api, account)) and all(r["finished_at"] for r in found)
                      and len(found) == count and found)  # fmt: skip


def run_detail(api, account, run_id: str) -> dict:
    return api.get(f"/api/runs/{run_id}", headers=account.headers).json()


def test_a_start_then_a_success_without_rid_is_one_successful_run_with_a_duration(api, alice):
    url = ping_url(api, alice)
    started = api.get(f"{url}/start")
    finished = api.get(url)
    assert (started.status_code, started.text, finished.status_code, finished.text) == (200, "OK", 200, "OK")
    assert finished.headers["Ping-Body-Limit"] == str(PING_BODY_LIMIT)
    assert finished.headers["content-type"].startswith("text/plain")
    [run] = finished_runs(api, alice)
    assert (run["status"], run["source"], run["job"]) == ("success", "ping", JOB)
    assert run["started_at"] is not None and run["duration_ms"] is not None
    job_commit = api.get(f"/api/jobs/{JOB}", headers=alice.headers).json()["commit"]
    assert run["manifest_commit"] == job_commit, "a run carries the manifest commit it ran under"


def test_finishes_close_the_open_runs_newest_first_whether_stored_or_just_sent(api, alice):
    url = ping_url(api, alice)
    api.get(f"{url}/start")
    wait_until(lambda: runs(api, alice))  # the first start is stored, the second one not yet
    api.get(f"{url}/start")
    api.get(f"{url}/fail")
    api.get(url)
    found = finished_runs(api, alice, count=2)
    assert [r["status"] for r in found] == ["failure", "success"], "the newer run took the first finish"
    assert all(r["started_at"] and r["duration_ms"] is not None for r in found)


def test_a_second_success_right_behind_the_first_is_a_run_of_its_own(api, alice):
    url = ping_url(api, alice)
    api.get(f"{url}/start")
    api.get(url)
    api.get(url)
    found = finished_runs(api, alice, count=2)
    assert [r["status"] for r in found] == ["success", "success"]
    assert sorted(r["started_at"] is None for r in found) == [False, True]


def test_a_start_and_a_fail_with_the_same_rid_is_one_failed_run(api, alice):
    url, rid = ping_url(api, alice), str(uuid.uuid4())
    api.post(f"{url}/start", params={"rid": rid})
    api.post(f"{url}/fail", params={"rid": rid}, content=b"disk full\n")
    [run] = finished_runs(api, alice)
    detail = run_detail(api, alice, rid)
    assert (run["run_id"], run["status"], detail["output"]) == (rid, "failure", "disk full\n")
    assert run["duration_ms"] is not None


@pytest.mark.parametrize(("code", "status"), [(0, "success"), (3, "failure"), (255, "failure")])
def test_an_exit_status_in_the_url_sets_status_and_exit_code(api, alice, code, status):
    assert api.get(f"{ping_url(api, alice)}/{code}").text == "OK"
    [run] = finished_runs(api, alice)
    assert (run["status"], run["exit_code"]) == (status, code)


@pytest.mark.parametrize("suffix", ["/256", "/-1", "?rid=not-a-uuid", "/start?rid=1234"])
def test_a_bad_exit_status_or_rid_is_refused_with_400_and_stores_nothing(api, alice, suffix):
    response = api.get(f"{ping_url(api, alice)}{suffix}")
    assert response.status_code == 400 and response.json()["detail"]
    assert runs(api, alice) == []


def test_a_post_body_is_kept_as_the_output(api, alice):
    api.post(ping_url(api, alice), content=b"backed up 42 files\n")
    [run] = finished_runs(api, alice)
    assert run_detail(api, alice, run["run_id"])["output"] == "backed up 42 files\n"


def test_a_long_body_keeps_its_end_as_the_output_and_is_not_refused(api, alice):
    body = "début\n".encode() + "é".encode() * PING_BODY_LIMIT + b"the end\n"  # streamed in several chunks
    response = api.post(ping_url(api, alice), content=body)
    assert (response.status_code, response.text) == (200, "OK")
    [run] = finished_runs(api, alice)
    detail = run_detail(api, alice, run["run_id"])
    assert detail["output"].endswith("ééthe end\n")  # the end, as the label "the last 64 KiB" says
    assert len(detail["output"].encode()) <= MAX_STORED_OUTPUT_BYTES and "\ufffd" not in detail["output"]
    assert detail["output_truncated"] is True and detail["output_size"] == len(body)


def test_head_reports_a_success_too(api, alice):
    response = api.head(ping_url(api, alice))
    assert response.status_code == 200 and response.headers["Ping-Body-Limit"] == str(PING_BODY_LIMIT)
    assert finished_runs(api, alice)[0]["status"] == "success"


def test_log_keeps_its_output_as_a_log_entry_and_changes_no_status(api, alice):
    url = ping_url(api, alice)
    api.get(f"{url}/start")
    assert api.post(f"{url}/log", content=b"halfway there").text == "OK"
    api.get(url)
    entries = wait_until(lambda: len(found := runs(api, alice)) == 2 and all(r["finished_at"] for r in found) and found)
    log, run = sorted(entries, key=lambda entry: entry["status"] != "log")
    assert (log["status"], run_detail(api, alice, log["run_id"])["output"]) == ("log", "halfway there")
    assert run["status"] == "success" and run["duration_ms"] is not None, "the start and the finish still pair up"
    job = api.get(f"/api/jobs/{JOB}", headers=alice.headers).json()
    assert job["last_status"] == "success", "a log entry is never a job's last status"


@pytest.mark.parametrize("key", ["A" * 22, "not-a-key", "x" * 200])
def test_an_unknown_key_is_404_and_stores_nothing(api, alice, key):
    for path in (f"/ping/{key}", f"/ping/{key}/start", f"/ping/{key}/fail", f"/ping/{key}/1"):
        response = api.post(path, content=b"output")
        assert (response.status_code, response.json()) == (404, {"detail": "not found"})
    api.get(f"{ping_url(api, alice)}/0")  # a marker behind them: once it is stored, they would be too
    assert [r["exit_code"] for r in finished_runs(api, alice)] == [0]


def test_bobs_key_reports_only_into_bobs_runs(api, alice):
    bob = sign_up(api, "bob")
    alice_url, bob_url = ping_url(api, alice), ping_url(api, bob)
    assert alice_url != bob_url
    rid = str(uuid.uuid4())
    api.get(f"{bob_url}/start", params={"rid": rid})
    api.get(f"{bob_url}/fail", params={"rid": rid})
    assert [r["run_id"] for r in finished_runs(api, bob)] == [rid]
    assert runs(api, alice) == []
    assert api.get(f"/api/runs/{rid}", headers=alice.headers).status_code == 404


def test_a_job_removed_from_git_stops_answering_at_once_though_its_key_was_just_used(api, alice):
    url = ping_url(api, alice)
    assert api.get(url).status_code == 200  # the key is now resolved and kept (an hour)
    job = api.get(f"/api/jobs/{JOB}", headers=alice.headers).json()
    deleted = api.delete(f"/api/jobs/{JOB}", params={"base_commit": job["commit"]}, headers=alice.headers)
    assert deleted.status_code == 200
    # The sync's announcement reaches the gateway a moment later; the kept key would last an hour.
    assert wait_until(lambda: api.get(url).status_code == 404, timeout=10)


def test_every_documented_ping_url_is_answered_by_its_plain_route() -> None:
    """The FastAPI routes document the ping URLs; the plain routes in front answer them. Neither
    may have a URL or a method the other lacks."""
    documented: dict[str, set[str]] = {}
    for route in pings.router.routes:
        assert isinstance(route, APIRoute)
        documented.setdefault(route.path, set()).update(route.methods)
    answering = {route.path: set(route.methods or ()) for route in pings.routes}
    assert answering == documented
