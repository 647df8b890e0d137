"""Which external repository URLs the gitops service connects to: the one rule, pure (no I/O).

A team names the URL and the server connects there on the team's behalf, so the URL must name a
remote Git host and nothing on the server itself: ``https://`` or ``ssh://`` (``http://`` only
when the operator allows it for a closed network, ``CRONTOPUS_GITOPS_ALLOW_HTTP``). Local paths,
``file://``, ``git://``, scp-like ``git@host:repo`` and libgit2's other transports (``ext::``)
are refused. Where the host may be (public addresses only, unless private networks are allowed)
is crontopus_kit.egress's rule, applied by crontopus_gitops.remotes on every connection.

The grammar is narrower than RFC 3986 on purpose: Python checks the URL and libgit2 connects to
it, so whatever passes must mean the same host to both. Anything the two could read differently
is refused instead of interpreted: backslashes, whitespace, control or non-ASCII characters,
several ``@``, a query or fragment, host names that are not plain DNS names, numeric hosts other
than dotted-quad IPv4 (``127.1``, ``0x7f.1``) and IPv6 zone ids.
"""

from __future__ import annotations

import ipaddress
import re
import string
from dataclasses import dataclass, field
from urllib.parse import unquote

from crontopus_kit.errors import Invalid

ALLOW_HTTP_SETTING = "CRONTOPUS_GITOPS_ALLOW_HTTP"
EXAMPLE = "https://git.example.com/team/jobs.git or ssh://git@git.example.com/team/jobs.git"
DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22}

_USERINFO_CHARS = set(string.ascii_letters + string.digits + "-._~!$&()*+,;=%")
_PATH_CHARS = set(string.ascii_letters + string.digits + "-._~!$&()*+,;=%:/")
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:]+):(?P<path>.*)$")


class RefusedUrl(Invalid):
    """A repository URL that names no remote Git host, or names one ambiguously."""


