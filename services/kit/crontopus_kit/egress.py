"""Where the server may connect on a tenant's behalf: the one rule for every outbound target a
tenant names (a notification channel's host, an external Git repository's host).

SSRF: such a connection must not reach the server's own network (a cloud metadata endpoint, an
admin port on loopback, a database on 10.x) unless the operator allows private networks for the
installation (``CRONTOPUS_ALLOW_PRIVATE_NETWORKS``). A host is resolved and every address it
resolves to is judged; one non-public address is enough to refuse it, since the connection may
use any of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket

from crontopus_kit.errors import Invalid

ALLOW_SETTING = "CRONTOPUS_ALLOW_PRIVATE_NETWORKS"
RESOLVE_TIMEOUT = 5.0

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class PrivateTarget(Invalid):
    """A tenant named a host that resolves to a non-public address."""


def address_refusal(address: str) -> str | None:
    """Why a connection to this IP address is refused (e.g. "loopback"), or None if it is public."""
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "unparseable"
    if isinstance(ip, ipaddress.IPv6Address):  # an IPv4 address wrapped in IPv6 is judged as IPv4
        ip = _embedded_ipv4(ip) or ip
    for kind, hit in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("non-public", not ip.is_global),
    ):
        if hit:
            return kind
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.ipv4_mapped or ip.sixtofour


async def resolve(host: str) -> list[str]:
    """The host's addresses; [] when it does not resolve (now): nothing to reach, nothing to refuse.
    Callers that connect later check the address actually used as well (DNS can change)."""
    with contextlib.suppress(ValueError):
        return [str(ipaddress.ip_address(host.strip("[]")))]
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


def refusal_message(host: str, address: str, problem: str, *, what: str) -> str:
    where = host if host == address else f"{host} ({address})"
    return (
        f"{where} is a {problem} address; {what} to private, loopback or link-local addresses are "
        f"switched off ({ALLOW_SETTING})"
    )


async def check_host(host: str, *, allow_private: bool, field: str, what: str) -> list[str]:
    """The host's public addresses, or PrivateTarget ("<field>: ... is a loopback address ...")
    when any address it resolves to is not public and the operator has not allowed private
    networks. ``what`` names the traffic in the message ("notifications", "repositories")."""
    addresses = await resolve(host)
    if allow_private:
        return addresses
    for address in addresses:
        problem = address_refusal(address)
        if problem:
            raise PrivateTarget(f"{field}: {refusal_message(host, address, problem, what=what)}")
    return addresses
