"""The Git layer of the gitops service: bare repositories, commits without a working tree, and
mirrors of external repositories.

Everything goes through pygit2 (libgit2), in-process: no working tree is ever checked out, so
the service never has files on disk that could drift from what a commit says. The `git` binary
is not needed here; it only matters on the other side of a push (`git receive-pack` runs the
post-receive hook).

No broker and no database: callers decide what a new commit means (index it, publish an event).
Each function opens its own `pygit2.Repository`, because those objects must not be shared
between threads.
"""

from __future__ import annotations

import os
import shlex
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal, NamedTuple

import pygit2
from pygit2.enums import CredentialType, DeltaStatus, FileMode, SortMode

from crontopus_kit.errors import Conflict, DomainError, Invalid, NotFound, Unavailable
from crontopus_schemas.git_tree import NotARepository, manifest_files, open_exactly
from crontopus_schemas.git_urls import redact_url
from crontopus_schemas.rpc import ErrorCode

Change = Literal["added", "modified", "deleted"]


# ---------------------------------------------------------------------------------------------
# Errors: domain errors, so the gateway maps them (HeadMoved -> 409) without knowing about Git.


class GitError(DomainError):
    """Something in the Git layer went wrong; subclasses say what the caller can do about it."""


class HeadMoved(GitError, Conflict):
    """The branch is not where the caller last saw it: someone else committed or pushed first."""

    def __init__(self, *, branch: str, expected: str | None, current: str | None) -> None:
        super().__init__(f"branch {branch!r} is at {current or 'nothing'}, expected {expected or 'nothing'}")
        self.branch = branch
        self.expected = expected
        self.current = current


class InvalidPath(GitError, Invalid):
    """A file path that must not be written (outside the tree, into `.git`, a file used as a folder)."""


class PathNotFound(GitError, NotFound):
    """Deleting a file that the branch does not have."""


class UnknownRevision(GitError, NotFound):
    """A commit SHA (or ref) that the repository does not have."""


class RemoteError(GitError, Unavailable):
    """An external repository could not be fetched from or pushed to. The message names its URL
    without credentials and says what went wrong in our words, never in the remote's: ``reason``
    is the kind of failure (see REASONS), ``detail`` libgit2's text with secrets scrubbed, for
    the server log only."""

    def __init__(self, message: str, *, url: str, reason: str = "protocol", detail: str = "") -> None:
        super().__init__(message)
        self.url = url
        self.reason = reason
        self.detail = detail


class AuthenticationFailed(RemoteError):
    """The external repository refused the configured credentials: the user has to fix them,
    retrying will not help (hence "invalid", not "unavailable")."""

    code = ErrorCode.INVALID


# ---------------------------------------------------------------------------------------------
# Values


class Author(NamedTuple):
    """Who made a change; a plain (name, email) tuple is accepted as well."""

    name: str
    email: str


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    author_name: str
    author_email: str
    message: str
    committed_at: datetime


# Secrets are kept out of repr() so that logging a settings object never prints them.
@dataclass(frozen=True)
class TokenAuth:
    """An access token sent as the HTTPS password (GitHub, GitLab, Gitea accept this form)."""

    token: str = field(repr=False)
    username: str = "x-access-token"


@dataclass(frozen=True)
class BasicAuth:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class SshKeyAuth:
    """A private key in OpenSSH/PEM text form; written to a 0600 temporary file only for the
    duration of one fetch or push, because libssh2 reads keys from files."""

    private_key: str = field(repr=False)
    username: str = "git"
    passphrase: str = field(default="", repr=False)
    public_key: str | None = None


Credentials = TokenAuth | BasicAuth | SshKeyAuth


# ---------------------------------------------------------------------------------------------
# Local repositories


def init_bare(path: Path, *, branch: str = "main") -> None:
    """Create a bare repository whose HEAD names `branch`. An existing repository is left
    alone, so callers can run this on every start."""
    if _is_repository(path):
        return
    path.mkdir(parents=True, exist_ok=True)
    pygit2.init_repository(str(path), bare=True, initial_head=branch)


_HOOK = """#!/bin/sh
# Installed by Crontopus: tells the gitops service which refs this push moved.
# stdin ("<old-sha> <new-sha> <ref>" lines) is passed through to the command.
# The push is already stored when this runs, so a failed notification must not look like a
# failed push: warn and exit 0.
if ! {command}; then
    echo "crontopus: warning: could not notify the gitops service about this push;" \\
         "the push itself succeeded" >&2
fi
exit 0
"""


