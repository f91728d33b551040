"""monitord's event log (JSON lines, or NetLogger BP), read whole or followed.

Following behaves like ``tail -F``: a log not there yet is waited for (the
status says so), a line is taken only once its newline has arrived, a
truncated file is read again from its start, and a rotated file (a new inode
at the path) is drained before the new one is opened.

A FIFO or a pipe (``<(...)``, ``/dev/stdin``) is read once, as it comes, to its
end: nothing else has read from it (detection does not look into a stream it
cannot rewind), and a FIFO with no writer is waited for visibly.  Given
``bp=None``, the first line that is an event says JSON or BP.
"""

from __future__ import annotations

import io
import logging
import os
import select
import stat

from ..core.events import BadEvent, parse_bp_line
from .base import Batch, Source

log = logging.getLogger(__name__)

BATCH = 2000
POLL_SECONDS = 0.25
PIPE_CHUNK = 1024 * 1024


class JsonLogSource(Source):
    file_backed = True  # a followed log is its own recording

    def __init__(self, path: str, follow: bool = True, poll: float = POLL_SECONDS, bp: bool | None = False,
                 wait_for_writer: bool | None = None, resume: tuple[int, int, int] | None = None):
        super().__init__()
        self.path = path
        #: (inode, offset, lines before it) to go on from: a relay restarted mid-file (see Batch.resume)
        self.resume = resume
        self.bp = bp  # None: JSON or BP, told by the first event line
        self.follow = follow
        # A FIFO's writer is waited for unless --no-follow (--once waits: a pipe is its natural input).
        self.wait_for_writer = follow if wait_for_writer is None else wait_for_writer
        self._opened = None  # what open_now opened, for batches to read
        self.live = follow
        self.poll = poll
        self.label = f"events {os.path.basename(path)}"
        # Reading a file whole gives nothing new to record; following does.
        self.recordable = follow

    def _open(self):
        f = open(self.path, "rb")  # noqa: SIM115 - kept open while the log is followed
        return f, os.fstat(f.fileno()).st_ino

    def _fail(self, message: str) -> None:
        self.status.state = "error"
        self.status.message = message

    def _wait(self, message: str) -> bool:
        """Say what we wait for (status line, log), then wait one poll; False once stopped."""
        if self.status.state != "waiting":
            self.status.state, self.status.message = "waiting", message
            log.info("%s", message)
        return not self._stop.wait(self.poll)

    def _open_when_there(self):
        """(file, inode) once the path can be read, or None (stopped, or an error in the status).

        A missing log is waited for when following (tail -F); a FIFO or pipe
        comes back as a :class:`_Pipe` once a writer is there."""
        while True:
            try:
                if stat.S_ISFIFO(os.stat(self.path).st_mode):
                    pipe = self._open_pipe()
                    return None if pipe is None else (pipe, 0)
                return self._open()
            except FileNotFoundError:
                if not self.follow:
                    self._fail(f"cannot open {self.path}: no such file or directory")
                    return None
                if not self._wait(f"waiting for {self.path}"):
                    return None
            except OSError as exc:
                self._fail(f"cannot open {self.path}: {exc.strerror or exc}")
                return None

    def _open_pipe(self):
        # O_NONBLOCK: opening a FIFO blocks until a writer opens it.  Then an
        # empty pipe reads EAGAIN while a writer holds it, and b"" once none does.
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        anonymous = _is_anonymous_pipe(fd)  # <(...), a shell pipe: nobody else will ever open it
        while True:
            try:
                first = os.read(fd, PIPE_CHUNK)
            except BlockingIOError:
                return _Pipe(fd, b"", self._stop, self.poll)  # a writer, nothing written yet
            if first or anonymous:
                return _Pipe(fd, first, self._stop, self.poll, ended=not first)  # data, or an empty pipe's end
            if not self.wait_for_writer:
                os.close(fd)
                self._fail(f"{self.path}: a FIFO with no writer (--no-follow waits for none)")
                return None
            if not self._wait(f"waiting for a writer on {self.path}"):
                os.close(fd)
                return None

    def open_now(self) -> str | None:
        """Open the input at once when nothing is to be waited for (--no-follow), so a FIFO
        with no writer fails before any screen starts; None, or why it cannot be read.
        :meth:`batches` then reads that same stream (a pipe cannot be opened twice)."""
        if self.follow or self.wait_for_writer:
            return None
        self._opened = self._open_when_there()
        return self.status.message if self._opened is None else None

    def batches(self):
        opened, self._opened = self._opened or self._open_when_there(), None
        if opened is None:
            if self.status.state != "error":
                self.status.state = "ended"  # stopped while waiting
            return
        f, inode = opened
        follow = self.follow and not isinstance(f, _Pipe)  # a pipe is read to its end, never re-opened
        partial = b""
        pos = _Position(os.path.basename(self.path), inode)
        if (self.resume is not None and not isinstance(f, _Pipe) and self.resume[0] == inode
                and 0 < self.resume[1] <= _size(f)):
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
                    if self.bp is None:
                        self.bp = _json_or_bp(batch)
                    if self.bp:
                        batch = [_bp_record(ln) for ln in batch]
                    places = pos.take(lines)
                    for i in range(0, len(batch), BATCH):
                        yield places.batch(batch, i, i + BATCH)
                    continue
                # At the end of what is there now.
                if not follow:
                    if partial.strip():
                        yield pos.take([partial]).batch([self._record(partial)], 0, 1)
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
                        yield pos.take([partial]).batch([self._record(partial)], 0, 1)
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
        if self.bp is None:  # a log of one line, without its newline
            self.bp = _json_or_bp([line])
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

    def take(self, lines: list) -> "_Lines":
        """The places of a read's complete lines (a file's or a pipe's); moves past them."""
        got = _Lines(self, lines, self.line, self.offset)
        self.line += len(lines)
        self.offset += sum(map(len, lines))
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


