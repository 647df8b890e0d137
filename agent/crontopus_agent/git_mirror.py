"""The pygit2 half of the agent's mirror (``sync.Mirror`` is the other): fetching the branch into
``<home>/repo`` and reading the manifest files of a commit. It runs in a short-lived process of
its own (``python -m crontopus_agent.git_mirror``), started by ``sync.Mirror`` for each fetch, so
the daemon never loads libgit2 and its own copy of OpenSSL (~12 MB that an idle agent would keep
resident for a fetch a minute).

Protocol: one JSON request on stdin, one JSON answer on stdout, exit status 0.
- request: ``{"op": "fetch" | "last" | "head", "path", "url", "branch", "folder", "login"}``
  (``login`` is ``[user, password]`` or null; it travels on stdin, never in the command line
  that ``ps`` shows).
- answer: ``{"commit": sha | null, "files": [[path, text | null], ...]}`` (``head`` gives no files;
  null for a file over the manifest size limit, left unread), or
  ``{"error": message}`` for a ``SyncError`` (the message never holds a password).
Log lines go to stderr; the daemon logs them as its own.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pygit2
from pygit2.enums import CredentialType

from crontopus_schemas.git_tree import NotARepository, manifest_files, open_exactly
from crontopus_schemas.git_urls import redact_url
from crontopus_schemas.private_files import PRIVATE_UMASK

if sys.platform != "win32":
    import pwd

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_MS = 15_000
READ_TIMEOUT_MS = 60_000


class SyncError(RuntimeError):
    """The fetch or the read failed (answered as ``{"error": ...}``; ``sync.Mirror`` raises its
    own ``SyncError`` with the same message)."""


class GitMirror:
    """A bare mirror of one branch of the jobs repository (see ``sync`` for what it guarantees)."""

    def __init__(
        self, path: Path, *, url: str | None, branch: str, folder: str, login: tuple[str, str] | None = None
    ) -> None:
        self.path, self.url, self.branch, self.folder, self.login = path, url, branch, folder, login

    @property
    def ref(self) -> str:
        return f"refs/heads/{self.branch}"

    @property
    def safe_url(self) -> str:
        return redact_url(self.url or "")

    def fetch(self) -> str:
        """Make the mirror's branch equal the remote's and return its SHA."""
        if not self.url:
            raise SyncError("no jobs repository is configured (the enrollment gave no clone_url); enroll again")
        if not pygit2.reference_is_valid_name(self.ref):
            raise SyncError(f"{self.branch!r} is not a valid branch name")
        _bound_network_waits()
        repo = self._open_or_init()
        remote = repo.remotes.create_anonymous(self.url)
        login = _Login(self.login)
        try:
            remote.fetch([f"+{self.ref}:{self.ref}"], callbacks=login)
            advertised = {head.name: head.oid for head in remote.list_heads(connect=False)}
        except (pygit2.GitError, _LoginRefused) as error:
            reason = login.refusal or self._reason(error)
            raise SyncError(f"cannot fetch branch {self.branch!r} from {self.safe_url}: {reason}") from None
        # libgit2 silently skips a refspec the remote does not have; the old local head would
        # then pass for a successful fetch.
        if self.ref not in advertised:
            raise SyncError(f"{self.safe_url} has no branch {self.branch!r}")
        return str(advertised[self.ref])

    def head(self) -> str | None:
        """The SHA fetched last time, or None before the first successful fetch."""
        try:
            repo = _open(self.path)
        except SyncError:
            return None
        found = repo.references.get(self.ref)
        return str(found.target) if found is not None else None

    def files(self, commit: str) -> list[tuple[str, str | None]]:
        """Every manifest file under the folder at ``commit``, as (relative path, text). Hidden
        paths are skipped and files over the manifest size limit left unread (text None, an error
        of that file once loaded), as the gitops service does; bytes that are not UTF-8 stay in the
        text as lone surrogates (``manifest_files.decode_manifest``, they survive the JSON to the
        daemon), so the loader reports that file naming the byte. A commit without the folder has
        no jobs."""
        repo = _open(self.path)
        try:
            tree = repo.revparse_single(commit).peel(pygit2.Commit).tree
        except (KeyError, ValueError, pygit2.GitError):
            raise SyncError(f"the mirror has no commit {commit!r}") from None
        return manifest_files(repo, tree, self.folder)

    def _open_or_init(self) -> pygit2.Repository:
        try:
            return _open(self.path)
        except SyncError:
            pass
        if self.path.exists():
            # The mirror is only a cache of the remote: one that cannot be opened (a crash while
            # it was first created, an old layout) is rebuilt rather than failing every sync.
            log.warning("the repository mirror at %s is unreadable; recreating it", self.path)
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        return pygit2.init_repository(str(self.path), bare=True, initial_head=self.branch)

    def _reason(self, error: Exception) -> str:
        local = _local_path(self.url or "")
        if local is not None and (problem := _local_problem(local)):
            return problem
        return str(error).replace(self.url or "", self.safe_url)


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """What the fetch process answers to one request (see the module docstring)."""
    login = request.get("login")
    mirror = GitMirror(
        Path(request["path"]), url=request.get("url"), branch=request["branch"], folder=request["folder"],
        login=(login[0], login[1]) if login else None,
    )  # fmt: skip
    try:
        if request["op"] == "head":
            return {"commit": mirror.head()}
        commit = mirror.fetch() if request["op"] == "fetch" else mirror.head()
        return {"commit": commit, "files": mirror.files(commit) if commit else []}
    except SyncError as error:
        return {"error": str(error)}
    except (OSError, pygit2.GitError) as error:  # the mirror's own folder: not creatable, not writable
        return {"error": f"cannot use the repository mirror at {mirror.path}: {_os_reason(error)}"}


def main() -> None:
    if os.name == "posix":
        os.umask(PRIVATE_UMASK)  # libgit2 writes the mirror with the umask's modes; this process runs no job
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    json.dump(answer(json.load(sys.stdin)), sys.stdout)


class _LoginRefused(Exception):
    pass


class _Login(pygit2.RemoteCallbacks):
    """Offers the host's login once; libgit2 asks again after a refusal, and offering the same
    login twice would loop, so a second request means it was refused."""

    def __init__(self, login: tuple[str, str] | None) -> None:
        super().__init__()
        self.login = login
        self.refusal: str | None = None
        self._offered = False

    def credentials(self, url: str, username_from_url: str | None, allowed_types: CredentialType) -> pygit2.UserPass:
        if self.login is None:
            self.refusal = "the repository needs a login: set one with `crontopus-agent repository --git-username`"
        elif self._offered:
            self.refusal = "the repository refused this host's login (`crontopus-agent repository` shows it)"
        elif not allowed_types & CredentialType.USERPASS_PLAINTEXT:
            self.refusal = "the repository wants an SSH key, which the agent does not support yet; use an HTTPS URL"
        else:
            self._offered = True
            return pygit2.UserPass(*self.login)
        raise _LoginRefused(self.refusal)


def _open(path: Path) -> pygit2.Repository:
    try:
        return open_exactly(path)
    except NotARepository as error:
        raise SyncError(str(error)) from None


def _local_path(url: str) -> Path | None:
    """The folder of a repository on a local path or ``file://`` URL; None for a remote one."""
    if url.startswith("file://"):
        return Path(unquote(urlsplit(url).path))
    scp_like = ":" in url.split("/", 1)[0]
    return None if "://" in url or scp_like else Path(url)