def install_post_receive_hook(path: Path, *, command: Sequence[str]) -> bool:
    """Write `hooks/post-receive` so that a `git push` to this repository runs `command`; False
    when it already does (the hook is left as it is). Written to a temporary name and renamed,
    so a push never runs a half-written hook."""
    if not command:
        raise ValueError("the hook command must not be empty")
    hooks = _open(path).path  # the git dir: the repository itself, for a bare one
    target = Path(hooks) / "hooks" / "post-receive"
    text = _HOOK.format(command=shlex.join(command))
    try:
        if target.read_text() == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass  # missing or unreadable: written below
    target.parent.mkdir(exist_ok=True)
    partial = target.with_name("post-receive.crontopus-tmp")
    partial.write_text(text)
    partial.chmod(0o755)
    os.replace(partial, target)
    return True


def head(path: Path, *, branch: str) -> str | None:
    """The SHA the branch points at, or None when the branch does not exist (yet)."""
    oid = _branch_target(_open(path), _ref_name(branch))
    return str(oid) if oid else None


def commit_files(
    path: Path,
    *,
    branch: str,
    changes: dict[str, str | None],
    author: Author | tuple[str, str],
    message: str,
    expected_head: str | None,
    committer: Author | tuple[str, str] | None = None,
) -> str:
    """Commit `changes` (path -> new text, None deletes) on top of `expected_head` and return the
    new SHA. No working tree: the new tree is built from the parent's in memory.

    `expected_head` is the head the caller based its edit on (None: the branch must not exist
    yet); if the branch is elsewhere, `HeadMoved` is raised and nothing changes, so two users
    editing at once never overwrite each other. A commit that would not change the tree is not
    made; the current head is returned instead, so saving an unchanged file is not a new version.
    `committer` defaults to the author (an edit made through the API: the user is the author,
    Crontopus the committer).
    """
    repo = _open(path)
    ref = _ref_name(branch)
    current = _branch_target(repo, ref)
    if _sha(current) != expected_head:
        raise HeadMoved(branch=branch, expected=expected_head, current=_sha(current))
    parent = repo.get(current) if current else None
    assert parent is None or isinstance(parent, pygit2.Commit)
    tree = _write_tree(repo, parent.tree if parent else None, _split_paths(changes))
    if parent is not None and tree == parent.tree_id:
        return str(parent.id)
    signature = pygit2.Signature(*author)  # an Author or any (name, email) pair
    committed_by = pygit2.Signature(*committer) if committer else signature
    new = repo.create_commit(None, signature, committed_by, message, tree, [parent.id] if parent else [])
    _move_branch(repo, ref, old=current, new=new, branch=branch)
    return str(new)


def reset_branch(path: Path, *, branch: str, expected: str, target: str) -> None:
    """Move the branch from `expected` back (or on) to `target`, e.g. to drop a local commit whose
    push was refused. `HeadMoved` when the branch is no longer at `expected`."""
    repo = _open(path)
    _move_branch(repo, _ref_name(branch), old=pygit2.Oid(hex=expected), new=pygit2.Oid(hex=target), branch=branch)


def blob_id(path: Path, *, commit: str, file_path: str) -> str | None:
    """The blob SHA of `file_path` at `commit` (None when the commit has no such file): equal
    SHAs mean equal content, so "did this file change between two commits" is one comparison."""
    entry = _entry_id(_commit(_open(path), commit).tree, file_path)
    return str(entry) if entry is not None else None


def read_manifest_files(path: Path, *, commit: str, folder: str = "") -> list[tuple[str, str | None]]:
    """Every `*.yaml`/`*.yml` file under `folder` at `commit`, as (path relative to `folder`,
    text), sorted by path. Hidden paths (a part starting with ".") are skipped. A file over
    256 KiB, which no job manifest needs, is not read (None for its text): the manifest parser
    reports it as an error of that file. Text that is not UTF-8 is decoded with replacement
    characters, so the manifest parser reports it on that file instead of the whole commit failing."""
    repo = _open(path)
    return manifest_files(repo, _commit(repo, commit).tree, folder)


def changed_paths(path: Path, *, old: str | None, new: str) -> dict[str, Change]:
    """Files that differ between two commits (`old` None: everything in `new` is added). Renames
    are reported as a deletion plus an addition, which is what a manifest index needs."""
    repo = _open(path)
    new_tree = _commit(repo, new).tree
    # diff_to_tree() without a tree compares with the empty tree; swap makes that the old side.
    diff = new_tree.diff_to_tree(swap=True) if old is None else _commit(repo, old).tree.diff_to_tree(new_tree)
    return {_delta_path(delta): _delta_change(delta.status) for delta in diff.deltas}


