"""A NATS URL (or comma-separated list, as ``CRONTOPUS_NATS_URL`` may be) taken apart into the
servers and the login, which go to nats-py as separate options.

The login must never stay inside the server URLs. A NATS cluster advertises its other nodes
(``connect_urls`` in its INFO); nats-py adds them to its pool as plain ``host:port`` (it compares
netlocs, so ``user:pw@host:port`` and ``host:port`` are two servers), and a reconnect to one of
those would log in without the URL's credentials, anonymously. The server refuses that
('Authorization Violation'), FastStream then ends the reconnect for good, and the process stays
up disconnected. A user and password given as options are sent to every server of the pool.

No imports beyond the standard library: the repositories' post-receive hook uses this too, and
runs at every push.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit


class MixedLogins(ValueError):
    """The servers of one URL list log in differently; nats-py sends one login to all of them."""


@dataclass(frozen=True)
class NatsLogin:
    servers: tuple[str, ...]  # without credentials
    user: str | None = None
    password: str | None = None
    token: str | None = None

    def connect_options(self) -> dict[str, Any]:
        """``servers`` and the login, as ``nats.connect`` takes them."""
        options: dict[str, Any] = {"servers": list(self.servers)}
        if self.token is not None:
            options["token"] = self.token
        if self.user is not None:
            options |= {"user": self.user, "password": self.password}
        return options


def nats_login(url: str) -> NatsLogin:
    """``nats://u:p@a:4222,nats://u:p@b:4222`` -> servers ``nats://a:4222``, ``nats://b:4222``,
    user ``u``, password ``p`` (percent-decoded, as ``with_credentials`` encodes them). A user
    without a password is a token, as nats-py reads it. Servers that log in differently are
    refused with ``MixedLogins``: nats-py has one login for the whole pool, and a server
    listed without one would be logged in to with another's anyway."""
    urls = [one.strip() for one in url.split(",") if one.strip()]
    if not urls:
        raise ValueError("no NATS server URL given")
    logins = [_login(one) for one in urls]
    if len(set(logins)) > 1:
        described = "; ".join(f"{_bare(one)}: {_describe(login)}" for one, login in zip(urls, logins, strict=True))
        if len({user for user, _ in logins}) == 1:
            described = f"user {logins[0][0]!r} with different passwords"
        raise MixedLogins(
            f"the NATS URLs log in differently ({described}); every server of one list must carry the "
            "same login (nats://<user>@host:port for each, or the same user and password on each)"
        )
    user, password = logins[0]
    servers = tuple(_bare(one) for one in urls)
    if user is not None and password is None:
        return NatsLogin(servers=servers, token=user)
    return NatsLogin(servers=servers, user=user, password=password)


def _parts(url: str) -> Any:
    return urlsplit(url if "://" in url else f"nats://{url}")  # nats-py's reading of host:port


def _login(url: str) -> tuple[str | None, str | None]:
    parts = _parts(url)
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return user, password


def _bare(url: str) -> str:
    parts = _parts(url)
    host = parts.netloc.rpartition("@")[2]  # keeps an IPv6 address's brackets, unlike .hostname
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _describe(login: tuple[str | None, str | None]) -> str:
    """Which login, without any secret in it."""
    user, password = login
    if user is None:
        return "no login"
    if password is None:
        return "a token"
    return f"user {user!r}"
