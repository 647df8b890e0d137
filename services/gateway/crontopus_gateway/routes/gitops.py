"""The tenant's repository settings and the Git hosts' push webhooks."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import ConfigDict

from crontopus_gateway.deps import CurrentPrincipal, GatewayDep
from crontopus_gateway.responses import ApiRoute, errors
from crontopus_schemas.gitops import RepositoryPublic, RepositoryUpdateRequest, WebhookReply, WebhookRequest
from crontopus_schemas.subjects import GitopsRpc

router = APIRouter(tags=["gitops"], route_class=ApiRoute)

# Headers a Git host's webhook may carry that matter for verification and routing; forwarding only
# these keeps cookies and proxies' headers out of the message bus.
WEBHOOK_HEADERS = ("x-", "idempotency-key", "content-type", "user-agent")


class RepositoryUpdate(RepositoryUpdateRequest):
    # A misspelt field would otherwise be dropped silently (the jobs read from the wrong folder).
    model_config = ConfigDict(extra="forbid")

    tenant_id: str = ""  # taken from the credential, never from the body


@router.put("/api/gitops/repository", response_model=RepositoryPublic, responses=errors(409))
async def connect_repository(
    body: RepositoryUpdate, principal: CurrentPrincipal, gateway: GatewayDep
) -> RepositoryPublic:
    """Use an external repository (Forgejo, Gitea, GitHub, GitLab, any Git server) instead of the
    embedded one: an `https://` or `ssh://` URL of a host on a public address. It is fetched once
    to check the URL and credentials; a refused URL or a failed fetch is a 422 that says why. The
    answer holds the webhook URL and, this once, its secret: configure both in the Git host
    (content type JSON, push events)."""
    request = RepositoryUpdateRequest(**body.model_dump(exclude={"tenant_id"}), tenant_id=principal.tenant_id)
    # The first fetch may take up to the gitops service's fetch timeout: wait for its answer.
    return await gateway.rpc(
        GitopsRpc.REPOSITORY_UPDATE, request, RepositoryPublic, timeout=gateway.settings.git_timeout
    )


@router.post(
    "/api/gitops/webhooks/{tenant_id}", response_model=WebhookReply,
    responses={202: {"model": WebhookReply, "description": "The push was synced"}, **errors(401, 404, 413)},
)  # fmt: skip
async def push_webhook(
    tenant_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")], request: Request, gateway: GatewayDep
) -> JSONResponse:
    """Push webhooks from Forgejo/Gitea (X-Forgejo-Signature / X-Gitea-Signature), GitHub
    (X-Hub-Signature-256) and GitLab (X-Gitlab-Token). Wrong or missing signature: 401. A push
    that cannot be synced (the host unreachable, say): 503 with the reason, and the delivery is not
    noted, so the host's redelivery of it is synced; a delivery synced before: `duplicate`."""
    headers = {k: v for k, v in request.headers.items() if k.startswith(WEBHOOK_HEADERS)}
    body = base64.b64encode(await request.body()).decode()
    reply = await gateway.rpc(
        GitopsRpc.WEBHOOK, WebhookRequest(tenant_id=tenant_id, headers=headers, body=body), WebhookReply
    )
    return JSONResponse(reply.model_dump(), status_code=202 if reply.status == "synced" else 200)
