"""Git clone URLs in messages and logs. Apart from ``git_tree`` so that a process without pygit2
(the agent's daemon: libgit2 lives in its short-lived fetch process) can use it."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """The URL without a password or token, fit for messages and logs."""
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url  # a local path, or scp-like `git@host:repo` (no secret in it)
    user, _, host = parts.netloc.rpartition("@")
    safe_user = user.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{safe_user}@{host}" if safe_user else host))
