"""Files and folders in the agent's home: its user's alone (0600 and 0700), whatever the umask
of the process writing them (docs/security.md). The daemon writes with the umask its service
manager gave it, the wrappers with cron's (022 on most hosts), so the mode is given at creation;
what an older agent left readable by others is tightened once, when the daemon starts.

The agent never changes its own umask: the commands it runs for the jobs inherit it. Only the
fetch process (``git_mirror``), which runs no command, sets ``PRIVATE_UMASK`` for libgit2.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from crontopus_schemas.private_files import PRIVATE_DIR, PRIVATE_FILE, tighten

log = logging.getLogger(__name__)

_OTHERS = 0o077


def private_folders(path: Path) -> Path:
    """``path`` as a folder, every missing folder on the way created 0700 (``mkdir(parents=True)``
    gives the parents the umask's mode). Safe when another process creates them at the same time."""
    missing: list[Path] = []
    folder = path
    while not folder.is_dir() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        folder.mkdir(mode=PRIVATE_DIR, exist_ok=True)
    return path


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` at once (a temp file renamed over it), the file 0600."""
    private_folders(path.parent)
    tmp = path.with_suffix(".tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE), "w") as out:
        out.write(text)
    tighten(tmp)  # a temp file an older agent left keeps its mode through O_CREAT
    os.replace(tmp, path)


def open_private(path: Path, flags: int = os.O_RDWR) -> int:
    """A descriptor of ``path``, created 0600 (with its folders 0700) if missing."""
    private_folders(path.parent)
    return os.open(path, flags | os.O_CREAT, PRIVATE_FILE)


def tighten_home(home: Path) -> int:
    """Take group and other permissions from every folder and file under ``home`` (an older agent
    wrote with the umask's modes; libgit2 too); how many it changed, said in one log line rather
    than one per file of the repository mirror. Links are left alone: they may point outside."""
    if os.name != "posix" or not home.is_dir():
        return 0
    changed = 0
    for folder, folders, files in os.walk(home):
        for name in [*folders, *files]:
            changed += _tightened(Path(folder) / name)
    if changed:
        log.warning("%d files and folders in %s could be read by other users: made private", changed, home)
    return changed


def _tightened(path: Path) -> int:
    try:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode) or not stat.S_IMODE(mode) & _OTHERS:
            return 0
        path.chmod(stat.S_IMODE(mode) & ~_OTHERS)
    except FileNotFoundError:  # removed meanwhile
        return 0
    except OSError as exc:  # not ours
        log.warning("cannot make %s private: %s", path, exc)
        return 0
    return 1
