"""The typed lane for /proc trace samples (events.decode_sample -> Store.apply_decoded)
must build exactly what the general lane (decode -> Store.apply) builds, and hand
back to the general lane whatever it cannot type, so the warnings stay the same."""

from __future__ import annotations

import json

import pytest

from panorama_tui.core.events import TraceSample, decode, decode_sample
from panorama_tui.pipeline.ingest import decode_batch
from panorama_tui.core.recorder import read_records
from panorama_tui.model.store import Store

DEMO = "panorama_tui/data/demo.panorama.db"


def general(lines) -> Store:
    s = Store()
    for line in lines:
        s.apply(decode(json.loads(line)))
    return s


def typed(lines) -> tuple[Store, int]:
    s = Store()
    bad: list = []
    items = decode_batch(lines, bad, samples=True)
    for reason in bad:
        s.note_bad(reason)
    s.apply_decoded(items)
    return s, sum(type(x) is TraceSample for x in items)


def series_of(store: Store) -> dict:
    out = {}
    for wf in store.workflows.values():
        for job in wf.jobs.values():
            sr = job.series
            if sr is None:
                continue
            out[(wf.wf_uuid, job.job_id)] = (
                job.transformation, wf.label, sr.hostname, sr.pid, sr.exe, sr.threads, sr.procs,
                {rank: list(rs._a) for rank, rs in sr.ranks.items()},
            )
    return out


def test_both_lanes_build_the_same_series_from_the_demo_recording(repo_root, store_snapshot):
    lines = [b.decode() for _, b in read_records(str(repo_root / DEMO))]
    a = general(lines)
    b, n_typed = typed(lines)
    assert n_typed == sum('"kickstart.inv.online"' in x for x in lines) > 0
    assert series_of(a) == series_of(b) != {}
    assert store_snapshot(a) == store_snapshot(b)
    assert a.event_names == b.event_names and a.event_count == b.event_count
    assert a.latest_ts == b.latest_ts
    assert b.warning_count == a.warning_count == 0


def test_the_real_sample_takes_the_typed_lane(panorama_dir):
    raw = (panorama_dir / "kickstart.inv.online.json").read_bytes()
    compact = json.dumps(json.loads(raw))
    for r in (raw, compact, compact.encode()):
        x = decode_sample(r)
        assert isinstance(x, TraceSample)
        assert x.dag_job_id == "individuals_ID0000001" and x.rss == 25004.0 and x.rank == 0


@pytest.mark.parametrize("change", [
    {"utime": "abc"},            # a counter of the wrong type: the general lane warns
    {"rss": [1]},
    {"rank": 1.5},
    {"pid": "29304"},            # odd but harmless: the general lane takes it
    {"ts": 12.0},                # a static-event time: no usable ts
    {"ts": None, "@timestamp": "2019-03-18T00:42:27.355Z"},
    {"wf_uuid": None},
    {"dag_job_id": ""},
    {"event": "kickstart.inv.summary", "note": "kickstart.inv.online"},
])
def test_what_the_typed_lane_cannot_take_goes_the_general_way(panorama_dir, change):
    base = json.loads((panorama_dir / "kickstart.inv.online.json").read_text())
    later = dict(base, ts=base["ts"] + 10.0, utime=base["utime"] + 1.0)
    odd = {**dict(later), **change}
    lines = [json.dumps(base), json.dumps(odd)]
    assert decode_sample(lines[1]) is None
    a = general(lines)
    b, _ = typed(lines)
    assert series_of(a) == series_of(b)
    assert a.warning_count == b.warning_count
    assert list(a.warnings) == list(b.warnings)


def test_duplicates_and_reordering_are_idempotent_in_the_typed_lane(panorama_dir):
    base = json.loads((panorama_dir / "kickstart.inv.online.json").read_text())
    lines = [json.dumps(dict(base, ts=base["ts"] + i, utime=base["utime"] + i)) for i in range(5)]
    once, _ = typed(lines)
    twice, _ = typed(lines[::-1] + lines)
    assert series_of(once) == series_of(twice)
    assert len(next(iter(series_of(once).values()))[-1][0]) == 5 * 5


def test_the_typed_lane_keeps_what_the_general_lane_keeps_past_capacity_and_across_ranks(panorama_dir):
    # model/lane.py appends a sample in order itself and leaves the rest to _add_sample:
    # a series past its capacity, a second rank, late, duplicate and hostless samples,
    # a changing host, label and transformation must come out as the general lane's.
    from panorama_tui.model.series import DEFAULT_CAPACITY

    base = json.loads((panorama_dir / "kickstart.inv.online.json").read_text())
    lines = []
    for i in range(DEFAULT_CAPACITY + 40):
        for job in ("a", "b"):
            d = dict(base, dag_job_id=job, ts=base["ts"] + i, utime=base["utime"] + i, rss=1000 + i,
                     hostname=f"node{i // 50}", rank=int(i % 3 == 0) if job == "b" else 0)
            if i % 17 == 0:
                d.pop("bread", None)
                d.pop("hostname", None)
            if i == 7:
                d.update(xformation="late-name", wf_label="late-label")
            lines.append(json.dumps(d))
    lines += lines[5:40:3] + lines[-10:-20:-1]  # late and duplicate samples after the newest
    a = general(lines)
    b, n_typed = typed(lines)
    assert n_typed == len(lines)
    assert series_of(a) == series_of(b)
    assert store_names(a) == store_names(b)
    assert a.event_count == b.event_count and a.latest_ts == b.latest_ts and a.version == b.version


def store_names(store: Store) -> dict:
    return {(wf.wf_uuid, wf.label): {j.job_id: j.transformation for j in wf.jobs.values()}
            for wf in store.workflows.values()}
