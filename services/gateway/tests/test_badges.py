"""Public status badges through a live stack (the gateway, the alerting service over NATS): the
team's list of badge URLs, each badge's status as SVG and as shields.io's endpoint JSON without
sign-in, the same 404 for everything wrong with a URL, and rotating the key."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest

from crontopus_gateway import badge_svg
from crontopus_server.testing import Account, join_team, sign_up, wait_until

SVG_NS = "{http://www.w3.org/2000/svg}"
JOB = "staging/hello"  # seeded: every minute, labels {team: platform}
PAUSED = "staging/cleanup-tmp"  # seeded: paused


@pytest.fixture
def database_backend() -> str:
    return "sqlite"  # the storage is tested on both backends in services/alerting/tests


@pytest.fixture
def alice(api) -> Account:
    return sign_up(api, "alice")


def badges(api, account: Account) -> dict[str, dict]:
    """The team's badges by selector, once alerting knows the seeded jobs."""
    listed = wait_until(lambda: (answer := api.get("/api/badges", headers=account.headers).json())["badges"] and answer)
    return {badge["selector"]: badge for badge in listed["badges"]}


def path(url: str) -> str:
    return urlsplit(url).path


def ran_once(api, account: Account, job: str) -> None:
    """The job reports a successful run by its ping URL, and its badge says so."""
    ping_url = api.get(f"/api/jobs/{job}", headers=account.headers).json()["ping_url"]
    assert api.get(path(ping_url)).status_code == 200
    wait_until(lambda: badges(api, account)[f"job/{job}"]["status"] == "up")


def svg_status(api, url: str) -> str:
    answer = api.get(path(url))
    assert answer.status_code == 200, answer.text
    title = ET.fromstring(answer.text).find(f"{SVG_NS}title")
    assert title is not None and title.text
    return title.text.rpartition(": ")[2]


def test_the_list_has_a_badge_per_job_namespace_and_label_with_urls_that_need_no_sign_in(api, alice, stack):
    assert badges(api, alice)[f"job/{JOB}"]["status"] == "new", "not up before it ever ran"
    ran_once(api, alice, JOB)
    found = badges(api, alice)
    assert {f"job/{JOB}", "namespace/staging", "label/team=platform"} <= set(found)
    kinds = [badge["kind"] for badge in found.values()]
    assert kinds == sorted(kinds, key=["job", "namespace", "label"].index), "jobs, then namespaces, then labels"
    badge = found[f"job/{JOB}"]
    assert badge["svg_url"].startswith(f"{stack.url}/badge/") and badge["svg_url"].endswith(f"/job/{JOB}.svg")
    assert badge["json_url"] == badge["svg_url"].removesuffix(".svg") + ".json"
    assert badge["markdown"] == f"![{JOB}]({badge['svg_url']})"
    assert (badge["status"], badge["jobs"], badge["name"]) == ("up", 1, JOB)

    svg = api.get(path(badge["svg_url"]))  # no credential
    assert svg.status_code == 200
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.headers["cache-control"] == "public, max-age=60"
    root = ET.fromstring(svg.text)  # well-formed XML
    assert root.tag == f"{SVG_NS}svg" and root.get("role") == "img"
    assert root.get("aria-label") == f"{JOB}: up" and root.find(f"{SVG_NS}title").text == f"{JOB}: up"
    assert f"#{'2e7d32'}" in svg.text, "green"

    one = api.get("/api/badges", params={"job": JOB}, headers=alice.headers).json()["badges"]
    assert one == [badge], "a job's page asks for its badge alone"

    endpoint = api.get(path(badge["json_url"]))
    assert endpoint.status_code == 200 and endpoint.headers["content-type"] == "application/json"
    assert endpoint.headers["cache-control"] == "public, max-age=60"
    assert endpoint.json() == {"schemaVersion": 1, "label": JOB, "message": "up", "color": "2e7d32"}


