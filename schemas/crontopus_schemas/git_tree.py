"""Reading job manifests out of a Git commit, the same way wherever it is done: the gitops service
indexes the team's repository with it and the agent reads its mirror with it, so both see the
same files (hidden paths skipped, symlinks and submodules ignored, oversized files listed unread so
that the manifest loader reports them).

Needs pygit2 (the ``git`` extra of this package); the agent and the gitops service have it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pygit2
from pygit2.enums import FileMode, RepositoryOpenFlag

from crontopus_schemas.manifest_files import MANIFEST_SUFFIXES, MAX_MANIFEST_BYTES, decode_manifest


class NotARepository(Exception):
    """``path`` holds no Git repository (or one that cannot be read)."""


def open_exactly(path: Path) -> pygit2.Repository:
    """Open exactly ``path``: libgit2 would otherwise search the parent folders and could hand back
    an unrelated repository that happens to contain the data folder or the agent's home."""
    try:
        return pygit2.Repository(str(path), flags=RepositoryOpenFlag.NO_SEARCH)
    except (pygit2.GitError, OSError) as error:
        raise NotARepository(f"{path} is not a Git repository: {error}") from None


def manifest_files(repo: pygit2.Repository, tree: pygit2.Tree, folder: str) -> list[tuple[str, str | None]]:
    """Every manifest file under ``folder`` of ``tree``, as (path relative to the folder, text),
    sorted. Text is decoded by ``decode_manifest``, so a file that is not UTF-8 is an error of that
    file once loaded, naming the byte. A file over ``MAX_MANIFEST_BYTES`` comes with None for its
    text: it is not read (it would only cost memory, here and in every cache of parsed files), yet
    not left out, so ``manifests.load_files`` reports it instead of its jobs vanishing without a
    word. A tree without the folder has no jobs."""
    folder = folder.strip("/")
    if folder:
        try:
            sub = tree[folder]
        except KeyError:
            return []
        if not isinstance(sub, pygit2.Tree):
            return []
        tree = sub
    return sorted(
        (name, _text(blob)) for name, blob in _walk_blobs(repo, tree, prefix="") if name.endswith(MANIFEST_SUFFIXES)
    )


def _text(blob: pygit2.Blob) -> str | None:
    return decode_manifest(blob.data) if blob.size <= MAX_MANIFEST_BYTES else None


def _walk_blobs(repo: pygit2.Repository, tree: pygit2.Tree, *, prefix: str) -> Iterator[tuple[str, pygit2.Blob]]:
    for entry in tree:
        name = entry.name or ""
        if name.startswith("."):
            continue
        if entry.filemode == FileMode.TREE:
            yield from _walk_blobs(repo, repo[entry.id], prefix=f"{prefix}{name}/")  # type: ignore[arg-type]
        elif entry.filemode in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE):
            yield f"{prefix}{name}", repo[entry.id]  # type: ignore[misc]
        # symlinks and submodules are not manifests
