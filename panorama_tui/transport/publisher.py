"""Publishing events to AMQP without losing any: a local SQLite spool plus publisher confirms.

:class:`SpoolingPublisher` writes every event to a local SQLite spool (WAL)
before anything else, and a background sender thread with its own
connection publishes the spool in order: persistent messages
(``delivery_mode=2``), publisher confirms with a window of
``confirm_window`` unconfirmed messages, and ``mandatory=True``.  A row leaves
the spool only when the broker acknowledged it.  So events survive a broker
outage (``stop_app``, a killed broker), a lost connection and a restart of the
publishing process (the spool is reopened and what is left is sent).
Duplicates are possible (a message confirmed by the broker just as the link
dropped is sent again); loss is not.  The store ignores duplicates.

A message the broker returns as unroutable (no queue bound for its routing
key) stays in the spool and is tried again with backoff (up to
:data:`RETRY_CAP` seconds), and ``status()["unroutable"]`` says how many
events wait for a queue.  A nacked message is sent again at once.

Every sink has the same tiny interface (:class:`EventSink`): ``publish(event,
routing_key=None)``, ``flush(timeout=None) -> int`` (events not yet
delivered) and ``close(timeout=None)``.

One process should own a spool file at a time.
"""

from __future__ import annotations

import heapq
import json
import logging
import sqlite3
import threading
import time
from typing import Any, Protocol

from .amqp_url import parse
from ..core import backoff
from ..core.private_files import create_private

__all__ = ["EventSink", "SpoolingPublisher", "CLOSE_WAIT"]

log = logging.getLogger(__name__)

CONFIRM_WINDOW = 1000
BACKOFF_START = 0.5
BACKOFF_CAP = 10.0  # reconnect delay cap (s)
RETRY_START = 1.0
RETRY_CAP = 10.0  # retry delay cap for unroutable messages (s)
PUMP_EVERY = 0.1  # the sender looks at the spool at least this often (s)
CLOSE_WAIT = 5.0  # what close(None) waits for confirms (s)


