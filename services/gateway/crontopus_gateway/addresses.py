"""The client's address, for per-address limits (sign-up, sign-in, the API's rate limits).

The TCP peer is the client unless it is one of ``CRONTOPUS_GATEWAY_TRUSTED_PROXIES``: then the
X-Forwarded-For chain is read from the right, each trusted hop vouching for the one before it,
and the first address no trusted proxy stands for is the client. The left end is whatever the
client wrote, so it is never believed just for being first. uvicorn is started with
``proxy_headers=False``, so the peer here is the real one: this setting alone decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from starlette.types import Scope

Network = IPv4Network | IPv6Network
IPAddress = IPv4Address | IPv6Address
UNKNOWN = "unknown"
_FORWARDED_FOR = b"x-forwarded-for"


def client_address(scope: Scope, trusted: Sequence[Network]) -> str:
    client = scope.get("client")
    peer = str(client[0]) if client else UNKNOWN
    if not trusted or not _is_trusted(_parse(peer), trusted):
        return peer
    # Several X-Forwarded-For lines are one list, in order (a proxy may add a line of its own
    # after the client's instead of appending to it).
    chain = b",".join(value for name, value in scope["headers"] if name == _FORWARDED_FOR).decode("latin-1")
    address = peer
    for hop in reversed(chain.split(",") if chain else []):
        parsed = _parse(hop)
        if parsed is None:
            return address  # garbage where an address should be: keep the last one vouched for
        address = str(parsed)
        if not _is_trusted(parsed, trusted):
            return address
    return address


def _parse(text: str) -> IPAddress | None:
    """An address as proxies write it: bare, or with a port (``1.2.3.4:80``, ``[::1]:80``)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ip_address(text)
    except ValueError:
        return None


def _is_trusted(address: IPAddress | None, trusted: Sequence[Network]) -> bool:
    if address is None:
        return False
    if isinstance(address, IPv6Address) and address.ipv4_mapped:  # a dual-stack socket's IPv4 peer
        address = address.ipv4_mapped
    return any(address in network for network in trusted)
