"""The audit log's view from the gateway: every change made through the API, recorded once it
succeeded (2xx) with who, which team, what, to what, from where and the correlation id.

``AUDITED`` names the action of each changing endpoint and where its target and details come
from; ``NOT_AUDITED`` says why the others are not (identity records sign-ins, resets and accepted
invitations itself). A changing endpoint in neither fails tests/test_audit.py."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crontopus_gateway.addresses import client_address
from crontopus_kit.audit import audit_event, publish_audit
from crontopus_kit.logging import get_logger
from crontopus_schemas.rpc import Principal

log = get_logger(__name__)
PRINCIPAL_KEY = "principal"  # where current_principal leaves the caller in the request's state
MAX_ANSWER_BYTES = 1024 * 1024  # answers read for a target or details: the changed object


@dataclass(frozen=True)
class Audited:
    """``target``: ``path`` (the path's parameters joined with '/') or ``answer.<field>`` (from
    the JSON answer); ``details``: fields of the answer to keep (never a secret)."""

    action: str
    target: str = "path"
    details: tuple[str, ...] = ()


AUDITED: Mapping[tuple[str, str], Audited] = {
    ("POST", "/api/jobs"): Audited("job.create", "answer.job", ("commit",)),
    ("PUT", "/api/jobs/{namespace}/{name}"): Audited("job.update", details=("commit",)),
    ("DELETE", "/api/jobs/{namespace}/{name}"): Audited("job.delete", details=("commit",)),
    ("PUT", "/api/gitops/repository"): Audited("repository.update", "answer.clone_url", ("kind", "branch", "folder")),
    ("POST", "/api/agents/enrollment-tokens"): Audited("agent.enrollment-token.create", "answer.id", ("max_uses",)),
    ("POST", "/api/agents/enroll"): Audited("agent.enroll", "answer.agent_id", ("name",)),
    ("DELETE", "/api/agents/{agent_id}"): Audited("agent.revoke"),
    ("POST", "/api/incidents/{incident_id}/ack"): Audited("incident.acknowledge", details=("job",)),
    ("POST", "/api/incidents/{incident_id}/resolve"): Audited("incident.resolve", details=("job",)),
    ("PUT", "/api/alert-rules"): Audited("alert-rules.update"),
    ("POST", "/api/channels"): Audited("channel.create", "answer.id", ("name", "kind")),
    ("DELETE", "/api/channels/{channel_id}"): Audited("channel.delete"),
    ("POST", "/api/channels/{channel_id}/test"): Audited("channel.test"),
    ("POST", "/api/silences"): Audited(
        "silence.create", "answer.id", ("scope", "job", "namespace", "match_labels", "ends_at")
    ),
    ("DELETE", "/api/silences/{silence_id}"): Audited("silence.delete"),
    ("POST", "/api/badges/rotate"): Audited("badge-key.rotate"),
    ("POST", "/api/api-keys"): Audited("api-key.create", "answer.id", ("name", "scope")),
    ("DELETE", "/api/api-keys/{key_id}"): Audited("api-key.revoke"),
    ("PATCH", "/api/members/{user_id}"): Audited("member.role", details=("username", "role")),
    ("DELETE", "/api/members/{user_id}"): Audited("member.remove"),
    ("POST", "/api/invitations"): Audited("invitation.create", "answer.email", ("role", "id")),
    ("DELETE", "/api/invitations/{invitation_id}"): Audited("invitation.revoke"),
    ("PUT", "/api/team/sso"): Audited("team.sso", "answer.name", ("sso_required",)),
    ("PATCH", "/api/auth/me"): Audited("account.email", "answer.email"),
}

NOT_AUDITED: Mapping[tuple[str, str], str] = {
    ("POST", "/api/checkins"): "a run's report, stored as the run",
    ("POST", "/api/auth/register"): "identity records it (team.create)",
    ("POST", "/api/auth/login"): "identity records sign-ins and failed ones (auth.sign-in)",
    ("POST", "/api/auth/refresh"): "continues a sign-in",
    ("POST", "/api/auth/logout"): "ends one's own session",
    ("POST", "/api/auth/switch-team"): "a sign-in to one's own other team; changes nothing",
    ("POST", "/api/auth/password-reset"): "asks for a mail; identity records the reset itself (auth.password-reset)",
    ("POST", "/api/auth/password-reset/confirm"): "identity records it (auth.password-reset)",
    ("POST", "/api/auth/verify-email"): "confirms one's own address",
    ("POST", "/api/invitations/accept"): "identity records it (invitation.accept)",
    ("POST", "/api/gitops/webhooks/{tenant_id}"): "a push's nudge; the commit is the record",
}


class AuditMiddleware:
    """Records each successful change through the API after its answer went out."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in ("GET", "HEAD", "OPTIONS")
            or not scope["path"].startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        # Decided when the answer starts (the route is known by then): only a successful audited
        # change's answer is kept, so check-ins and other unaudited writes pay no copying.
        audited: Audited | None = None
        answer = bytearray()

        async def keep(message: Message) -> None:
            nonlocal audited
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                audited = AUDITED.get((scope["method"], getattr(scope.get("route"), "path", "")))
            elif message["type"] == "http.response.body" and audited and len(answer) < MAX_ANSWER_BYTES:
                answer.extend(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, keep)
        if audited is not None:
            await self._record(scope, audited, bytes(answer))

    async def _record(self, scope: Scope, audited: Audited, raw: bytes) -> None:
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        principal: Principal | None = scope.get("state", {}).get(PRINCIPAL_KEY)
        actor = _actor(principal, body)
        if actor is None:
            log.error("a change without a known team was not audited", path=scope["path"])
            return
        gateway = scope["app"].state.gateway
        event = audit_event(
            **actor, action=audited.action, target=_target(audited, scope.get("path_params", {}), body),
            source=client_address(scope, gateway.settings.trusted_proxies),
            details={field: _detail(body[field]) for field in audited.details if body.get(field) not in (None, {}, [])},
        )  # fmt: skip
        await publish_audit(gateway.broker, event)


def _detail(value: Any) -> str:
    """A detail as text: labels and other objects as JSON, not Python's repr."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _actor(principal: Principal | None, body: dict[str, Any]) -> dict[str, Any] | None:
    if principal is not None:
        return {"tenant_id": principal.tenant_id, "actor_type": principal.kind, "actor_id": principal.subject_id,
                "actor": principal.username}  # fmt: skip
    if body.get("tenant_id") and body.get("agent_id"):  # an agent enrolled with its token
        return {"tenant_id": body["tenant_id"], "actor_type": "agent", "actor_id": body["agent_id"],
                "actor": body.get("name")}  # fmt: skip
    return None


def _target(audited: Audited, path_params: Mapping[str, str], body: dict[str, Any]) -> str | None:
    if audited.target == "path":
        return "/".join(str(value) for value in path_params.values()) or None
    value = body.get(audited.target.removeprefix("answer."))
    return None if value is None else str(value)
