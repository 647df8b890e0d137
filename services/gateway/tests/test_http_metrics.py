"""The gateway's own Prometheus metrics: every answer counted and timed by method, route template
and status, through a live stack; never a path, so no ping key (a credential) reaches /metrics."""

import re
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

from crontopus_server.testing import sign_up, wait_until


def samples(api, name: str) -> dict[tuple[str, ...], float]:
    text = api.get("/metrics").text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def count(api, method: str, route: str, status: str) -> float:
    key = (("method", method), ("route", route), ("status", status))
    return samples(api, "crontopus_http_requests_total").get(key, 0.0)


def test_answers_are_counted_and_timed_by_route_template_never_by_path(api):
    alice = sign_up(api, "alice")
    jobs = wait_until(lambda: api.get("/api/jobs", headers=alice.headers).json()["jobs"])
    ping_path = urlsplit(jobs[0]["ping_url"]).path
    key = ping_path.rsplit("/", 1)[1]
    before = count(api, "GET", "/ping/{key}", "200"), count(api, "GET", "/api/jobs", "401")

    assert api.get(ping_path).status_code == 200
    assert api.get("/api/jobs").status_code == 401  # no credential
    assert api.get("/no/such/page/anywhere").status_code in (200, 404)  # the console's, or nothing

    assert count(api, "GET", "/ping/{key}", "200") == before[0] + 1
    assert count(api, "GET", "/api/jobs", "401") == before[1] + 1
    other = [labels for labels in samples(api, "crontopus_http_requests_total") if ("route", "other") in labels]
    assert other, "what no route matched is counted as route=other"
    timed = samples(api, "crontopus_http_request_duration_seconds_count")
    assert timed[(("method", "GET"), ("route", "/ping/{key}"))] >= 1
    text = api.get("/metrics").text
    assert key not in text and "/no/such/page" not in text
    assert not re.search(r'route="/ping/[A-Za-z0-9_-]{22}"', text)
