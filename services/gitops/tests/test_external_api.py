"""An external repository (served over smart HTTP on loopback, which this stack's settings allow)
mirrored by the gitops service, and push webhooks in each Git host's format."""

import asyncio
import hashlib
import hmac
import json
import uuid

import nats
import pytest

from crontopus_gitops import repo, service
from crontopus_gitops.models import Repository
from crontopus_schemas.gitops import ManifestsChanged
from crontopus_schemas.subjects import GITOPS_STREAM, manifests_changed_subject
from crontopus_server.testing import refusal, sign_up, wait_until

JOB = """\
apiVersion: crontopus.io/v1
kind: Job
metadata: {{name: {name}, namespace: ops}}
spec: {{schedule: "0 * * * *", command: /bin/true}}
"""
AUTHOR = ("Upstream", "upstream@example.com")


@pytest.fixture
def database_backend():
    return "sqlite"  # the Git side is what is tested here; the index is covered on both backends elsewhere


@pytest.fixture
def stack_env(stack_env):
    # The Git host of these tests is http:// on loopback: allowed here, refused by default.
    return {**stack_env, "CRONTOPUS_GITOPS_POLL_SECONDS": "0.5", "CRONTOPUS_GITOPS_ALLOW_HTTP": "1",
            "CRONTOPUS_ALLOW_PRIVATE_NETWORKS": "1"}  # fmt: skip


@pytest.fixture
def upstream(git_http):
    path = git_http.root / "jobs.git"
    repo.init_bare(path)
    repo.commit_files(path, branch="main", changes={"ops/first.yaml": JOB.format(name="first")},
                      author=AUTHOR, message="first", expected_head=None)  # fmt: skip
    return path


@pytest.fixture
def upstream_url(git_http, upstream):
    return git_http.url(upstream.name)


def push_upstream(upstream, name: str) -> str:
    head = repo.head(upstream, branch="main")
    return repo.commit_files(upstream, branch="main", changes={f"ops/{name}.yaml": JOB.format(name=name)},
                             author=AUTHOR, message=f"add {name}", expected_head=head)  # fmt: skip


def push_payload(after: str) -> bytes:
    payload = {"ref": "refs/heads/main", "before": "0" * 40, "after": after, "commits": [],
               "pusher": {"name": "upstream", "login": "upstream"},
               "user_username": "upstream", "object_kind": "push", "total_commits_count": 1}  # fmt: skip
    return json.dumps(payload).encode()


def github_headers(secret: str, body: bytes, delivery: str | None = None) -> dict:
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-Hub-Signature-256": signature, "Content-Type": "application/json"}  # fmt: skip


