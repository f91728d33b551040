"""monitord's event log (JSON lines, or NetLogger BP), read whole or followed.

Following behaves like ``tail -F``: a line is taken only once its newline has
arrived, a truncated file is read again from its start, and a rotated file
(a new inode at the path) is drained before the new one is opened.
"""

from __future__ import annotations

import os

from ..events import BadEvent, parse_bp_line
from .base import Source

BATCH = 2000
POLL_SECONDS = 0.25


class JsonLogSource(Source):
    def __init__(self, path: str, follow: bool = True, poll: float = POLL_SECONDS, bp: bool = False):
        super().__init__()
        self.path = path
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
                    for i in range(0, len(batch), BATCH):
                        yield batch[i : i + BATCH]
                    continue
                # At the end of what is there now.
                if not self.follow:
                    if partial.strip():
                        yield [self._record(partial)]
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
                        yield [self._record(partial)]
                    f.close()
                    f, inode = self._open()
                    partial = b""
                    continue
                if st is not None and st.st_size < f.tell():
                    # Truncated in place: the writer started over.  The store
                    # is idempotent, so reading again from the top loses
                    # nothing and double-counts nothing.
                    f.seek(0)
                    partial = b""
                    continue
                self._stop.wait(self.poll)
        finally:
            f.close()
        if self.status.state != "error":
            self.status.state = "ended"

    def _record(self, line: bytes):
        return _bp_record(line) if self.bp else line


def _bp_record(line: bytes):
    """A BP line as a dict; a line that is not BP stays raw, to be counted bad."""
    try:
        return parse_bp_line(line)
    except BadEvent:
        return line
