"""The agent's mirror of the jobs repository: ``<home>/repo``, a bare repository (pygit2).

What it guarantees
- ``Mirror.sync()`` fetches the configured branch (forced: the remote is the source of truth, a
  force-push there replaces what the mirror had) and returns a ``Snapshot``: the commit SHA, every
  ``*.yaml``/``*.yml`` file under the jobs folder at that commit, and those files loaded with
  ``crontopus_schemas.manifests.load_files`` (a bad file is an error of that file; the good
  files still load).
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

Clone URLs: a local path, ``file://``, ``http://`` and ``https://`` (anything libgit2 fetches).
A private HTTPS remote takes a login (user name and password or access token, set on the host
with `crontopus-agent repository`); it is offered once per fetch, and a refusal is a
``SyncError`` that says so without the password. SSH remotes are not supported by the agent yet.

Not thread-safe per call site: each method opens its own ``pygit2.Repository`` (those objects
must not be shared between threads), and the daemon runs one sync at a time.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pygit2
from pygit2.enums import CredentialType

from crontopus_schemas.git_tree import NotARepository, manifest_files, open_exactly, redact_url
from crontopus_schemas.manifest import JobManifest
from crontopus_schemas.manifests import LoadResult, ManifestError, load_files

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_MS = 15_000
READ_TIMEOUT_MS = 60_000


class SyncError(RuntimeError):
    """The jobs repository could not be fetched or read; the mirror is unchanged."""


@dataclass(frozen=True)
class Snapshot:
    """The manifests of one commit, as the agent sees them."""

    commit: str
    files: list[tuple[str, str]]  # (path relative to the jobs folder, text), sorted by path
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

    @property
    def ref(self) -> str:
        return f"refs/heads/{self.branch}"

    def sync(self) -> Snapshot:
        """Fetch the branch and return the manifests of its head."""
        return self.snapshot(self.fetch())

    def last(self) -> Snapshot | None:
        """The manifests of the commit fetched last time, without touching the network."""
        commit = self.head()
        return self.snapshot(commit) if commit else None

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

    def snapshot(self, commit: str) -> Snapshot:
        files = self.files(commit)
        return Snapshot(commit=commit, files=files, loaded=load_files(files))

    def files(self, commit: str) -> list[tuple[str, str]]:
        """Every manifest file under the folder at ``commit``, as (relative path, text). Hidden
        paths and files over the manifest size limit are skipped (as the gitops service does);
        text that is not UTF-8 is decoded with replacement characters so the parser names the file.
        A commit without the folder has no jobs."""
        repo = _open(self.path)
        try:
            tree = repo.revparse_single(commit).peel(pygit2.Commit).tree
        except (KeyError, ValueError, pygit2.GitError):
            raise SyncError(f"the mirror has no commit {commit!r}") from None
        return manifest_files(repo, tree, self.folder)

    @property
    def safe_url(self) -> str:
        return redact_url(self.url or "")

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
        if _missing_local(self.url or ""):
            return "no repository there"
        return str(error).replace(self.url or "", self.safe_url)


def mirror_for(
    home: Path, *, url: str | None, branch: str, folder: str, login: tuple[str, str] | None = None
) -> Mirror:
    """The mirror of ``<home>/repo``."""
    return Mirror(home / "repo", url=url, branch=branch, folder=folder, login=login)


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


def _missing_local(url: str) -> bool:
    """libgit2 reports a local path that does not exist as "unsupported URL protocol"."""
    if url.startswith("file://"):
        return not Path(urlsplit(url).path).exists()
    scp_like = ":" in url.split("/", 1)[0]
    return "://" not in url and not scp_like and not Path(url).exists()


def _bound_network_waits() -> None:
    """libgit2 waits forever by default; a hung server must not stall the agent's syncs."""
    settings = pygit2.settings
    if not settings.server_connect_timeout:
        settings.server_connect_timeout = CONNECT_TIMEOUT_MS
    if not settings.server_timeout:
        settings.server_timeout = READ_TIMEOUT_MS