class _Pipe:
    """A FIFO or pipe as the follow loop reads a file: ``readlines`` waits for data
    (a poll at a time, so a stop is heard) and gives [] only at the end or on stop."""

    def __init__(self, fd: int, first: bytes, stop, poll: float, ended: bool = False):
        self.fd = fd
        self.pending = first
        self.stop = stop
        self.poll = poll
        self.ended = ended

    def readlines(self, hint: int) -> list[bytes]:
        while not (self.ended or self.stop.is_set()):
            if self.pending:
                data, self.pending = self.pending, b""
            else:
                try:
                    data = os.read(self.fd, hint)
                except BlockingIOError:
                    select.select([self.fd], [], [], self.poll)
                    continue
                if not data:
                    self.ended = True  # every writer closed it
                    break
            return io.BytesIO(data).readlines()  # split as a file's lines; the loop keeps a cut last line
        return []

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        os.close(self.fd)


def _is_anonymous_pipe(fd: int) -> bool:
    """A shell's pipe or <(...) (no name: no later writer can come), not a named FIFO."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}").startswith("pipe:")
    except OSError:
        return False


def _json_or_bp(lines) -> bool | None:
    """False for JSON lines, True for BP, from the first line that tells; None if none does."""
    for line in lines:
        head = line.lstrip()[:1]
        if head == b"{":
            return False
        if b" event=" in line or (head == b"e" and line.lstrip().startswith(b"event=")):
            return True
    return None


def _bp_record(line: bytes):
    """A BP line as a dict; a line that is not BP stays raw, to be counted bad."""
    try:
        return parse_bp_line(line)
    except BadEvent:
        return line


# -- the registry's kind (sources/registry.py) -------------------------------------

# Names that are not event logs: a missing one is an error, not something to wait for.
_NOT_LOG_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".dagman.out")


def bp_of(what: str) -> bool | None:
    """JsonLogSource's ``bp`` for what detection found (``jsonlog``, ``bplog`` or
    ``eventlog``): None lets its first line say."""
    return {"jsonlog": False, "bplog": True}.get(what)


def sniff(path: str, head: bytes) -> str:
    """``jsonlog`` or ``bplog`` for the first bytes of a log; UnknownInput saying why it is neither."""
    import json

    from .registry import HEAD_BYTES, UnknownInput

    lines = [ln.strip() for ln in head.split(b"\n")]
    complete = lines[:-1] if len(head) == HEAD_BYTES else lines  # the last may be cut
    lines = [ln for ln in complete if ln][:50]
    if not lines:
        # An empty log of a workflow that has not started yet is fine to follow; one line
        # longer than we peek at is a JSON log: the reader counts the record as too big
        # rather than us refusing the file.
        return "jsonlog"
    # Judge by the first lines that parse, so a garbled first line (a crash
    # mid-write, a stray banner) does not hide a good log behind it.
    saw_json_object = False
    for line in lines:
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: a record nested ~1,000 deep
            if b" event=" in line or line.startswith(b"event="):
                return "bplog"
            continue
        if isinstance(obj, dict):
            if "event" in obj or "monitoring_event" in obj:
                return "jsonlog"
            saw_json_object = True
    if saw_json_object:
        raise UnknownInput(f"{path}: JSON, but not Panorama or Stampede events (no 'event' field)")
    raise UnknownInput(f"{path}: not a monitord event log (no JSON or BP event in its first lines)")


class EventLogKind:
    """monitord's event log: JSON lines or BP (``jsonlog``, ``bplog``), or one whose first
    line the source reads (``eventlog``: a FIFO or pipe, which cannot be read twice, or
    with ``follow`` a log not written yet)."""

    name = "eventlog"
    order = 70

    def recognise(self, target):
        from .registry import CERTAIN, FALLBACK, Match

        if target.missing:
            if target.follow and not target.path.endswith(_NOT_LOG_SUFFIXES + (os.sep,)):
                return Match(FALLBACK, "eventlog")  # followed like tail -F once monitord creates it
            return None
        if target.is_fifo:
            return Match(CERTAIN, "eventlog")  # not peeked at: what detection read, the source would never see
        if not target.is_file or target.is_sqlite:
            return None
        if not target.head.strip():
            return Match(FALLBACK, "jsonlog")  # empty: a log to follow, unless its name says a DB
        return Match(CERTAIN, sniff(target.path, target.head))

    def open(self, target, options):
        from .registry import CannotOpen

        # --once waits for a FIFO's writer (a pipe is its natural input); --no-follow does not.
        source = JsonLogSource(target.path, follow=options.follow, bp=bp_of(target.what or "eventlog"),
                               wait_for_writer=options.wait_for_writer)
        why = source.open_now()
        if why:
            raise CannotOpen(why)
        return source


KIND = EventLogKind()
