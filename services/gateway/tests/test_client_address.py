"""Who the client is, for per-address limits: the TCP peer, unless it is a trusted proxy; then the
X-Forwarded-For chain read from the right. uvicorn's own proxy-header handling stays off."""

from __future__ import annotations

from ipaddress import ip_network

import pytest
import uvicorn

from crontopus_gateway.addresses import client_address
from crontopus_gateway.settings import GatewaySettings
from crontopus_server import cli

PASSWORD = "correct horse battery staple"
TRUST_LOOPBACK = {"CRONTOPUS_GATEWAY_TRUSTED_PROXIES": '["127.0.0.1"]'}


def scope(peer: str | None, *forwarded: str) -> dict:
    return {"client": (peer, 4711) if peer else None, "headers": [(b"x-forwarded-for", f.encode()) for f in forwarded]}


def nets(*networks: str) -> list:
    return [ip_network(network) for network in networks]


# --- the rule -------------------------------------------------------------------------------------


def test_without_trusted_proxies_the_peer_is_the_client_whatever_it_forwards():
    assert client_address(scope("127.0.0.1", "203.0.113.9"), []) == "127.0.0.1"
    assert client_address(scope("198.51.100.7", "203.0.113.9"), nets("10.0.0.0/8")) == "198.51.100.7"


def test_behind_a_trusted_proxy_the_right_most_untrusted_address_is_the_client():
    # The client wrote "1.1.1.1" itself; the proxy appended the address it saw.
    assert client_address(scope("10.0.0.2", "1.1.1.1, 203.0.113.9"), nets("10.0.0.0/8")) == "203.0.113.9"


def test_a_chain_of_trusted_proxies_given_as_networks_is_walked_through():
    chain = scope("10.0.0.2", "1.1.1.1, 203.0.113.9, 192.168.1.5, 10.0.3.3")
    assert client_address(chain, nets("10.0.0.0/8", "192.168.0.0/16")) == "203.0.113.9"


def test_several_forwarded_for_lines_are_one_chain_in_order():
    assert client_address(scope("10.0.0.2", "1.1.1.1", "203.0.113.9"), nets("10.0.0.0/8")) == "203.0.113.9"


def test_garbage_or_nothing_beyond_a_trusted_proxy_leaves_the_last_vouched_for_address():
    trusted = nets("10.0.0.0/8")
    assert client_address(scope("10.0.0.2", "evil, 10.0.0.7"), trusted) == "10.0.0.7"
    assert client_address(scope("10.0.0.2"), trusted) == "10.0.0.2"
    assert client_address(scope(None, "1.1.1.1"), trusted) == "unknown"


def test_ports_brackets_ipv6_and_ipv4_mapped_peers_are_understood():
    assert client_address(scope("::ffff:10.0.0.2", "203.0.113.9:5555"), nets("10.0.0.0/8")) == "203.0.113.9"
    assert client_address(scope("fd00::1", "[2001:db8::1]:443"), nets("fd00::/8")) == "2001:db8::1"


def test_trusted_proxies_take_addresses_and_cidrs_and_refuse_anything_else(monkeypatch):
    monkeypatch.setenv("CRONTOPUS_GATEWAY_TRUSTED_PROXIES", '["127.0.0.1", "10.0.0.0/8", "fd00::/8"]')
    assert GatewaySettings().trusted_proxies == nets("127.0.0.1/32", "10.0.0.0/8", "fd00::/8")
    monkeypatch.setenv("CRONTOPUS_GATEWAY_TRUSTED_PROXIES", '["nginx"]')
    with pytest.raises(ValueError, match="not a valid IPv4 or IPv6 network"):
        GatewaySettings()


# --- uvicorn --------------------------------------------------------------------------------------


def test_the_gateway_and_services_run_without_uvicorns_proxy_headers(monkeypatch, tmp_path):
    """uvicorn would rewrite the peer from X-Forwarded-For (trusting 127.0.0.1) before we see it."""
    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append(options))
    # The gateway is served through serving.serve (one process or several): its uvicorn.Server.
    monkeypatch.setattr(
        uvicorn.Server, "run", lambda server, sockets=None: calls.append({"proxy_headers": server.config.proxy_headers})
    )
    monkeypatch.setenv("CRONTOPUS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CRONTOPUS_SECRET_KEY", "s0123456789" * 4)
    monkeypatch.setenv("CRONTOPUS_NATS_URL", "nats://127.0.0.1:4222")
    cli._run_gateway(GatewaySettings(), 8080)
    cli._run_service("runs", None)
    assert [call["proxy_headers"] for call in calls] == [False, False]


# --- against the live stack -----------------------------------------------------------------------


@pytest.fixture
def database_backend() -> str:
    return "sqlite"


@pytest.fixture
def stack_env(stack_env, request):
    limits = {"CRONTOPUS_IDENTITY_REGISTER_MAX_PER_IP": 3, "CRONTOPUS_IDENTITY_IP_MAX_ATTEMPTS": 3}
    return {**stack_env, **limits, **getattr(request, "param", {})}


def register(api, name: str, forwarded_for: str):
    body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD, "tenant": f"team-{name}"}
    return api.post("/api/auth/register", json=body, headers={"X-Forwarded-For": forwarded_for})


def login(api, name: str, forwarded_for: str):
    form = {"username": name, "password": "wrong"}
    return api.post("/api/auth/login", data=form, headers={"X-Forwarded-For": forwarded_for})


def test_rotating_x_forwarded_for_does_not_escape_the_sign_up_and_sign_in_limits(api):
    """The stack listens on 127.0.0.1 and trusts no proxy: the header is the client's own word."""
    sign_ups = [register(api, f"user{i}", f"203.0.113.{i}").status_code for i in range(4)]
    logins = [login(api, "nobody", f"198.51.100.{i}").status_code for i in range(4)]
    assert (sign_ups, logins) == ([201, 201, 201, 429], [401, 401, 401, 429])


@pytest.mark.parametrize("stack_env", [TRUST_LOOPBACK], indirect=True)
def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_limit(api):
    sign_ups = [register(api, f"user{i}", f"203.0.113.{i}").status_code for i in range(4)]
    same_address = [register(api, f"again{i}", "1.1.1.1, 198.51.100.1").status_code for i in range(4)]
    assert (sign_ups, same_address) == ([201] * 4, [201, 201, 201, 429])
