"""Creating the files that hold a site's job data: 0600, in new directories 0700.

Recordings, spools, event files, logs, the Darshan watch state and Globus tokens
all go through here, so none of them depends on the umask (022 would make them
world-readable).  A file or directory that already exists keeps its mode: a
site that wants a shared, group-readable place makes it so itself.
"""

from __future__ import annotations

import os

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: str) -> None:
    """Make ``path`` and its missing parents, each new one 0700."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    if parent != path:
        private_dir(parent)
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        return
    os.chmod(path, DIR_MODE)  # mkdir's mode passes through the umask


def open_private(path: str, flags: int) -> int:
    """``os.open(path, flags)``, creating the file 0600 (and its directory 0700) when it is new."""
    private_dir(os.path.dirname(os.path.abspath(path)))
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        return os.open(path, flags | os.O_CLOEXEC)
    os.fchmod(fd, FILE_MODE)  # as with mkdir: the umask could have taken bits off
    return fd


def create_private(path: str) -> None:
    """Make sure ``path`` exists, created 0600 if new (before SQLite opens it: SQLite
    creates a database 0644, and its -wal and -shm files take the database's mode)."""
    os.close(open_private(path, os.O_RDONLY))


def replace_private(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a new 0600 file renamed over the old)."""
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_TRUNC), "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
