"""A relay on 127.0.0.1 for one fetch or push of an https:// (or http://) repository: libgit2
speaks plain HTTP to the relay, and the relay makes the real connection.

Why libgit2 does not connect by itself:
- DNS rebinding: libgit2 resolves host names itself, so a host checked before a fetch may resolve
  to 127.0.0.1 a moment later (a TTL of 0). The relay resolves the host once, refuses it when any
  address is not public (crontopus_kit.egress's rule, unless the operator allows private
  networks) and connects only to the addresses it checked.
- Redirects: libgit2 follows a redirect of its first request to any host, around every check.
  The relay refuses redirects; the message says where the host pointed.
- Time: libgit2 has no deadline for a whole fetch. The relay cuts every connection at the
  operation's deadline, and when nothing moved either way within the idle timeout.
- TLS is made here, with Python's ssl: the system's CA certificates (SSL_CERT_FILE and
  SSL_CERT_DIR, as for every OpenSSL program) and host name checks. libgit2 could tunnel its own
  TLS through an HTTP CONNECT proxy instead, but 1.9.7 then hangs for good after refusing a
  certificate while a server timeout is set (it polls a socket it already freed), and it ignores
  proxies for http://.

One request per connection (``Connection: close`` both ways), so the relay reads only the head of
each request (to put the real host into ``Host``) and of each response (to refuse redirects);
bodies pass through untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from dataclasses import dataclass
from typing import Self

from crontopus_gitops.remote_url import RemoteUrl
from crontopus_kit.egress import PrivateTarget, address_refusal, check_host
from crontopus_kit.logging import get_logger

log = get_logger(__name__)
MAX_CONNECTIONS = 8  # at once, per operation; libgit2 uses one at a time
MAX_HEAD = 64 * 1024
CHUNK = 64 * 1024
_HOP_BY_HOP = re.compile(rb"^(connection|keep-alive|proxy-[a-z-]*|host|upgrade|te)\s*:", re.IGNORECASE)
_REDIRECTS = {301, 302, 303, 307, 308}

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass
class RelayReport:
    """What the relay saw, so an error can say what the user can act on instead of what libgit2
    made of a cut connection."""

    refused: str | None = None  # why the host is not reached (egress's message)
    unresolved: bool = False
    unreachable: bool = False  # no address accepted a connection within the connect timeout
    tls_invalid: bool = False  # the host's certificate is not valid for its name
    tls_failed: bool = False  # no TLS handshake (not an https server?)
    redirect: str | None = None  # the host a redirect pointed to
    stalled: bool = False  # nothing moved within the idle timeout
    expired: bool = False  # the operation's deadline cut it
    private: bool = False  # the host has a non-public address (reachable: the operator allows it)
    answered: bool = False  # an HTTP response came back


class Relay:
    """``async with Relay(target, ...) as relay:`` run the operation against ``relay.url``."""

    def __init__(
        self,
        target: RemoteUrl,
        *,
        allow_private: bool,
        connect_timeout: float,
        idle_timeout: float,
        deadline: float,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.target = target
        self.allow_private = allow_private
        self.connect_timeout, self.idle_timeout, self.deadline = connect_timeout, idle_timeout, deadline
        self.tls = (tls or ssl.create_default_context()) if target.scheme == "https" else None
        self.report = RelayReport()
        self._addresses: list[str] | None = None
        self._resolving = asyncio.Lock()
        self._server: asyncio.Server | None = None
        self._streams: set[asyncio.StreamWriter] = set()  # both sides of every connection, to cut them
        self._open = 0
        self._moved_at = 0.0
        self._timers: list[asyncio.TimerHandle | asyncio.Task[None]] = []

    @property
    def url(self) -> str:
        """The repository's URL as libgit2 gets it: same user and path, the relay as host."""
        if self._server is None:
            raise RuntimeError("Relay.url is only there inside `async with`")
        port = self._server.sockets[0].getsockname()[1]
        user = f"{self.target.userinfo}@" if self.target.userinfo else ""
        return f"http://{user}127.0.0.1:{port}{self.target.path}"

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=MAX_HEAD)
        self._moved_at = loop.time()
        self._timers = [loop.call_later(self.deadline, self._expire), loop.create_task(self._watch_idle())]
        return self

    async def __aexit__(self, *_: object) -> None:
        for timer in self._timers:
            timer.cancel()
        self._cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # --- time ------------------------------------------------------------------------------

    def _expire(self) -> None:
        self.report.expired = True
        self._cut()

    def _moved(self) -> None:
        self._moved_at = asyncio.get_running_loop().time()

    async def _watch_idle(self) -> None:
        """Cut when a connection is open and nothing moved for the idle timeout. Between
        connections libgit2 works on its own (indexing a pack), which is not a stall."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(self.idle_timeout / 4, 1.0))
            if self._open and loop.time() - self._moved_at > self.idle_timeout:
                self.report.stalled = True
                self._cut()

    def _cut(self) -> None:
        for stream in list(self._streams):
            stream.transport.abort()
        self._streams.clear()

    # --- one connection from libgit2 ----------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.report.expired or self._open >= MAX_CONNECTIONS:
            writer.transport.abort()
            return
        self._open += 1
        self._moved()
        self._streams.add(writer)
        upstream: Stream | None = None
        try:
            request = _request_head(await reader.readuntil(b"\r\n\r\n"), host=self._host_header())
            if request is None:
                await _answer(writer, 400)
                return
            upstream = await self._connect()
            if upstream is None:
                await _answer(writer, 502)
                return
            self._streams.add(upstream[1])
            upstream[1].write(request)
            await self._exchange((reader, writer), upstream)
        except (OSError, EOFError, asyncio.LimitOverrunError, ssl.SSLError):
            pass  # libgit2 sees the connection end; the report says why when it matters
        finally:
            self._open -= 1
            for stream in (writer, upstream[1]) if upstream else (writer,):
                self._streams.discard(stream)
                stream.transport.abort()

    async def _exchange(self, client: Stream, upstream: Stream) -> None:
        upload = asyncio.create_task(self._pump(client[0], upstream[1]))
        try:
            head = await upstream[0].readuntil(b"\r\n\r\n")
            response = self._response_head(head)
            if response is None:
                await _answer(client[1], 502)
                return
            self.report.answered = True
            client[1].write(response)
            await self._pump(upstream[0], client[1])
            client[1].close()  # all of the response is written: close, do not reset
            await client[1].wait_closed()
        finally:
            upload.cancel()

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while chunk := await source.read(CHUNK):
            self._moved()
            sink.write(chunk)
            await sink.drain()

    def _response_head(self, head: bytes) -> bytes | None:
        """The response head with ``Connection: close``; None (and the report says where to) for
        a redirect, which libgit2 would follow straight to the host named, past the relay."""
        status_line, _, rest = head.partition(b"\r\n")
        parts = status_line.split(b" ", 2)
        status = int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else 0
        if status in _REDIRECTS:
            location = re.search(rb"(?im)^location\s*:\s*(\S+)", rest)
            self.report.redirect = _host_of(location.group(1).decode("latin-1")) if location else "elsewhere"
            return None
        return _with_close(status_line, rest)

    # --- the real connection -----------------------------------------------------------------

    def _host_header(self) -> bytes:
        target = self.target
        host = f"[{target.host}]" if ":" in target.host else target.host
        default = {"https": 443, "http": 80}[target.scheme]
        return (host if target.port == default else f"{host}:{target.port}").encode("ascii")

    async def _checked_addresses(self) -> list[str]:
        """Resolved and judged once per operation: every connection goes to these addresses."""
        async with self._resolving:
            if self._addresses is None:
                self._addresses = await self._judge(self.target.host)
            return self._addresses

    async def _judge(self, host: str) -> list[str]:
        try:
            addresses = await check_host(host, allow_private=self.allow_private, field="url", what="repositories")
        except PrivateTarget as refused:
            self.report.refused = refused.message
            log.info("repository host refused at connect time", host=host, reason=refused.message)
            return []
        self.report.unresolved = not addresses
        self.report.private = any(address_refusal(address) for address in addresses)
        return addresses

    async def _connect(self) -> Stream | None:
        """A connection to the first checked address that answers within the connect timeout
        (TLS included for https)."""
        addresses = await self._checked_addresses()
        if not addresses:
            return None
        try:
            async with asyncio.timeout(self.connect_timeout):
                for address in addresses:
                    with contextlib.suppress(OSError):
                        return await self._open_to(address)
        except TimeoutError:
            pass
        self.report.unreachable = not (self.report.tls_invalid or self.report.tls_failed)
        return None

    async def _open_to(self, address: str) -> Stream:
        if self.tls is None:
            return await asyncio.open_connection(address, self.target.port, limit=CHUNK)
        try:
            return await asyncio.open_connection(
                address, self.target.port, limit=CHUNK, ssl=self.tls, server_hostname=self.target.host
            )
        except ssl.SSLCertVerificationError as refused:
            self.report.tls_invalid = True
            log.info("repository host's certificate refused", host=self.target.host, reason=refused.verify_message)
            raise
        except ssl.SSLError:
            self.report.tls_failed = True
            raise


def _request_head(head: bytes, *, host: bytes) -> bytes | None:
    """libgit2's request head with the real ``Host`` and ``Connection: close``; None unless it
    is a plain origin-form request (all libgit2 sends)."""
    request_line, _, rest = head.partition(b"\r\n")
    parts = request_line.split(b" ")
    if len(parts) != 3 or parts[0] not in (b"GET", b"POST") or not parts[1].startswith(b"/"):
        return None
    return _with_close(request_line, rest, extra=b"Host: " + host + b"\r\n")


def _with_close(first_line: bytes, rest: bytes, *, extra: bytes = b"") -> bytes:
    headers = [line for line in rest.split(b"\r\n") if line and not _HOP_BY_HOP.match(line)]
    kept = b"".join(line + b"\r\n" for line in headers)
    return first_line + b"\r\n" + extra + kept + b"Connection: close\r\n\r\n"


def _host_of(location: str) -> str:
    match = re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/]*@)?([^/:?#]+|\[[^\]]*\])", location)
    return match.group(1)[:253] if match else "elsewhere on the same host"


async def _answer(writer: asyncio.StreamWriter, status: int) -> None:
    writer.write(f"HTTP/1.1 {status} Relay\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