@dataclass(frozen=True)
class RemoteUrl:
    """A URL that passed the rule; ``host`` without brackets, lowercased; ``port`` always set."""

    url: str = field(repr=False)  # may hold a password
    scheme: str
    user: str | None
    host: str
    port: int
    path: str
    userinfo: str | None = field(default=None, repr=False)  # as written: "user" or "user:password"

    @property
    def address(self) -> str:
        """``host:port`` as messages name it."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse(url: str, *, allow_http: bool) -> RemoteUrl:
    """The URL's parts, or RefusedUrl with a message that starts with ``url:`` and says what to
    write instead."""
    _check_characters(url)
    scheme, separator, rest = url.partition("://")
    if not separator:
        raise _not_a_url(url)
    _check_scheme(scheme, allow_http=allow_http)
    authority, slash, path = rest.partition("/")
    userinfo, host, port = _split_authority(authority, scheme=scheme)
    user = unquote(userinfo.split(":", 1)[0]) if userinfo else None
    return RemoteUrl(
        url=url, scheme=scheme, user=user, host=_check_host(host), port=_check_port(port, scheme=scheme),
        path=_check_path(slash + path), userinfo=userinfo,
    )  # fmt: skip


def _refused(message: str) -> RefusedUrl:
    return RefusedUrl(f"url: {message}")


def _check_characters(url: str) -> None:
    if url != url.strip() or any(char.isspace() for char in url):
        raise _refused("must not contain spaces or line breaks (percent-encode a space in the path as %20)")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        raise _refused("must not contain control characters")
    if "\\" in url:
        raise _refused("must not contain backslashes; Git URLs use '/'")
    if not url.isascii():
        raise _refused("must be ASCII: percent-encode other characters in the path, write a host name in its xn-- form")
    if "?" in url or "#" in url:
        raise _refused("must not have a query (?...) or a fragment (#...); give the repository's clone URL")
    if url.count("@") > 1:
        raise _refused("has more than one '@'; percent-encode an '@' inside a user name or password as %40")
    if _PERCENT.search(url):
        raise _refused("has a '%' that is not followed by two hex digits")


def _not_a_url(url: str) -> RefusedUrl:
    scp = _SCP_LIKE.match(url)
    if "::" in url.split("/", 1)[0]:
        return _refused(f"transport helpers (ext::, fd::) are not accepted; give a URL like {EXAMPLE}")
    if scp and len(scp["host"]) > 1:  # "C:/..." is a Windows drive, not a host
        user = f"{scp['user']}@" if scp["user"] else ""
        return _refused(
            f"scp-like addresses are not accepted; write it as ssh://{user}{scp['host']}/{scp['path'].lstrip('/')}"
        )
    return _refused(f"must be a Git host's URL ({EXAMPLE}); local paths on the server are not accepted")


def _check_scheme(scheme: str, *, allow_http: bool) -> None:
    if scheme == "http" and not allow_http:
        raise _refused(
            f"http:// is not accepted: it is unencrypted and switched off ({ALLOW_HTTP_SETTING}); use https://"
        )
    if scheme in DEFAULT_PORTS:
        return
    reasons = {
        "file": "file:// names a path on the server",
        "git": "git:// has neither authentication nor encryption",
        "git+ssh": "write ssh:// instead of git+ssh://",
        "ssh+git": "write ssh:// instead of ssh+git://",
    }
    if scheme.lower() in DEFAULT_PORTS:
        reason = f"write the scheme in lowercase ({scheme.lower()}://)"
    else:
        reason = reasons.get(scheme.lower(), f"{scheme}:// is not a supported transport")
    raise _refused(f"{reason}; give a URL like {EXAMPLE}")


def _split_authority(authority: str, *, scheme: str) -> tuple[str | None, str, str | None]:
    userinfo, at, host_port = authority.rpartition("@")
    if at and (not userinfo or not set(userinfo) <= _USERINFO_CHARS | {":"} or userinfo.startswith(":")):
        raise _refused("the user name before '@' is empty or has characters that must be percent-encoded")
    if at and scheme == "ssh" and ":" in userinfo:
        raise _refused("an ssh:// URL cannot carry a password; use credentials of kind ssh (a private key)")
    if host_port.startswith("["):
        host, bracket, port_part = host_port[1:].partition("]")
        if not bracket or (port_part and not port_part.startswith(":")):
            raise _refused("an IPv6 address must be written as [address] or [address]:port")
        host = f"[{host}]"
        port = port_part[1:] if port_part else None
    else:
        host, colon, port_text = host_port.partition(":")
        port = port_text if colon else None
    return (userinfo if at else None), host, port


def _check_host(host: str) -> str:
    if host.startswith("["):
        return _check_ipv6(host[1:-1])
    name = host.lower()
    labels = name.split(".")
    if not name:
        raise _refused(f"names no host; give a URL like {EXAMPLE}")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise _refused(
            f"{host!r} is not a valid host name (letters, digits, '-' and '.'; an IPv6 address in [brackets])"
        )
    if _NUMERIC_LABEL.match(labels[-1]):  # numeric: an IPv4 address, and only the dotted-quad form
        try:
            if str(ipaddress.IPv4Address(name)) == name:
                return name
        except ValueError:
            pass
        raise _refused(f"{host!r} is not a valid IPv4 address (write all four numbers, like 192.0.2.10)")
    return name


def _check_ipv6(text: str) -> str:
    if "%" in text:
        raise _refused("an IPv6 address must not carry a zone id (%...)")
    try:
        return str(ipaddress.IPv6Address(text))
    except ValueError:
        raise _refused(f"[{text}] is not a valid IPv6 address") from None


def _check_port(port: str | None, *, scheme: str) -> int:
    if port is None:
        return DEFAULT_PORTS[scheme]
    if not port.isdigit() or len(port) > 5 or not 0 < int(port) < 65536:
        raise _refused(f"port {port!r} is not a number between 1 and 65535")
    return int(port)


def _check_path(path: str) -> str:
    if path.strip("/") == "":
        raise _refused(f"names no repository after the host; give the clone URL, like {EXAMPLE}")
    if not set(path) <= _PATH_CHARS:
        bad = sorted(set(path) - _PATH_CHARS)
        raise _refused(f"the path has characters a URL must percent-encode: {' '.join(bad)}")
    decoded = unquote(path)
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in decoded) or "'" in decoded or "\\" in decoded:
        raise _refused("the path must not hold (percent-encoded) control characters, quotes or backslashes")
    return path
