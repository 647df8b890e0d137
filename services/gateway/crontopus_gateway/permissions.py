"""Who may call what: the one place the gateway decides it (role x endpoint).

Every API route is listed in ``RULES``; a route missing from it refuses every caller (and
tests/test_permissions.py fails the suite). ``docs/api.md`` shows the same table (``matrix_markdown``;
a test keeps the two equal). Rules that depend on the change asked for (only an owner makes an
owner; a team keeps one) are the identity service's (crontopus_identity.members).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from crontopus_kit.errors import Forbidden
from crontopus_schemas.identity import ROLES, KeyScope, Role, role_rank
from crontopus_schemas.rpc import Principal


@dataclass(frozen=True)
class Rule:
    """``role``: the least role a person needs. ``key``: the least API key scope that may call it
    (None: no API key may). ``self_service``: the member the path's ``{user_id}`` names may call it
    whatever their role (leaving a team)."""

    name: str
    role: Role | None
    key: KeyScope | None
    self_service: bool = False
    note: str = ""

    @property
    def public(self) -> bool:
        return self.role is None


# Public: no credential, or one of its own (a password, a refresh token, a signature, a ping key, a
# mailed link's token; accepting an invitation also reads a bearer token when there is one).
PUBLIC = Rule("public", None, None)
READ = Rule("read", "viewer", "read")
OPERATE = Rule("operate", "member", "write")  # edit jobs, acknowledge incidents, silence, check in
CONFIGURE = Rule("configure", "admin", "write")  # alerting's rules and channels, agents
ADMINISTER = Rule("administer", "admin", None)  # credentials and people: people only
PERSON = Rule("person", "viewer", None)  # anyone in the team signed in as a person: not a key
LEAVE = Rule("administer", "admin", None, self_service=True, note="anyone may remove themselves (leave)")
KEY_ITSELF = Rule("read", "viewer", "read", note="the API key making the request; a person's sign-in gets 404")
OWN = Rule("own", "owner", None)  # the team's sign-in rules
INVITE = Rule("administer", "admin", None, note="inviting an owner: owners only")
RE_ROLE = Rule("administer", "admin", None, note="making or changing an owner: owners only; a team keeps an owner")

RULES: Mapping[tuple[str, str], Rule] = {
    # auth and account
    ("POST", "/api/auth/register"): PUBLIC,
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/refresh"): PUBLIC,
    ("POST", "/api/auth/logout"): PUBLIC,
    ("GET", "/api/auth/jwks.json"): PUBLIC,
    ("POST", "/api/auth/password-reset"): PUBLIC,
    ("POST", "/api/auth/password-reset/confirm"): PUBLIC,
    ("POST", "/api/auth/verify-email"): PUBLIC,
    ("GET", "/api/auth/sso"): PUBLIC,
    ("GET", "/api/auth/sso/{provider}/login"): PUBLIC,
    ("GET", "/api/auth/sso/{provider}/callback"): PUBLIC,
    ("GET", "/api/auth/me"): PERSON,
    ("PATCH", "/api/auth/me"): PERSON,
    ("GET", "/api/teams"): PERSON,
    ("POST", "/api/auth/switch-team"): PERSON,
    # people and credentials
    ("GET", "/api/team"): PERSON,
    ("PUT", "/api/team/sso"): OWN,
    ("GET", "/api/members"): PERSON,
    ("PATCH", "/api/members/{user_id}"): RE_ROLE,
    ("DELETE", "/api/members/{user_id}"): LEAVE,
    ("POST", "/api/invitations"): INVITE,
    ("GET", "/api/invitations"): ADMINISTER,
    ("DELETE", "/api/invitations/{invitation_id}"): ADMINISTER,
    ("POST", "/api/invitations/accept"): PUBLIC,
    ("GET", "/api/audit"): ADMINISTER,
    ("POST", "/api/api-keys"): ADMINISTER,
    ("GET", "/api/api-keys"): ADMINISTER,
    ("GET", "/api/api-keys/current"): KEY_ITSELF,
    ("DELETE", "/api/api-keys/{key_id}"): ADMINISTER,
    # jobs and the repository
    ("GET", "/api/jobs"): READ,
    ("GET", "/api/jobs/upcoming"): READ,
    ("GET", "/api/jobs/summary"): READ,
    ("GET", "/api/schedule/preview"): READ,
    ("GET", "/api/jobs/{namespace}/{name}"): READ,
    ("POST", "/api/jobs"): OPERATE,
    ("PUT", "/api/jobs/{namespace}/{name}"): OPERATE,
    ("DELETE", "/api/jobs/{namespace}/{name}"): OPERATE,
    ("GET", "/api/gitops/repository"): READ,
    ("PUT", "/api/gitops/repository"): ADMINISTER,
    ("POST", "/api/gitops/webhooks/{tenant_id}"): PUBLIC,
    # runs
    ("POST", "/api/checkins"): OPERATE,
    ("GET", "/api/runs"): READ,
    ("GET", "/api/runs/stats"): READ,
    ("GET", "/api/runs/{run_id}"): READ,
    ("GET", "/api/events"): READ,
    # agents
    ("POST", "/api/agents/enrollment-tokens"): CONFIGURE,
    ("POST", "/api/agents/enroll"): PUBLIC,
    ("GET", "/api/agents"): READ,
    ("GET", "/api/agents/{agent_id}"): READ,
    ("DELETE", "/api/agents/{agent_id}"): CONFIGURE,
    # alerting
    ("GET", "/api/incidents"): READ,
    ("GET", "/api/incidents/{incident_id}"): READ,
    ("POST", "/api/incidents/{incident_id}/ack"): OPERATE,
    ("POST", "/api/incidents/{incident_id}/resolve"): OPERATE,
    ("GET", "/api/alert-rules"): READ,
    ("PUT", "/api/alert-rules"): CONFIGURE,
    ("POST", "/api/channels"): CONFIGURE,
    ("GET", "/api/channels"): READ,
    ("GET", "/api/channels/{channel_id}"): READ,
    ("DELETE", "/api/channels/{channel_id}"): CONFIGURE,
    ("POST", "/api/channels/{channel_id}/test"): CONFIGURE,
    ("POST", "/api/silences"): OPERATE,
    ("GET", "/api/silences"): READ,
    ("DELETE", "/api/silences/{silence_id}"): OPERATE,
    # status badges (the badges themselves are public, outside /api: their URL is signed)
    ("GET", "/api/badges"): READ,
    ("POST", "/api/badges/rotate"): ADMINISTER,
}

NO_RULE = "this endpoint has no permission rule (crontopus_gateway.permissions.RULES); refused"


def rule_for(method: str, path: str) -> Rule:
    rule = RULES.get((method, path))
    if rule is None:
        raise Forbidden(NO_RULE)
    return rule


def allows(rule: Rule, principal: Principal, path_params: Mapping[str, str]) -> bool:
    if rule.public:
        return True
    if principal.kind == "api_key":
        return rule.key is not None and (rule.key == "read" or principal.scope == "write")
    if principal.kind != "user" or principal.role is None:
        return False
    if rule.self_service and path_params.get("user_id") == principal.subject_id:
        return True
    return role_rank(principal.role) >= role_rank(rule.role)  # type: ignore[arg-type]


def refuses_someone(path: str, method: str) -> bool:
    """Whether some role or key gets a 403 here (the OpenAPI document lists 403 then)."""
    rule = RULES.get((method, path))
    return rule is None or "-" in [_cell(rule, role=role) for role in ROLES] + [
        _cell(rule, key=k) for k in ("read", "write")
    ]


def check(rule: Rule, principal: Principal, path_params: Mapping[str, str]) -> None:
    if not allows(rule, principal, path_params):
        raise Forbidden(_refusal(rule, principal))


def _refusal(rule: Rule, principal: Principal) -> str:
    if principal.kind == "api_key":
        if rule.key is None:
            return "API keys cannot do this: sign in as a person with the right role"
        return "this API key is read-only; create a key with scope 'write' to change anything"
    return f"your role in this team ({principal.role}) cannot do this; it needs {rule.role} or higher"


def matrix_markdown() -> str:
    """The permission matrix as a Markdown table: one row per endpoint, one column per role and
    key scope (docs/api.md holds it)."""
    columns = [*ROLES, "read key", "write key"]
    lines = ["| Endpoint | " + " | ".join(columns) + " | Note |", "|---" * (len(columns) + 2) + "|"]
    for (method, path), rule in RULES.items():
        cells = [_cell(rule, role=role) for role in ROLES] + [_cell(rule, key=scope) for scope in ("read", "write")]
        lines.append(f"| `{method} {path}` | " + " | ".join(cells) + f" | {rule.note} |")
    return "\n".join(lines)


def _cell(rule: Rule, *, role: Role | None = None, key: KeyScope | None = None) -> str:
    if rule.public:
        return "public"
    if key is not None:
        principal = Principal(kind="api_key", tenant_id="t", subject_id="k", scope=key)
    else:
        principal = Principal(kind="user", tenant_id="t", subject_id="u", role=role)
    if allows(rule, principal, {}):
        return "yes"
    return "self" if rule.self_service and key is None else "-"
