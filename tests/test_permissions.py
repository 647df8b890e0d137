"""Roles and API keys against every endpoint: each is refused (403) exactly what the permission
matrix (crontopus_gateway.permissions, shown in docs/api.md) forbids, and a new endpoint without
a rule fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from faststream.nats import NatsBroker

from crontopus_gateway.app import create_app
from crontopus_gateway.permissions import RULES, allows, matrix_markdown
from crontopus_gateway.settings import GatewaySettings
from crontopus_kit.testing import TEST_SECRET
from crontopus_schemas.rpc import Principal
from crontopus_server.testing import create_api_key, join_team, sign_up

DOCS = Path(__file__).parents[1] / "docs" / "api.md"
NOBODY = "0" * 32  # a user id no one has
PATH_VALUES = {"user_id": NOBODY, "namespace": "nowhere", "name": "nothing", "run_id": NOBODY,
               "tenant_id": NOBODY}  # fmt: skip


@pytest.fixture
def database_backend() -> str:
    return "sqlite"


def api_routes(monkeypatch) -> set[tuple[str, str]]:
    monkeypatch.setenv("CRONTOPUS_SECRET_KEY", TEST_SECRET)
    app = create_app(settings=GatewaySettings(), broker=NatsBroker())
    return {
        (method, route.path)
        for route in _flat(app.routes)
        if route.path.startswith("/api/")
        for method in route.methods
    }


def _flat(routes) -> list[APIRoute]:
    """FastAPI keeps an included router as one route (no prefixes are used here)."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found.extend(_flat(route.original_router.routes))
    return found


def test_every_api_endpoint_has_a_permission_rule_and_every_rule_an_endpoint(monkeypatch):
    routes = api_routes(monkeypatch)
    assert sorted(routes - set(RULES)) == [], "endpoints without a rule in crontopus_gateway.permissions.RULES"
    assert sorted(set(RULES) - routes) == [], "rules for endpoints that do not exist"


def test_docs_api_md_shows_the_permission_matrix():
    assert matrix_markdown() in DOCS.read_text(), "docs/api.md's permission matrix differs; paste matrix_markdown()"


def as_user(role: str) -> Principal:
    return Principal(kind="user", tenant_id="t", subject_id="u", role=role)  # type: ignore[arg-type]


def test_a_viewer_and_a_read_key_change_nothing_and_a_member_manages_nobody():
    """The matrix's intent, written independently of it: a slip in the table fails here."""
    for (method, path), rule in RULES.items():
        if rule.public or path in ("/api/auth/switch-team", "/api/auth/me"):  # one's own account
            continue
        if method != "GET":
            assert not allows(rule, as_user("viewer"), {}), (method, path)
            assert not allows(rule, Principal(kind="api_key", tenant_id="t", subject_id="k", scope="read"), {})
        if re.match(r"/api/(members|api-keys|gitops/repository|channels|alert-rules|agents)", path) and method != "GET":
            assert not allows(rule, as_user("member"), {}), (method, path)
    assert allows(RULES["DELETE", "/api/members/{user_id}"], as_user("viewer"), {"user_id": "u"}), "anyone may leave"


def path_of(template: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), NOBODY), template)


def test_each_role_and_key_is_refused_exactly_what_the_matrix_forbids(api):
    owner = sign_up(api, "olive")
    callers = {"owner": (owner.headers, as_user("owner"))}
    for role in ("admin", "member", "viewer"):
        person = join_team(api, sign_up(api, f"{role}-person"), owner, role)
        callers[role] = (person.headers, as_user(role))
    for scope in ("read", "write"):
        key = create_api_key(api, owner, scope)
        callers[f"{scope} key"] = (
            {"X-Api-Key": key},
            Principal(kind="api_key", tenant_id="t", subject_id="k", scope=scope),
        )
    wrong = []
    for (method, path), rule in RULES.items():
        if rule.public:
            continue
        for name, (headers, principal) in callers.items():
            with api.stream(method, path_of(path), headers=headers, json={} if method != "GET" else None) as answer:
                refused = answer.status_code == 403
                assert answer.status_code != 401, (method, path, name, answer.read())
            if refused == allows(rule, principal, {}):
                wrong.append(f"{method} {path} as {name}: {answer.status_code}")
    assert wrong == []
