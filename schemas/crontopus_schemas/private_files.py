"""Folders and files only the user running Crontopus may read.

The server's data dir holds the SQLite databases (password hashes, encrypted Git tokens, run
output), the generated secret key and NATS credentials; an agent's home holds its NATS password
and the job specs. Both are made 0700 and the files Crontopus creates in them 0600, whatever the
process umask. A folder or file that others can read (made by an older version, or by hand) is
tightened when found, with a log line. Here rather than in the server's kit because the agent,
which depends on this package only, needs the same rule. No-ops where modes do not exist
(Windows: the folders' ACLs inherit from the user's profile).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# For child processes that write into a private folder (nats-server's JetStream store).
PRIVATE_UMASK = 0o077
_OTHERS = 0o077
log = logging.getLogger(__name__)


def private_dir(path: Path, *, with_files: bool = False) -> Path:
    """``path`` created 0700 if missing, tightened if others could read it; ``with_files``: the
    files directly in it too. Missing parents are created with the usual mode: only the folder
    Crontopus owns is its business."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    tighten(path)
    if with_files:
        for child in path.iterdir():
            if child.is_file() and not child.is_symlink():  # a link may point outside: not ours
                tighten(child)
    return path


def private_file(path: Path) -> Path:
    """``path`` exists (created empty if missing, never truncated) and only its owner can read it.
    SQLite then keeps the mode: it gives the -wal and -shm files the database file's mode."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    tighten(path)
    return path


def tighten(path: Path) -> bool:
    """Take group and other permissions away from ``path`` if it has any; True if it did."""
    if os.name != "posix":
        return False
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return False
    if not mode & _OTHERS:
        return False
    try:
        path.chmod(mode & ~_OTHERS)
    except OSError as exc:
        log.warning("%s can be read by other users (mode %03o) and cannot be made private: %s", path, mode, exc)
        return False
    log.warning("%s could be read by other users (mode %03o): made private (%03o)", path, mode, mode & ~_OTHERS)
    return True
