"""Verify and parse push webhooks from GitHub, Gitea, Forgejo and GitLab.

Pure functions: no web framework, no I/O. The HTTP layer hands over the raw request body (the exact
bytes received, before any JSON decoding, since the HMAC covers those bytes) and the headers.

Typical use::

    provider = verify(headers=request.headers, body=raw, secret=repo.webhook_secret)
    kind = event_kind(headers, provider)
    if kind == "ping":
        return  # 2xx: the host is checking the hook is reachable
    delivery = delivery_id(headers, provider)
    if delivery and guard.seen(delivery):
        return  # 2xx: already handled, the host is retrying
    if kind == "push":
        event = parse_push(raw, provider)
        ...  # on failure call guard.forget(delivery) so a redelivery is not mistaken for a replay

Limits worth knowing when using these functions:

- Only the body is signed. The delivery id and event headers are not, so someone who captured
  one signed request can resend its body with a new delivery id. Treat a push as "fetch this
  repository now", never as "the branch now points at ``after``": fetch the ref from Git and use
  what Git says, so replaying an old push can at worst cause one extra fetch, never a rollback.
- GitLab's default scheme sends the secret itself in ``X-Gitlab-Token``; anyone who can read the
  request (a logging proxy) learns it. Pass ``expected=`` to ``verify`` when the repository's host
  is known, so a request cannot pick the weaker scheme for a repository hosted elsewhere.
- Call ``ReplayGuard.seen`` only after ``verify`` succeeds; otherwise unsigned requests could fill
  it and evict genuine delivery ids.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from crontopus_kit.errors import Invalid, Unauthorized

Provider = Literal["github", "gitea", "forgejo", "gitlab"]
PROVIDERS: tuple[Provider, ...] = get_args(Provider)
EventKind = Literal["push", "ping", "other"]

# The header that proves authenticity for each provider, as documented by each host.
SIGNATURE_HEADERS: dict[Provider, str] = {
    "github": "X-Hub-Signature-256",
    "gitea": "X-Gitea-Signature",
    "forgejo": "X-Forgejo-Signature",
    "gitlab": "X-Gitlab-Token",
}
EVENT_HEADERS: dict[Provider, str] = {
    "github": "X-GitHub-Event",
    "gitea": "X-Gitea-Event",
    "forgejo": "X-Forgejo-Event",
    "gitlab": "X-Gitlab-Event",
}
DELIVERY_HEADERS: dict[Provider, tuple[str, ...]] = {
    "github": ("X-GitHub-Delivery",),
    "gitea": ("X-Gitea-Delivery",),
    "forgejo": ("X-Forgejo-Delivery",),
    "gitlab": ("X-Gitlab-Event-UUID", "Idempotency-Key"),
}
# Forgejo also sends the X-Gitea-* and X-Hub-Signature-256 headers, and Gitea sends X-GitHub-Event
# and X-Hub-Signature-256 for compatibility, so the most specific provider must be tried first.
_DETECTION_ORDER: tuple[Provider, ...] = ("forgejo", "gitea", "gitlab", "github")
_MARKERS: dict[Provider, tuple[str, ...]] = {
    "forgejo": ("x-forgejo-signature", "x-forgejo-event", "x-forgejo-delivery"),
    "gitea": ("x-gitea-signature", "x-gitea-event", "x-gitea-delivery"),
    "gitlab": ("x-gitlab-token", "x-gitlab-event", "x-gitlab-event-uuid"),
    "github": ("x-hub-signature-256", "x-github-event", "x-github-delivery", "x-hub-signature"),
}
_GITHUB_PREFIX = "sha256="
# Object ids are 40 hex digits in SHA-1 repositories and 64 in SHA-256 ones.
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_TOTAL_COMMITS_FIELDS: dict[Provider, str] = {
    "gitlab": "total_commits_count",
    "gitea": "total_commits",
    "forgejo": "total_commits",
}


class InvalidSignature(Unauthorized):
    """The request is not proven to come from the configured webhook (401 at the gateway)."""


class InvalidPayload(Invalid):
    """The body is not a push payload we understand (4xx at the gateway)."""


@dataclass(frozen=True, slots=True)
class PushEvent:
    ref: str
    before: str | None  # None when the ref was just created (the host sends all zeros)
    after: str  # all zeros when the ref was deleted
    branch: str | None  # "main" for refs/heads/main, else None
    pusher: str | None
    commits: int  # the host's total, not the (truncated) length of the commits list
    tag: str | None = None  # "v1.0" for refs/tags/v1.0, else None
    deleted: bool = False


# --- headers ---------------------------------------------------------------------------------------


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    # Plain dicts keep the sender's casing while ASGI servers lower-case everything; normalise once.
    return {name.lower(): value for name, value in headers.items()}


def detect_provider(headers: Mapping[str, str]) -> Provider | None:
    """The provider whose headers are present, the most specific first; None when none is."""
    lowered = _lowered(headers)
    for provider in _DETECTION_ORDER:
        if any(marker in lowered for marker in _MARKERS[provider]):
            return provider
    return None


def delivery_id(headers: Mapping[str, str], provider: Provider) -> str | None:
    """The host's id for this delivery (stable across the host's retries), or None if absent."""
    lowered = _lowered(headers)
    for name in DELIVERY_HEADERS[provider]:
        value = lowered.get(name.lower(), "").strip()
        if value:
            return value
    return None


def event_kind(headers: Mapping[str, str], provider: Provider) -> EventKind:
    """ "push" for branch and tag pushes, "ping" for GitHub's hook check, "other" for the rest."""
    event = _lowered(headers).get(EVENT_HEADERS[provider].lower(), "").strip().lower()
    if provider == "gitlab":
        # GitLab reports tag pushes under their own event; both carry the same push payload shape.
        return "push" if event in ("push hook", "tag push hook") else "other"
    if event == "push":
        return "push"
    return "ping" if event == "ping" else "other"


