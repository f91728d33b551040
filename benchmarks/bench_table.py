"""The columnar job table (issue #14, ``panorama_tui/model/table``) against the object store.

The rows: a generated Stampede DB (``generate.stampede_db``, cached in ``benchmarks/out``)
read by the real source in bulk (``StampedeDbSource(path, follow=False)``), its
``stampede.bulk`` payloads captured once (pickled, so each build below gets rows of its own,
as the source hands them over).  On the same rows, in one process, alternating A B A B:

* CPU seconds (``process_time``) to build the table from the rows (``table.BulkLoader``: no
  Job, no Try) beside the object handler's (``handlers/stampede_bulk.py`` via ``Store.apply``);
  medians of ``--repeat``;
* bytes per job (``tracemalloc``: what the build leaves allocated, the rows unpickled inside
  the traced build and dropped, so whatever a structure keeps of them counts) of the table,
  with and without the loader's task names (held only while a load goes on), beside the
  store's;
* CPU of the projection ``table.project(store)`` (the bridge the views use first), and two
  queries on the table beside the object path: the job list sorted by SITE/HOST and a filter
  (``state=problems host~pegasus-1``).

``python -m benchmarks.bench_table [--n 100000] [--million] [--repeat 3] [--quick] [--json F]``
or ``python -m benchmarks.run --scale`` (the ``table`` entry).  The 1M DB is used only when
it is already in ``benchmarks/out`` (~10 min to generate): else its rows say so.
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import sys
import time
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from benchmarks import generate as G  # noqa: E402
from benchmarks.run import OUT, figure, loadavg, median, report  # noqa: E402
from panorama_tui.core import gcpolicy  # noqa: E402
from panorama_tui.core.events import Event  # noqa: E402
from panorama_tui.model.store import Store  # noqa: E402
from panorama_tui.model.table import BulkLoader, JobTable, project  # noqa: E402
from panorama_tui.model.table import keys as K  # noqa: E402
from panorama_tui.pipeline.ingest import run_to_end  # noqa: E402
from panorama_tui.sources.pegasus.stampede_db import StampedeDbSource  # noqa: E402
from panorama_tui.views import sortkeys  # noqa: E402
from panorama_tui.views.joborder import stable_sort  # noqa: E402
from panorama_tui.views.query import parse  # noqa: E402
from panorama_tui.views.tablefilter import select  # noqa: E402

BULK = "stampede.bulk"
FILTER = "state=problems host~pegasus-1"


class _Capture(Store):
    """Keeps what the ingest thread would apply, and applies nothing."""

    def __init__(self):
        super().__init__()
        self.items: list = []

    def apply_decoded(self, items) -> None:
        self.items.extend(items)


def collect(path: str) -> tuple[list, list[bytes]]:
    """The items before the first bulk one (the workflows) and every bulk payload, pickled."""
    cap = _Capture()
    run_to_end(StampedeDbSource(path, follow=False, bulk_min=0), cap)  # in bulk at any size
    names = [getattr(x, "name", None) for x in cap.items]
    first = names.index(BULK)
    return cap.items[:first], [pickle.dumps(x.data, pickle.HIGHEST_PROTOCOL)
                               for x, n in zip(cap.items, names) if n == BULK]


def workflows(pre: list) -> Store:
    s = Store()
    s.apply_decoded(pre)
    return s


def new_table(pre: list) -> JobTable:
    t = JobTable()
    for uuid, wf in workflows(pre).workflows.items():
        t.add_workflow(uuid, wf.ended)
    return t


def build_store(store: Store, payloads) -> Store:
    apply = store.apply
    for d in payloads:
        apply(Event(BULK, None, d))
    return store


def build_table(t: JobTable, payloads) -> BulkLoader:
    loader = BulkLoader(t)
    for d in payloads:
        loader.apply(d)
    return loader


def _sort_objects(jobs: list) -> list:
    """The job list's order by SITE/HOST as JobOrder makes it from Jobs."""
    return stable_sort(jobs, sortkeys.host_keys(jobs, None))[0]


def _filter_objects(q, jobs: list) -> list:
    return q.apply(jobs, jobs)[0]


def _cpu(fn, *args):
    gc.collect()
    t0 = time.process_time()
    out = fn(*args)
    return time.process_time() - t0, out


def _traced(make, build, blobs: list[bytes]):
    """Bytes the build leaves allocated (rows unpickled one payload at a time inside it)."""
    gc.collect()
    tracemalloc.start()
    obj = make()
    extra = build(obj, (pickle.loads(b) for b in blobs))
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0]
    del extra
    gc.collect()
    without = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return obj, kept, without


