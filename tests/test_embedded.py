"""`crontopus-server run all` on the embedded default, as `make run` starts it."""

import contextlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from crontopus_kit.nats_server import free_port, port_is_open
from crontopus_server import serving
from crontopus_server.platform import last_nats_port
from crontopus_server.testing import start_run_all, stop_run_all, wait_healthy

pytestmark = pytest.mark.slow


def test_two_embedded_stacks_run_side_by_side_and_keep_their_data(tmp_path):
    ports = [free_port(), free_port()]
    built, unbuilt = tmp_path / "built", tmp_path / "unbuilt"  # a console for the first stack only
    built.mkdir()
    unbuilt.mkdir()
    (built / "index.html").write_text("<!doctype html><title>Crontopus</title>")
    stacks = [
        start_run_all(tmp_path / f"data-{i}", port, tmp_path / f"stack-{i}.log", CRONTOPUS_WEB_DIR=str(web))
        for i, (port, web) in enumerate(zip(ports, (built, unbuilt), strict=True))
    ]
    try:
        for port, process in zip(ports, stacks, strict=True):
            wait_healthy(port, process)
        nats_urls = {(tmp_path / f"data-{i}" / "nats.url").read_text() for i in range(2)}
        assert len(nats_urls) == 2, "each stack has its own embedded NATS"
        body = {"username": "alice", "email": "a@example.com", "password": "long enough pw", "tenant": "alice-team"}
        assert httpx.post(f"http://127.0.0.1:{ports[0]}/api/auth/register", json=body).status_code == 201
        assert httpx.post(f"http://127.0.0.1:{ports[1]}/api/auth/register", json=body).status_code == 201
    finally:
        for process in stacks:
            stop_run_all(process)
    banner = (tmp_path / "stack-0.log").read_text()
    assert f"http://127.0.0.1:{ports[0]}" in banner and "Sign up" in banner
    assert f"web console:  http://127.0.0.1:{ports[0]}\n" in banner
    assert f"web console:  not built ({unbuilt} has no index.html): make web" in (tmp_path / "stack-1.log").read_text()
    for name in ("identity.db", "runs.db", "secret.key", "nats"):
        assert (tmp_path / "data-0" / name).exists(), name


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_dir_and_what_crontopus_writes_in_it_are_private_even_if_an_older_version_left_them_open(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "identity.db").touch(mode=0o644)  # an empty file is an empty SQLite database
    (data / "identity.db").chmod(0o644)
    port = free_port()
    server = start_run_all(data, port, tmp_path / "server.log")
    body = {"username": "alice", "email": "a@example.com", "password": "long enough pw", "tenant": "alice-team"}
    try:
        wait_healthy(port, server)
        assert httpx.post(f"http://127.0.0.1:{port}/api/auth/register", json=body).status_code == 201
        _wait_for(lambda: (data / "agent" / "credentials.json").exists(), 30, 0.2)
        assert _mode(data) == 0o700 and _mode(data / "agent") == 0o700 and _mode(data / "nats") == 0o700
        files = [p for p in data.iterdir() if p.is_file()]
        assert {"identity.db", "identity.db-wal", "identity.db-shm", "runs.db", "secret.key", "nats.url",
                "nats-server.conf", "nats-server.log"} <= {p.name for p in files}  # fmt: skip
        store = [p for p in (data / "nats").rglob("*")]
        assert store, "JetStream wrote its store"
        readable_by_others = {str(p.relative_to(data)): oct(_mode(p)) for p in files + store if _mode(p) & 0o077}
        assert readable_by_others == {}
    finally:
        stop_run_all(server)
    assert "could be read by other users (mode 755): made private (700)" in (tmp_path / "server.log").read_text()


