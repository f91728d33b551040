"""Helpers for tests against a real RabbitMQ (never a mock of pika).

The shared broker is 127.0.0.1:5672, guest/guest (``PANORAMA_TEST_AMQP``
overrides the base URL).  Tests use the default vhost ``/`` and exchanges and
queues with unique names, and delete what they declare.

Fault tests do not stop or kill the shared broker other people's work is
using: :class:`PrivateNode` starts a second RabbitMQ node of the same
installation, owned by the test (its own port, data directory and pid), which
the test may stop, kill -9 and restart as it likes, and always shuts down.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid

import pytest

BASE = os.environ.get("PANORAMA_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672").rstrip("/")
RABBIT_BIN = "/usr/lib/rabbitmq/bin"


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def _pika_params(base: str = BASE, vhost: str = "%2F"):
    import pika

    return pika.URLParameters(f"{base}/{vhost}?connection_attempts=1&socket_timeout=3")


def broker_up(base: str = BASE) -> bool:
    import pika

    try:
        pika.BlockingConnection(_pika_params(base)).close()
        return True
    except Exception:
        return False


def require_broker(base: str = BASE) -> None:
    """Skip when there is no broker; under CI=true that is a failure."""
    if broker_up(base):
        return
    msg = f"RabbitMQ not reachable at {base.split('@')[-1]}"
    if in_ci():
        pytest.fail(msg + " (CI=true: broker tests must run; .ci/run starts the broker)")
    pytest.skip(msg)


def unique(prefix: str = "ptest") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def url_for(exchange: str, base: str = BASE, vhost: str = "%2F") -> str:
    return f"{base}/{vhost}/{exchange}"


class Admin:
    """A plain pika connection for setting up and tidying; deletes what it declared."""

    def __init__(self, base: str = BASE, vhost: str = "%2F"):
        import pika

        self.base, self.vhost = base, vhost
        self.conn = pika.BlockingConnection(_pika_params(base, vhost))
        self.ch = self.conn.channel()
        self.exchanges: list[str] = []
        self.queues: list[str] = []

    def exchange(self, name: str | None = None) -> str:
        name = name or unique("ptest-ex")
        self.ch.exchange_declare(name, exchange_type="topic", durable=True)
        self.exchanges.append(name)
        return name

    def queue(self, exchange: str, keys=("stampede.#",), name: str | None = None, **arguments) -> str:
        name = name or unique("ptest-q")
        self.ch.queue_declare(name, durable=True, arguments=arguments or None)
        for k in keys:
            self.ch.queue_bind(name, exchange, k)
        self.queues.append(name)
        return name

    def track_queue(self, name: str) -> None:
        self.queues.append(name)

    def publish(self, exchange: str, routing_key: str, body) -> None:
        self.ch.basic_publish(exchange, routing_key, body)

    def count(self, queue: str) -> int:
        return self.ch.queue_declare(queue, passive=True).method.message_count

    def drain(self, queue: str) -> list[bytes]:
        out = []
        while True:
            method, _props, body = self.ch.basic_get(queue, auto_ack=True)
            if method is None:
                return out
            out.append(body)

    def close(self) -> None:
        import pika

        try:
            if not self.ch.is_open:
                self.ch = self.conn.channel()
        except Exception:
            try:
                self.conn = pika.BlockingConnection(_pika_params(self.base, self.vhost))
                self.ch = self.conn.channel()
            except Exception:
                return
        for q in self.queues:
            try:
                self.ch.queue_delete(q)
            except Exception:
                self.ch = self.conn.channel()
        for ex in self.exchanges:
            try:
                self.ch.exchange_delete(ex)
            except Exception:
                self.ch = self.conn.channel()
        try:
            self.conn.close()
        except Exception:
            pass


def wait_until(pred, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        return True
    except OSError:
        return False


class PrivateNode:
    """A RabbitMQ node of the test's own: started, stopped, killed and always shut down by it."""

    def __init__(self, workdir):
        if not os.path.exists(os.path.join(RABBIT_BIN, "rabbitmq-server")):
            raise RuntimeError(f"no RabbitMQ installation in {RABBIT_BIN}")
        self.dir = str(workdir)
        os.makedirs(self.dir, exist_ok=True)
        self.port = _free_port()
        self.dist_port = _free_port()
        self.name = f"ptest{uuid.uuid4().hex[:6]}@localhost"
        with open(os.path.join(self.dir, "rabbitmq.conf"), "w") as f:
            f.write(f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n")
        with open(os.path.join(self.dir, "enabled_plugins"), "w") as f:
            f.write("[].\n")
        self.env = dict(os.environ)
        self.env.update(
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_CONFIG_FILE=os.path.join(self.dir, "rabbitmq"),
            RABBITMQ_MNESIA_BASE=os.path.join(self.dir, "mnesia"),
            RABBITMQ_LOG_BASE=os.path.join(self.dir, "log"),
            RABBITMQ_PID_FILE=os.path.join(self.dir, "pid"),
            RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(self.dir, "enabled_plugins"),
            RABBITMQ_PLUGINS_EXPAND_DIR=os.path.join(self.dir, "plugins-expand"),
        )
        self.pids: set[int] = set()

    @property
    def base(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}"

    def url(self, exchange: str) -> str:
        return url_for(exchange, self.base)

    def _ctl(self, *args, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [os.path.join(RABBIT_BIN, "rabbitmqctl"), "-n", self.name, *args],
            env=self.env, capture_output=True, text=True, timeout=timeout,
        )

    def pid(self) -> int | None:
        try:
            with open(os.path.join(self.dir, "pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def start(self, timeout: float = 90) -> None:
        try:
            os.remove(os.path.join(self.dir, "pid"))
        except OSError:
            pass
        subprocess.run(
            [os.path.join(RABBIT_BIN, "rabbitmq-server"), "-detached"],
            env=self.env, capture_output=True, timeout=60, check=True,
        )
        if not wait_until(lambda: self.pid() is not None, timeout, 0.1):
            raise RuntimeError(f"private RabbitMQ node {self.name} wrote no pid file")
        self.pids.add(self.pid())
        self.wait_up(timeout)

    def wait_up(self, timeout: float = 90) -> None:
        if not wait_until(lambda: _port_answers(self.port) and broker_up(self.base), timeout, 0.2):
            raise RuntimeError(f"private RabbitMQ node {self.name} did not come up on port {self.port}")

    def stop_app(self) -> None:
        r = self._ctl("stop_app")
        if r.returncode != 0:
            raise RuntimeError(f"rabbitmqctl stop_app: {r.stderr.strip()[:200]}")

    def start_app(self, timeout: float = 90) -> None:
        r = self._ctl("start_app", timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"rabbitmqctl start_app: {r.stderr.strip()[:200]}")
        self.wait_up(timeout)

    def kill9(self) -> None:
        pid = self.pid()
        if pid is None or pid not in self.pids:
            raise RuntimeError("no pid of our own node to kill")
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not _alive(pid), 10)

    def shutdown(self) -> None:
        """Stop the node and its beam process (ours only), then remove its files."""
        try:
            self._ctl("stop", timeout=60)
        except Exception:
            pass
        for pid in list(self.pids):
            if _alive(pid) and not wait_until(lambda pid=pid: not _alive(pid), 15):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        shutil.rmtree(self.dir, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def admin():
    """The shared broker's admin connection (the test is skipped, or fails under CI, without it)."""
    require_broker()
    a = Admin()
    yield a
    a.close()
