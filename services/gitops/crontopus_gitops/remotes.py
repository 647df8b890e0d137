"""Every fetch and push of an external repository goes through here: the URL rule, the host
check, the relay for http(s), time bounds, threads of its own, and errors a user can act on.

- The URL must pass crontopus_gitops.remote_url every time, not only when it is stored: a
  repository connected before the rule existed stops syncing and says how to reconnect.
- The host must resolve to public addresses (crontopus_kit.egress) unless the operator allows
  private networks. For https:// and http:// the relay (crontopus_gitops.relay) checks the
  addresses it connects to, so a name cannot change its answer after the check; for ssh://
  libssh2 connects by itself and only the check just before the operation applies (a DNS
  answer that changes within those milliseconds is not caught; known_hosts still has to know
  the host's key).
- Time: connecting within CRONTOPUS_GITOPS_CONNECT_TIMEOUT, silence of at most as long, and the
  whole operation within CRONTOPUS_GITOPS_FETCH_TIMEOUT: a hard cut by the relay for http(s),
  for ssh:// the end of the next transfer after the deadline (libssh2 cannot be interrupted).
- libgit2 blocks a thread per operation. Those threads are our own pool, never the event loop's
  default executor, so hosts that hang cannot starve the rest of the service of threads.
- Errors never carry what the remote answered. For a host on a private address (reachable only
  because the operator allows it) every failure reads the same, so a team cannot map the
  server's network by what the errors say; the server log has the details.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar

import pygit2

from crontopus_gitops import repo
from crontopus_gitops.relay import Relay, RelayReport
from crontopus_gitops.remote_url import RemoteUrl, parse
from crontopus_gitops.settings import GitopsSettings
from crontopus_kit.egress import PrivateTarget, address_refusal, check_host
from crontopus_kit.logging import get_logger

log = get_logger(__name__)
T = TypeVar("T")
# Threads blocked in libgit2 cost little; each team runs one operation at a time (its lock), so
# this many teams' hosts would all have to hang at once before another team waits for a thread.
REMOTE_THREADS = 32
PRIVATE = (
    "no Git repository answered there (the host's address is private, so no details are shown; the server log has them)"
)


class Remotes:
    """Fetches and pushes of external repositories for one gitops service."""

    def __init__(self, settings: GitopsSettings) -> None:
        self.settings = settings
        self._pool = ThreadPoolExecutor(max_workers=REMOTE_THREADS, thread_name_prefix="crontopus-git-remote")
        # Loading the system's CA certificates costs milliseconds of CPU: once, not per fetch.
        self._tls = ssl.create_default_context()
        _bound_libgit2(settings.connect_timeout)

    def close(self) -> None:
        """Running operations end by their own bounds; nothing new starts."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def target(self, url: str) -> RemoteUrl:
        """The URL's parts, or RefusedUrl ("url: ...")."""
        return parse(url, allow_http=self.settings.allow_http)

    async def check(self, url: str) -> RemoteUrl:
        """The URL rule and the host check, for connecting a repository: RefusedUrl or
        PrivateTarget (both "url: ..." 422s) before anything is fetched."""
        target = self.target(url)
        await check_host(
            target.host, allow_private=self.settings.allow_private_networks, field="url", what="repositories"
        )
        return target

    async def fetch(self, *, path: Path, url: str, branch: str, credentials: repo.Credentials | None) -> str:
        """repo.mirror_fetch within every bound; returns the branch's SHA."""
        operation = partial(_fetch, path, branch, credentials)
        return await self._run(self.target(url), operation, action=f"fetch branch {branch!r} from", branch=branch)

    async def push(self, *, path: Path, url: str, branch: str, credentials: repo.Credentials | None) -> None:
        """repo.push within every bound (HeadMoved passes through: someone pushed first)."""
        operation = partial(_push, path, branch, credentials)
        await self._run(self.target(url), operation, action=f"push branch {branch!r} to", branch=branch)

    async def _run(self, target: RemoteUrl, operation: Callable[[str, float], T], *, action: str, branch: str) -> T:
        deadline = time.monotonic() + self.settings.fetch_timeout
        loop = asyncio.get_running_loop()
        if target.scheme == "ssh":
            addresses = await check_host(
                target.host, allow_private=self.settings.allow_private_networks, field="url", what="repositories"
            )
            try:
                return await loop.run_in_executor(self._pool, operation, target.url, deadline)
            except repo.RemoteError as error:
                private = any(address_refusal(address) for address in addresses)
                raise self.explain(error, target, report=None, private=private, action=action, branch=branch) from None
        relay = Relay(
            target, allow_private=self.settings.allow_private_networks, connect_timeout=self.settings.connect_timeout,
            idle_timeout=self.settings.connect_timeout, deadline=self.settings.fetch_timeout, tls=self._tls,
        )  # fmt: skip
        async with relay:
            try:
                return await loop.run_in_executor(self._pool, operation, relay.url, deadline)
            except repo.RemoteError as error:
                if relay.report.refused:  # the host check at connect time: a 422 naming the setting
                    raise PrivateTarget(relay.report.refused) from None
                raise self.explain(
                    error, target, report=relay.report, private=relay.report.private, action=action, branch=branch
                ) from None

    def explain(
        self,
        error: repo.RemoteError,
        target: RemoteUrl,
        *,
        report: RelayReport | None,
        private: bool,
        action: str,
        branch: str,
    ) -> repo.RemoteError:
        """The same kind of error, with a message in our words (see the module's docstring)."""
        reason = _reason(error, report)
        log.info("external repository operation failed", host=target.host, port=target.port, reason=reason,
                 private=private, detail=error.detail)  # fmt: skip
        url = repo.redact_url(target.url)
        if private and reason != "no_branch":
            return repo.RemoteError(f"cannot {action} {url}: {PRIVATE}", url=url, reason="private")
        text = self._text(reason, target, report=report, branch=branch, auth=error)
        kind = repo.AuthenticationFailed if isinstance(error, repo.AuthenticationFailed) else repo.RemoteError
        return kind(f"cannot {action} {url}: {text}", url=url, reason=reason)

    def _text(
        self, reason: str, target: RemoteUrl, *, report: RelayReport | None, branch: str, auth: repo.RemoteError
    ) -> str:
        connect, whole = f"{self.settings.connect_timeout:g} s", f"{self.settings.fetch_timeout:g} s"
        texts = {
            "resolve": f"{target.host} does not resolve (check the host name)",
            "connect": f"could not connect to {target.address} within {connect}",
            "timeout": f"{target.address} stopped answering (nothing for {connect})",
            "deadline": f"{target.address} did not finish within {whole}",
            "dropped": f"{target.address} closed the connection before the transfer finished",
            "tls": f"the TLS certificate of {target.host} is not valid for it, or not signed by a CA this server "
            "trusts",
            "tls_failed": f"could not make a TLS connection to {target.address} (is it an https:// server?)",
            "hostkey": f"the SSH host key of {target.host} is not known to this server (the operator adds it to "
            "the known_hosts file of the gitops service's user)",
            "auth": "the server refused the credentials",
            "not_found": "no Git repository at that URL (check the URL; a private repository also needs credentials)",
            "no_branch": f"no branch {branch!r} there",
            "redirect": f"the host redirects to {report.redirect if report else 'elsewhere'}: connect the repository "
            "with the URL it redirects to",
            "rejected": f"the host refused the push to branch {branch!r} (a protected branch, or a hook declined it)",
            "protocol": "the answer was not a Git repository's (check the URL)",
        }
        if reason == "auth" and isinstance(auth, repo.AuthenticationFailed):
            return auth.detail  # our own words: refused, none configured, or the wrong kind
        return texts.get(reason, texts["protocol"])