def test_a_failure_turns_the_job_its_namespace_and_its_label_down_and_a_paused_job_is_paused(api, alice):
    found = badges(api, alice)
    assert svg_status(api, found[f"job/{PAUSED}"]["svg_url"]) == "paused"
    jobs = api.get("/api/jobs", headers=alice.headers).json()["jobs"]
    ping = path(next(job["ping_url"] for job in jobs if job["job"] == JOB))
    assert api.get(f"{ping}/fail").status_code == 200
    for selector in (f"job/{JOB}", "namespace/staging", "label/team=platform"):
        url = found[selector]["svg_url"]
        wait_until(lambda url=url: svg_status(api, url) == "down")
        assert api.get(path(found[selector]["json_url"])).json()["message"] == "down"
        assert "#c62828" in api.get(path(url)).text, "red"
    assert badges(api, alice)[f"job/{JOB}"]["status"] == "down", "the list shows the status too"


def test_everything_wrong_with_a_badge_url_is_the_same_404(api, alice):
    found = badges(api, alice)
    bob = badges(api, sign_up(api, "bob"))
    good = path(found[f"job/{JOB}"]["svg_url"])
    _, _, public_id, signature, *_ = good.split("/")
    bobs_id, bobs_signature = path(bob[f"job/{JOB}"]["svg_url"]).split("/")[2:4]
    other_signature = path(found["namespace/production"]["svg_url"]).split("/")[3]
    wrong = [
        f"/badge/{public_id}/{'a' * 16}/job/{JOB}.svg",  # a forged signature
        f"/badge/{public_id}/{signature.upper()}/job/{JOB}.svg",
        f"/badge/{'z' * 20}/{signature}/job/{JOB}.svg",  # an unknown key
        f"/badge/{public_id}/{other_signature}/job/{JOB}.svg",  # another selector's signature
        f"/badge/{public_id}/{bobs_signature}/job/{JOB}.svg",  # bob's signature under alice's key
        f"/badge/{bobs_id}/{signature}/job/{JOB}.svg",  # alice's under bob's
        f"/badge/{public_id}/{signature}/job/production/nothing.svg",
        f"/badge/{public_id}/{signature}/job/{JOB}.png",
        f"/badge/{public_id}/{signature}/job/{JOB}",
        f"/badge/{public_id}/{signature}",
        f"/badge/{public_id}/{signature}/job/..%2F..%2Fapi.svg",
        f"/badge/{public_id}/{'a' * 16}/job/{JOB}.json",
    ]
    answers = [api.get(url) for url in [*wrong, "/badge/nothing-was-ever-here"]]
    assert {(a.status_code, a.text, a.headers["content-type"], "cache-control" in a.headers) for a in answers} == {
        (404, '{"detail":"Not Found"}', "application/json", False)
    }, [(a.url.path, a.status_code, a.text) for a in answers]
    assert api.get(good).status_code == 200


def test_rotating_the_key_ends_the_old_urls_and_only_owners_and_admins_may(api, alice):
    ran_once(api, alice, JOB)
    old = badges(api, alice)[f"job/{JOB}"]
    viewer = join_team(api, sign_up(api, "victor"), alice, "viewer")
    assert api.get("/api/badges", headers=viewer.headers).status_code == 200, "any member sees the badges"
    assert api.post("/api/badges/rotate", headers=viewer.headers).status_code == 403
    rotated = api.post("/api/badges/rotate", headers=alice.headers)
    assert rotated.status_code == 200
    new = {badge["selector"]: badge for badge in rotated.json()["badges"]}[f"job/{JOB}"]
    assert new["svg_url"] != old["svg_url"]
    assert api.get(path(old["svg_url"])).status_code == 404
    assert api.get(path(old["json_url"])).status_code == 404
    assert svg_status(api, new["svg_url"]) == "up"
    audit = wait_until(
        lambda: [e for e in api.get("/api/audit", headers=alice.headers).json()["entries"]
                 if e["action"] == "badge-key.rotate"]
    )  # fmt: skip
    assert audit[0]["actor"] == "alice"


def test_the_svg_is_as_wide_as_its_words():
    short, long = badge_svg.render("a/b", "up"), badge_svg.render("production/backup-database", "paused")
    width = lambda svg: int(re.search(r'width="(\d+)"', svg).group(1))  # noqa: E731
    assert 40 < width(short) < 60 and 200 < width(long) < 240
    assert ET.fromstring(badge_svg.render("a<b&c", "down")).find(f"{SVG_NS}title").text == "a<b&c: down"
