"""``crontopus-agent enroll``: trade a one-time enrollment token for this agent's credentials.

What it guarantees
- The request (``POST {server}/api/agents/enroll``, an ``EnrollRequest``) is checked locally
  first, so a bad name or label is reported before a token use is spent.
- Existing credentials are never overwritten unless ``force`` is given; that is checked before
  the request too (re-enrolling by accident would orphan the old agent).
- On ``201`` the ``Enrollment`` is saved as ``<home>/credentials.json`` with mode 0600 (written to a
  temporary file and renamed, so a crash never leaves half a file). On anything else nothing is
  written and ``EnrollError`` carries a message meant for a person: wrong or expired token,
  invalid input, server unreachable. The token and the password never appear in a message.
"""

from __future__ import annotations

import platform
import socket
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from crontopus_agent import __version__
from crontopus_agent.home import Credentials
from crontopus_schemas.agents import Enrollment, EnrollRequest

ENROLL_PATH = "/api/agents/enroll"
TIMEOUT_SECONDS = 15.0

_STATUS_HINTS = {
    401: "the enrollment token was not accepted (mistyped, expired or used up); create a new one",
    403: "the server refused to enroll this agent",
    404: "the server has no enrollment endpoint at this URL; is --server the Crontopus URL?",
    410: "the enrollment token has expired or has been used up; create a new one",
}


class EnrollError(Exception):
    """Enrollment failed; the message says why and what to do."""


def enroll(
    *,
    server: str,
    token: str,
    home: Path,
    name: str | None = None,
    labels: dict[str, str] | None = None,
    force: bool = False,
    transport: httpx.BaseTransport | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> Credentials:
    """Enroll this host and save its credentials; see the module docstring."""
    if (home / "credentials.json").exists() and not force:
        raise EnrollError(
            f"this agent is already enrolled ({home / 'credentials.json'}); use --force to enroll it again"
        )
    body = _request_body(token=token, name=name or default_name(), labels=labels or {})
    url = server_base(server) + ENROLL_PATH
    response = _post(url, body, transport=transport, timeout=timeout)
    if response.status_code != 201:
        raise EnrollError(_failure(response, server_base(server)))
    try:
        enrollment = Enrollment.model_validate_json(response.content)
    except ValidationError as exc:
        raise EnrollError(
            f"the server's answer is not an enrollment ({exc.error_count()} problems); is it Crontopus?"
        ) from None
    credentials = credentials_from(enrollment)
    credentials.save(home)
    return credentials


def credentials_from(enrollment: Enrollment) -> Credentials:
    return Credentials(
        agent_id=enrollment.agent_id,
        tenant_id=enrollment.tenant_id,
        name=enrollment.name,
        nats_urls=list(enrollment.nats_urls),
        nats_user=enrollment.nats_user,
        nats_password=enrollment.nats_password,
        server_url=enrollment.server_url,
        clone_url=enrollment.clone_url,
        branch=enrollment.branch,
        folder=enrollment.folder,
        labels=dict(enrollment.labels),
    )


def parse_labels(values: Iterable[str]) -> dict[str, str]:
    """``["role=db", "zone=eu"]`` -> ``{"role": "db", "zone": "eu"}``."""
    labels: dict[str, str] = {}
    for value in values:
        key, sep, label = value.partition("=")
        if not sep or not key.strip():
            raise EnrollError(f"label {value!r} is not key=value")
        labels[key.strip()] = label.strip()
    return labels


def default_name() -> str:
    return socket.gethostname() or "agent"


def platform_string() -> str:
    machine = platform.machine()
    return f"{sys.platform}-{machine}" if machine else sys.platform


def server_base(server: str) -> str:
    server = server.strip().rstrip("/")
    if not server.startswith(("http://", "https://")):
        raise EnrollError(f"--server must be an http:// or https:// URL, not {server!r}")
    return server


def _request_body(*, token: str, name: str, labels: dict[str, str]) -> dict[str, Any]:
    try:
        request = EnrollRequest(
            token=token,
            name=name,
            hostname=socket.gethostname()[:255],
            platform=platform_string()[:255],
            version=__version__,
            labels=labels,
        )
    except ValidationError as exc:
        problems = "; ".join(_field_problem(error) for error in exc.errors())
        raise EnrollError(f"invalid enrollment: {problems}") from None
    return request.model_dump()


def _field_problem(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"])
    if where == "name":
        return "name: letters, digits, '.', '_' and '-', starting with a letter or digit (at most 128); use --name"
    if where == "token":
        return "token: that is not an enrollment token (too short or too long)"
    return f"{where}: {error['msg']}"


def _post(url: str, body: dict[str, Any], *, transport: httpx.BaseTransport | None, timeout: float) -> httpx.Response:
    try:
        with httpx.Client(transport=transport, timeout=timeout) as client:
            return client.post(url, json=body)
    except httpx.TimeoutException:
        raise EnrollError(f"the server at {url} did not answer within {timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise EnrollError(f"cannot reach the server at {url}: {exc}") from None


def _failure(response: httpx.Response, server: str) -> str:
    detail = _detail(response)
    hint = _STATUS_HINTS.get(response.status_code)
    if response.status_code == 422:
        hint = "the server rejected the enrollment request"
    elif hint is None:
        hint = f"the server at {server} answered {response.status_code} {response.reason_phrase}"
    return f"enrollment failed: {hint}" + (f" ({detail})" if detail else "")


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return ""
    if isinstance(detail, list):  # FastAPI validation errors
        return "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', [])[1:])}: {item.get('msg')}"
            for item in detail
            if isinstance(item, dict)
        )
    return str(detail) if detail else ""