class EventSink(Protocol):
    def publish(self, event: dict, routing_key: str | None = None) -> None: ...

    def flush(self, timeout: float | None = None) -> int: ...

    def close(self, timeout: float | None = None) -> int | None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    routing_key TEXT NOT NULL,
    body BLOB NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS positions (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def _connect_db(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode survives a killed process; only a power cut may
    # lose the last transactions.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=60000")
    return conn


def encode_event(event, routing_key: str | None = None) -> tuple[str, bytes]:
    """(routing key, body) for an event dict, or for a body already encoded."""
    if isinstance(event, dict):
        rk = routing_key or event.get("event")
        body = json.dumps(event, separators=(",", ":"), default=str).encode()
    elif isinstance(event, (bytes, bytearray, str)):
        rk = routing_key
        body = event.encode() if isinstance(event, str) else bytes(event)
    else:
        raise TypeError(f"cannot publish a {type(event).__name__}: give a dict (or bytes with a routing key)")
    if not isinstance(rk, str) or not rk:
        raise ValueError("the event has no name to route it by (no 'event' field and no routing_key)")
    return rk, body


class SpoolingPublisher:
    """Thread-safe: any thread may call :meth:`publish`; one sender thread talks to the broker."""

    def __init__(
        self,
        url: str,
        spool_path: str,
        confirm_window: int = CONFIRM_WINDOW,
        *,
        backoff_cap: float = BACKOFF_CAP,
        retry_cap: float = RETRY_CAP,
        heartbeat: int | None = None,
        start: bool = True,
    ):
        self.url = parse(url)
        self.label = self.url.masked
        self.spool_path = spool_path
        self.confirm_window = max(1, int(confirm_window))
        self.backoff_cap = backoff_cap
        self.retry_cap = retry_cap
        create_private(spool_path)  # the events it holds are a site's job data: 0600, its WAL too
        self._db = _connect_db(spool_path)
        self._db.executescript(_SCHEMA)
        self._db_lock = threading.Lock()
        self._params = self.url.connection_parameters(
            **({} if heartbeat is None else {"heartbeat": heartbeat})
        )
        self._stop = threading.Event()
        self._closed = False
        self._conn = None  # the sender's SelectConnection while it has one
        self._wake_pending = False
        self._lock = threading.Lock()  # guards the counters below
        self.state = "starting"
        self.message = f"connecting to {self.label}"
        self.counts = {
            "published": 0,  # messages sent (retries and resends included)
            "confirmed": 0,  # events the broker acknowledged (and that left the spool)
            "returned": 0,  # times the broker returned a message as unroutable
            "nacked": 0,
            "reconnects": 0,
        }
        self._unroutable: set[int] = set()
        self._thread = threading.Thread(target=self._run, name="amqp-publisher", daemon=True)
        if start:
            self._thread.start()

    # -- the public side ---------------------------------------------------
    def publish(self, event, routing_key: str | None = None) -> None:
        """Spool one event (a dict; routing key defaults to its ``event`` field)."""
        rk, body = encode_event(event, routing_key)
        if self._closed:
            raise RuntimeError("publisher is closed")
        with self._db_lock:
            self._db.execute(
                "INSERT INTO spool (routing_key, body, created) VALUES (?, ?, ?)", (rk, body, time.time())
            )
        self._nudge()

    def publish_many(self, events, routing_key: str | None = None, position: tuple[str, object] | None = None) -> int:
        """Spool many events in one transaction; returns how many.

        Items are events, or ``(event, routing_key)`` pairs.  ``position``,
        ``(key, value)`` (JSON), is kept in the same transaction: where a
        reader is in its source once these events are spooled, so that a
        restart goes on from there (:meth:`position`) and neither sends them
        twice nor skips any.
        """
        rows = []
        now = time.time()
        for ev in events:
            if isinstance(ev, tuple):
                rk, body = encode_event(ev[0], ev[1] or routing_key)
            else:
                rk, body = encode_event(ev, routing_key)
            rows.append((rk, body, now))
        if not rows and position is None:
            return 0
        if self._closed:
            raise RuntimeError("publisher is closed")
        with self._db_lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO spool (routing_key, body, created) VALUES (?, ?, ?)", rows)
            if position is not None:
                self._db.execute("INSERT OR REPLACE INTO positions (key, value) VALUES (?, ?)",
                                 (position[0], json.dumps(position[1])))
        if rows:
            self._nudge()
        return len(rows)

    def position(self, key: str):
        """The value last kept under ``key`` with :meth:`publish_many` (None: none yet)."""
        with self._db_lock:
            row = self._db.execute("SELECT value FROM positions WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def pending(self) -> int:
        """Events in the spool: not yet confirmed by the broker."""
        with self._db_lock:
            return self._db.execute("SELECT COUNT(*) FROM spool").fetchone()[0]

    def flush(self, timeout: float | None = None) -> int:
        """Wait until the broker confirmed every spooled event; returns how many are still unconfirmed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            n = self.pending()
            if n == 0 or not self._thread.is_alive():
                return n
            if deadline is not None and time.monotonic() >= deadline:
                return n
            self._nudge()
            time.sleep(0.02 if deadline is None else max(0.0, min(0.02, deadline - time.monotonic())))

    def close(self, timeout: float | None = None) -> int:
        """Flush (``timeout`` s, None: :data:`CLOSE_WAIT`), stop the sender; returns events left in the spool.

        Events left are not lost: the next publisher on the same spool sends them.
        """
        if self._closed:
            return self.pending()
        left = self.flush(CLOSE_WAIT if timeout is None else timeout)
        self._closed = True
        self._stop.set()
        conn = self._conn
        if conn is not None:
            try:
                conn.ioloop.add_callback_threadsafe(self._close_conn)
            except Exception:  # its loop is gone already
                pass
        if self._thread.is_alive():
            self._thread.join(5.0)
        left = self.pending()
        with self._db_lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            self._db.close()
        if left:
            log.warning("%d event(s) left in the spool %s; they are sent on the next start", left, self.spool_path)
        return left

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def status(self) -> dict:
        with self._lock:
            out: dict = dict(self.counts)
            out["unroutable"] = len(self._unroutable)
        out.update(state=self.state, message=self.message, url=self.label)
        try:
            out["spooled"] = self.pending()
        except sqlite3.Error:
            out["spooled"] = None
        return out

    # -- the sender thread -----------------------------------------------------
    def _nudge(self) -> None:
        conn = self._conn
        if conn is None or self._wake_pending:
            return
        self._wake_pending = True
        try:
            conn.ioloop.add_callback_threadsafe(self._pump)
        except Exception:  # the loop just went away; the next connection reads the spool
            self._wake_pending = False

    def _set(self, state: str, message: str) -> None:
        message = self.url.redact(message)
        if state != self.state or message != self.message:
            level = logging.INFO if state in ("connected", "stopped") else logging.WARNING
            log.log(level, "publisher %s: %s", state, message)
        self.state, self.message = state, message

    def _run(self) -> None:
        import pika

        self._sdb = _connect_db(self.spool_path)
        failures = 0
        connected_once = False
        try:
            while not self._stop.is_set():
                self._session = _Session(self)
                try:
                    conn = pika.SelectConnection(
                        self._params,
                        on_open_callback=self._session.on_open,
                        on_open_error_callback=self._session.on_open_error,
                        on_close_callback=self._session.on_close,
                    )
                    self._conn = conn
                    conn.ioloop.start()
                except Exception as exc:  # a bug or an unexpected pika error: report, retry
                    log.debug("publisher connection failed", exc_info=True)
                    self._session.error = self._session.error or _describe(exc)
                finally:
                    self._conn = None
                    self._wake_pending = False
                s = self._session
                if s.ready_once:
                    connected_once = True
                    failures = 0
                if self._stop.is_set():
                    break
                failures += 1
                delay = backoff.delay(failures, BACKOFF_START, self.backoff_cap)
                state = "down" if failures >= 3 else ("reconnecting" if connected_once else "connecting")
                self._set(state, f"{self.label}: {s.error or 'connection lost'}; retrying in {delay:.1f} s")
                if s.ready_once:
                    with self._lock:
                        self.counts["reconnects"] += 1
                self._stop.wait(delay)
        finally:
            self._set("stopped", f"disconnected from {self.label}")
            try:
                self._sdb.close()
            except sqlite3.Error:
                pass

    def _close_conn(self) -> None:
        conn = self._conn
        if conn is not None and conn.is_open:
            conn.close()
        elif conn is not None and not conn.is_closing and not conn.is_closed:
            conn.ioloop.stop()

    def _pump(self) -> None:
        self._wake_pending = False
        s = getattr(self, "_session", None)
        if s is not None:
            s.pump()


class _Session:
    """One connection's worth of publishing state (runs on the sender thread)."""

    def __init__(self, pub: SpoolingPublisher):
        self.pub = pub
        self.conn: Any = None  # pika's SelectConnection and channel, once open
        self.ch: Any = None
        self.ready = False
        self.ready_once = False
        self.error: str | None = None
        self.passive = False
        self.seq = 0  # delivery tag of the last message published on this channel
        self.inflight: dict[int, int] = {}  # delivery tag -> spool id (insertion = tag order)
        self.inflight_ids: set[int] = set()
        self.returned: set[int] = set()  # spool ids returned since their last publish
        self.cursor = 0  # highest spool id read on this connection
        self.retry: list = []  # heap of (due, spool id)
        self.retry_ids: set[int] = set()
        import pika

        self.props = lambda sid: pika.BasicProperties(
            delivery_mode=2, content_type="application/json", message_id=str(sid)
        )

    # -- connection and channel ------------------------------------------------
    def on_open(self, conn) -> None:
        self.conn = conn
        if self.pub._stop.is_set():
            conn.close()
            return
        conn.channel(on_open_callback=self.on_channel)

    def on_open_error(self, conn, err) -> None:
        self.error = _describe(err)
        conn.ioloop.stop()

    def on_close(self, conn, reason) -> None:
        self.ready = False
        if not self.pub._stop.is_set() and self.error is None:
            self.error = f"connection lost ({_describe(reason)})"
        conn.ioloop.stop()

    def on_channel(self, ch) -> None:
        self.ch = ch
        ch.add_on_close_callback(self.on_channel_closed)
        ch.add_on_return_callback(self.on_return)
        ex = self.pub.url.exchange
        if self.passive:
            ch.exchange_declare(ex, passive=True, callback=self.on_exchange)
        else:
            # What pegasus-monitord declares: a durable topic exchange.
            ch.exchange_declare(ex, exchange_type="topic", durable=True, callback=self.on_exchange)

    def on_channel_closed(self, ch, reason) -> None:
        self.ready = False
        code = getattr(reason, "reply_code", None)
        if not self.passive and not self.ready_once and code in (403, 406) and self.conn and self.conn.is_open:
            # Declared otherwise by someone else, or not ours to declare: use it as it is.
            self.passive = True
            self.conn.channel(on_open_callback=self.on_channel)
            return
        if self.conn is not None and self.conn.is_open:
            if not self.pub._stop.is_set():
                self.error = f"channel closed ({_describe(reason)})"
            self.conn.close()

    def on_exchange(self, _frame) -> None:
        self.ch.confirm_delivery(ack_nack_callback=self.on_confirm, callback=self.on_confirm_mode)

    def on_confirm_mode(self, _frame) -> None:
        self.ready = self.ready_once = True
        self.pub._set("connected", f"connected to {self.pub.label}")
        self.tick()

    def tick(self) -> None:
        if self.conn is None or not self.conn.is_open:
            return
        if self.pub._stop.is_set():
            self.conn.close()
            return
        self.pump()
        self.conn.ioloop.call_later(PUMP_EVERY, self.tick)

    # -- publishing ---------------------------------------------------------------
    def pump(self) -> None:
        if not self.ready:
            return
        room = self.pub.confirm_window - len(self.inflight)
        if room <= 0:
            return
        db = self.pub._sdb
        now = time.time()
        out: list = []
        # Returned (unroutable) or nacked events whose time has come.
        while self.retry and self.retry[0][0] <= now and len(out) < room:
            _, sid = heapq.heappop(self.retry)
            self.retry_ids.discard(sid)
            row = db.execute("SELECT id, routing_key, body FROM spool WHERE id = ?", (sid,)).fetchone()
            if row is not None:
                out.append(row)
        if len(out) < room:
            rows = db.execute(
                "SELECT id, routing_key, body, not_before FROM spool WHERE id > ? ORDER BY id LIMIT ?",
                (self.cursor, room - len(out)),
            ).fetchall()
            for sid, rk, body, not_before in rows:
                self.cursor = sid
                if sid in self.inflight_ids or sid in self.retry_ids:
                    continue
                if not_before > now:
                    heapq.heappush(self.retry, (not_before, sid))
                    self.retry_ids.add(sid)
                    continue
                out.append((sid, rk, body))
        if not out:
            return
        ch = self.ch
        ex = self.pub.url.exchange
        for sid, rk, body in out:
            ch.basic_publish(ex, rk, body, properties=self.props(sid), mandatory=True)
            self.seq += 1
            self.inflight[self.seq] = sid
            self.inflight_ids.add(sid)
            self.returned.discard(sid)
        with self.pub._lock:
            self.pub.counts["published"] += len(out)

    def on_return(self, _ch, _method, props, _body) -> None:
        try:
            sid = int(props.message_id)
        except (TypeError, ValueError):
            return
        self.returned.add(sid)
        with self.pub._lock:
            self.pub.counts["returned"] += 1
            self.pub._unroutable.add(sid)

    def on_confirm(self, frame) -> None:
        import pika

        m = frame.method
        tag = m.delivery_tag
        ack = isinstance(m, pika.spec.Basic.Ack)
        done = []
        if m.multiple:
            while self.inflight:
                t = next(iter(self.inflight))
                if t > tag:
                    break
                done.append(self.inflight.pop(t))
        elif tag in self.inflight:
            done.append(self.inflight.pop(tag))
        if not done:
            return
        delete, again = [], []
        for sid in done:
            self.inflight_ids.discard(sid)
            if ack and sid not in self.returned:
                delete.append(sid)
            else:
                again.append(sid)
        db = self.pub._sdb
        now = time.time()
        with db:
            db.execute("BEGIN")
            if delete:
                db.executemany("DELETE FROM spool WHERE id = ?", [(s,) for s in delete])
            for sid in again:
                if ack:  # acked but returned: no queue took it; wait and try again
                    row = db.execute("SELECT attempts FROM spool WHERE id = ?", (sid,)).fetchone()
                    attempts = (row[0] if row else 0) + 1
                    due = now + backoff.delay(attempts, RETRY_START, self.pub.retry_cap)  # jittered: a burst of them spreads out
                    db.execute("UPDATE spool SET attempts = ?, not_before = ? WHERE id = ?", (attempts, due, sid))
                else:  # nacked: the broker could not take it; send again now
                    due = now
                heapq.heappush(self.retry, (due, sid))
                self.retry_ids.add(sid)
        with self.pub._lock:
            c = self.pub.counts
            c["confirmed"] += len(delete)
            if not ack:
                c["nacked"] += len(again)
            for sid in delete:
                self.pub._unroutable.discard(sid)
        if again and ack:
            self.pub._set(
                "connected",
                f"connected to {self.pub.label}; {len(self.pub._unroutable)} event(s) unroutable "
                "(no queue bound for their routing key), retrying",
            )
        self.pump()


def _describe(exc) -> str:
    import pika.exceptions as pe

    if isinstance(exc, (pe.ConnectionClosedByBroker, pe.ChannelClosedByBroker)):
        return f"{exc.reply_code} {exc.reply_text}"
    if isinstance(exc, (pe.ProbableAuthenticationError, pe.ProbableAccessDeniedError)):
        return "access refused (check the user, password and vhost)"
    if isinstance(exc, pe.ConnectionClosedByClient):
        return "closed"
    if isinstance(exc, pe.AMQPConnectionError):
        inner = exc.args[0] if exc.args else None
        if isinstance(inner, BaseException):
            return f"cannot connect ({type(inner).__name__}: {str(inner)[:120]})"
        return f"cannot connect ({str(exc)[:120] or type(exc).__name__})"
    text = str(exc).splitlines()[0][:160] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
