"""Decoding at the edge: JSON and BP spellings, wrapped payloads, quirks."""

from __future__ import annotations

import json

import pytest

from panorama_tui.core.events import (
    KNOWN_EVENTS,
    MAX_LINE_BYTES,
    MAX_TEXT_CHARS,
    BadEvent,
    Event,
    decode,
    decode_exitcode,
    decode_line,
    describe_exitcode,
    parse_bp_line,
    to_epoch,
    unquote_text,
)

RUNS = ("process_wf_success", "process_wf_failure", "hierarchical_wf_success")
FAIL_WF = "f84f05fc-a8d0-42b5-bac5-52d6f41a77e3"


def _json_lines(path):
    return [ln for ln in path.read_bytes().splitlines() if ln.strip()]


# -- monitord JSON -----------------------------------------------------------


@pytest.mark.parametrize("run", RUNS)
def test_every_real_json_line_decodes_to_a_known_event(replay_dir, run):
    lines = _json_lines(replay_dir / run / "events.json")
    assert lines
    events = [decode_line(ln) for ln in lines]
    for ev in events:
        assert isinstance(ev, Event)
        assert ev.known, ev.name
        assert ev.wf_uuid
        assert all("." not in k for k in ev.data)
    assert events[0].name == "stampede.wf.plan"
    assert events[-1].name == "stampede.xwf.end"


def test_json_line_as_str_and_bytes(replay_dir):
    raw = _json_lines(replay_dir / "process_wf_failure" / "events.json")[0]
    a = decode_line(raw)
    b = decode_line(raw.decode())
    assert a.name == b.name == "stampede.wf.plan"
    assert a.data == b.data
    assert a.wf_uuid == FAIL_WF
    assert a.ts == 1677913774.0
    assert a.data["dax_label"] == "process"


def test_to_json_round_trip(replay_dir):
    raw = _json_lines(replay_dir / "process_wf_failure" / "events.json")[48]
    ev = decode_line(raw)
    again = decode_line(ev.to_json())
    assert again.name == ev.name
    assert again.data == ev.data
    assert again.ts == ev.ts


# -- NetLogger BP --------------------------------------------------------------


@pytest.mark.parametrize("run", RUNS)
def test_bp_lines_decode_like_json_lines(replay_dir, run):
    bp_lines = _json_lines(replay_dir / run / "events.bp")
    js_lines = _json_lines(replay_dir / run / "events.json")
    assert len(bp_lines) == len(js_lines)
    for bl, jl in zip(bp_lines, js_lines):
        b = decode(parse_bp_line(bl))
        j = decode_line(jl)
        assert b.name == j.name
        assert b.wf_uuid == j.wf_uuid
        # ts: BP writes ISO with microseconds, JSON epoch numbers; same instant
        if "ts" not in j.data:
            # monitord's JSON writer leaves ts off some records (static.start,
            # rc.pfn, ...); BP stamps them with the replay's wall clock
            assert j.ts is None
        elif j.ts is None:
            assert b.ts is None
        else:
            assert b.ts == pytest.approx(j.ts, abs=1.0)
        assert "xwf_id" in b.data and "xwf.id" not in b.data


def test_parse_bp_line_fields_and_quoting(replay_dir):
    lines = _json_lines(replay_dir / "process_wf_failure" / "events.bp")
    plan = parse_bp_line(lines[0])
    assert plan["event"] == "stampede.wf.plan"
    assert plan["xwf.id"] == FAIL_WF
    assert plan["ts"] == "2023-03-04T07:09:34.000000Z"
    # a double-quoted value with spaces comes back whole, without the quotes
    assert plan["argv"].startswith("--conf pegasus.properties --dir ")
    assert plan["argv"].endswith("--force workflow.yml")

    main_end = [parse_bp_line(ln) for ln in lines if b"event=stampede.job_inst.main.end" in ln]
    ls = [d for d in main_end if d["job.id"] == "ls_ID0000001"]
    assert [d["job_inst.id"] for d in ls] == ["2", "3"]
    assert ls[-1]["exitcode"] == "512"
    assert "%27z%27" in ls[-1]["stdout.text"]

    ev = decode(ls[-1])
    assert ev.name == "stampede.job_inst.main.end"
    assert ev.data["job_inst_id"] == "3"
    assert ev.data["stdout_text"] == ls[-1]["stdout.text"]
    assert ev.ts == to_epoch("2023-03-04T07:11:19Z")


def test_parse_bp_line_escapes_and_errors():
    d = parse_bp_line(b'ts=2023-03-04T07:09:34Z event=x.y msg="say \\"hi\\" \\\\ there" empty=')
    assert d["event"] == "x.y"
    assert d["msg"] == 'say "hi" \\ there'
    assert d["empty"] == ""
    with pytest.raises(BadEvent):
        parse_bp_line("ts=2023-03-04T07:09:34Z level=Info")
    with pytest.raises(BadEvent):
        parse_bp_line(b"\xff\xfe garbage")


