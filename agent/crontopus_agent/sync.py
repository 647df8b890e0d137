"""The agent's mirror of the jobs repository: ``<home>/repo``, a bare repository.

What it guarantees
- ``Mirror.sync()`` fetches the configured branch (forced: the remote is the source of truth, a
  force-push there replaces what the mirror had) and returns a ``Snapshot``: the commit SHA, every
  ``*.yaml``/``*.yml`` file under the jobs folder at that commit, and those files loaded with
  ``crontopus_schemas.manifests.load_files`` (a bad or oversized file is an error of that file;
  the good files still load).
- Manifests are read straight from the commit's tree, never from a working tree. There is no
  checkout that a person (or a crash halfway through a checkout) could leave different from the
  commit, nothing to reset, and the same code serves the online path (just fetched) and the
  offline one (``Mirror.last()``: the commit fetched last time, when the remote is unreachable
  at start-up).
- Any failure to reach the remote, a missing branch or an empty repository raises ``SyncError``
  with a message naming the URL (never a password in it). The mirror is left as it was, so the
  caller keeps the jobs of the last good commit: a remote that is down never empties the
  scheduler.
- Network waits are bounded (libgit2's connect and read timeouts), so a hung server cannot block
  a sync forever.

How (memory and CPU of an idle agent)
- Git work happens in a short-lived process (``git_mirror``, pygit2): the daemon never loads
  libgit2 and the OpenSSL copy it brings, which an idle agent would otherwise keep resident.
- Before starting one, ``sync()`` asks the remote cheaply which commit the branch is at: the
  ``info/refs`` advertisement over HTTP(S) (one GET, what ``git fetch`` starts with too), or the
  ref files of a repository on a local path. When that is the commit this mirror last read, the
  last snapshot is returned as it is. Anything unexpected in the answer (a redirect, a ref
  store it does not know, an error) just means "ask Git": the fetch process runs and reports
  what went wrong, in Git's words.

Clone URLs: a local path, ``file://``, ``http://`` and ``https://`` (anything libgit2 fetches).
A private HTTPS remote takes a login (user name and password or access token, set on the host
with `crontopus-agent repository`); it is offered once per fetch, and a refusal is a
``SyncError`` that says so without the password. SSH remotes are not supported by the agent yet.

The daemon runs one sync at a time; a ``Mirror`` is not meant to be used by two threads at once.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from crontopus_schemas.git_urls import redact_url
from crontopus_schemas.manifest import JobManifest
from crontopus_schemas.manifests import LoadResult, ManifestError, load_files

log = logging.getLogger(__name__)

FETCH_PROCESS_TIMEOUT = 600.0  # libgit2 bounds each network wait; this bounds a whole, very slow fetch
REFS_TIMEOUT = 15.0
MAX_REFS_BYTES = 4 * 1024 * 1024
_SHA = re.compile(r"^([0-9a-f]{40}|[0-9a-f]{64})$")


class SyncError(RuntimeError):
    """The jobs repository could not be fetched or read; the mirror is unchanged."""


@dataclass(frozen=True)
class Snapshot:
    """The manifests of one commit, as the agent sees them."""

    commit: str
    files: list[tuple[str, str | None]]  # (path relative to the jobs folder, text; None: over the size limit)
    loaded: LoadResult

    @property
    def manifests(self) -> list[JobManifest]:
        return [job.manifest for job in self.loaded.jobs]

    @property
    def errors(self) -> list[ManifestError]:
        return self.loaded.errors


class Mirror:
    """A bare mirror of one branch of the jobs repository (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        *,
        url: str | None,
        branch: str = "main",
        folder: str = "",
        login: tuple[str, str] | None = None,
    ) -> None:
        self.path = path
        self.url = url
        self.branch = branch
        self.folder = folder.strip("/")
        self.login = login  # (user name, password or token) for a private HTTPS remote
        self._last: Snapshot | None = None  # what this mirror read last (its folder, its commit)

    @property
    def safe_url(self) -> str:
        return redact_url(self.url or "")

    def sync(self) -> Snapshot:
        """Fetch the branch and return the manifests of its head."""
        if self._last is not None and self.url and remote_head(self.url, self.branch, self.login) == self._last.commit:
            return self._last
        return self._read(self._ask("fetch"))

    def last(self) -> Snapshot | None:
        """The manifests of the commit fetched last time, without touching the network."""
        answer = self._ask("last")
        return self._read(answer) if answer["commit"] else None

    def head(self) -> str | None:
        """The SHA fetched last time, or None before the first successful fetch."""
        return self._ask("head")["commit"]

    def _read(self, answer: dict[str, Any]) -> Snapshot:
        files = [(path, text) for path, text in answer["files"]]
        # A job defined twice keeps the definition it had (as the server keeps it): a new file
        # reusing its name changes nothing this host runs. (After a restart: first by file name.)
        defined_in = {job.manifest.ref: job.file for job in self._last.loaded.jobs} if self._last else None
        self._last = Snapshot(commit=answer["commit"], files=files, loaded=load_files(files, defined_in=defined_in))
        return self._last

    def _ask(self, op: str) -> dict[str, Any]:
        """One request to a fetch process (``git_mirror``); its error is raised as ``SyncError``."""
        request = {"op": op, "path": str(self.path), "url": self.url, "branch": self.branch, "folder": self.folder,
                   "login": list(self.login) if self.login else None}  # fmt: skip
        try:
            done = subprocess.run(
                [sys.executable, "-m", "crontopus_agent.git_mirror"], input=json.dumps(request), capture_output=True,
                text=True, timeout=FETCH_PROCESS_TIMEOUT, creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise SyncError(f"fetching from {self.safe_url} took over {FETCH_PROCESS_TIMEOUT:.0f} s; stopped") from None
        for line in done.stderr.splitlines():
            log.warning("fetch: %s", line)
        try:
            answer: dict[str, Any] = json.loads(done.stdout)
        except ValueError:
            raise SyncError(f"the fetch process failed (exit status {done.returncode}); its output is logged") from None
        if "error" in answer:
            raise SyncError(answer["error"])
        return answer


def mirror_for(
    home: Path, *, url: str | None, branch: str, folder: str, login: tuple[str, str] | None = None
) -> Mirror:
    """The mirror of ``<home>/repo``."""
    return Mirror(home / "repo", url=url, branch=branch, folder=folder, login=login)


# --- which commit the remote's branch is at, without Git ------------------------------------------


def remote_head(url: str, branch: str, login: tuple[str, str] | None = None) -> str | None:
    """The SHA the remote's branch points at, or None when that cannot be told cheaply and for sure
    (the caller then fetches with Git, which also says what is wrong)."""
    if ".." in branch or branch.startswith("/"):
        return None
    scheme = urlsplit(url).scheme
    try:
        if scheme in ("http", "https"):
            return _http_head(url, f"refs/heads/{branch}", login)
        if scheme == "file" or "://" not in url:
            path = unquote(urlsplit(url).path) if scheme == "file" else url
            return _local_head(Path(path), f"refs/heads/{branch}")
    except (OSError, ValueError, UnicodeError):  # urllib's errors are OSErrors
        return None
    return None


def _local_head(repo: Path, ref: str) -> str | None:
    """Git's files ref store: a loose ref file wins over ``packed-refs``."""
    if (repo / ".git").is_dir():
        repo = repo / ".git"
    if (repo / "reftable").exists() or not (repo / "HEAD").is_file():
        return None  # a ref store this reader does not know, or not a repository
    loose = repo / ref
    if loose.is_file():
        return _sha(loose.read_text("ascii").strip())
    packed = repo / "packed-refs"
    if not packed.is_file():
        return None
    for line in packed.read_text("ascii").splitlines():
        sha, _, name = line.partition(" ")
        if name == ref:
            return _sha(sha)
    return None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is Git's to follow (urllib would carry the login to another host)


_opener = urllib.request.build_opener(_NoRedirects)


def _http_head(url: str, ref: str, login: tuple[str, str] | None) -> str | None:
    """The smart-HTTP ref advertisement (``GET info/refs?service=git-upload-pack``, protocol v0)."""
    request = urllib.request.Request(f"{url.rstrip('/')}/info/refs?service=git-upload-pack",
                                     headers={"User-Agent": "git/2 crontopus-agent", "Pragma": "no-cache"})  # fmt: skip
    if login is not None:
        token = base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with _opener.open(request, timeout=REFS_TIMEOUT) as response:
        if response.headers.get_content_type() != "application/x-git-upload-pack-advertisement":
            return None  # a dumb-HTTP server, or a login page
        body = response.read(MAX_REFS_BYTES + 1)
    return None if len(body) > MAX_REFS_BYTES else _advertised(body, ref.encode())


def _advertised(body: bytes, ref: bytes) -> str | None:
    """The SHA of ``ref`` in a sequence of pkt-lines (4 hex digits of length, then the line)."""
    position = 0
    while position + 4 <= len(body):
        size = int(body[position : position + 4], 16)
        line, position = body[position + 4 : position + size], position + max(size, 4)
        sha, _, rest = line.partition(b" ")
        if rest.split(b"\0", 1)[0].rstrip(b"\n") == ref:
            return _sha(sha.decode("ascii"))
    return None


def _sha(text: str) -> str | None:
    return text if _SHA.match(text) else None