# --- signatures ------------------------------------------------------------------------------------


def verify(*, headers: Mapping[str, str], body: bytes, secret: str, expected: Provider | None = None) -> Provider:
    """Check the request's signature against ``secret`` and return the provider that sent it.

    The provider is detected from the headers unless ``expected`` names it; then that provider's
    scheme is required (Forgejo also signs the Gitea and GitHub way, Gitea also the GitHub way, so
    ``expected="gitea"`` accepts a Forgejo instance). Comparisons are constant-time.
    """
    if not secret:
        # An empty HMAC key is public knowledge: refuse rather than accept anything signed with it.
        raise ValueError("webhook secret must not be empty")
    provider = expected or detect_provider(headers)
    if provider is None:
        names = ", ".join(SIGNATURE_HEADERS[p] for p in _DETECTION_ORDER)
        raise InvalidSignature(f"no webhook signature header: expected one of {names}")
    header = SIGNATURE_HEADERS[provider]
    received = _lowered(headers).get(header.lower())
    if received is None or not received.strip():
        raise InvalidSignature(f"missing {header} header ({provider} webhook)")
    if not _matches(provider, received.strip(), body, secret):
        raise InvalidSignature(f"{header} does not match the request body and the configured secret")
    return provider


def _matches(provider: Provider, received: str, body: bytes, secret: str) -> bool:
    key = secret.encode()
    if provider == "gitlab":
        return hmac.compare_digest(_to_bytes(received), key)
    if provider == "github":
        if not received.lower().startswith(_GITHUB_PREFIX):
            return False
        received = received[len(_GITHUB_PREFIX) :]
    expected = hmac.new(key, body, hashlib.sha256).hexdigest().encode()
    # Comparing bytes, not str: compare_digest raises TypeError on non-ASCII str, and the received
    # value is attacker-controlled. Malformed hex simply does not match.
    return hmac.compare_digest(_to_bytes(received.lower()), expected)


