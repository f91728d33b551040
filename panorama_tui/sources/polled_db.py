"""What the two live SQLite readers share (a Stampede DB, a Parsl monitoring DB):
a read-only connection polled by ``step()``, an error class that ends the read with
one line on the status, and the loop's ending.  Each subclass says what ``_run``
yields and which exception is its own."""

from __future__ import annotations

import sqlite3

from .base import Source


class PolledDbSource(Source):
    #: the exception that ends this source's read with its message on the status line
    error_class: type[Exception] = Exception

    conn: sqlite3.Connection | None = None

    def _fail(self, message: str) -> None:
        self.status.state = "error"
        self.status.message = message

    def _wait(self, message: str) -> None:
        self.status.state = "starting"
        self.status.message = message

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except sqlite3.Error:
                pass
            self.conn = None

    def batches(self):
        try:
            yield from self._run()
        except self.error_class as exc:
            self._fail(str(exc))
        finally:
            self.close()
        if self.status.state != "error":
            self.status.state = "ended"

    def _run(self):  # pragma: no cover - interface
        raise NotImplementedError
