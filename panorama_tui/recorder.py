"""The recording: every event received, appended to a local SQLite file.

One row per received record, its body kept as the text that arrived, so a
replay meets the same bytes (garbage included) that the live session met.
WAL and one transaction per batch make a kill mid-write lose at most the
batch in flight, never the file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time

FORMAT = "panorama-recording"
VERSION = "1"


def _body_text(record) -> tuple[str | None, str]:
    """(event name if known cheaply, body as text) for any raw record."""
    from .events import Event

    if isinstance(record, Event):
        return record.name, record.to_json()
    if isinstance(record, dict):
        return record.get("event"), json.dumps(record, separators=(",", ":"), default=str)
    if isinstance(record, (bytes, bytearray)):
        return None, bytes(record).decode("utf-8", errors="replace")
    return None, str(record)


class Recorder:
    """Appends batches of raw records; safe to use from one thread."""

    def __init__(self, path: str, source: str = ""):
        self.path = path
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        # Imported here: sqlite_utils pulls in pandas when it is installed
        # (half a second), and detect()/--once/replay never need it.
        import sqlite_utils

        db = sqlite_utils.Database(self.conn)
        if "events" not in db.table_names():
            db["events"].create(
                {"seq": int, "recv_ts": float, "name": str, "body": str}, pk="seq"
            )
            db["meta"].create({"key": str, "value": str}, pk="key")
            db["meta"].insert_all(
                [
                    {"key": "format", "value": FORMAT},
                    {"key": "version", "value": VERSION},
                    {"key": "created", "value": str(time.time())},
                    {"key": "source", "value": source},
                ],
                replace=True,
            )
        self.count = 0

    def append(self, records, recv_ts: float | None = None) -> int:
        if not records:
            return 0
        now = time.time() if recv_ts is None else recv_ts
        rows = []
        for r in records:
            name, body = _body_text(r)
            rows.append((now, name, body))
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT INTO events (recv_ts, name, body) VALUES (?, ?, ?)", rows)
        self.count += len(rows)
        return len(rows)

    def append_timed(self, rows) -> int:
        """Rows of (recv_ts, name, body) as they are; for building recordings."""
        rows = list(rows)
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT INTO events (recv_ts, name, body) VALUES (?, ?, ?)", rows)
        self.count += len(rows)
        return len(rows)

    def set_meta(self, key: str, value: str) -> None:
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def close(self) -> None:
        try:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass
        self.conn.close()


def is_recording(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                return False
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='format'").fetchone()
        finally:
            conn.close()
        return bool(row and row[0] == FORMAT)
    except (OSError, sqlite3.Error, UnicodeDecodeError):  # UnicodeDecodeError: a corrupt schema's text
        return False


def default_recording_path() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    stamp = time.strftime("%Y%m%dT%H%M%S")
    return os.path.join(base, "panorama-top", "recordings", f"{stamp}-{os.getpid()}.panorama.db")