def commit_info(path: Path, *, commit: str) -> CommitInfo:
    return _info(_commit(_open(path), commit))


def history(path: Path, *, commit: str, file_path: str, limit: int = 20) -> list[CommitInfo]:
    """Commits reachable from `commit` that changed `file_path` (a file or a folder), newest
    first, including the one that deleted it. Like `git log -- <path>`, a merge counts only when
    the path differs from every parent, so merged-in changes are not listed twice."""
    repo = _open(path)
    start = _commit(repo, commit)
    found: list[CommitInfo] = []
    # Topological as well as by time: commits made within the same second must still come
    # child before parent.
    for candidate in repo.walk(start.id, SortMode.TOPOLOGICAL | SortMode.TIME):
        if len(found) >= limit:
            break
        if _touches(candidate, file_path):
            found.append(_info(candidate))
    return found


# ---------------------------------------------------------------------------------------------
# External repositories


def mirror_fetch(
    path: Path, *, url: str, branch: str, credentials: Credentials | None = None, deadline: float | None = None
) -> str:
    """Make `refs/heads/<branch>` of the local bare mirror equal to the external repository's
    branch and return its SHA. The update is forced: the external repository is the source of
    truth, so a force-push there (or a local commit whose push failed) is replaced, never merged.
    The URL is used for this call only and not stored, so credentials never land in a config.
    `deadline` (time.monotonic()): the transfer is abandoned when data still arrives after it."""
    init_bare(path, branch=branch)
    repo = _open(path)
    remote = repo.remotes.create_anonymous(url)
    with _remote_session(url, credentials, action=f"fetch branch {branch!r} from", deadline=deadline) as callbacks:
        remote.fetch([f"+{_ref_name(branch)}:{_ref_name(branch)}"], callbacks=callbacks)
        advertised = {h.name: h.oid for h in remote.list_heads(connect=False)}
    # libgit2 silently skips a refspec the remote does not have; a stale local head would then
    # look like a successful fetch.
    if _ref_name(branch) not in advertised:
        raise RemoteError(f"{redact_url(url)} has no branch {branch!r}", url=redact_url(url), reason="no_branch")
    return str(advertised[_ref_name(branch)])


def push(
    path: Path, *, url: str, branch: str, credentials: Credentials | None = None, deadline: float | None = None
) -> None:
    """Push the local branch to the external repository, never forced. When the external branch
    has commits the local one lacks, `HeadMoved` (with the external SHA) is raised: the caller
    fetches again (dropping the local commit) and lets the user redo the edit."""
    repo = _open(path)
    local = _branch_target(repo, _ref_name(branch))
    if local is None:
        raise GitError(f"nothing to push: branch {branch!r} does not exist")
    spec = f"{_ref_name(branch)}:{_ref_name(branch)}"
    try:
        with _remote_session(url, credentials, action=f"push branch {branch!r} to", deadline=deadline) as callbacks:
            repo.remotes.create_anonymous(url).push([spec], callbacks=callbacks)
            if callbacks.rejected:
                raise RemoteError(
                    f"{redact_url(url)} refused the push to branch {branch!r} (a protected branch, or a hook "
                    "declined it)", url=redact_url(url), reason="rejected", detail=str(callbacks.rejected)[:500],
                )  # fmt: skip
    except AuthenticationFailed:
        raise
    except RemoteError as refused:
        if refused.reason != "deadline":
            _raise_if_behind(repo, url=url, branch=branch, credentials=credentials, local=local, deadline=deadline)
        raise


# ---------------------------------------------------------------------------------------------
# Helpers: repositories and refs


def _is_repository(path: Path) -> bool:
    try:
        _open(path)
    except GitError:
        return False
    return True


def _open(path: Path) -> pygit2.Repository:
    try:
        return open_exactly(path)
    except NotARepository as error:
        raise GitError(str(error)) from None


def _ref_name(branch: str) -> str:
    ref = f"refs/heads/{branch}"
    if not pygit2.reference_is_valid_name(ref):
        raise InvalidPath(f"{branch!r} is not a valid branch name")
    return ref


