"""pika internals (tested with pika 1.4): deliveries read straight off the socket data.

pika spends most of a consumer's CPU building frame, method and property
objects per message, none of which a viewer needs.  :class:`DeliveryReader`
takes the connection's place as receiver of the socket's bytes (pika's
private ``Connection._on_data_available``), parses AMQP 0-9-1 frames itself,
and hands pika every frame that is not a delivery on its channel (the
consumer is registered on the BlockingChannel's private async channel,
``_impl``, so that the deliveries pika does parse skip BlockingChannel's
per-message event objects too).  It also
takes over the private ``_frame_buffer`` (bytes pika had buffered but not
parsed when it was installed) and keeps ``bytes_received`` (the heartbeat
checker's counter) counting what it parses.

It earns its place: ``benchmarks/bench_amqp.py`` against the real broker,
100k ~800 B monitord events, pika 1.4.4, both paths in the same run, medians
of 5 (2 shared cores, load 2-14): 5,770 msg/s against pika's plain path's
3,534 (x1.63), and 48,078 against 25,510 msgs per CPU second (x1.88); again
from this module, 50k events: 7,212 against 3,842 (x1.88), 46,681 against
24,423 per CPU second (x1.91).  The rule was to delete it below x1.20.  pyproject pins pika below its next
minor; the canary test (tests/test_compat_canaries.py) says which of these
internals a new pika lacks.
"""

from __future__ import annotations

import struct

TESTED = "1.4"

_FRAME_HEAD = struct.Struct(">BHL")
_DELIVER = (60 << 16) | 60  # Basic.Deliver
_METHOD_ID = struct.Struct(">I")
_TAG = struct.Struct(">QB")
_BODY_SIZE = struct.Struct(">Q")


class DeliveryReader:
    """Takes Basic.Deliver messages for one channel straight off the socket data.

    pika spends most of a consumer's time building frame, method and property
    objects per message, none of which a viewer needs.  Installed on a
    connection in place of its ``_on_data_available``, this reader parses
    AMQP 0-9-1 frames itself: a delivery's method, header and body frames on
    our channel become ``deliver(tag, body)``; every other frame is handed to
    pika whole and in order, so pika still runs the channel, acks, heartbeats
    and closes.  A malformed stream raises, which makes pika drop the
    connection: the source reconnects and the broker redelivers what was not
    acknowledged.  ``uninstall`` hands everything back to pika.
    """

    def __init__(self, impl, channel_number: int, deliver):
        self.impl = impl
        self.channel = channel_number
        self.deliver = deliver
        self.orig = impl._on_data_available
        self.pend = bytearray(getattr(impl, "_frame_buffer", b"") or b"")
        impl._frame_buffer = b""
        self.active = True
        self.tag = None  # delivery in progress
        self.size = 0
        self.parts: list = []
        self.got = 0
        impl._on_data_available = self.on_data

    def uninstall(self) -> None:
        self.active = False
        self.impl.__dict__.pop("_on_data_available", None)

    def on_data(self, data: bytes) -> None:
        if not self.active:
            self.orig(data)
            return
        buf = self.pend
        buf += data
        n = len(buf)
        pos = 0
        own = 0  # bytes of frames taken here (pika counts what it is handed)
        head = _FRAME_HEAD.unpack_from
        chan = self.channel
        try:
            while n - pos >= 8:
                ftype, fchan, fsize = head(buf, pos)
                end = pos + 7 + fsize  # index of the frame-end octet
                if end >= n:
                    break  # the rest of this frame has not arrived yet
                if buf[end] != 206:
                    raise ConnectionError("invalid AMQP frame end")
                if fchan == chan:
                    if self.tag is None:
                        if ftype == 1 and fsize >= 4 and _METHOD_ID.unpack_from(buf, pos + 7)[0] == _DELIVER:
                            p = pos + 11
                            p += 1 + buf[p]  # skip the consumer tag
                            self.tag = _TAG.unpack_from(buf, p)[0]
                            self.size = -1
                            own += end + 1 - pos
                            pos = end + 1
                            continue
                    elif self.size < 0:
                        if ftype != 2:
                            raise ConnectionError("AMQP stream out of step: a delivery without its header")
                        self.size = _BODY_SIZE.unpack_from(buf, pos + 11)[0]
                        self.parts = []
                        self.got = 0
                        own += end + 1 - pos
                        pos = end + 1
                        if self.size == 0:
                            tag, self.tag = self.tag, None
                            self.deliver(tag, b"")
                        continue
                    else:
                        if ftype != 3:
                            raise ConnectionError("AMQP stream out of step: a delivery without its body")
                        part = bytes(buf[pos + 7 : end])
                        own += end + 1 - pos
                        pos = end + 1
                        self.got += len(part)
                        if self.got >= self.size:
                            if self.parts:
                                self.parts.append(part)
                                part = b"".join(self.parts)
                                self.parts = []
                            tag, self.tag = self.tag, None
                            self.deliver(tag, part)
                        else:
                            self.parts.append(part)
                        continue
                # Not a delivery of ours: pika gets the whole frame, in order.
                frame = bytes(buf[pos : end + 1])
                pos = end + 1
                self.orig(frame)
                if self.impl.is_closed:
                    break
        finally:
            if own:
                # pika's heartbeat checker watches this counter.
                self.impl.bytes_received += own
            if pos:
                del buf[:pos]


