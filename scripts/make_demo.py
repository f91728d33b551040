"""Build the bundled demo recording from the real runs in ../shared/data.

The demo is the failed and the hierarchical Pegasus workflows as
pegasus-monitord emitted them (their events.json, unchanged).  Each event is
stamped with the time it would have been received: its own ``ts`` when that
is a real time, else the latest real time seen (static planning events carry
1970-era stamps).  The two runs are merged in time order; replay shortens the
two-hour idle gap between them.

    python scripts/make_demo.py [SHARED_DATA_DIR] [OUT]
"""

from __future__ import annotations

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from panorama_tui.events import to_epoch  # noqa: E402
from panorama_tui.recorder import Recorder  # noqa: E402

RUNS = ("process_wf_failure", "hierarchical_wf_success")


def timed_rows(path: str) -> list[tuple[float, str, str]]:
    rows = []
    with open(path) as f:
        lines = [ln.rstrip("\n") for ln in f if ln.strip()]
    # Planning events precede the first real time: use the first one seen.
    first = next(t for t in (to_epoch(json.loads(ln).get("ts")) for ln in lines) if t is not None)
    latest = first
    for ln in lines:
        d = json.loads(ln)
        t = to_epoch(d.get("ts"))
        if t is not None and t > latest:
            latest = t
        rows.append((latest, d.get("event"), ln))
    return rows


def main(argv: list[str]) -> int:
    data = argv[1] if len(argv) > 1 else os.path.join(ROOT, "..", "shared", "data")
    out = argv[2] if len(argv) > 2 else os.path.join(ROOT, "panorama_tui", "data", "demo.panorama.db")
    rows = []
    for run in RUNS:
        rows.extend(timed_rows(os.path.join(data, "pegasus", "monitord-replay", run, "events.json")))
    rows.sort(key=lambda r: r[0])  # stable: each run keeps its own order
    if os.path.exists(out):
        os.remove(out)
    rec = Recorder(out, source="demo: " + ", ".join(RUNS))
    rec.append_timed(rows)
    rec.set_meta("description", "pegasus-monitord events of two real Pegasus 5.0.5 runs (see shared/data/README.md)")
    rec.close()
    print(f"wrote {len(rows)} events to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