def _branch_target(repo: pygit2.Repository, ref: str) -> pygit2.Oid | None:
    found = repo.references.get(ref)
    return found.target if found is not None else None  # type: ignore[return-value]


def _sha(oid: pygit2.Oid | None) -> str | None:
    return str(oid) if oid is not None else None


def _move_branch(repo: pygit2.Repository, ref: str, *, old: pygit2.Oid | None, new: pygit2.Oid, branch: str) -> None:
    """Compare-and-swap the branch from `old` to `new`. libgit2 takes the ref's lock file and
    checks the old value under it, so of two concurrent writers exactly one wins. A writer that
    only found the lock taken retries until it can tell who won."""
    for _ in range(200):
        try:
            if old is None:
                repo.references.create(ref, new)  # fails if someone created the branch meanwhile
            else:
                found = repo.references[ref]
                if found.target != old:
                    break
                found.set_target(new, "crontopus: commit")  # fails unless the ref is still `old`
            return
        except (pygit2.GitError, OSError):  # a taken lock file surfaces as OSError
            if _branch_target(repo, ref) != old:
                break
            time.sleep(0.005)  # the other writer holds the lock but has not moved the ref yet
    raise HeadMoved(branch=branch, expected=_sha(old), current=_sha(_branch_target(repo, ref)))


def _commit(repo: pygit2.Repository, revision: str) -> pygit2.Commit:
    try:
        return repo.revparse_single(revision).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        raise UnknownRevision(f"no commit {revision!r} in the repository") from None


def _info(commit: pygit2.Commit) -> CommitInfo:
    offset = timezone(timedelta(minutes=commit.commit_time_offset))
    return CommitInfo(
        sha=str(commit.id),
        author_name=commit.author.name,
        author_email=commit.author.email,
        message=commit.message,
        committed_at=datetime.fromtimestamp(commit.commit_time, tz=offset),
    )


def _entry_id(tree: pygit2.Tree, path: str) -> pygit2.Oid | None:
    try:
        return tree[path].id
    except KeyError:
        return None


def _touches(commit: pygit2.Commit, path: str) -> bool:
    mine = _entry_id(commit.tree, path)
    if not commit.parents:
        return mine is not None
    return all(_entry_id(parent.tree, path) != mine for parent in commit.parents)


def _delta_path(delta: pygit2.DiffDelta) -> str:
    return delta.new_file.path if delta.status != DeltaStatus.DELETED else delta.old_file.path


def _delta_change(status: DeltaStatus) -> Change:
    if status == DeltaStatus.ADDED:
        return "added"
    if status == DeltaStatus.DELETED:
        return "deleted"
    return "modified"  # MODIFIED, TYPECHANGE; renames are not detected


# ---------------------------------------------------------------------------------------------
# Helpers: trees


# A nested change set: file name -> text (None: delete), or folder name -> nested change set.
_Nested = dict[str, "str | _Nested | None"]


def _split_paths(changes: dict[str, str | None]) -> _Nested:
    nested: _Nested = {}
    for path, text in changes.items():
        *folders, name = _path_parts(path)
        level = nested
        for folder in folders:
            sub = level.setdefault(folder, {})
            if not isinstance(sub, dict):
                raise InvalidPath(f"{path!r}: {folder!r} is also written as a file in the same commit")
            level = sub
        if isinstance(level.get(name), dict):
            raise InvalidPath(f"{path!r} is also used as a folder in the same commit")
        level[name] = text
    return nested


def _path_parts(path: str) -> list[str]:
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", "..") or part.lower() == ".git" or "\0" in part or "\\" in part:
            raise InvalidPath(f"{path!r} is not a valid file path (relative, '/'-separated, no '..')")
    return parts


def _write_tree(repo: pygit2.Repository, base: pygit2.Tree | None, changes: _Nested) -> pygit2.Oid:
    """Write the tree `base` with `changes` applied; untouched subtrees are reused as they are."""
    builder = repo.TreeBuilder(base) if base is not None else repo.TreeBuilder()
    for name, change in changes.items():
        if isinstance(change, dict):
            _put_folder(repo, builder, base, name, change)
        else:
            _put_file(repo, builder, base, name, change)
    return builder.write()


def _put_folder(
    repo: pygit2.Repository, builder: pygit2.TreeBuilder, base: pygit2.Tree | None, name: str, changes: _Nested
) -> None:
    existing = _existing(base, name)
    if existing is not None and not isinstance(existing, pygit2.Tree):
        raise InvalidPath(f"{name!r} is a file, not a folder")
    sub = _write_tree(repo, existing, changes)
    if len(repo[sub]) == 0:  # type: ignore[arg-type]
        if existing is not None:
            builder.remove(name)  # Git has no empty folders: deleting the last file removes it
    else:
        builder.insert(name, sub, FileMode.TREE)


