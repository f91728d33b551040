"""AMQP benchmark: panorama-top's consume path against a bare pika consumer, and live latency.

In one run, on the same broker (``PANORAMA_BENCH_AMQP``, default the local
RabbitMQ, vhost ``/``):

1. Throughput.  The same N (default 100k) ~1 KiB JSON events, made from the
   real monitord events in the shared data (ids varied), are put in a durable
   queue and drained (a) by a bare pika consumer (BlockingConnection,
   prefetch 1000, multiple-ack every 500, nothing done with the bodies) and
   (b) by panorama-top's path: ``AmqpSource`` -> ``Ingest`` (decode) ->
   ``Store.apply``, and (c) by the same path with pika's own frame handling
   (``AmqpSource(fast=False)``: no ``compat.pika`` delivery reader).  Each
   runs ``--runs`` times (default 5), the order rotating; the best of each
   counts for ours / bare (target >= 0.8), the medians for the delivery
   reader's gain over pika's plain path (it stays only while that is >= 20 %).
2. Latency.  A separate publisher process sends events paced at 5k msg/s for
   a few seconds, each stamped with its send time; the store records, per
   event applied, the time from send to apply.  Target: p99 <= 300 ms.

Run: ``python benchmarks/bench_amqp.py [--n 100000] [--rate 5000] [--seconds 8]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

BROKER = os.environ.get("PANORAMA_BENCH_AMQP", "amqp://guest:guest@127.0.0.1:5672/%2F")
SHARED = os.environ.get("PANORAMA_SHARED_DATA") or os.path.join(os.path.dirname(REPO), "shared", "data")
RUNS = ("process_wf_failure", "process_wf_success", "hierarchical_wf_success")


# -- events ------------------------------------------------------------------


def load_templates() -> list[dict]:
    out = []
    for run in RUNS:
        path = os.path.join(SHARED, "pegasus", "monitord-replay", run, "events.json")
        with open(path, "rb") as f:
            out.extend(json.loads(ln) for ln in f if ln.strip())
    k = os.path.join(SHARED, "panorama", "kickstart.inv.online.json")
    if os.path.exists(k):
        with open(k) as f:
            out.append(json.load(f))
    return out


def make_bodies(n: int, templates: list[dict], seed: str = "") -> list[tuple[str, bytes]]:
    """(routing key, body) for n events: real shapes, ids varied so the store grows."""
    wfs = [str(uuid.UUID(int=(hash((seed, i)) & (2**128 - 1)))) for i in range(20)]
    now = time.time()
    out = []
    t = len(templates)
    for i in range(n):
        ev = dict(templates[i % t])
        cycle = i // t
        wf = wfs[cycle % len(wfs)]
        for key in ("xwf_id", "wf_uuid", "root_xwf_id"):
            if key in ev:
                ev[key] = wf
        for key in ("job_id", "dag_job_id", "task_id"):
            if key in ev and ev[key] is not None:
                ev[key] = f"{ev[key]}_{cycle}"
        ev["ts"] = now + i * 1e-4
        out.append((ev["event"], json.dumps(ev, separators=(", ", ": ")).encode()))
    return out


# -- broker helpers ---------------------------------------------------------------


def _conn():
    import pika

    return pika.BlockingConnection(pika.URLParameters(BROKER))


def fill_queues(exchange: str, queues, bodies) -> float:
    """Publish once; the exchange copies each message into every bound queue.

    Transient and without confirms: the filling is not what is measured.
    """
    import pika

    c = _conn()
    ch = c.channel()
    props = pika.BasicProperties(content_type="application/json")
    t0 = time.perf_counter()
    for rk, body in bodies:
        ch.basic_publish(exchange, rk, body, props)
    for q in queues:  # wait until the broker has them all queued
        while ch.queue_declare(q, passive=True).method.message_count < len(bodies):
            c.sleep(0.05)
    dt = time.perf_counter() - t0
    c.close()
    return dt


def bare_consume(queue: str, n: int) -> tuple[float, float]:
    """(wall s, CPU s) for a plain pika consumer: prefetch 1000, multiple-ack every 500."""
    c = _conn()
    ch = c.channel()
    ch.basic_qos(prefetch_count=1000)
    state = {"n": 0}
    t0, c0 = time.perf_counter(), time.process_time()

    def on_message(chan, method, props, body):
        state["n"] += 1
        if state["n"] % 500 == 0 or state["n"] == n:
            chan.basic_ack(method.delivery_tag, multiple=True)
        if state["n"] >= n:
            chan.stop_consuming()

    ch.basic_consume(queue, on_message_callback=on_message)
    ch.start_consuming()
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    c.close()
    return dt, dc


def panorama_consume(exchange: str, queue: str, n: int, fast: bool = True):
    """(wall s, CPU s, store) for AmqpSource -> Ingest (decode) -> Store.apply, on this thread.

    ``fast=False``: pika parses every frame itself (no delivery reader)."""
    from panorama_tui.pipeline.ingest import Ingest
    from panorama_tui.sources.amqp import AmqpSource
    from panorama_tui.model.store import Store

    store = Store()
    src = AmqpSource(f"{BROKER}/{exchange}", queue=queue, bindings=["stampede.#", "kickstart.#"], fast=fast)

    def on_batch():
        if store.event_count + store.bad_count >= n:
            src.stop()

    ing = Ingest(src, store, on_batch=on_batch)
    t0, c0 = time.perf_counter(), time.process_time()
    ing.run()
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    return dt, dc, store


# -- latency -------------------------------------------------------------------


def _paced_publisher(url: str, exchange: str, rate: int, seconds: float, ready, go) -> None:
    import pika

    templates = load_templates()
    bodies = make_bodies(int(rate * seconds), templates, seed="latency")
    # The event's own ts is its send time: bodies are split so that only the
    # number has to be written at send time.
    parts = []
    for rk, body in bodies:
        ev = json.loads(body)
        ev.pop("ts", None)
        rest = json.dumps(ev, separators=(", ", ": "))[1:].encode()
        parts.append((rk, rest))
    c = pika.BlockingConnection(pika.URLParameters(url))
    ch = c.channel()
    props = pika.BasicProperties(content_type="application/json")
    ready.set()
    go.wait(30)
    tick = 0.005
    per_tick = max(1, int(rate * tick))
    t0 = time.monotonic()
    i = k = 0
    while i < len(parts):
        delay = t0 + k * tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        for rk, rest in parts[i : i + per_tick]:
            ch.basic_publish(exchange, rk, b'{"ts": %r, ' % time.time() + rest, props)
        i += per_tick
        k += 1
    c.process_data_events(0)
    c.close()


def latency_run(exchange: str, rate: int, seconds: float) -> dict:
    from panorama_tui.pipeline.ingest import Ingest
    from panorama_tui.sources.amqp import AmqpSource
    from panorama_tui.model.store import Store

    lat: list[float] = []

    class TimedStore(Store):
        def apply_decoded(self, items):  # Ingest applies each decoded slice (events and samples) here
            super().apply_decoded(items)
            now = time.time()
            lat.extend(now - x.ts for x in items if x.ts is not None)

    store = TimedStore()
    src = AmqpSource(f"{BROKER}/{exchange}", bindings=["stampede.#", "kickstart.#"])
    ing = Ingest(src, store).start()
    while src.status.state != "connected":
        time.sleep(0.01)
    ctx = mp.get_context("spawn")
    ready, go = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_paced_publisher, args=(BROKER, exchange, rate, seconds, ready, go))
    proc.start()
    while not ready.wait(0.1):
        if not proc.is_alive():
            ing.stop(5)
            raise RuntimeError(f"the paced publisher process died (exit {proc.exitcode})")
    total = int(rate * seconds)
    t0 = time.monotonic()
    go.set()
    proc.join(seconds * 4 + 30)
    sent_in = time.monotonic() - t0
    deadline = time.monotonic() + 10
    while len(lat) < total and time.monotonic() < deadline:
        time.sleep(0.01)
    ing.stop(5)
    lat.sort()
    return {
        "sent": total,
        "got": len(lat),
        "send_rate": total / sent_in if sent_in else 0.0,
        "p50": lat[len(lat) // 2] if lat else float("nan"),
        "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan"),
        "max": lat[-1] if lat else float("nan"),
        "status": dict(src.status.detail),
    }


# -- main ----------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="events per throughput run (default 100000)")
    ap.add_argument("--runs", type=int, default=5,
                    help="throughput runs of each consumer (best counts for ours/bare, medians for fast/plain)")
    ap.add_argument("--rate", type=int, default=5000, help="paced publishing rate for latency (msg/s)")
    ap.add_argument("--seconds", type=float, default=8.0, help="latency run length (s)")
    args = ap.parse_args(argv)

    import pika

    from panorama_tui.core import gcpolicy
    from panorama_tui.transport.amqp_url import mask

    gcpolicy.configure()  # as panorama-top's entry point does (Ingest no longer sets it)
    try:
        _conn().close()
    except pika.exceptions.AMQPError as exc:
        print(f"bench_amqp: broker {mask(BROKER)} unavailable ({type(exc).__name__})", file=sys.stderr)
        return 69

    t_start = time.perf_counter()
    load0 = os.getloadavg()[0]
    templates = load_templates()
    bodies = make_bodies(args.n, templates, seed="throughput")
    mean_size = statistics.mean(len(b) for _, b in bodies)
    tag = uuid.uuid4().hex[:8]
    exchange = f"bench-amqp-{tag}"
    queues = [f"bench-amqp-{tag}-a", f"bench-amqp-{tag}-b", f"bench-amqp-{tag}-c"]
    lat_ex = f"bench-lat-{tag}"
    c = _conn()
    ch = c.channel()
    ch.exchange_declare(exchange, exchange_type="topic", durable=True)
    ch.exchange_declare(lat_ex, exchange_type="topic", durable=True)
    for q in queues:
        ch.queue_declare(q, durable=True)
        for key in ("stampede.#", "kickstart.#"):
            ch.queue_bind(q, exchange, key)
    c.close()

    bare, ours, plain = [], [], []  # (wall, cpu)
    store = None
    print(f"bench_amqp: {args.n:,} events x {args.runs} runs per consumer, broker {mask(BROKER)}", flush=True)
    try:
        for k in range(args.runs):
            fill_queues(exchange, queues, bodies)
            # Rotate who goes first: the broker and the machine warm up.
            names = ("bare", "ours", "plain")
            order = names[k % 3 :] + names[: k % 3]
            for which, q in zip(order, queues):
                if which == "bare":
                    wall, cpu = bare_consume(q, args.n)
                    bare.append((wall, cpu))
                else:
                    wall, cpu, store = panorama_consume(exchange, q, args.n, fast=which == "ours")
                    (ours if which == "ours" else plain).append((wall, cpu))
                print(f"  run {k + 1} {which:5s}: {args.n / wall:8,.0f} msg/s wall, "
                      f"{args.n / cpu:8,.0f} msg/s per CPU second", flush=True)
        # Keep the counts, drop the 100k-event store: its objects would only
        # lengthen the collector's pauses in the latency run that follows.
        counts = (store.event_count, store.bad_count, store.job_count()) if store is not None else (0, -1, 0)
        store = None
        gc.collect()
        lat = latency_run(lat_ex, args.rate, args.seconds)
    finally:
        c = _conn()
        ch = c.channel()
        for q in queues:
            ch.queue_delete(q)
        ch.exchange_delete(exchange)
        ch.exchange_delete(lat_ex)
        c.close()

    bare_rate = args.n / min(w for w, _ in bare)
    ours_rate = args.n / min(w for w, _ in ours)
    bare_cpu = args.n / min(c for _, c in bare)
    ours_cpu = args.n / min(c for _, c in ours)
    ratio = ours_rate / bare_rate
    med = statistics.median
    fast_med = args.n / med(w for w, _ in ours)
    plain_med = args.n / med(w for w, _ in plain)
    fast_cpu_med = args.n / med(c for _, c in ours)
    plain_cpu_med = args.n / med(c for _, c in plain)
    ok_store = counts[0] == args.n and counts[1] == 0
    pct = lambda v: f"{v * 1e3:.1f}"  # noqa: E731
    rows = [
        (
            "consume rate, panorama path (msg/s, best)",
            f"{ours_rate:,.0f}",
            f"{bare_rate:,.0f}",
            f"{ratio:.2f}",
            ">= 0.80",
            ratio >= 0.8,
        ),
        (
            "consume per CPU second (msg/s, info)",
            f"{ours_cpu:,.0f}",
            f"{bare_cpu:,.0f}",
            f"{ours_cpu / bare_cpu:.2f}",
            "-",
            None,
        ),
        (
            f"delivery reader vs pika's plain path (msg/s, median of {args.runs})",
            f"{fast_med:,.0f}",
            f"{plain_med:,.0f}",
            f"{fast_med / plain_med:.2f}",
            ">= 1.20",
            fast_med / plain_med >= 1.2,
        ),
        (
            f"  the same per CPU second (msg/s, median of {args.runs})",
            f"{fast_cpu_med:,.0f}",
            f"{plain_cpu_med:,.0f}",
            f"{fast_cpu_med / plain_cpu_med:.2f}",
            "-",
            None,
        ),
        (f"event-to-store latency p50 at {args.rate} msg/s (ms)", pct(lat["p50"]), "-", "-", "-", None),
        (
            f"event-to-store latency p99 at {args.rate} msg/s (ms)",
            pct(lat["p99"]),
            "-",
            "-",
            "<= 300",
            lat["p99"] <= 0.3,
        ),
        (
            f"events applied at {args.rate} msg/s",
            f"{lat['got']:,}",
            f"{lat['sent']:,}",
            f"{lat['got'] / max(1, lat['sent']):.3f}",
            "1.000",
            lat["got"] == lat["sent"],
        ),
    ]
    print()
    print(
        f"{args.n:,} events of {mean_size:.0f} B mean (real monitord shapes, ids varied); pika {pika.__version__}; "
        f"store after the panorama run: {counts[0]:,} events, {counts[1]} bad, {counts[2]:,} jobs"
    )
    print(
        f"latency run: paced publisher (own process) sent {lat['sent']:,} at {lat['send_rate']:,.0f} msg/s; "
        f"max {pct(lat['max'])} ms; total bench time {time.perf_counter() - t_start:.0f} s; "
        f"load average {load0:.1f} at start, {os.getloadavg()[0]:.1f} at end ({os.cpu_count()} CPUs)"
    )
    hdr = ("figure", "value", "baseline", "ratio", "target", "result")
    table = [hdr] + [r[:5] + ({True: "PASS", False: "FAIL", None: "-"}[r[5]],) for r in rows]
    widths = [max(len(str(r[i])) for r in table) for i in range(6)]
    for r in table:
        print("  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip())
    ok = all(r[5] is not False for r in rows) and ok_store
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
