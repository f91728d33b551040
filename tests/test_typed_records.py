"""The hot Stampede events' typed records (core/typed.py) must build exactly what the
general lane (decode -> Store.apply with the dict) builds, warnings included, and hand
back to the general lane whatever they cannot type."""

from __future__ import annotations

import json

import pytest

from panorama_tui.core.events import decode
from panorama_tui.core.typed import Bad, StampedeRecord, record_of, typed_record
from panorama_tui.model.store import Store
from panorama_tui.pipeline.ingest import decode_batch


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
    return s, sum(isinstance(x, StampedeRecord) for x in items)


def assert_same(a: Store, b: Store, snapshot) -> None:
    assert snapshot(a) == snapshot(b)
    assert list(a.warnings) == list(b.warnings)
    assert a.warning_count == b.warning_count and a.bad_count == b.bad_count
    assert a.event_names == b.event_names and a.unknown == b.unknown
    assert a.latest_ts == b.latest_ts and a.structure_version == b.structure_version


def lines_of(replay_dir, run) -> list[str]:
    return (replay_dir / run / "events.json").read_text().splitlines()


@pytest.mark.parametrize("run", ["process_wf_success", "process_wf_failure", "hierarchical_wf_success"])
def test_both_lanes_build_the_same_store_from_monitord(replay_dir, run, store_snapshot):
    lines = lines_of(replay_dir, run)
    b, n_typed = typed(lines)
    assert n_typed > len(lines) // 2  # most of a run's records have typed ones
    a = general(lines)
    assert a.warning_count == 0
    assert_same(a, b, store_snapshot)
    # bytes, as AMQP delivers them, the same
    c, _ = typed([line.encode() for line in lines])
    assert_same(a, c, store_snapshot)


HOSTILE = [
    ("exitcode", "abc"), ("exitcode", "512"), ("exitcode", 1.5), ("exitcode", True), ("exitcode", None),
    ("js_id", "four"), ("js_id", 4.0), ("js_id", 2**60), ("status", "oops"), ("status", "-1"),
    ("ts", "not a time"), ("ts", 3195930), ("ts", "2023-03-04T07:09:49Z"), ("ts", None),
    ("job_inst_id", "3"), ("job_inst_id", "x"), ("job_id", 5), ("job_id", None), ("xwf_id", None), ("xwf_id", 0),
    ("site", "\x1b[31mred"), ("site", "caf\u00e9\u200b"), ("sched_id", ""), ("local_dur", "slow"),
    ("multiplier_factor", "x"), ("cluster_dur", "1e400"), ("reason", 0), ("stdout_file", ""),
    ("stdout_text", "a%0Ab\x07"), ("inv_id", "1"), ("inv_id", None), ("dur", "fast"), ("maxrss", 1.0),
    ("start_time", "2023-03-04T07:09:49Z"), ("clustered", "1"), ("max_retries", "two"), ("task_id", 7),
    ("transformation", ["a"]), ("hostname", "h\x7f"), ("argv", "a\\b"), ("xwf.id", "wf-2"),
]


@pytest.mark.parametrize("field,value", HOSTILE)
def test_a_bad_value_gives_the_same_store_and_warnings_in_both_lanes(replay_dir, field, value, store_snapshot):
    lines = lines_of(replay_dir, "process_wf_failure")
    changed = []
    for line in lines:
        d = json.loads(line)
        if field in d or field in ("ts", "xwf_id", "xwf.id"):
            d[field] = value
            if value is None:
                del d[field]
        changed.append(json.dumps(d))
    # each changed record right after the original, so both fill and refill the same try
    mixed = [x for pair in zip(lines, changed) for x in pair]
    assert_same(general(mixed), typed(mixed)[0], store_snapshot)


def test_what_cannot_be_typed_goes_the_general_way():
    base = {"event": "stampede.job_inst.main.start", "xwf_id": "w", "job_id": "j", "job_inst_id": 1,
            "ts": 1677913789, "js_id": 1}
    assert typed_record(json.dumps(base)).name == "stampede.job_inst.main.start"
    assert typed_record(json.dumps({**base, "event": "stampede.xwf.start"})) is None  # no typed record
    assert typed_record(json.dumps({**base, "job_inst_id": "1"})) is None  # a string where monitord sends an int
    assert typed_record(json.dumps({**base, "ts": "2023-03-04T07:09:49Z"})) is None
    assert typed_record(json.dumps({**base, "job_inst.id": 2, "xwf.id": "w"})) is None  # BP's keys, read as ours
    del base["xwf_id"]
    assert typed_record(json.dumps({**base, "xwf.id": "w"})) is None
    assert typed_record("[1]") is None and typed_record("{") is None


def test_a_record_from_a_dict_keeps_its_unusable_values_for_the_warning():
    x = record_of("stampede.job_inst.main.end", {"exitcode": "abc", "job_inst_id": "x", "site": 5}, None)
    assert type(x.exitcode) is Bad and x.exitcode.warning(x.name, "exitcode") == (
        "stampede.job_inst.main.end: exitcode 'abc' is not a number; ignored")
    assert x.job_inst_id is None and x.site == "5" and x.ts is None
    assert record_of("stampede.xwf.start", {}, None) is None


def test_where_the_event_name_is_does_not_change_the_store(replay_dir, panorama_dir, store_snapshot):
    # monitord writes "event" last and msgspec reads ahead for it: records with their name
    # first are typed all the same, and a trace sample whose text mentions a Stampede name
    # builds what the general lane builds
    lines = lines_of(replay_dir, "process_wf_success")
    first = []
    for line in lines:
        d = json.loads(line)
        first.append(json.dumps({"event": d.pop("event"), **d}))
    b, n_typed = typed(lines)
    c, n_first = typed(first)
    assert n_first == n_typed > len(lines) // 2
    assert_same(b, c, store_snapshot)
    sample = json.loads((panorama_dir / "kickstart.inv.online.json").read_text())
    odd = [json.dumps({**sample, "ts": sample["ts"] + k, "note": "stampede.job_inst.main.end"}) for k in range(3)]
    assert_same(general(lines + odd), typed(lines + odd)[0], store_snapshot)