def _put_file(
    repo: pygit2.Repository, builder: pygit2.TreeBuilder, base: pygit2.Tree | None, name: str, text: str | None
) -> None:
    existing = _existing(base, name)
    if isinstance(existing, pygit2.Tree):
        raise InvalidPath(f"{name!r} is a folder, not a file")
    if text is not None:
        builder.insert(name, repo.create_blob(text.encode()), FileMode.BLOB)
    elif existing is None:
        raise PathNotFound(f"cannot delete {name!r}: no such file")
    else:
        builder.remove(name)


def _existing(base: pygit2.Tree | None, name: str) -> pygit2.Object | None:
    if base is None or name not in base:
        return None
    return base[name]


# ---------------------------------------------------------------------------------------------
# Helpers: remotes


class _AuthRejected(Exception):
    """Raised inside the credentials callback; turned into AuthenticationFailed with a safe URL."""


class _DeadlinePassed(Exception):
    """Raised inside a progress callback: the operation ran out of time."""


class _Callbacks(pygit2.RemoteCallbacks):
    def __init__(self, auth: Credentials | None, key_file: Path | None, deadline: float | None = None) -> None:
        super().__init__()
        self._auth = auth
        self._key_file = key_file
        self._deadline = deadline
        self._offered: set[CredentialType] = set()
        self.rejected: dict[str, str] = {}

    # libgit2 has no deadline of its own; these are called while data moves, so a host that keeps
    # sending slowly is abandoned at the deadline (one that sends nothing hits the server timeout).
    def _check_time(self) -> None:
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise _DeadlinePassed

    def transfer_progress(self, stats: pygit2.remotes.TransferProgress) -> None:
        self._check_time()

    def sideband_progress(self, string: str) -> None:
        self._check_time()

    def push_transfer_progress(self, objects_pushed: int, total_objects: int, bytes_pushed: int) -> None:
        self._check_time()

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: CredentialType
    ) -> pygit2.Username | pygit2.UserPass | pygit2.Keypair:
        """libgit2 asks again after a refused credential; offering the same one twice would loop
        forever, so the second request for a kind is the refusal."""
        self._check_time()
        kind = self._kind(allowed_types)
        if kind in self._offered:
            raise _AuthRejected("the server refused the credentials")
        self._offered.add(kind)
        return self._credential(kind, username_from_url)

    def _kind(self, allowed: CredentialType) -> CredentialType:
        if self._auth is None:
            raise _AuthRejected("the repository needs credentials and none are configured")
        wanted = {
            TokenAuth: CredentialType.USERPASS_PLAINTEXT,
            BasicAuth: CredentialType.USERPASS_PLAINTEXT,
            SshKeyAuth: CredentialType.SSH_KEY,
        }[type(self._auth)]
        if isinstance(self._auth, SshKeyAuth) and allowed & CredentialType.USERNAME and not allowed & wanted:
            return CredentialType.USERNAME  # SSH asks for the user name first when the URL has none
        if not allowed & wanted:
            raise _AuthRejected(
                "the configured credentials do not fit this URL (a token or password needs https://, a key ssh://)"
            )
        return wanted

    def _credential(
        self, kind: CredentialType, username_from_url: str | None
    ) -> pygit2.Username | pygit2.UserPass | pygit2.Keypair:
        auth = self._auth
        if isinstance(auth, TokenAuth):
            return pygit2.UserPass(auth.username, auth.token)
        if isinstance(auth, BasicAuth):
            return pygit2.UserPass(auth.username, auth.password)
        assert isinstance(auth, SshKeyAuth) and self._key_file is not None
        user = username_from_url or auth.username
        if kind == CredentialType.USERNAME:
            return pygit2.Username(user)
        public = self._key_file.with_suffix(".pub") if auth.public_key else None
        return pygit2.Keypair(user, public, self._key_file, auth.passphrase)

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.rejected[refname] = message


