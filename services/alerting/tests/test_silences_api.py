"""Silences through the gateway: what a silence covers comes back in its answer and in the list;
two selectors at once, a bad label or a bad namespace is a 422 naming the field."""

from __future__ import annotations

import pytest

from crontopus_server.testing import sign_up


@pytest.fixture
def database_backend() -> str:
    return "sqlite"


def test_the_api_answers_what_a_silence_covers_and_refuses_two_selectors(api):
    """Through the gateway: 201 with the scope, 422 naming the fields for two selectors or a bad
    label; the list shows each silence's selector."""
    alice = sign_up(api, "alice")
    body = {"match_labels": {"team": "data"}, "duration": "2h", "reason": "warehouse upgrade"}
    created = api.post("/api/silences", json=body, headers=alice.headers)
    assert created.status_code == 201, created.text
    assert (created.json()["scope"], created.json()["match_labels"]) == ("labels", {"team": "data"})
    two = api.post("/api/silences", json={"job": "ops/a", "namespace": "ops", "duration": "1h"}, headers=alice.headers)
    assert two.status_code == 422 and "not job and namespace" in two.text
    bad = api.post("/api/silences", json={"match_labels": {"team": "a b"}, "duration": "1h"}, headers=alice.headers)
    assert bad.status_code == 422 and "match_labels" in bad.text
    ns = api.post("/api/silences", json={"namespace": "Not A Namespace", "duration": "1h"}, headers=alice.headers)
    assert ns.status_code == 422 and "namespace" in ns.text
    listed = api.get("/api/silences", headers=alice.headers).json()["silences"]
    assert [(s["scope"], s["match_labels"], s["reason"]) for s in listed] == [
        ("labels", {"team": "data"}, "warehouse upgrade")
    ]
