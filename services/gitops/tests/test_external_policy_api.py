"""A team names its external repository's URL and the server connects there: with the default
settings nothing but a remote Git host on a public address is accepted, so no team can reach
another team's repository, the server's files or the server's network through it."""

import socket

import pytest

from crontopus_gitops import repo
from crontopus_server.testing import NIGHTLY_EXPORT, refusal, sign_up


@pytest.fixture
def database_backend():
    return "sqlite"  # the URL rule is tested here; the index is covered on both backends elsewhere


def tenant_of(api, account) -> str:
    return api.get("/api/auth/me", headers=account.headers).json()["tenant_id"]


def loopback_name() -> str | None:
    """A host name other than "localhost" that resolves to loopback here (the machine's own
    name usually does, through /etc/hosts)."""
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, None)}
    except OSError:
        return None
    return name if name != "localhost" and addresses and all(a.startswith("127.") for a in addresses) else None


def test_a_team_cannot_point_its_repository_at_another_teams_or_the_servers(api, stack):
    alice, bob = sign_up(api, "alice"), sign_up(api, "bob")
    bobs_path = stack.data_dir / "repos" / f"{tenant_of(api, bob)}.git"
    bobs_head = repo.head(bobs_path, branch="main")
    bobs_jobs = api.get("/api/jobs", headers=bob.headers).json()
    alices_before = api.get("/api/gitops/repository", headers=alice.headers).json()
    refused = {
        str(bobs_path): "local paths on the server are not accepted",
        f"file://{bobs_path}": "file:// names a path on the server",
        "git://127.0.0.1/repos/bob.git": "git:// has neither authentication nor encryption",
        f"root@localhost:{bobs_path}": f"write it as ssh://root@localhost/{str(bobs_path).lstrip('/')}",
        "http://git.example.com/team/jobs.git": "http:// is not accepted",
        "https://127.0.0.1/team/jobs.git": "127.0.0.1 is a loopback address",
        "https://[::1]:8443/team/jobs.git": "::1 is a loopback address",
        "https://localhost/team/jobs.git": "localhost (127.0.0.1) is a loopback address",
        "ssh://git@169.254.169.254/team/jobs.git": "169.254.169.254 is a link-local address",
        "https://10.1.2.3/team/jobs.git": "10.1.2.3 is a private address",
        "https://127.1/team/jobs.git": "not a valid IPv4 address",
    }
    if name := loopback_name():
        refused[f"https://{name}/team/jobs.git"] = f"{name} (127.0.0.1) is a loopback address"

    for url, reason in refused.items():
        response = api.put("/api/gitops/repository", headers=alice.headers, json={"url": url})
        detail = refusal(response)
        assert detail.startswith("url: ") and reason in detail, (url, detail)

    assert api.get("/api/gitops/repository", headers=alice.headers).json() == alices_before
    created = api.post("/api/jobs", headers=alice.headers, json={"manifest": NIGHTLY_EXPORT})
    assert created.status_code == 201, created.text  # into alice's own repository
    assert repo.head(bobs_path, branch="main") == bobs_head
    assert api.get("/api/jobs", headers=bob.headers).json() == bobs_jobs


def test_a_private_address_is_refused_naming_the_setting_that_would_allow_it(api):
    alice = sign_up(api, "alice")
    response = api.put("/api/gitops/repository", headers=alice.headers, json={"url": "https://10.0.0.7/jobs.git"})
    assert "CRONTOPUS_ALLOW_PRIVATE_NETWORKS" in refusal(response)