# What went wrong, in our words: libgit2's text says more than a user may learn about a host
# (an error page, "connection refused" vs "timed out": a port scanner's answers) and is logged
# instead. First match wins; everything else is "protocol".
REASONS: dict[str, str] = {
    "resolve": "the host name does not resolve",
    "connect": "could not connect",
    "timeout": "the host stopped answering",
    "deadline": "it took too long",
    "dropped": "the host closed the connection before the transfer finished",
    "tls": "the host's TLS certificate is not valid",
    "hostkey": "the host's SSH key is not known to this server",
    "auth": "the server refused the credentials",
    "not_found": "no Git repository at that URL",
    "no_branch": "no such branch there",
    "rejected": "the host refused the push",
    "protocol": "the answer was not a Git repository's",
}
_MATCHES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hostkey", ("hostkey", "host key")),
    ("tls", ("certificate", "x509", "ssl error", "tls")),
    ("resolve", ("failed to resolve", "name or service not known")),
    ("connect", ("failed to connect", "connection refused", "no route to host", "network is unreachable")),
    ("timeout", ("timed out", "timeout")),
    ("auth", ("status code: 401", "status code: 403", "authentication", "permission denied")),
    ("not_found", ("status code: 404", "not found", "does not appear to be a git repository", "does not exist",
                   "not a git repository", "remote error", "no repository")),
    ("dropped", ("unexpected eof", "early eof", "connection reset", "broken pipe", "error receiving data",
                 "could not read", "could not write", "failed to send")),
)  # fmt: skip


def classify(message: str) -> str:
    """The kind of failure (a key of REASONS) that libgit2's message describes."""
    lowered = message.lower()
    return next((reason for reason, words in _MATCHES if any(word in lowered for word in words)), "protocol")


@contextmanager
def _remote_session(
    url: str, credentials: Credentials | None, *, action: str, deadline: float | None = None
) -> Iterator[_Callbacks]:
    """Callbacks for one fetch or push, with libgit2's errors turned into messages that name the
    URL but never a secret, nor what the remote said."""
    safe = redact_url(url)
    with _key_file(credentials) as key_file:
        try:
            yield _Callbacks(credentials, key_file, deadline)
        except _AuthRejected as error:
            raise AuthenticationFailed(f"cannot {action} {safe}: {error}", url=safe, reason="auth",
                                       detail=str(error)) from None  # fmt: skip
        except _DeadlinePassed:
            raise RemoteError(f"cannot {action} {safe}: {REASONS['deadline']}", url=safe, reason="deadline") from None
        except pygit2.GitError as error:
            detail = _scrub(str(error), url=url, credentials=credentials)
            reason = "not_found" if _missing_local(url) else classify(detail)
            raise RemoteError(f"cannot {action} {safe}: {REASONS[reason]}", url=safe, reason=reason,
                              detail=detail[:500]) from None  # fmt: skip


@contextmanager
def _key_file(credentials: Credentials | None) -> Iterator[Path | None]:
    if not isinstance(credentials, SshKeyAuth):
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="crontopus-ssh-") as folder:  # mode 0700
        key = Path(folder) / "id"
        _write_private(key, credentials.private_key)
        if credentials.public_key:
            _write_private(key.with_suffix(".pub"), credentials.public_key)
        yield key


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text if text.endswith("\n") else text + "\n")  # OpenSSH rejects a key without one


def _missing_local(url: str) -> bool:
    """libgit2 reports a local path that does not exist as "unsupported URL protocol"."""
    scp_like = ":" in url.split("/", 1)[0]
    return "://" not in url and not scp_like and not Path(url).exists()


def _scrub(message: str, *, url: str, credentials: Credentials | None) -> str:
    message = message.replace(url, redact_url(url))
    secrets = [getattr(credentials, name, "") for name in ("token", "password", "passphrase")]
    for secret in filter(None, secrets):
        message = message.replace(secret, "***")
    return message


def _raise_if_behind(
    repo: pygit2.Repository,
    *,
    url: str,
    branch: str,
    credentials: Credentials | None,
    local: pygit2.Oid,
    deadline: float | None,
) -> None:
    """After a refused push, ask the remote where its branch is: if the local commit does not
    contain it, someone pushed first and the caller gets HeadMoved instead of a generic error."""
    with _remote_session(url, credentials, action=f"read branch {branch!r} of", deadline=deadline) as callbacks:
        heads = repo.remotes.create_anonymous(url).list_heads(callbacks=callbacks)
    current = next((h.oid for h in heads if h.name == _ref_name(branch)), None)
    if current is None or current == local:
        return
    if current not in repo or not repo.descendant_of(local, current):
        raise HeadMoved(branch=branch, expected=str(local), current=str(current))
