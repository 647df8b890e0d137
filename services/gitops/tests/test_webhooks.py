"""Push webhooks from GitHub, Gitea, Forgejo and GitLab: signatures, event kinds, payloads, replays."""

import hashlib
import hmac
import json

import pytest

from crontopus_gitops.webhooks import (
    InvalidPayload,
    InvalidSignature,
    PushEvent,
    ReplayGuard,
    delivery_id,
    event_kind,
    parse_push,
    verify,
)

SECRET = "s3cr3t-webhook-key"
ZERO = "0" * 40
BEFORE = "28e1879d029cb852e4844d9c718537df08844e03"
AFTER = "bffeb74224043ba2feb48d137756c8a9331c449a"

# GitHub's published example from "Validating webhook deliveries".
GITHUB_DOC_SECRET = "It's a Secret to Everybody"
GITHUB_DOC_BODY = b"Hello, World!"
GITHUB_DOC_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def hex_hmac(body: bytes, secret: str = SECRET) -> str:
    """What Gitea and Forgejo document: the hex HMAC-SHA256 of the raw body keyed with the secret."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def dump(payload: dict) -> bytes:
    return json.dumps(payload).encode()


def github_headers(body: bytes, event: str = "push", secret: str = SECRET) -> dict[str, str]:
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-GitHub-Hook-ID": "292430182",
        "X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest(),
        "X-Hub-Signature-256": "sha256=" + hex_hmac(body, secret),
        "User-Agent": "GitHub-Hookshot/044aadd",
        "Content-Type": "application/json",
    }


def gitea_headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    # Gitea also sends GitHub- and Gogs-style headers for compatibility.
    signature = hex_hmac(body, secret)
    return {
        "X-Gitea-Event": "push",
        "X-Gitea-Event-Type": "push",
        "X-Gitea-Delivery": "f6266f16-1bf3-46a5-9ea4-602e06ead473",
        "X-Gitea-Signature": signature,
        "X-Gogs-Event": "push",
        "X-Gogs-Delivery": "f6266f16-1bf3-46a5-9ea4-602e06ead473",
        "X-Gogs-Signature": signature,
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "f6266f16-1bf3-46a5-9ea4-602e06ead473",
        "X-Hub-Signature-256": "sha256=" + signature,
        "Content-Type": "application/json",
    }


def forgejo_headers(body: bytes, secret: str = SECRET) -> dict[str, str]:
    signature = hex_hmac(body, secret)
    return {
        "X-Forgejo-Event": "push",
        "X-Forgejo-Event-Type": "push",
        "X-Forgejo-Delivery": "0b6f2c9e-5a6e-4a8a-9d2f-7f0c2c1f4b11",
        "X-Forgejo-Signature": signature,
        **gitea_headers(body, secret),
    }


def gitlab_headers(token: str | None = SECRET, event: str = "Push Hook") -> dict[str, str]:
    headers = {
        "X-Gitlab-Event": event,
        "X-Gitlab-Event-UUID": "13792a34-cac6-4fda-95a8-c58e00a3954e",
        "X-Gitlab-Webhook-UUID": "0f7d4a4b-3c7c-4f1a-9a1e-2d7f0b6c9c11",
        "X-Gitlab-Instance": "https://gitlab.example.com",
        "Content-Type": "application/json",
    }
    if token is not None:
        headers["X-Gitlab-Token"] = token
    return headers


def lowercase(headers: dict[str, str]) -> dict[str, str]:
    """How ASGI servers hand headers over."""
    return {name.lower(): value for name, value in headers.items()}


def github_push(**overrides) -> dict:
    commit = {
        "id": AFTER,
        "tree_id": "f9d2a07e9488b91af2641b26b9407fe22a451433",
        "distinct": True,
        "message": "Run the backup at 03:00",
        "timestamp": "2024-05-02T10:11:12+02:00",
        "url": f"https://github.com/alice/jobs/commit/{AFTER}",
        "author": {"name": "Alice", "email": "alice@example.com", "username": "alice"},
        "committer": {"name": "Alice", "email": "alice@example.com", "username": "alice"},
        "added": [],
        "removed": [],
        "modified": ["jobs/backup.yaml"],
    }
    payload = {
        "ref": "refs/heads/main",
        "before": BEFORE,
        "after": AFTER,
        "repository": {"id": 1296269, "name": "jobs", "full_name": "alice/jobs", "default_branch": "main"},
        "pusher": {"name": "alice", "email": "alice@example.com"},
        "sender": {"login": "alice", "id": 1},
        "created": False,
        "deleted": False,
        "forced": False,
        "base_ref": None,
        "compare": f"https://github.com/alice/jobs/compare/{BEFORE[:12]}...{AFTER[:12]}",
        "commits": [commit],
        "head_commit": commit,
    }
    return payload | overrides


def gitea_push(**overrides) -> dict:
    user = {
        "id": 1,
        "login": "bob",
        "full_name": "Bob",
        "email": "bob@example.com",
        "avatar_url": "https://git.example.com/avatars/1",
        "username": "bob",
    }
    commit = {
        "id": AFTER,
        "message": "Add nightly report job\n",
        "url": f"https://git.example.com/bob/jobs/commit/{AFTER}",
        "author": {"name": "Bob", "email": "bob@example.com", "username": "bob"},
        "committer": {"name": "Bob", "email": "bob@example.com", "username": "bob"},
        "verification": None,
        "timestamp": "2024-05-02T10:11:12+02:00",
        "added": ["jobs/report.yaml"],
        "removed": [],
        "modified": [],
    }
    payload = {
        "ref": "refs/heads/main",
        "before": BEFORE,
        "after": AFTER,
        "compare_url": f"https://git.example.com/bob/jobs/compare/{BEFORE}...{AFTER}",
        "commits": [commit],
        "total_commits": 1,
        "head_commit": commit,
        "repository": {"id": 140, "owner": user, "name": "jobs", "full_name": "bob/jobs", "default_branch": "main"},
        "pusher": user,
        "sender": user,
    }
    return payload | overrides


def gitlab_push(**overrides) -> dict:
    commit = {
        "id": AFTER,
        "message": "Move the cleanup job to Sundays\n",
        "title": "Move the cleanup job to Sundays",
        "timestamp": "2024-05-02T10:11:12+02:00",
        "url": f"https://gitlab.example.com/carol/jobs/-/commit/{AFTER}",
        "author": {"name": "Carol", "email": "carol@example.com"},
        "added": [],
        "modified": ["jobs/cleanup.yaml"],
        "removed": [],
    }
    payload = {
        "object_kind": "push",
        "event_name": "push",
        "before": BEFORE,
        "after": AFTER,
        "ref": "refs/heads/main",
        "ref_protected": True,
        "checkout_sha": AFTER,
        "user_id": 4,
        "user_name": "Carol",
        "user_username": "carol",
        "user_email": "",
        "project_id": 15,
        "project": {"id": 15, "name": "jobs", "path_with_namespace": "carol/jobs", "default_branch": "main"},
        "commits": [commit],
        "total_commits_count": 1,
        "repository": {"name": "jobs", "homepage": "https://gitlab.example.com/carol/jobs"},
    }
    return payload | overrides


# --- GitHub signatures -----------------------------------------------------------------------------


def test_it_accepts_githubs_published_example_signature():
    headers = {"X-Hub-Signature-256": GITHUB_DOC_SIGNATURE, "X-GitHub-Event": "push"}
    assert verify(headers=headers, body=GITHUB_DOC_BODY, secret=GITHUB_DOC_SECRET) == "github"


def test_it_rejects_githubs_example_when_the_body_was_tampered_with():
    headers = {"X-Hub-Signature-256": GITHUB_DOC_SIGNATURE, "X-GitHub-Event": "push"}
    with pytest.raises(InvalidSignature, match="X-Hub-Signature-256 does not match"):
        verify(headers=headers, body=b"Hello, World?", secret=GITHUB_DOC_SECRET)


def test_it_rejects_githubs_example_with_the_wrong_secret():
    headers = {"X-Hub-Signature-256": GITHUB_DOC_SIGNATURE, "X-GitHub-Event": "push"}
    with pytest.raises(InvalidSignature):
        verify(headers=headers, body=GITHUB_DOC_BODY, secret="It's a Secret to Nobody")


def test_it_rejects_a_bare_hex_digest_without_the_sha256_prefix_from_github():
    headers = {"X-Hub-Signature-256": GITHUB_DOC_SIGNATURE.removeprefix("sha256="), "X-GitHub-Event": "push"}
    with pytest.raises(InvalidSignature):
        verify(headers=headers, body=GITHUB_DOC_BODY, secret=GITHUB_DOC_SECRET)


def test_it_ignores_the_legacy_sha1_header_from_github():
    body = dump(github_push())
    headers = github_headers(body)
    del headers["X-Hub-Signature-256"]
    with pytest.raises(InvalidSignature, match="missing X-Hub-Signature-256"):
        verify(headers=headers, body=body, secret=SECRET)


def test_it_verifies_a_real_github_push_with_lowercase_header_names():
    body = dump(github_push())
    assert verify(headers=lowercase(github_headers(body)), body=body, secret=SECRET) == "github"


# --- Gitea and Forgejo signatures ------------------------------------------------------------------


def test_it_verifies_a_gitea_push_signed_as_gitea_documents():
    body = dump(gitea_push())
    assert verify(headers=gitea_headers(body), body=body, secret=SECRET) == "gitea"


@pytest.mark.parametrize("name", ["x-gitea-signature", "X-GITEA-SIGNATURE", "x-Gitea-sIgnature"])
def test_it_finds_the_gitea_signature_whatever_the_header_case(name):
    body = dump(gitea_push())
    headers = {name: hex_hmac(body), "x-gitea-event": "push"}
    assert verify(headers=headers, body=body, secret=SECRET) == "gitea"


def test_it_accepts_an_uppercase_hex_signature():
    body = dump(gitea_push())
    headers = {"X-Gitea-Signature": hex_hmac(body).upper(), "X-Gitea-Event": "push"}
    assert verify(headers=headers, body=body, secret=SECRET) == "gitea"


def test_it_rejects_a_gitea_push_signed_with_another_secret():
    body = dump(gitea_push())
    with pytest.raises(InvalidSignature, match="X-Gitea-Signature does not match"):
        verify(headers=gitea_headers(body, secret="someone-elses"), body=body, secret=SECRET)


def test_it_rejects_a_gitea_delivery_without_a_signature():
    body = dump(gitea_push())
    with pytest.raises(InvalidSignature, match="missing X-Gitea-Signature header"):
        verify(headers={"X-Gitea-Event": "push", "X-Gitea-Delivery": "abc"}, body=body, secret=SECRET)


def test_it_recognises_forgejo_although_it_also_sends_gitea_and_github_headers():
    body = dump(gitea_push())
    assert verify(headers=lowercase(forgejo_headers(body)), body=body, secret=SECRET) == "forgejo"


def test_it_checks_forgejos_own_signature_rather_than_the_gitea_one():
    body = dump(gitea_push())
    headers = forgejo_headers(body) | {"X-Forgejo-Signature": hex_hmac(body, "wrong")}
    with pytest.raises(InvalidSignature, match="X-Forgejo-Signature"):
        verify(headers=headers, body=body, secret=SECRET)


def test_it_accepts_a_forgejo_instance_configured_as_gitea():
    body = dump(gitea_push())
    assert verify(headers=forgejo_headers(body), body=body, secret=SECRET, expected="gitea") == "gitea"


# --- GitLab tokens ---------------------------------------------------------------------------------


def test_it_accepts_gitlab_when_the_token_is_the_secret():
    assert verify(headers=gitlab_headers(), body=dump(gitlab_push()), secret=SECRET) == "gitlab"


def test_it_rejects_gitlab_with_a_wrong_token():
    with pytest.raises(InvalidSignature, match="X-Gitlab-Token does not match"):
        verify(headers=gitlab_headers(token=SECRET + "x"), body=dump(gitlab_push()), secret=SECRET)


def test_it_rejects_gitlab_without_a_token():
    with pytest.raises(InvalidSignature, match="missing X-Gitlab-Token"):
        verify(headers=gitlab_headers(token=None), body=dump(gitlab_push()), secret=SECRET)


def test_it_refuses_the_gitlab_token_scheme_for_a_repository_hosted_on_github():
    # The token scheme is weaker; a request must not be able to choose it for a GitHub repository.
    with pytest.raises(InvalidSignature, match="missing X-Hub-Signature-256"):
        verify(headers=gitlab_headers(), body=dump(gitlab_push()), secret=SECRET, expected="github")


# --- what every provider shares --------------------------------------------------------------------


def test_it_rejects_a_request_from_no_known_provider():
    with pytest.raises(InvalidSignature, match="no webhook signature header: expected one of") as caught:
        verify(headers={"Content-Type": "application/json"}, body=b"{}", secret=SECRET)
    assert "X-Hub-Signature-256" in str(caught.value)
    assert "X-Gitlab-Token" in str(caught.value)


@pytest.mark.parametrize(
    "provider, header, value",
    [
        ("github", "X-Hub-Signature-256", "sha256=not-hex-at-all"),
        ("github", "X-Hub-Signature-256", "sha256=" + "é" * 64),
        ("github", "X-Hub-Signature-256", "sha256="),
        ("github", "X-Hub-Signature-256", "sha256=" + "ab" * 10_000),
        ("github", "X-Hub-Signature-256", "sha256=\ud800"),
        ("gitea", "X-Gitea-Signature", "zz"),
        ("gitea", "X-Gitea-Signature", "ü" * 64),
        ("forgejo", "X-Forgejo-Signature", "0x" + "0" * 62),
        ("gitlab", "X-Gitlab-Token", "ünïcödé"),
        ("gitlab", "X-Gitlab-Token", "   "),
    ],
)
def test_it_answers_a_malformed_signature_with_invalid_signature_only(provider, header, value):
    body = dump(github_push())
    with pytest.raises(InvalidSignature):
        verify(headers={header: value}, body=body, secret=SECRET, expected=provider)


def test_it_never_reveals_the_secret_or_the_expected_digest_in_its_message():
    body = dump(github_push())
    headers = {"X-Hub-Signature-256": "sha256=" + "0" * 64}
    with pytest.raises(InvalidSignature) as caught:
        verify(headers=headers, body=body, secret=SECRET)
    message = str(caught.value)
    assert SECRET not in message
    assert hex_hmac(body) not in message


def test_it_refuses_to_verify_with_an_empty_secret():
    body = b"{}"
    headers = {"X-Hub-Signature-256": "sha256=" + hex_hmac(body, "")}
    with pytest.raises(ValueError, match="secret must not be empty"):
        verify(headers=headers, body=body, secret="")


def test_it_uses_the_compare_digest_of_the_standard_library(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    body = dump(gitea_push())
    verify(headers=gitea_headers(body), body=body, secret=SECRET)
    verify(headers=gitlab_headers(), body=body, secret=SECRET)
    assert len(calls) == 2


# --- delivery ids and event kinds ------------------------------------------------------------------


def test_it_reads_each_providers_delivery_id():
    body = b"{}"
    assert delivery_id(lowercase(github_headers(body)), "github") == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert delivery_id(gitea_headers(body), "gitea") == "f6266f16-1bf3-46a5-9ea4-602e06ead473"
    assert delivery_id(forgejo_headers(body), "forgejo") == "0b6f2c9e-5a6e-4a8a-9d2f-7f0c2c1f4b11"
    assert delivery_id(gitlab_headers(), "gitlab") == "13792a34-cac6-4fda-95a8-c58e00a3954e"


def test_it_falls_back_to_gitlabs_idempotency_key():
    assert delivery_id({"idempotency-key": "f5b7c1d2"}, "gitlab") == "f5b7c1d2"


def test_it_has_no_delivery_id_when_the_header_is_absent():
    assert delivery_id({"X-GitHub-Event": "push"}, "github") is None


@pytest.mark.parametrize(
    "provider, headers, kind",
    [
        ("github", {"x-github-event": "push"}, "push"),
        ("github", {"X-GitHub-Event": "ping"}, "ping"),
        ("github", {"X-GitHub-Event": "pull_request"}, "other"),
        ("github", {}, "other"),
        ("gitea", {"X-Gitea-Event": "push"}, "push"),
        ("gitea", {"X-Gitea-Event": "create"}, "other"),
        ("forgejo", {"X-Forgejo-Event": "push", "X-Gitea-Event": "issues"}, "push"),
        ("gitlab", {"X-Gitlab-Event": "Push Hook"}, "push"),
        ("gitlab", {"x-gitlab-event": "Tag Push Hook"}, "push"),
        ("gitlab", {"X-Gitlab-Event": "Merge Request Hook"}, "other"),
    ],
)
def test_it_tells_pushes_and_pings_from_other_events(provider, headers, kind):
    assert event_kind(headers, provider) == kind


# --- push payloads ---------------------------------------------------------------------------------


def test_it_reads_a_github_branch_push():
    event = parse_push(dump(github_push()), "github")
    assert event == PushEvent(
        ref="refs/heads/main", before=BEFORE, after=AFTER, branch="main", pusher="alice", commits=1
    )


def test_it_reads_a_gitea_branch_push():
    event = parse_push(dump(gitea_push()), "gitea")
    assert (event.branch, event.pusher, event.commits, event.deleted) == ("main", "bob", 1, False)


def test_it_reads_a_forgejo_push_in_the_gitea_format():
    event = parse_push(dump(gitea_push(ref="refs/heads/release/2.0")), "forgejo")
    assert (event.branch, event.pusher, event.after) == ("release/2.0", "bob", AFTER)


def test_it_reads_a_gitlab_branch_push():
    event = parse_push(dump(gitlab_push()), "gitlab")
    assert event == PushEvent(
        ref="refs/heads/main", before=BEFORE, after=AFTER, branch="main", pusher="carol", commits=1
    )


def test_it_counts_all_commits_when_gitlab_lists_only_the_first_twenty():
    payload = gitlab_push(commits=gitlab_push()["commits"] * 20, total_commits_count=57)
    assert parse_push(dump(payload), "gitlab").commits == 57


def test_it_counts_all_commits_when_gitea_truncates_the_list():
    assert parse_push(dump(gitea_push(total_commits=12)), "gitea").commits == 12


def test_it_recognises_a_github_branch_deletion():
    payload = github_push(after=ZERO, deleted=True, commits=[], head_commit=None)
    event = parse_push(dump(payload), "github")
    assert event.deleted
    assert (event.branch, event.commits) == ("main", 0)


def test_it_recognises_a_gitlab_branch_deletion_by_the_zero_sha():
    payload = gitlab_push(after=ZERO, checkout_sha=None, commits=[], total_commits_count=0)
    assert parse_push(dump(payload), "gitlab").deleted


def test_it_recognises_a_deletion_in_a_sha256_repository():
    assert parse_push(dump(gitea_push(after="0" * 64, commits=[], total_commits=0)), "gitea").deleted


def test_it_reports_no_before_when_a_branch_is_created():
    event = parse_push(dump(github_push(before=ZERO, created=True)), "github")
    assert event.before is None
    assert not event.deleted


def test_it_recognises_a_github_tag_push():
    event = parse_push(dump(github_push(ref="refs/tags/v1.2.0", base_ref="refs/heads/main")), "github")
    assert (event.tag, event.branch) == ("v1.2.0", None)


def test_it_recognises_a_gitlab_tag_push():
    payload = gitlab_push(object_kind="tag_push", event_name="tag_push", ref="refs/tags/v1.2.0")
    event = parse_push(dump(payload), "gitlab")
    assert (event.tag, event.branch, event.pusher) == ("v1.2.0", None, "carol")


def test_it_refuses_a_gitlab_payload_that_is_not_a_push():
    payload = {"object_kind": "merge_request", "user": {"username": "carol"}}
    with pytest.raises(InvalidPayload, match="object_kind is 'merge_request'"):
        parse_push(dump(payload), "gitlab")


def test_it_verifies_a_github_ping_and_refuses_to_read_it_as_a_push():
    body = dump({"zen": "Design for failure.", "hook_id": 292430182, "hook": {"type": "Repository", "active": True}})
    headers = github_headers(body, event="ping")
    assert verify(headers=headers, body=body, secret=SECRET) == "github"
    assert event_kind(headers, "github") == "ping"
    with pytest.raises(InvalidPayload, match="'ref' is missing"):
        parse_push(body, "github")


def test_it_explains_where_a_body_stops_being_json():
    with pytest.raises(InvalidPayload, match=r"not valid JSON: Unterminated string .*\(line 1, column 9\)"):
        parse_push(b'{"ref": "x', "github")


@pytest.mark.parametrize("body", [b"\xff\xfe\xfa", b"[" * 100_000, b""])
def test_it_answers_garbage_with_invalid_payload(body):
    with pytest.raises(InvalidPayload, match="not valid JSON"):
        parse_push(body, "gitea")


def test_it_refuses_a_body_that_is_not_a_json_object():
    with pytest.raises(InvalidPayload, match="must be a JSON object, got list"):
        parse_push(b"[]", "github")


@pytest.mark.parametrize("after", [123, "", "--upload-pack=touch /tmp/pwned", AFTER[:39], AFTER.upper()])
def test_it_refuses_a_push_whose_after_is_not_a_commit_id(after):
    with pytest.raises(InvalidPayload, match="'after' must be a commit id"):
        parse_push(dump(github_push(after=after)), "github")


def test_it_refuses_a_push_whose_ref_is_not_a_full_ref_name():
    with pytest.raises(InvalidPayload, match="'ref' must be a full ref name"):
        parse_push(dump(gitea_push(ref="-main")), "gitea")


def test_it_accepts_a_push_without_before():
    payload = gitea_push()
    del payload["before"]
    assert parse_push(dump(payload), "gitea").before is None


def test_it_has_no_pusher_when_the_payload_names_none():
    assert parse_push(dump(github_push(pusher=None)), "github").pusher is None


# --- replay guard ----------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_it_reports_a_delivery_as_seen_the_second_time():
    guard = ReplayGuard()
    assert guard.seen("72d3162e") is False
    assert guard.seen("72d3162e") is True
    assert guard.seen("a-different-delivery") is False


def test_it_forgets_a_delivery_after_the_ttl():
    clock = FakeClock()
    guard = ReplayGuard(ttl_seconds=60, clock=clock)
    guard.seen("72d3162e")
    clock.now += 59
    assert guard.seen("72d3162e") is True
    clock.now += 2  # retries do not extend the first sighting's lifetime
    assert guard.seen("72d3162e") is False


def test_it_drops_expired_deliveries_from_memory():
    clock = FakeClock()
    guard = ReplayGuard(ttl_seconds=60, clock=clock)
    for n in range(100):
        guard.seen(f"delivery-{n}")
    clock.now += 61
    guard.seen("fresh")
    assert len(guard) == 1


def test_it_keeps_at_most_max_entries_evicting_the_oldest():
    guard = ReplayGuard(max_entries=3)
    for delivery in ("a", "b", "c", "d"):
        guard.seen(delivery)
    assert len(guard) == 3
    assert guard.seen("d") is True
    assert guard.seen("a") is False  # evicted, so it counts as new


def test_it_accepts_a_redelivery_after_a_failed_attempt_is_forgotten():
    guard = ReplayGuard()
    guard.seen("72d3162e")
    guard.forget("72d3162e")
    assert guard.seen("72d3162e") is False


def test_it_refuses_an_empty_delivery_id():
    with pytest.raises(ValueError, match="must not be empty"):
        ReplayGuard().seen("")