def connect(api, account, url: str, **extra) -> dict:
    response = api.put("/api/gitops/repository", headers=account.headers, json={"url": url, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def job_names(api, account) -> set[str]:
    return {job["name"] for job in api.get("/api/jobs", headers=account.headers).json()["jobs"]}


def test_an_external_repository_over_http_replaces_the_examples(api, upstream_url):
    alice = sign_up(api, "alice")
    connected = connect(api, alice, upstream_url)
    assert connected["kind"] == "external" and len(connected["webhook_secret"]) >= 32
    assert connected["webhook_url"].endswith(f"/api/gitops/webhooks/{tenant_of(api, alice)}")
    assert job_names(api, alice) == {"first"}
    shown = api.get("/api/gitops/repository", headers=alice.headers).json()
    assert connected["webhook_secret"] not in json.dumps(shown) and "…" in shown["webhook_secret"]
    assert len(shown["webhook_secret"].replace("…", "")) == 4  # of 43 characters


def test_a_github_webhook_syncs_the_pushed_commit_and_a_replay_is_ignored(api, upstream, upstream_url):
    alice = sign_up(api, "alice")
    connected = connect(api, alice, upstream_url)
    sha = push_upstream(upstream, "second")
    body = push_payload(sha)
    headers = github_headers(connected["webhook_secret"], body, delivery="delivery-1")
    response = api.post(_path(connected), content=body, headers=headers)
    assert response.status_code == 202 and response.json() == {"status": "synced", "commit": sha, "detail": None}
    assert job_names(api, alice) == {"first", "second"}
    again = api.post(_path(connected), content=body, headers=headers)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"


def test_a_push_whose_sync_fails_is_refused_so_the_hosts_redelivery_is_synced(api, upstream, upstream_url):
    alice = sign_up(api, "alice")
    connected = connect(api, alice, upstream_url)
    sha = push_upstream(upstream, "second")
    body = push_payload(sha)
    headers = github_headers(connected["webhook_secret"], body, delivery="delivery-1")
    moved = upstream.rename(upstream.with_name("moved.git"))  # the Git host answers 404 for a while
    failed = api.post(_path(connected), content=body, headers=headers)
    assert failed.status_code == 503, failed.text
    assert failed.json()["detail"].startswith("the push was received but the repository could not be synced: ")
    assert job_names(api, alice) == {"first"}
    moved.rename(upstream)
    redelivered = api.post(_path(connected), content=body, headers=headers)
    assert redelivered.status_code == 202 and redelivered.json()["commit"] == sha, redelivered.text
    assert job_names(api, alice) == {"first", "second"}
    assert api.post(_path(connected), content=body, headers=headers).json()["status"] == "duplicate"


@pytest.mark.parametrize("host", ["gitea", "forgejo", "gitlab"])
def test_gitea_forgejo_and_gitlab_webhooks_are_verified_their_way(api, upstream, upstream_url, host):
    alice = sign_up(api, "alice")
    connected = connect(api, alice, upstream_url)
    secret = connected["webhook_secret"]
    sha = push_upstream(upstream, "second")
    body = push_payload(sha)
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "gitea": {"X-Gitea-Event": "push", "X-Gitea-Delivery": "d1", "X-Gitea-Signature": digest},
        "forgejo": {"X-Forgejo-Event": "push", "X-Forgejo-Delivery": "d1", "X-Forgejo-Signature": digest,
                    "X-Gitea-Event": "push", "X-Gitea-Signature": digest},
        "gitlab": {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "d1", "X-Gitlab-Token": secret},
    }[host]  # fmt: skip
    response = api.post(_path(connected), content=body, headers=headers)
    assert response.status_code == 202, response.text
    assert job_names(api, alice) == {"first", "second"}


def test_a_wrong_or_missing_signature_is_401(api, upstream, upstream_url):
    alice = sign_up(api, "alice")
    connected = connect(api, alice, upstream_url)
    body = push_payload(push_upstream(upstream, "second"))
    forged = api.post(_path(connected), content=body, headers=github_headers("not-the-secret-at-all", body))
    missing = api.post(_path(connected), content=body, headers={"X-GitHub-Event": "push"})
    assert (forged.status_code, missing.status_code) == (401, 401)
    assert connected["webhook_secret"] not in forged.text + missing.text


def test_without_a_webhook_the_timed_fetch_picks_up_a_push(api, upstream, upstream_url):
    alice = sign_up(api, "alice")
    connect(api, alice, upstream_url)
    push_upstream(upstream, "polled")
    wait_until(lambda: "polled" in job_names(api, alice), timeout=10)


def test_a_url_without_a_repository_is_a_clear_422_and_the_repository_stays(api, git_http):
    alice = sign_up(api, "alice")
    before = api.get("/api/gitops/repository", headers=alice.headers).json()
    response = api.put("/api/gitops/repository", headers=alice.headers, json={"url": git_http.url("nowhere.git")})
    assert refusal(response).startswith("url: cannot fetch branch 'main'")
    after = api.get("/api/gitops/repository", headers=alice.headers).json()
    assert (after["kind"], after["clone_url"]) == ("embedded", before["clone_url"])


def test_a_failed_connect_leaves_no_mirror_on_disk(api, stack, upstream_url, git_http):
    alice = sign_up(api, "alice")
    repos = stack.data_dir / "repos"
    before = sorted(path.name for path in repos.iterdir())
    for attempt in ({"url": git_http.url("nowhere.git")}, {"url": upstream_url, "branch": "nope"}):
        response = api.put("/api/gitops/repository", headers=alice.headers, json=attempt)
        assert refusal(response).startswith("url: cannot fetch branch"), attempt
    assert sorted(path.name for path in repos.iterdir()) == before
    leftover = repos / f"{tenant_of(api, alice)}.external.git"  # as failed attempts left it before
    repo.init_bare(leftover)
    response = api.put("/api/gitops/repository", headers=alice.headers, json={"url": git_http.url("nowhere.git")})
    assert response.status_code == 422 and not leftover.exists()


def test_a_failed_switch_to_another_url_keeps_the_connected_repository_syncing(
    api, stack, upstream, upstream_url, git_http
):
    alice = sign_up(api, "alice")
    connect(api, alice, upstream_url)
    for attempt in ({"url": git_http.url("nowhere.git")}, {"url": upstream_url, "branch": "nope"}):
        response = api.put("/api/gitops/repository", headers=alice.headers, json=attempt)
        assert refusal(response).startswith("url: cannot fetch branch"), attempt
    shown = api.get("/api/gitops/repository", headers=alice.headers).json()
    assert (shown["kind"], shown["clone_url"], shown["branch"]) == ("external", upstream_url, "main")
    assert (stack.data_dir / "repos" / f"{tenant_of(api, alice)}.external.git").is_dir()
    push_upstream(upstream, "second")
    wait_until(lambda: job_names(api, alice) == {"first", "second"}, timeout=10)


def test_credentials_are_stored_but_never_shown(api, upstream, upstream_url):
    alice = sign_up(api, "alice")
    connect(api, alice, upstream_url, credentials={"kind": "token", "token": "glpat-very-secret-token"})
    shown = api.get("/api/gitops/repository", headers=alice.headers).json()
    assert shown["credentials"] == "token" and "very-secret" not in json.dumps(shown)


def test_bob_cannot_use_or_reach_alices_webhook_or_repository(api, upstream, upstream_url):
    alice, bob = sign_up(api, "alice"), sign_up(api, "bob")
    connected = connect(api, alice, upstream_url)
    bobs = connect(api, bob, upstream_url)  # bob's own secret
    body = push_payload(push_upstream(upstream, "second"))
    assert (
        api.post(_path(connected), content=body, headers=github_headers(bobs["webhook_secret"], body)).status_code
        == 401
    )
    carol = sign_up(api, "carol")  # embedded repository: no webhook at all
    carol_tenant = tenant_of(api, carol)
    assert (
        api.post(
            f"/api/gitops/webhooks/{carol_tenant}", content=body, headers=github_headers("x" * 32, body)
        ).status_code
        == 404
    )
    assert api.put("/api/gitops/repository", json={"url": upstream_url}).status_code == 401


def _path(connected: dict) -> str:
    return "/" + connected["webhook_url"].split("/", 3)[3]


def tenant_of(api, account) -> str:
    return api.get("/api/auth/me", headers=account.headers).json()["tenant_id"]


def test_the_sync_event_tells_agents_where_the_repository_now_is(api, upstream, upstream_url, nats_server):
    alice = sign_up(api, "alice")
    connect(api, alice, upstream_url, folder="ops")
    event = asyncio.run(_last_event(nats_server.url, manifests_changed_subject(tenant_of(api, alice))))
    assert event.repository is not None
    assert (event.repository.clone_url, event.repository.branch, event.repository.folder) == (
        upstream_url,
        "main",
        "ops",
    )


def test_a_misspelt_field_is_refused_and_path_still_names_the_folder(api, upstream, upstream_url):
    alice = sign_up(api, "alice")
    typo = api.put("/api/gitops/repository", headers=alice.headers, json={"url": upstream_url, "fodler": "ops"})
    assert typo.status_code == 422 and "fodler" in typo.text
    assert api.get("/api/gitops/repository", headers=alice.headers).json()["kind"] == "embedded"
    assert connect(api, alice, upstream_url, path="ops")["folder"] == "ops"


def test_agents_are_never_told_a_password_in_the_clone_url():
    row = Repository(
        tenant_id="t", kind="external", path="/var/mirror", url="https://robot:s3cret@git.example.com/j.git"
    )
    assert service.clone_url(row) == "https://robot@git.example.com/j.git"
    assert service.clone_url(Repository(tenant_id="t", path="/srv/repos/t.git")) == "/srv/repos/t.git"


async def _last_event(nats_url: str, subject: str) -> ManifestsChanged:
    nc = await nats.connect(nats_url)
    try:
        message = await nc.jetstream().get_last_msg(GITOPS_STREAM.name, subject)
    finally:
        await nc.close()
    return ManifestsChanged.model_validate_json(message.data)
