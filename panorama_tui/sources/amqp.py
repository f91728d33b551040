"""Live events from a RabbitMQ topic exchange (the Panorama 360 deployment, monitord's AMQP sink).

The source runs on the ingest thread that drives :meth:`AmqpSource.batches`
and owns its own ``BlockingConnection`` there (pika: one connection per
thread).  It yields batches of raw message bodies (bytes); the ingest thread
decodes them, records them and applies them to the store, so bodies that are
not events are counted there like any bad record.  Messages are acknowledged
(one multiple-ack per batch) only after the ingest thread has taken the batch,
so a named durable queue loses nothing when panorama-top stops or crashes.

Queue: by default a server-named, exclusive, auto-delete queue (a live viewer
sees what happens while it watches); with ``queue=`` a named durable queue
that outlives the viewer (an archiver), optionally bounded with
``x-max-length`` and ``x-overflow=reject-publish`` so a full queue refuses new
messages (publishers with confirms keep them) instead of dropping old ones.

When the broker goes away (connection lost, reply 320 on a broker restart,
socket errors) the source reconnects with exponential backoff (full jitter, core/backoff.py) capped at
:data:`BACKOFF_CAP` seconds; it never raises out of :meth:`batches`.

``status.state`` is ``starting`` (batches() not running yet), ``connecting``
(first attempts), ``connected``, ``reconnecting`` (the link was lost and is
being retried), ``down`` (:data:`DOWN_AFTER` attempts in a row failed) or
``stopped``; ``status.message`` says why, without credentials.  Messages that
could not be parsed are the store's ``bad_count``.  ``status.detail`` holds:

``url``        the masked URL (no password)
``queue``      the queue consumed
``received``   messages received in total (filtered ones included)
``rate``       messages per second over the last :data:`RATE_WINDOW` seconds
``lag``        ``{"last": s, "p50": s}``: receipt time minus the event's own
               ``ts`` for events that carry a wall-clock ``ts`` (None until one did)
``reconnects`` connections lost and re-made
``filtered``   messages dropped by the workflow filter (``wf=``)
``oversized``  bodies over ``events.MAX_LINE_BYTES`` (passed on; the decoder refuses them)
``gaps``       times the link came back after events may have been missed

A link lost and made again with the default exclusive queue loses what was
published meanwhile (the queue went with the connection).  The source then
yields a ``panorama.gap`` event (start and end of the outage, the reason):
recorded like any message, so the recording says where it has a hole, and
shown by the store as a warning, live and in a replay.  A named durable queue
(``queue=``) keeps messages while the viewer is away: no gap, nothing lost.
``since``      epoch seconds of the last change of state

Deliveries are read off the socket data by the delivery reader in
``panorama_tui.compat.pika``, which costs a fraction of pika's per-message
objects (``fast=False`` leaves all of it to pika).
"""

from __future__ import annotations

import json
import logging
import re
import statistics
import time
from collections import deque

from ..compat.pika import consume_on_the_async_channel, install_delivery_reader
from ..transport.amqp_url import DEFAULT_BINDINGS, parse
from ..core import backoff
from ..core.events import MAX_LINE_BYTES, to_epoch
from .base import Batch, Source

log = logging.getLogger(__name__)

PREFETCH = 1000
BATCH_MAX = 500
BATCH_WAIT = 0.02  # seconds a partial batch may wait for more messages
POLL = 0.25  # the stop flag is checked at least this often
BACKOFF_START = 0.5
BACKOFF_CAP = 10.0
DOWN_AFTER = 3  # failed attempts in a row before "reconnecting" becomes "down"
RATE_WINDOW = 5.0
LAG_WINDOW = 60.0
LAG_SAMPLES_PER_BATCH = 16

GAP_EVENT = "panorama.gap"
_TS = re.compile(rb'"(?:ts|@timestamp)"\s*:\s*("?)([^",}\s]+)')
_WF_IDS = re.compile(rb'"(?:xwf_id|wf_uuid|root_xwf_id|run_id|xwf\.id|wf\.uuid|root_xwf\.id)"\s*:\s*"([^"]*)"')