def _to_bytes(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


# --- push payloads ---------------------------------------------------------------------------------


def parse_push(body: bytes, provider: Provider) -> PushEvent:
    """Read the ref update from a push payload as documented by each host."""
    payload = _load_object(body)
    if provider == "gitlab":
        kind = payload.get("object_kind")
        if kind not in ("push", "tag_push"):
            raise InvalidPayload(f"not a GitLab push payload: object_kind is {kind!r}, expected 'push' or 'tag_push'")
    ref = _required_str(payload, "ref")
    if not ref.startswith("refs/"):
        raise InvalidPayload(
            f"push payload field 'ref' must be a full ref name like refs/heads/main, got {ref[:100]!r}"
        )
    after = _object_id(payload, "after")
    before = None if payload.get("before") is None else _object_id(payload, "before")
    return PushEvent(
        ref=ref,
        before=None if before is None or _is_zero(before) else before,
        after=after,
        branch=_strip_prefix(ref, "refs/heads/"),
        tag=_strip_prefix(ref, "refs/tags/"),
        pusher=_pusher(payload, provider),
        commits=_commit_count(payload, provider),
        deleted=payload.get("deleted") is True or _is_zero(after),
    )


def _load_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidPayload(
            f"webhook body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except (ValueError, RecursionError):  # undecodable bytes; absurdly deep nesting
        raise InvalidPayload("webhook body is not valid JSON text") from None
    if not isinstance(payload, dict):
        raise InvalidPayload(f"webhook body must be a JSON object, got {type(payload).__name__}")
    return payload


def _required_str(payload: Mapping[str, Any], field: str) -> str:
    value = payload.get(field)
    if not isinstance(value, str) or not value:
        raise InvalidPayload(f"push payload field {field!r} is missing or not a non-empty string")
    return value


def _object_id(payload: Mapping[str, Any], field: str) -> str:
    # Checked here because callers hand these to Git: a valid id can never be read as an option.
    value = payload.get(field)
    if not isinstance(value, str) or not _OBJECT_ID.fullmatch(value):
        raise InvalidPayload(f"push payload field {field!r} must be a commit id (40 or 64 lowercase hex digits)")
    return value


def _is_zero(sha: str) -> bool:
    # 40 zeros for SHA-1 repositories, 64 for SHA-256 ones.
    return sha.strip("0") == ""


def _strip_prefix(ref: str, prefix: str) -> str | None:
    return ref[len(prefix) :] if ref.startswith(prefix) and len(ref) > len(prefix) else None


def _pusher(payload: Mapping[str, Any], provider: Provider) -> str | None:
    if provider == "gitlab":
        name = payload.get("user_username")
    else:
        pusher = payload.get("pusher")
        pusher = pusher if isinstance(pusher, dict) else {}
        # GitHub: pusher{name,email}; Gitea/Forgejo: pusher is a user object with login/username.
        keys = ("name",) if provider == "github" else ("login", "username")
        name = next((pusher[k] for k in keys if isinstance(pusher.get(k), str) and pusher[k]), None)
    return name if isinstance(name, str) and name else None


def _commit_count(payload: Mapping[str, Any], provider: Provider) -> int:
    # GitLab lists at most 20 commits and Gitea/Forgejo a configurable few; their totals are exact.
    total = payload.get(_TOTAL_COMMITS_FIELDS[provider]) if provider in _TOTAL_COMMITS_FIELDS else None
    if isinstance(total, int) and not isinstance(total, bool) and total >= 0:
        return total
    commits = payload.get("commits")
    return len(commits) if isinstance(commits, list) else 0


# --- replay guard ----------------------------------------------------------------------------------


class ReplayGuard:
    """Remembers recent delivery ids in memory, bounded in count and age.

    Hosts retry deliveries with the same id, so this turns retries into no-ops. It lives in one
    process and is lost on restart: the service should also persist delivery ids (for example a
    unique column) and consult that; this guard only spares the database the common case.
    Delivery ids are not signed (see the module docstring), so this is deduplication of honest
    retries, not a defence against a deliberate replay.
    """

    def __init__(
        self, max_entries: int = 10_000, ttl_seconds: float = 24 * 3600, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 1 or ttl_seconds <= 0:
            raise ValueError("max_entries must be at least 1 and ttl_seconds positive")
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._expiry: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, delivery_id: str) -> bool:
        """True when ``delivery_id`` was seen within the ttl; otherwise record it and return False."""
        if not delivery_id:
            raise ValueError("delivery_id must not be empty")
        with self._lock:
            now = self._clock()
            self._evict_expired(now)
            if delivery_id in self._expiry:
                return True  # the first sighting's expiry stands: retries do not extend it
            self._expiry[delivery_id] = now + self.ttl_seconds
            while len(self._expiry) > self.max_entries:
                self._expiry.popitem(last=False)
            return False

    def forget(self, delivery_id: str) -> None:
        """Drop ``delivery_id`` so the host's redelivery is processed (call when handling failed)."""
        with self._lock:
            self._expiry.pop(delivery_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._expiry)

    def _evict_expired(self, now: float) -> None:
        # Insertion order is expiry order (same ttl, monotonic clock), so expired ids are at the front.
        while self._expiry:
            oldest, expires = next(iter(self._expiry.items()))
            if expires > now:
                return
            del self._expiry[oldest]