def test_bp_dotted_keys_become_underscores():
    ev = decode({"event": "stampede.xwf.start", "xwf.id": "abc", "restart.count": "0", "ts": "2023-03-04T07:09:34Z"})
    assert ev.data["xwf_id"] == "abc"
    assert ev.data["restart_count"] == "0"
    assert ev.wf_uuid == "abc"
    ev2 = decode({"event": "kickstart.inv.online", "wf.uuid": "u1", "ts": 1552869746})
    assert ev2.data["wf_uuid"] == "u1"
    assert ev2.wf_uuid == "u1"


# -- Panorama shapes -------------------------------------------------------------


def test_task_monitoring_wrapping_darshan_is_darshan(panorama_dir):
    obj = json.loads((panorama_dir / "darshan.perf.as-stored.json").read_text())
    assert obj["event"] == "stampede.task.monitoring"
    ev = decode(obj)
    assert ev.name == "darshan.perf"
    assert ev.known
    assert ev.wf_uuid == "e8c30de5-6bb2-4b38-a000-2b719e688e38"
    assert ev.ts == to_epoch("2018-07-18T19:22:36.788Z")
    assert ev.data["POSIX_module_data"]["total_bytes"] == 403752
    # the same as one JSON line
    assert decode_line(json.dumps(obj)).name == "darshan.perf"


def test_monitoring_event_without_event_field():
    ev = decode({"monitoring_event": "darshan.perf", "ts": 1552878285, "payload": []})
    assert ev.name == "darshan.perf"
    assert ev.ts == 1552878285.0


def test_task_monitoring_without_inner_name_stays_itself():
    ev = decode({"event": "stampede.task.monitoring", "xwf_id": "w", "ts": 1677913774})
    assert ev.name == "stampede.task.monitoring"


def test_kickstart_sample_decodes(panorama_dir):
    ev = decode_line((panorama_dir / "kickstart.inv.online.json").read_bytes())
    assert ev.name == "kickstart.inv.online"
    assert ev.known
    assert ev.ts == 1552869746.009779
    assert ev.wf_uuid == "0a114f53-f208-44da-9b5c-9c30edcf49c6"
    assert ev.data["dag_job_id"] == "individuals_ID0000001"


def test_transfer_sample_decodes(panorama_dir):
    ev = decode_line((panorama_dir / "transfer.inv.go.json").read_text())
    assert ev.name == "transfer.inv.go"
    assert ev.known
    # no "ts": the Elasticsearch @timestamp is used
    assert ev.ts == to_epoch("2019-03-18T00:40:31.932Z")
    assert ev.data["status"] == "SUCCEEDED"
    assert ev.wf_uuid == "0a114f53-f208-44da-9b5c-9c30edcf49c6"


# -- timestamps ---------------------------------------------------------------------


def test_static_events_have_no_wall_clock_time(replay_dir):
    events = [decode_line(ln) for ln in _json_lines(replay_dir / "process_wf_failure" / "events.json")]
    task_info = [e for e in events if e.name == "stampede.task.info"]
    assert task_info
    assert all(e.ts is None for e in task_info)
    assert all(isinstance(e.data["ts"], (int, float)) and e.data["ts"] < 1e8 for e in task_info)
    # ...while BP spells the same instant as a 1970 date
    bp = [parse_bp_line(ln) for ln in _json_lines(replay_dir / "process_wf_failure" / "events.bp")]
    bp_task = [decode(d) for d in bp if d["event"] == "stampede.task.info"]
    assert bp_task[0].data["ts"].startswith("1970-")
    assert bp_task[0].ts is None


@pytest.mark.parametrize(
    "value,expected",
    [
        (1677913774, 1677913774.0),
        ("1677913774.5", 1677913774.5),
        ("2023-03-04T07:09:34Z", 1677913774.0),
        ("2023-03-04T07:09:34.000000Z", 1677913774.0),
        ("2023-03-04T07:09:34", 1677913774.0),  # naive: UTC, as BP writes
        ("2023-03-03T23:09:34-08:00", 1677913774.0),
        (3212130, None),
        ("1970-02-06T23:45:30.000000Z", None),
        (0, None),
        (-5, None),
        (None, None),
        (True, None),
        ("yesterday", None),
        (float("nan"), None),
        (float("inf"), None),
        ([1677913774], None),
    ],
)
def test_to_epoch(value, expected):
    assert to_epoch(value) == expected


