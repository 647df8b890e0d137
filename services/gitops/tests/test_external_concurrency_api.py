"""A Git host that accepts a request and never answers holds up its own team for at most the
configured time, and no other team at all."""

import hashlib
import hmac
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from crontopus_gitops import repo
from crontopus_gitops.remotes import PRIVATE
from crontopus_server.testing import refusal, sign_up, wait_until

JOB = """\
apiVersion: crontopus.io/v1
kind: Job
metadata: {{name: {name}, namespace: ops}}
spec: {{schedule: "@daily", command: /bin/true}}
"""
AUTHOR = ("Upstream", "upstream@example.com")
CONNECT_TIMEOUT = 4


@pytest.fixture
def database_backend():
    return "sqlite"


@pytest.fixture
def stack_env(stack_env):
    return {
        **stack_env,
        "CRONTOPUS_GITOPS_ALLOW_HTTP": "1",
        "CRONTOPUS_ALLOW_PRIVATE_NETWORKS": "1",  # the Git host is on loopback
        "CRONTOPUS_GITOPS_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
        "CRONTOPUS_GITOPS_FETCH_TIMEOUT": "6",
        "CRONTOPUS_GITOPS_POLL_SECONDS": "600",  # only webhooks here
        "CRONTOPUS_GATEWAY_RPC_TIMEOUT": "3",  # shorter than a hanging fetch
    }


def commit(root, name: str, job: str) -> str:
    path = root / name
    repo.init_bare(path)
    head = repo.head(path, branch="main")
    return repo.commit_files(path, branch="main", changes={f"ops/{job}.yaml": JOB.format(name=job)}, author=AUTHOR,
                             message=job, expected_head=head)  # fmt: skip


def connect(api, account, url: str) -> dict:
    response = api.put("/api/gitops/repository", headers=account.headers, json={"url": url})
    assert response.status_code == 200, response.text
    return response.json()


def webhook(client, connected: dict, sha: str):
    body = json.dumps({"ref": "refs/heads/main", "before": "0" * 40, "after": sha, "commits": []}).encode()
    signature = "sha256=" + hmac.new(connected["webhook_secret"].encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": signature}
    return client.post("/" + connected["webhook_url"].split("/", 3)[3], content=body, headers=headers)


def names(api, account) -> set[str]:
    return {job["name"] for job in api.get("/api/jobs", headers=account.headers).json()["jobs"]}


def test_a_team_whose_git_host_hangs_holds_up_no_other_team(api, stack, git_http):
    commit(git_http.root, "alice.git", "a1")
    commit(git_http.root, "bob.git", "b1")
    commit(git_http.root, "bob-next.git", "n1")
    alice, bob = sign_up(api, "alice"), sign_up(api, "bob")
    alices, bobs = connect(api, alice, git_http.url("alice.git")), connect(api, bob, git_http.url("bob.git"))

    with git_http.hanging("alice.git"), ThreadPoolExecutor(1) as background, stack.client() as other:
        seen = len(git_http.requests)
        hanging = background.submit(webhook, other, alices, commit(git_http.root, "alice.git", "a2"))
        wait_until(lambda: any(path.startswith("/alice.git") for path in git_http.requests[seen:]))
        started = time.monotonic()

        synced = webhook(api, bobs, commit(git_http.root, "bob.git", "b2"))
        assert synced.status_code == 202 and synced.json()["status"] == "synced"
        assert names(api, bob) == {"b1", "b2"}
        assert api.get("/api/gitops/repository", headers=alice.headers).status_code == 200
        assert connect(api, bob, git_http.url("bob-next.git"))["clone_url"].endswith("/bob-next.git")

        assert time.monotonic() - started < CONNECT_TIMEOUT - 1  # all of it while alice's host hung
        assert not hanging.done()

        def alices_error():
            return api.get("/api/gitops/repository", headers=alice.headers).json()["last_error"]

        assert wait_until(alices_error, timeout=10).endswith(PRIVATE)  # her sync ended by its bound
        assert names(api, alice) == {"a1"}


def test_connecting_a_host_that_hangs_answers_with_its_error_not_the_gateways_timeout(api, git_http):
    """The first fetch may take longer than the gateway's usual RPC timeout; the user still gets
    the fetch's own answer (a 422 saying it failed), not a 503 while it goes on."""
    commit(git_http.root, "jobs.git", "j1")
    alice = sign_up(api, "alice")
    started = time.monotonic()
    with git_http.hanging("jobs.git"):
        response = api.put(
            "/api/gitops/repository", headers=alice.headers, json={"url": git_http.url("jobs.git")}, timeout=20
        )
    assert refusal(response).startswith("url: cannot fetch branch 'main'")
    assert CONNECT_TIMEOUT - 0.5 < time.monotonic() - started < CONNECT_TIMEOUT + 4
    assert api.get("/api/gitops/repository", headers=alice.headers).json()["kind"] == "embedded"


def test_a_job_edit_whose_push_hangs_answers_with_the_push_error_not_the_gateways_timeout(api, git_http):
    """An edit of an external repository is pushed before it answers; the user learns what the
    push did, not that the gateway stopped waiting while it went on."""
    commit(git_http.root, "jobs.git", "j1")
    alice = sign_up(api, "alice")
    connect(api, alice, git_http.url("jobs.git"))
    with git_http.hanging("jobs.git"):
        response = api.post("/api/jobs", headers=alice.headers, json={"manifest": JOB.format(name="j2")}, timeout=30)
    assert response.status_code == 503, response.text
    assert "did not answer within" not in response.json()["detail"]
    assert "jobs.git" in response.json()["detail"]
    assert names(api, alice) == {"j1"}