def consume_on_the_async_channel(channel, queue: str, on_message, on_cancel) -> bool:
    """pika 1.4: consume on a BlockingChannel's private async channel (``_impl``): deliveries come
    straight from the frame handler, without BlockingChannel's per-message event objects.

    False, with nothing done, when that channel is not there.
    """
    impl = getattr(channel, "_impl", None)
    if impl is None or not hasattr(impl, "basic_consume") or not hasattr(impl, "add_on_cancel_callback"):
        return False
    impl.add_on_cancel_callback(on_cancel)
    impl.basic_consume(queue, on_message_callback=on_message, auto_ack=False)
    return True


def install_delivery_reader(conn, channel_number: int, deliver) -> DeliveryReader | None:
    """pika 1.4: read ``channel_number``'s deliveries off ``conn`` (a BlockingConnection) as ``deliver(tag, body)``.

    None, and pika keeps doing it all, when the connection lacks the internals.
    """
    impl = getattr(conn, "_impl", None)
    if impl is None or not hasattr(impl, "_on_data_available"):
        return None
    return DeliveryReader(impl, channel_number, deliver)


def missing(conn=None, channel=None) -> list[str]:
    """The internals above that the installed pika lacks (empty when all are there).

    With ``conn`` (an open BlockingConnection) and ``channel`` (one of its BlockingChannels),
    their own attributes are checked too.
    """
    import inspect

    from pika.adapters.blocking_connection import BlockingConnection
    from pika.adapters.base_connection import BaseConnection
    from pika.connection import Connection

    out = []
    method = getattr(Connection, "_on_data_available", None)
    if method is None or list(inspect.signature(method).parameters) != ["self", "data_in"]:
        out.append("Connection._on_data_available(self, data_in)")
    try:
        calls = "self._on_data_available(" in inspect.getsource(BaseConnection)
    except (OSError, TypeError):  # no source to read: cannot tell, so no alarm
        calls = True
    if not calls:
        out.append("BaseConnection handing socket data to self._on_data_available")
    if not isinstance(getattr(Connection, "is_closed", None), property):
        out.append("Connection.is_closed")
    if conn is not None:
        if not isinstance(conn, BlockingConnection):
            raise TypeError(f"missing() checks a BlockingConnection, not {type(conn).__name__}")
        impl = getattr(conn, "_impl", None)
        if impl is None:
            out.append("BlockingConnection._impl")
        else:
            if not isinstance(getattr(impl, "_frame_buffer", None), (bytes, bytearray)):
                out.append("Connection._frame_buffer (bytes)")
            if not isinstance(getattr(impl, "bytes_received", None), int):
                out.append("Connection.bytes_received (int)")
    if channel is not None:
        impl = getattr(channel, "_impl", None)
        if not (hasattr(impl, "basic_consume") and hasattr(impl, "add_on_cancel_callback")):
            out.append("BlockingChannel._impl (the async Channel: basic_consume, add_on_cancel_callback)")
    return out


def version() -> str:
    import pika

    return pika.__version__