T = 1677913788  # 2023-03-04T07:09:48Z


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2023-03-04T07:09:48.1Z", T + 0.1),
        ("2023-03-04T07:09:48.12Z", T + 0.12),
        ("2023-03-04T07:09:48.123Z", T + 0.123),
        ("2023-03-04T07:09:48.1234567Z", T + 0.123456),  # past microseconds: cut, as Python 3.11+ does
        ("2023-03-04T12:39:48+05:30", T),
        ("2023-03-04T12:39:48.5+0530", T + 0.5),
        ("2023-03-04T07:09:48,25z", T + 0.25),
        ("2023-03-04 07:09:48", T),  # naive: UTC
        ("2023-03-04T07:09Z", T - 48),
        ("2023-03-04", T - 7 * 3600 - 9 * 60 - 48),
        ("2023-03-03T23:09:48.000001-08:00", T + 0.000001),
        # refused on every version (3.11+ alone took some of these)
        ("20230304T070948Z", None),
        ("2023-W09-6", None),
        ("2023-03-04T07:09:60Z", None),
        ("2023-02-30T00:00:00Z", None),
        ("2023-03-04T07:09:48+25:00", None),
        ("2023-03-04T07:09:48.Z", None),
        ("2023-03-04T07:09:48ZZ", None),
    ],
)
def test_iso_timestamps_parse_the_same_on_every_python(text, expected):
    """datetime.fromisoformat on 3.10 refuses Z and fractions other than 3 or 6 digits,
    and 3.11+ take more forms: to_epoch has its own grammar, the same everywhere."""
    got = to_epoch(text)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=1e-7)


# -- exit codes and text --------------------------------------------------------------


@pytest.mark.parametrize(
    "raw,expected",
    [
        (512, (2, None)),
        ("512", (2, None)),
        (9, (None, 9)),
        (256, (1, None)),
        (0, (0, None)),
        ("0", (0, None)),
        (-1, (-1, None)),
        (None, (None, None)),
        ("abc", (None, None)),
        (True, (None, None)),
        (137 << 8, (137, None)),
        (0x137F, (None, 0x13)),  # stopped by signal 19
        (float("inf"), (None, None)),
        ("1e400", (None, None)),
        (float("nan"), (None, None)),
    ],
)
def test_decode_exitcode(raw, expected):
    assert decode_exitcode(raw) == expected


def test_describe_exitcode():
    assert describe_exitcode(512) == "2"
    assert describe_exitcode(9) == "signal 9 (SIGKILL)"
    assert describe_exitcode(None) == "-"
    assert describe_exitcode(0) == "0"


def test_unquote_text():
    assert unquote_text("a%0Ab") == "a\nb"
    assert unquote_text("#@ 1 stderr%0A /bin/ls: invalid option -- %27z%27%0A") == (
        "#@ 1 stderr\n /bin/ls: invalid option -- 'z'\n"
    )
    assert unquote_text("plain text") == "plain text"
    assert unquote_text(None) is None
    assert unquote_text(42) == "42"
    long = "x" * (MAX_TEXT_CHARS + 100) + "END"
    out = unquote_text(long)
    assert len(out) == MAX_TEXT_CHARS
    assert out.endswith("END")  # the tail is what explains a failure


# -- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"this is not json",
        b"{\"event\": \"stampede.xwf.start\"",  # cut short
        b"\xff\xfe\x00garbage",
        "",
    ],
)
def test_bad_event_not_json(line):
    with pytest.raises(BadEvent) as ei:
        decode_line(line)
    assert "\n" not in str(ei.value)


@pytest.mark.parametrize("line", [b"[1, 2, 3]", b"42", b'"stampede.xwf.start"', b"null"])
def test_bad_event_not_an_object(line):
    with pytest.raises(BadEvent, match="not a JSON object"):
        decode_line(line)


@pytest.mark.parametrize(
    "obj",
    [
        {"xwf_id": "w", "ts": 1677913774},
        {"event": "", "xwf_id": "w"},
        {"event": None},
        {"event": 17},
        {"monitoring_event": "", "ts": 1552878285},
    ],
)
def test_bad_event_missing_name(obj):
    with pytest.raises(BadEvent, match="no event name"):
        decode(obj)


@pytest.mark.parametrize("line", [b"[" * 100_000, b'{"a":' * 100_000])
def test_bad_event_nested_too_deeply(line):
    with pytest.raises(BadEvent, match="nested too deeply"):
        decode_line(line)


def test_bad_event_over_size_line():
    line = b'{"event": "stampede.xwf.start", "pad": "' + b"x" * MAX_LINE_BYTES + b'"}'
    with pytest.raises(BadEvent, match="over the"):
        decode_line(line)


def test_unknown_names_are_kept_not_refused():
    ev = decode({"event": "someone.elses.event", "x": 1})
    assert ev.name == "someone.elses.event"
    assert not ev.known
    assert "stampede.xwf.start" in KNOWN_EVENTS
