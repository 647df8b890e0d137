"""A NATS URL's login is taken out of the server URLs and given to nats-py as options (see
crontopus_kit.nats_login: a cluster's advertised nodes are otherwise logged in to anonymously)."""

from __future__ import annotations

import pytest

from crontopus_kit.broker import make_broker
from crontopus_kit.nats_login import MixedLogins, NatsLogin, nats_login


def test_a_cluster_list_becomes_bare_servers_and_one_login() -> None:
    login = nats_login("nats://runs:pa%2Fss@n1:4222, nats://runs:pa%2Fss@n2:4222,nats://runs:pa%2Fss@[::1]:4222")

    assert login == NatsLogin(
        servers=("nats://n1:4222", "nats://n2:4222", "nats://[::1]:4222"), user="runs", password="pa/ss"
    )
    assert login.connect_options() == {
        "servers": ["nats://n1:4222", "nats://n2:4222", "nats://[::1]:4222"],
        "user": "runs",
        "password": "pa/ss",
    }


def test_a_url_without_a_login_connects_without_one_and_a_user_alone_is_a_token() -> None:
    assert nats_login("nats://127.0.0.1:4222").connect_options() == {"servers": ["nats://127.0.0.1:4222"]}
    assert nats_login("tls://s3cr3t@nats:4222").connect_options() == {"servers": ["tls://nats:4222"], "token": "s3cr3t"}


def test_a_list_whose_servers_log_in_differently_is_refused_without_showing_a_password() -> None:
    with pytest.raises(MixedLogins, match="log in differently") as refused:
        nats_login("nats://runs:first-pw@n1:4222,nats://n2:4222")
    assert "first-pw" not in str(refused.value) and "nats://n2:4222: no login" in str(refused.value)

    with pytest.raises(MixedLogins, match="user 'runs' with different passwords") as refused:
        nats_login("nats://runs:one-pw@n1:4222,nats://runs:two-pw@n2:4222")
    assert "one-pw" not in str(refused.value) and "two-pw" not in str(refused.value)


def test_the_broker_gets_its_servers_without_the_password_in_them() -> None:
    broker = make_broker("nats://runs:s3cret@n1:4222,nats://runs:s3cret@n2:4222", name="test")

    options = broker._connection_kwargs  # what FastStream hands nats.connect
    assert options["servers"] == ["nats://n1:4222", "nats://n2:4222"]
    assert (options["user"], options["password"]) == ("runs", "s3cret")