def _body_ts(body: bytes) -> float | None:
    m = _TS.search(body, 0, 64 * 1024)
    if m is None:
        return None
    raw = m.group(2)
    try:
        return to_epoch(float(raw))
    except ValueError:
        return to_epoch(raw.decode("ascii", "replace"))


class AmqpSource(Source):
    live = True
    recordable = True

    def __init__(
        self,
        url: str,
        queue: str | None = None,
        bindings=None,
        wf: str | None = None,
        *,
        prefetch: int = PREFETCH,
        batch_max: int = BATCH_MAX,
        batch_wait: float = BATCH_WAIT,
        max_length: int | None = None,
        overflow: str = "reject-publish",
        poll: float = POLL,
        backoff_cap: float = BACKOFF_CAP,
        heartbeat: int | None = None,
        fast: bool = True,
    ):
        super().__init__()
        self.url = parse(url)  # UrlError (masked message) on a bad URL
        self.queue = queue or None
        self.bindings = tuple(bindings) if bindings else DEFAULT_BINDINGS
        self.wf = wf or None
        self._wf_b = self.wf.encode() if self.wf else None
        self.prefetch = max(1, int(prefetch))
        self.batch_max = max(1, min(int(batch_max), self.prefetch))
        self.batch_wait = batch_wait
        self.max_length = max_length
        self.overflow = overflow
        self.poll = min(poll, 0.5)
        self.backoff_cap = backoff_cap
        self.fast = fast  # read deliveries off the wire ourselves (see compat.pika.DeliveryReader)
        self._param_overrides = {} if heartbeat is None else {"heartbeat": heartbeat}
        self.label = self.url.masked
        self._rates: deque = deque()  # (monotonic, n)
        self._lags: deque = deque(maxlen=4096)  # (monotonic, lag)
        self._lag_at = 0.0
        self.status.state = "starting"
        self.status.message = f"connecting to {self.label}"
        self.status.detail.update(
            url=self.label,
            queue=self.queue,
            received=0,
            rate=0.0,
            lag={"last": None, "p50": None},
            reconnects=0,
            filtered=0,
            oversized=0,
            gaps=0,
            since=time.time(),
        )
        self._conn = None

    # -- status ------------------------------------------------------------
    def _set(self, state: str, message: str) -> None:
        message = self.url.redact(message)
        if state != self.status.state:
            self.status.detail["since"] = time.time()
            log.info("%s: %s", state, message)
        self.status.state = state
        self.status.message = message

    def _refresh_rate(self, now: float) -> None:
        rates = self._rates
        cut = now - RATE_WINDOW
        while rates and rates[0][0] < cut:
            rates.popleft()
        self.status.detail["rate"] = round(sum(n for _, n in rates) / RATE_WINDOW, 1)

    def _account(self, batch: list) -> tuple[list, list | None]:
        """Counts, lag samples and the workflow filter for one batch of bodies:
        (the bodies kept, their places in ``batch`` when some were filtered out)."""
        now = time.monotonic()
        wall = time.time()
        d = self.status.detail
        n = len(batch)
        d["received"] += n
        self._rates.append((now, n))
        if max(map(len, batch)) > MAX_LINE_BYTES:
            d["oversized"] += sum(1 for body in batch if len(body) > MAX_LINE_BYTES)
        step = max(1, n // LAG_SAMPLES_PER_BATCH)
        last = None
        for i in range(n - 1, -1, -step):  # newest first, so "last" is the newest
            ts = _body_ts(batch[i])
            if ts is not None:
                if last is None:
                    last = wall - ts
                self._lags.append((now, wall - ts))
        if last is not None:
            p50 = d["lag"]["p50"]
            if p50 is None or now - self._lag_at >= 0.5:  # the median at most twice a second
                cut = now - LAG_WINDOW
                lags = self._lags
                while lags and lags[0][0] < cut:
                    lags.popleft()
                p50 = round(statistics.median(v for _, v in lags), 3)
                self._lag_at = now
            d["lag"] = {"last": round(last, 3), "p50": p50}
        kept = None
        if self._wf_b is not None:
            keep, kept = [], []
            wf = self._wf_b
            for i, body in enumerate(batch):
                if wf in body or not _WF_IDS.search(body, 0, 64 * 1024):
                    keep.append(body)  # ours, or no id at all: the decoder decides
                    kept.append(i)
                else:
                    d["filtered"] += 1
            batch = keep
        self._refresh_rate(now)
        return batch, kept

    # -- connection ----------------------------------------------------------
    def _setup(self, conn):
        import pika.exceptions as pe

        ch = conn.channel()
        ex = self.url.exchange
        try:
            # What monitord declares: a durable topic exchange.
            ch.exchange_declare(ex, exchange_type="topic", durable=True, auto_delete=False)
        except pe.ChannelClosedByBroker as exc:
            if exc.reply_code not in (403, 406):
                raise
            # Declared differently by someone else, or we may not configure it: use it as it is.
            ch = conn.channel()
            ch.exchange_declare(ex, passive=True)
        note = ""
        args = None
        if self.max_length:
            args = {"x-max-length": int(self.max_length), "x-overflow": self.overflow}
        if self.queue is None:
            q = ch.queue_declare("", exclusive=True, auto_delete=True, arguments=args).method.queue
        else:
            try:
                q = ch.queue_declare(self.queue, durable=True, arguments=args).method.queue
            except pe.ChannelClosedByBroker as exc:
                if exc.reply_code != 406:
                    raise
                ch = conn.channel()
                q = ch.queue_declare(self.queue, passive=True).method.queue
                note = " (queue exists with other arguments; used as it is)"
        for key in self.bindings:
            ch.queue_bind(q, ex, routing_key=key)
        ch.basic_qos(prefetch_count=self.prefetch)
        return ch, q, note

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if conn.is_open:
                conn.close()
        except Exception:  # already gone: nothing to tidy
            pass

    def batches(self):
        import pika

        params = self.url.connection_parameters(**self._param_overrides)
        failures = 0
        connected_once = False
        lost = None  # (when, why, queue) the link went, while events may be missed
        try:
            while not self.stopping:
                if failures == 0:
                    self._set("reconnecting" if connected_once else "connecting", f"connecting to {self.label}")
                try:
                    self._conn = conn = pika.BlockingConnection(params)
                    ch, q, note = self._setup(conn)
                except Exception as exc:
                    self._close()
                    failures += 1
                    delay = backoff.delay(failures, BACKOFF_START, self.backoff_cap)
                    if failures >= DOWN_AFTER:
                        state = "down"
                    else:
                        state = "reconnecting" if connected_once else "connecting"
                    self._set(state, f"{self.label}: {_describe(exc)}; retrying in {delay:.1f} s")
                    self._stop.wait(delay)
                    continue
                failures = 0
                if connected_once:
                    self.status.detail["reconnects"] += 1
                connected_once = True
                self.status.detail["queue"] = q
                self._set("connected", f"connected to {self.label}, queue {q}{note}")
                if lost is not None:
                    yield self._gap(*lost)
                    lost = None
                try:
                    yield from self._consume(conn, ch, q)
                except Exception as exc:
                    if self.stopping:
                        break
                    failures = 1
                    why = _describe(exc)
                    if self.queue is None:  # the exclusive queue went with the link
                        lost = (time.time(), f"lost {self.label}: {why}", q)
                    self._set("reconnecting", f"lost {self.label}: {why}; reconnecting")
                    # jittered too: a broker restart drops every screen's link at the same instant
                    self._stop.wait(backoff.delay(failures, BACKOFF_START, self.backoff_cap))
                finally:
                    self._close()
        finally:
            self._close()
            self.status.detail["rate"] = 0.0
            self._set("stopped", f"disconnected from {self.label}")

    def _consume(self, conn, ch, q):
        buf: list = []
        state = {"tag": 0, "first": 0.0, "cancelled": False}
        mono = time.monotonic
        bmax = self.batch_max
        wait = self.batch_wait
        call_later = conn.call_later

        def wake():
            pass  # a due timer makes process_data_events return

        def on_message(_ch, method, _props, body):
            if not buf:
                state["first"] = mono()
                call_later(wait, wake)  # hand the batch over within batch_wait
            buf.append(body)
            state["tag"] = method.delivery_tag
            if len(buf) == bmax:
                call_later(0, wake)

        def deliver(tag, body):
            if not buf:
                state["first"] = mono()
                call_later(wait, wake)  # hand the batch over within batch_wait
            buf.append(body)
            state["tag"] = tag
            if len(buf) == bmax:
                call_later(0, wake)

        def on_cancel(_frame):
            state["cancelled"] = True

        if consume_on_the_async_channel(ch, q, on_message, on_cancel):
            if self.fast:
                install_delivery_reader(conn, ch.channel_number, deliver)
        else:  # pragma: no cover - a pika without the async channel underneath
            ch.basic_consume(q, on_message_callback=on_message, auto_ack=False)
        poll = self.poll
        last_refresh = mono()
        while not self.stopping:
            if ch.is_closed:
                raise ConnectionError("the broker closed the channel")
            if state["cancelled"]:
                raise ConnectionError(f"the broker cancelled the consumer (queue {q} deleted?)")
            limit = max(0.0, wait - (mono() - state["first"])) if buf else poll
            conn.process_data_events(time_limit=limit)
            if not buf:
                now = mono()
                if now - last_refresh >= poll:
                    self._refresh_rate(now)
                    last_refresh = now
                continue
            now = mono()
            if len(buf) < bmax and now - state["first"] < wait:
                continue
            batch = buf[:]
            tag = state["tag"]
            del buf[:]
            first = tag - len(batch) + 1  # one consumer on the channel: its delivery tags run 1, 2, 3...
            batch, kept = self._account(batch)
            last_refresh = now
            if batch:
                yield Batch(batch, where=self._where(q, first, kept))
            # Taken (and recorded) by the ingest thread: acknowledge it.
            ch.basic_ack(tag, multiple=True)
        # Deliveries still buffered were not acknowledged: they go back to the queue.


    def _where(self, q: str, first: int, kept: list | None):
        def where(i: int) -> str:
            return f"{self.url.exchange} queue {q} delivery #{first + (kept[i] if kept else i)}"

        return where

    def _gap(self, lost: float, why: str, q: str | None) -> list:
        """A marker for the time the link was down: what an exclusive queue missed (see batches)."""
        now = time.time()
        self.status.detail["gaps"] += 1
        return [json.dumps({"event": GAP_EVENT, "ts": now, "start": lost, "end": now, "source": self.label,
                            "queue": q, "reason": self.url.redact(why)}).encode()]


def _describe(exc: BaseException) -> str:
    """One line about a pika/socket error (the caller masks credentials)."""
    import pika.exceptions as pe

    if isinstance(exc, pe.ConnectionClosedByBroker):
        return f"closed by the broker ({exc.reply_code} {exc.reply_text})"
    if isinstance(exc, pe.ChannelClosedByBroker):
        if exc.reply_code == 404:
            return f"not found: {exc.reply_text}"
        return f"refused ({exc.reply_code} {exc.reply_text})"
    if isinstance(exc, (pe.ProbableAuthenticationError, pe.ProbableAccessDeniedError)):
        return "access refused (check the user, password and vhost)"
    if isinstance(exc, pe.AMQPConnectionError):
        inner = exc.args[0] if exc.args else None
        if isinstance(inner, BaseException) and str(inner):
            return f"cannot connect ({type(inner).__name__}: {inner})"
        text = str(exc) or type(exc).__name__
        if "ConnectionRefused" in text or not exc.args:
            return "cannot connect (connection refused)" if "Refused" in text else f"cannot connect ({type(exc).__name__})"
        return f"cannot connect ({text[:160]})"
    text = str(exc).splitlines()[0][:160] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