def _local_problem(path: Path) -> str | None:
    """Why a local repository cannot be read, in words a person can act on; None if it can be.
    (libgit2 says "unsupported URL protocol" for a path it cannot see, whatever the reason.)"""
    try:
        if not path.exists():
            return "no repository there"
    except PermissionError:  # a parent folder that the agent's user may not enter
        return _permission_denied()
    return None if os.access(path, os.R_OK | os.X_OK) else _permission_denied()


def _os_reason(error: Exception) -> str:
    if isinstance(error, PermissionError):
        return _permission_denied(need="readable and writable")
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)


def _permission_denied(*, need: str = "readable") -> str:
    return f"permission denied: the agent runs as user {_running_user()}; the path must be {need} by it"


def _running_user() -> str:
    """The user this process runs as (its effective user: not ``$USER``, which su and setpriv keep)."""
    if sys.platform == "win32":
        return getpass.getuser()
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid with no passwd entry (a container's)
        return f"uid {os.geteuid()}"


def _bound_network_waits() -> None:
    """libgit2 waits forever by default; a hung server must not stall the agent's syncs."""
    settings = pygit2.settings
    if not settings.server_connect_timeout:
        settings.server_connect_timeout = CONNECT_TIMEOUT_MS
    if not settings.server_timeout:
        settings.server_timeout = READ_TIMEOUT_MS


if __name__ == "__main__":
    main()