def bench(n: int, path: str, reps: int) -> list[dict]:
    t0 = time.perf_counter()
    pre, blobs = collect(path)
    print(f"  {n}: {len(blobs)} bulk payloads read in {time.perf_counter() - t0:.1f} s", flush=True)
    store_cpu, table_cpu, project_cpu = [], [], []
    sort_obj, sort_tab, filt_obj, filt_tab = [], [], [], []
    for _ in range(reps):
        rows = [pickle.loads(b) for b in blobs]
        c, store = _cpu(build_store, workflows(pre), rows)
        store_cpu.append(c)
        rows = [pickle.loads(b) for b in blobs]
        c, _loader = _cpu(build_table, tab := new_table(pre), rows)
        table_cpu.append(c)
        del rows, _loader
        c, proj = _cpu(project, store)
        project_cpu.append(c)
        jobs = sorted(store.jobs(), key=lambda j: j.order)
        c, by_obj = _cpu(_sort_objects, jobs)
        sort_obj.append(c)
        c, by_tab = _cpu(K.order, tab, "host", None)
        sort_tab.append(c)
        assert by_tab == [j.order - 1 for j in by_obj]
        q = parse(FILTER)
        c, kept_obj = _cpu(_filter_objects, q, jobs)
        filt_obj.append(c)
        c, kept_tab = _cpu(select, tab, FILTER)
        filt_tab.append(c)
        assert kept_tab == [j.order - 1 for j in kept_obj]
        assert [proj.values(k) == tab.values(k) for k in JobTable.COLUMNS] == [True] * len(JobTable.COLUMNS)
        del store, proj, jobs, by_obj, by_tab, kept_obj, kept_tab, tab
    # memory: each build alone under tracemalloc (slower: CPU figures are the runs above)
    _, store_b, _ = _traced(lambda: workflows(pre), lambda s, rows: build_store(s, rows) and None, blobs)
    gc.collect()
    tab, with_loader, table_b = _traced(lambda: new_table(pre), build_table, blobs)
    jobs_n = len(tab)
    parts = tab.nbytes()
    print(f"  {n}: table parts (sys.getsizeof, B/job): "
          + ", ".join(f"{k} {v / jobs_n:.1f}" for k, v in sorted(parts.items(), key=lambda kv: -kv[1])), flush=True)
    del tab
    tag = f"{n // 1000}k" if n < 1_000_000 else f"{n // 1_000_000}M"
    note = f"medians of {len(store_cpu)}, load {loadavg()}"
    return [
        figure(f"table: bytes/job, {tag}", table_b / jobs_n, "B", baseline=store_b / jobs_n,
               baseline_note="object store", better="lower", fmt="{:.0f}",
               note="tracemalloc of each build from the same bulk rows"),
        figure(f"table + loader's task names: bytes/job, {tag}", with_loader / jobs_n, "B",
               baseline=store_b / jobs_n, baseline_note="object store", better="lower", fmt="{:.0f}",
               note="the loader holds each job's naming task id while a load goes on"),
        figure(f"table: build CPU from bulk rows, {tag}", median(table_cpu), "s", baseline=median(store_cpu),
               baseline_note="object handler", better="lower", fmt="{:.2f}", note=note),
        figure(f"table: projected from the store, {tag}", median(project_cpu), "s", baseline=median(store_cpu),
               baseline_note="object handler", better="lower", fmt="{:.2f}"),
        figure(f"table: sort by SITE/HOST, {tag}", median(sort_tab) * 1000, "ms", baseline=median(sort_obj) * 1000,
               baseline_note="Job objects", better="lower", fmt="{:.0f}", note=note),
        figure(f"table: filter '{FILTER}', {tag}", median(filt_tab) * 1000, "ms",
               baseline=median(filt_obj) * 1000, baseline_note="Job objects", better="lower", fmt="{:.0f}"),
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="jobs (default %(default)s)")
    ap.add_argument("--million", action="store_true", help="also the 1M-job DB, when it is in benchmarks/out")
    ap.add_argument("--repeat", type=int, default=3, help="runs per CPU figure (median; 1 at 1M)")
    ap.add_argument("--quick", action="store_true", help="10k jobs, one run")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    gcpolicy.configure()  # as panorama-top's entry point does
    print(f"bench_table  {time.strftime('%Y-%m-%d %H:%M:%S')}  load {loadavg()}", flush=True)
    figs: list[dict] = []
    sizes = [10_000] if args.quick else [args.n]
    for n in sizes:
        figs += bench(n, G.stampede_db(n), 1 if args.quick else max(1, args.repeat))
    if args.million and not args.quick:
        n = 1_000_000
        path = os.path.join(OUT, f"gen-v{G.VERSION}-n{n}-done-s{G.SEED}.stampede.db")
        if os.path.exists(path):
            figs += bench(n, path, 1)
        else:
            print(f"  1M: {path} is not there (generate.stampede_db(1_000_000) makes it): left out", flush=True)
    return report(figs, args.json)


if __name__ == "__main__":
    sys.exit(main())
