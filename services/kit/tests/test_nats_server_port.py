"""A test's nats-server on a port another process took between choosing it and binding it (tests
run in several processes) moves to another port instead of failing, or of letting clients reach
the other process."""

import socket

from crontopus_kit import nats_server


def test_a_taken_port_moves_the_server_to_another(tmp_path, monkeypatch):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    picks, real = iter([busy]), nats_server.free_port
    monkeypatch.setattr(nats_server, "free_port", lambda host="127.0.0.1": next(picks, None) or real(host))
    server = nats_server.NatsServerProcess(store_dir=tmp_path / "nats")
    assert server.port == busy
    server.start()
    try:
        assert server.port != busy and server.process is not None and server.process.poll() is None
    finally:
        server.stop()
        taken.close()


def test_free_ports_are_chosen_below_the_ports_outgoing_connections_take():
    """A port from the ephemeral range can become some connection's source port before a test's
    server binds it; below the range only listeners take ports."""
    first_ephemeral = nats_server._first_ephemeral_port()
    ports = {nats_server.free_port() for _ in range(20)}
    if first_ephemeral > nats_server.LOWEST_PORT + 1000:
        assert all(nats_server.LOWEST_PORT <= port < first_ephemeral for port in ports), ports
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # still free