def test_a_killed_stack_leaves_no_nats_server_behind_and_restarts_with_its_data(tmp_path):
    port = free_port()
    first = start_run_all(tmp_path / "data", port, tmp_path / "first.log")
    body = {"username": "alice", "email": "a@example.com", "password": "long enough pw", "tenant": "alice-team"}
    try:
        wait_healthy(port, first)
        assert httpx.post(f"http://127.0.0.1:{port}/api/auth/register", json=body).status_code == 201
        nats_port = int((tmp_path / "data" / "nats.url").read_text().strip().rsplit(":", 1)[1])
    finally:  # the crash this test is about; also when a step above failed, so nothing outlives it
        first.send_signal(signal.SIGKILL)
        first.wait()
    deadline = time.monotonic() + 10
    while port_is_open("127.0.0.1", nats_port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not port_is_open("127.0.0.1", nats_port), "the embedded nats-server outlived its parent"
    second = start_run_all(tmp_path / "data", port, tmp_path / "second.log")
    try:
        wait_healthy(port, second)
        again = httpx.post(f"http://127.0.0.1:{port}/api/auth/register", json=body)
        assert again.status_code == 409, "the user registered before the crash is still there"
        assert last_nats_port(tmp_path / "data") == nats_port, "NATS where the agents enrolled with it look"
    finally:
        stop_run_all(second)


def test_a_local_agent_follows_its_server_to_another_nats_port_when_its_old_one_is_taken(tmp_path):
    port, data = free_port(), tmp_path / "data"
    body = {"username": "alice", "email": "a@example.com", "password": "long enough pw", "tenant": "alice-team"}
    first = start_run_all(data, port, tmp_path / "first.log")
    try:
        wait_healthy(port, first)
        httpx.post(f"http://127.0.0.1:{port}/api/auth/register", json=body)
        _wait_for(lambda: [a for a in _local_agents(port, _login(port, body)) if a["status"] == "online"], 30)
    finally:
        stop_run_all(first)
    old_port = last_nats_port(data)
    with socket.create_server(("127.0.0.1", old_port)):  # another program took it meanwhile
        restarted = datetime.now(UTC)
        second = start_run_all(data, port, tmp_path / "second.log")
        try:
            wait_healthy(port, second)
            headers = _login(port, body)

            def seen_since_restart() -> bool:
                return any(datetime.fromisoformat(a["last_seen_at"]) > restarted for a in _local_agents(port, headers))

            _wait_for(seen_since_restart, 45)
        finally:
            stop_run_all(second)
    assert last_nats_port(data) != old_port
    assert "the embedded NATS's port of last time is taken" in (tmp_path / "second.log").read_text()


def _login(port: int, body: dict) -> dict:
    form = {"username": body["username"], "password": body["password"]}
    token = httpx.post(f"http://127.0.0.1:{port}/api/auth/login", data=form).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _local_agents(port: int, headers: dict) -> list[dict]:
    return list(httpx.get(f"http://127.0.0.1:{port}/api/agents", headers=headers).json()["agents"])


def _wait_for(condition, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"not within {timeout}s"
        time.sleep(interval)
    return value


def test_make_run_enrolls_a_local_agent_into_the_first_team_and_it_runs_the_example_job(tmp_path):
    port = free_port()
    server = start_run_all(tmp_path / "data", port, tmp_path / "first.log")
    body = {"username": "alice", "email": "a@example.com", "password": "long enough pw", "tenant": "alice-team"}
    try:
        wait_healthy(port, server)
        assert httpx.post(f"http://127.0.0.1:{port}/api/auth/register", json=body).status_code == 201
        headers = _login(port, body)
        # Online from its first heartbeat; the jobs it installed come with the report after its first sync.
        [agent] = _wait_for(
            lambda: [a for a in _local_agents(port, headers) if a["jobs"] and a["status"] == "online"], 30
        )
        assert (agent["name"], agent["scheduler"]) == ("local", "builtin")
        assert "staging/hello" in agent["jobs"]
        params = {"job": "staging/hello", "status": "success"}
        _wait_for(
            lambda: httpx.get(f"http://127.0.0.1:{port}/api/runs", params=params, headers=headers).json()["runs"], 75
        )
        nats_port = int((tmp_path / "data" / "nats.url").read_text().strip().rsplit(":", 1)[1])
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
    _wait_for(lambda: not port_is_open("127.0.0.1", nats_port), 10, 0.1)  # SIGTERM stops the embedded NATS too
    banner = (tmp_path / "first.log").read_text()
    if len(os.sched_getaffinity(0)) >= 2:  # a core each for two: the default, unless CRONTOPUS_WORKERS says
        assert "gateway (2 processes, CRONTOPUS_WORKERS)" in banner
    else:
        assert "services:     gateway, identity" in banner


def test_a_local_agent_whose_home_was_deleted_is_replaced_by_a_new_one(tmp_path):
    port = free_port()
    body = {"username": "alice", "email": "a@example.com", "password": "long enough pw", "tenant": "alice-team"}
    first = start_run_all(tmp_path / "data", port, tmp_path / "first.log")
    try:
        wait_healthy(port, first)
        httpx.post(f"http://127.0.0.1:{port}/api/auth/register", json=body)
        headers = _login(port, body)
        [old] = _wait_for(lambda: [a for a in _local_agents(port, headers) if a["status"] == "online"], 30)
    finally:
        stop_run_all(first)
    shutil.rmtree(tmp_path / "data" / "agent")
    second = start_run_all(tmp_path / "data", port, tmp_path / "second.log")
    try:
        wait_healthy(port, second)
        headers = _login(port, body)
        [new] = _wait_for(lambda: [a for a in _local_agents(port, headers) if a["status"] == "online"], 30)
        statuses = {a["id"]: a["status"] for a in _local_agents(port, headers)}
    finally:
        stop_run_all(second)
    assert new["id"] != old["id"] and statuses[old["id"]] == "revoked"


def test_with_two_workers_two_processes_answer_the_port_and_a_ping_pairs_whichever_took_it(tmp_path):
    port = free_port()
    env = {"CRONTOPUS_WORKERS": "2", "CRONTOPUS_LOCAL_AGENT": "off"}
    server = start_run_all(tmp_path / "data", port, tmp_path / "server.log", **env)
    body = {"username": "alice", "email": "a@example.com", "password": "long enough pw", "tenant": "alice-team"}
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(port, server)
        # Each request on a new connection: the kernel hands it to either process.
        started = _wait_for(lambda: len(starts := {_process_start(base) for _ in range(40)}) == 2 and starts, 30)
        assert len(started) == 2, "two processes, started at different moments, answer on the port"
        assert "gateway (2 processes, CRONTOPUS_WORKERS)" in (tmp_path / "server.log").read_text()
        # Fifty connections opened at once (a load balancer's pool, wrk) are spread over both:
        # on one shared socket the first process to wake took every one that was waiting.
        spread = _answering_processes(port, 50)
        assert len(spread) == 2 and min(spread.values()) >= 10, spread
        assert httpx.post(f"{base}/api/auth/register", json=body).status_code == 201
        headers = _login(port, body)
        jobs = _wait_for(lambda: httpx.get(f"{base}/api/jobs", headers=headers).json()["jobs"], 30)
        ping = next(job["ping_url"] for job in jobs if job["job"] == "staging/hello").split(str(port), 1)[1]
        for _ in range(10):
            assert httpx.get(f"{base}{ping}/start").status_code == 200
            assert httpx.get(f"{base}{ping}").status_code == 200
        params = {"job": "staging/hello", "limit": 50}
        _wait_for(lambda: len(_finished(base, params, headers)) == 10, 20, 0.2)
        runs = httpx.get(f"{base}/api/runs", params=params, headers=headers).json()["runs"]
        assert len(runs) == 10 and all(r["status"] == "success" and r["started_at"] for r in runs), (
            "each finish closed the run its start opened, whichever process took either"
        )
    finally:
        stop_run_all(server)
    assert not port_is_open("127.0.0.1", port), "every gateway process stopped with it"


def test_with_two_workers_a_rate_limit_holds_for_the_server_not_for_each_process(tmp_path):
    port = free_port()
    env = {"CRONTOPUS_WORKERS": "2", "CRONTOPUS_LOCAL_AGENT": "off", "CRONTOPUS_GATEWAY_RATE_LIMIT_PING_URL": "1",
           "CRONTOPUS_GATEWAY_RATE_LIMIT_PING_URL_BURST": "5"}  # fmt: skip
    server = start_run_all(tmp_path / "data", port, tmp_path / "server.log", **env)
    try:
        wait_healthy(port, server)
        base = f"http://127.0.0.1:{port}"
        _wait_for(lambda: len({_process_start(base) for _ in range(40)}) == 2, 30)  # both serve
        # Each on a new connection: either process takes it (20 all to one: one chance in 500,000).
        answers = [httpx.get(f"http://127.0.0.1:{port}/ping/{'k' * 22}").status_code for _ in range(20)]
    finally:
        stop_run_all(server)
    assert answers == [404] * 5 + [429] * 15, "the burst of 5 once for the server, not 5 per process"


ORPHAN = """
import multiprocessing, os, sys
from crontopus_server.serving import gateway_worker
if __name__ == "__main__":
    listen, nats_url = ("127.0.0.1", int(sys.argv[1])), sys.argv[2]
    args = (listen, nats_url, None, os.getpid())
    worker = multiprocessing.get_context("spawn").Process(target=gateway_worker, args=args)
    worker.start()
    print(worker.pid, flush=True)
    worker.join()
"""


@pytest.mark.parametrize("after", [3.0, 0.0], ids=["during-its-start-up", "before-it-got-going"])
def test_a_gateway_process_whose_server_was_killed_ends_too(tmp_path, after):
    """Its start-up waits for NATS (here: none, as when the embedded one died with the server);
    or the server died before this process could ask to die with it: it ends anyway."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRONTOPUS_")}
    env["CRONTOPUS_DATA_DIR"] = str(tmp_path / "data")
    command = [sys.executable, "-c", ORPHAN, str(free_port()), f"nats://127.0.0.1:{free_port()}"]
    parent = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert parent.stdout is not None
    worker = int(parent.stdout.readline())
    time.sleep(after)  # 3 s: well into its start-up, waiting for NATS; 0: still importing Python
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + serving.STOP_SECONDS + 5
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(worker), "the gateway process outlived its server"


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting for its new parent to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _answering_processes(port: int, count: int) -> Counter[str]:
    """How many of ``count`` connections, all opened before any is used, each process answers."""
    connections = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]
    try:
        for connection in connections:
            connection.sendall(b"GET /metrics HTTP/1.1\r\nHost: crontopus\r\nConnection: close\r\n\r\n")
        return Counter(_start_line(_read_to_end(connection)) for connection in connections)
    finally:
        for connection in connections:
            connection.close()


def _read_to_end(connection: socket.socket) -> str:
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks).decode()


def _start_line(metrics: str) -> str:
    return next(line for line in metrics.splitlines() if line.startswith("process_start_time_seconds"))


def _process_start(base: str) -> str:
    """The answering process's start time, from its /metrics (a fresh connection each call)."""
    return _start_line(httpx.get(f"{base}/metrics").text)


def _finished(base: str, params: dict, headers: dict) -> list[dict]:
    runs = httpx.get(f"{base}/api/runs", params=params, headers=headers).json()["runs"]
    return [run for run in runs if run["finished_at"]]


def test_a_port_another_server_listens_on_is_refused_even_if_it_shares_with_so_reuseport():
    """Two gateway processes share their port; a second platform started on it must not join them."""
    other = serving._bind("127.0.0.1", 0)
    other.listen()
    try:
        with pytest.raises(SystemExit):
            serving._bind_first("127.0.0.1", other.getsockname()[1])
    finally:
        other.close()
    mine = serving._bind_first("127.0.0.1", 0)
    assert mine.getsockname()[1] > 0
    mine.close()


def test_a_second_stack_on_a_port_in_use_says_so_before_starting_anything(tmp_path):
    """No banner sending the user to the other server, no embedded NATS left behind."""
    other = socket.create_server(("127.0.0.1", 0))
    port = other.getsockname()[1]
    try:
        second = start_run_all(tmp_path / "data", port, tmp_path / "second.log")
        assert second.wait(timeout=30) != 0
    finally:
        other.close()
    output = (tmp_path / "second.log").read_text()
    assert f"error: port {port} is in use (another Crontopus or program listens there): CRONTOPUS_PORT=" in output
    assert "make run" in output and "Sign up" not in output and "Traceback" not in output
    assert not (tmp_path / "data" / "nats.url").exists(), "the embedded NATS was started"


def test_ctrl_c_of_the_whole_process_group_stops_quietly_with_status_0(tmp_path):
    """A terminal's Ctrl-C signals every process of `make run`'s group: the agent and nats-server too."""
    port = free_port()
    server = start_run_all(tmp_path / "data", port, tmp_path / "server.log", own_group=True)
    body = {"username": "alice", "email": "a@example.com", "password": "long enough pw", "tenant": "alice-team"}
    try:
        wait_healthy(port, server)
        assert httpx.post(f"http://127.0.0.1:{port}/api/auth/register", json=body).status_code == 201
        _wait_for(lambda: _agent_processes(str(tmp_path / "data" / "agent")), 30)
        os.killpg(server.pid, signal.SIGINT)
        assert server.wait(timeout=30) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
    output = (tmp_path / "server.log").read_text()
    assert "Traceback" not in output and "shutdown failed" not in output
    assert "local agent exited" not in output


def test_ctrl_c_while_a_gateway_process_is_still_starting_stops_quietly(tmp_path):
    port = free_port()
    log = tmp_path / "server.log"
    env = {"CRONTOPUS_WORKERS": "2", "CRONTOPUS_LOCAL_AGENT": "off"}
    server = start_run_all(tmp_path / "data", port, log, own_group=True, **env)
    try:
        _wait_for(lambda: "gateway processes started" in log.read_text(), 30, 0.01)
        os.killpg(server.pid, signal.SIGINT)  # the second process is still importing Python
        assert server.wait(timeout=30) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
    assert "Traceback" not in log.read_text()


def _agent_processes(home: str) -> list[int]:
    """Pids of `crontopus-agent run --home <home>`."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if b"crontopus_agent" in argv and home.encode() in argv:
                found.append(int(entry.name))
    return found


def test_a_server_whose_local_agent_runs_hosts_one_team_and_the_agent_gets_none_of_its_settings(tmp_path):
    """The agent's jobs run as the server's user, beside every team's data (docs/security.md)."""
    port, home = free_port(), str(tmp_path / "data" / "agent")
    server = start_run_all(tmp_path / "data", port, tmp_path / "server.log")
    alice = {"username": "alice", "email": "a@example.com", "password": "long enough pw", "tenant": "alice-team"}
    bob = {"username": "bob", "email": "b@example.com", "password": "long enough pw", "tenant": "bob-team"}
    try:
        wait_healthy(port, server)
        assert httpx.post(f"http://127.0.0.1:{port}/api/auth/register", json=alice).status_code == 201
        refused = httpx.post(f"http://127.0.0.1:{port}/api/auth/register", json=bob)
        assert refused.status_code == 403 and "at most one team" in refused.json()["detail"]
        [agent] = _wait_for(lambda: _agent_processes(home), 30)
        environment = Path(f"/proc/{agent}/environ").read_bytes().split(b"\0")
        assert [name for name in environment if name.startswith(b"CRONTOPUS_")] == []  # not even the data dir
    finally:
        stop_run_all(server)


def test_a_local_agent_stops_when_its_server_hosts_a_second_team(tmp_path):
    port, home = free_port(), str(tmp_path / "data" / "agent")
    server = start_run_all(tmp_path / "data", port, tmp_path / "server.log", CRONTOPUS_IDENTITY_MAX_TEAMS="5")
    alice = {"username": "alice", "email": "a@example.com", "password": "long enough pw", "tenant": "alice-team"}
    bob = {"username": "bob", "email": "b@example.com", "password": "long enough pw", "tenant": "bob-team"}
    try:
        wait_healthy(port, server)
        assert httpx.post(f"http://127.0.0.1:{port}/api/auth/register", json=alice).status_code == 201
        _wait_for(lambda: _agent_processes(home), 30)
        assert httpx.post(f"http://127.0.0.1:{port}/api/auth/register", json=bob).status_code == 201
        _wait_for(lambda: not _agent_processes(home), 30)
        assert "the local agent serves a server of one team only" in (tmp_path / "server.log").read_text()
    finally:
        stop_run_all(server)


@pytest.mark.parametrize("service", ["gateway", "identity"])
def test_a_process_stopped_while_it_waits_for_nats_ends_with_one_line_and_status_0(tmp_path, service):
    """`docker stop` or Ctrl-C of a process whose NATS is not there yet is a stop, not a crash:
    no start-up traceback in the log, no failed status for its supervisor."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRONTOPUS_")}
    env |= {"CRONTOPUS_NATS_URL": f"nats://{service}@127.0.0.1:{free_port()}", "CRONTOPUS_SECRET_KEY": "s0123456789"*4,
            "CRONTOPUS_DATABASE_URL": f"sqlite:///{tmp_path}/{service}.db", "CRONTOPUS_LOG_FORMAT": "json"}  # fmt: skip
    command = [sys.executable, "-m", "crontopus_server.cli", "run", service, "--port", str(free_port())]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    lines = []
    for line in process.stdout:  # the first warning comes after 10 s of waiting
        lines.append(line)
        if "waiting for NATS" in line:
            break
    process.send_signal(signal.SIGTERM)
    lines += process.stdout.readlines()
    assert process.wait(timeout=30) == 0, "".join(lines)
    log = "".join(lines)
    assert "stopped (SIGINT or SIGTERM) while waiting for NATS; nothing had started" in log
    assert "Traceback" not in log