def _reason(error: repo.RemoteError, report: RelayReport | None) -> str:
    """What the relay saw tells more than libgit2's view of a cut connection."""
    if report is not None:
        for seen, reason in (
            (report.expired, "deadline"),
            (report.stalled, "timeout"),
            (report.unresolved, "resolve"),
            (report.tls_invalid, "tls"),
            (report.tls_failed, "tls_failed"),
            (report.unreachable, "connect"),
            (report.redirect, "redirect"),
        ):
            if seen:
                return reason
    return error.reason


def _fetch(path: Path, branch: str, credentials: repo.Credentials | None, url: str, deadline: float) -> str:
    return repo.mirror_fetch(path, url=url, branch=branch, credentials=credentials, deadline=deadline)


def _push(path: Path, branch: str, credentials: repo.Credentials | None, url: str, deadline: float) -> None:
    repo.push(path, url=url, branch=branch, credentials=credentials, deadline=deadline)


def _bound_libgit2(connect_timeout: float) -> None:
    """libgit2's own socket timeouts, in milliseconds: connecting, and waiting for each read or
    write (what bounds a silent ssh:// host). Process-wide, but gitops is libgit2's only user in
    the process."""
    milliseconds = int(connect_timeout * 1000)
    pygit2.settings.server_connect_timeout = milliseconds
    pygit2.settings.server_timeout = milliseconds
