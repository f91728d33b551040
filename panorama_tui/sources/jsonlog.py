"""monitord's event log (JSON lines, or NetLogger BP), read whole or followed.

Following behaves like ``tail -F``: a line is taken only once its newline has
arrived, a truncated file is read again from its start, and a rotated file
(a new inode at the path) is drained before the new one is opened.
"""

from __future__ import annotations

import os

from ..events import BadEvent, parse_bp_line
from .base import Batch, Source

BATCH = 2000
POLL_SECONDS = 0.25


class JsonLogSource(Source):
    file_backed = True  # a followed log is its own recording

    def __init__(self, path: str, follow: bool = True, poll: float = POLL_SECONDS, bp: bool = False,
                 resume: tuple[int, int, int] | None = None):
        super().__init__()
        self.path = path
        #: (inode, offset, lines before it) to go on from: a relay restarted mid-file (see Batch.resume)
        self.resume = resume
        self.bp = bp
        self.follow = follow
        self.live = follow
        self.poll = poll
        self.label = f"events {os.path.basename(path)}"
        # Reading a file whole gives nothing new to record; following does.
        self.recordable = follow

    def _open(self):
        f = open(self.path, "rb")  # noqa: SIM115 - kept open while the log is followed
        return f, os.fstat(f.fileno()).st_ino

    def batches(self):
        try:
            f, inode = self._open()
        except OSError as exc:
            self.status.state = "error"
            self.status.message = f"cannot open {self.path}: {exc.strerror or exc}"
            return
        partial = b""
        pos = _Position(os.path.basename(self.path), inode)
        if self.resume is not None and self.resume[0] == inode and 0 < self.resume[1] <= _size(f):
            f.seek(self.resume[1])  # the same file, not shorter: go on where the last run stopped
            pos.offset, pos.line = self.resume[1], self.resume[2]
        self.status.state = "reading"
        try:
            while not self.stopping:
                lines = f.readlines(4 * 1024 * 1024)
                if lines:
                    if partial:
                        lines[0] = partial + lines[0]
                        partial = b""
                    if not lines[-1].endswith(b"\n"):
                        partial = lines.pop()
                    batch = [ln for ln in lines if ln.strip()]
                    if self.bp:
                        batch = [_bp_record(ln) for ln in batch]
                    places = pos.take(lines, f.tell() - len(partial))
                    for i in range(0, len(batch), BATCH):
                        yield places.batch(batch, i, i + BATCH)
                    continue
                # At the end of what is there now.
                if not self.follow:
                    if partial.strip():
                        yield pos.take([partial], f.tell()).batch([self._record(partial)], 0, 1)
                    break
                self.status.state = "following"
                try:
                    st = os.stat(self.path)
                except OSError:
                    st = None  # moved away and not yet replaced: keep the old one
                if st is not None and st.st_ino != inode:
                    # Rotated: finish the old file, then the new one.
                    if os.fstat(f.fileno()).st_size > f.tell():
                        continue  # written to since our last read: drain it first
                    if partial.strip():
                        # its last line never got a newline and never will
                        yield pos.take([partial], f.tell()).batch([self._record(partial)], 0, 1)
                    f.close()
                    f, inode = self._open()
                    pos = _Position(pos.name, inode)
                    partial = b""
                    continue
                if st is not None and st.st_size < f.tell():
                    # Truncated in place: the writer started over.  The store
                    # is idempotent, so reading again from the top loses
                    # nothing and double-counts nothing.
                    f.seek(0)
                    pos = _Position(pos.name, inode)
                    partial = b""
                    continue
                self._stop.wait(self.poll)
        finally:
            f.close()
        if self.status.state != "error":
            self.status.state = "ended"

    def _record(self, line: bytes):
        return _bp_record(line) if self.bp else line


def _size(f) -> int:
    return os.fstat(f.fileno()).st_size


class _Position:
    """Line numbers and byte offsets in one file: a count per read; a line's own place only when asked."""

    def __init__(self, name: str, inode: int):
        self.name = name
        self.inode = inode
        self.line = 0  # complete lines before the next read
        self.offset = 0  # their bytes

    def take(self, lines: list, end: int) -> "_Lines":
        """The places of a read's complete lines, which end at offset ``end``; moves past them."""
        got = _Lines(self, lines, self.line, self.offset)
        self.line += len(lines)
        self.offset = end
        return got


class _Lines:
    """Where the non-blank lines of one read are (computed for the first bad record or resume point)."""

    def __init__(self, pos: _Position, lines: list, line: int, offset: int):
        self.pos = pos
        self.lines = lines
        self.line = line
        self.offset = offset
        self._kept: list | None = None  # (line number, offset after it) per non-blank line

    def _places(self) -> list:
        if self._kept is None:
            kept = []
            end = self.offset
            for k, ln in enumerate(self.lines):
                end += len(ln)
                if ln.strip():
                    kept.append((self.line + k + 1, end))
            self._kept = kept
        return self._kept

    def where(self, i: int) -> str:
        return f"{self.pos.name}:{self._places()[i][0]}"

    def end(self, i: int) -> tuple[int, int, int]:
        """(inode, offset, lines) just after the ``i``-th non-blank line."""
        number, end = self._places()[i]
        return self.pos.inode, end, number

    def batch(self, records: list, start: int, stop: int) -> Batch:
        last = min(stop, len(records)) - 1
        return Batch(records[start:stop], where=lambda k: self.where(start + k), resume=lambda: self.end(last))


def _bp_record(line: bytes):
    """A BP line as a dict; a line that is not BP stays raw, to be counted bad."""
    try:
        return parse_bp_line(line)
    except BadEvent:
        return line
