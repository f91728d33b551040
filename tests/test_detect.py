"""What panorama-top makes of a path."""

from __future__ import annotations

import pytest

from panorama_tui.sources.detect import UnknownInput, detect


def test_garbled_first_line_does_not_hide_a_good_log(tmp_path, shared_data):
    good = (shared_data / "pegasus/monitord-replay/process_wf_failure/events.json").read_bytes()
    p = tmp_path / "events.json"
    p.write_bytes(b"\x00\x01 not json at all\n" + good)
    assert detect(str(p)) == "jsonlog"


def test_one_huge_json_line_is_a_log_not_an_error(tmp_path):
    p = tmp_path / "huge.json"
    p.write_bytes(b'{"event": "stampede.inv.end", "x": "' + b"a" * 200_000 + b'"}\n')
    assert detect(str(p)) == "jsonlog"


def test_json_without_events_is_refused(tmp_path):
    p = tmp_path / "conf.json"
    p.write_text('{"name": "x"}\n{"name": "y"}\n')
    with pytest.raises(UnknownInput, match="no 'event' field"):
        detect(str(p))


def test_bp_log(shared_data):
    assert detect(str(shared_data / "pegasus/monitord-replay/process_wf_failure/events.bp")) == "bplog"


def test_a_missing_path_is_an_event_log_to_wait_for_only_when_following(tmp_path):
    assert detect(str(tmp_path / "events.json"), follow=True) == "eventlog"
    assert detect(str(tmp_path / "monitord.log"), follow=True) == "eventlog"
    for name in ("run.panorama.db", "x.stampede.db", "w.sqlite"):  # not event logs: nothing to wait for
        with pytest.raises(UnknownInput, match="no such file"):
            detect(str(tmp_path / name), follow=True)
    with pytest.raises(UnknownInput, match="no such file"):
        detect(str(tmp_path / "events.json"))


def test_a_fifo_is_not_read_to_be_detected(tmp_path):
    import os

    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    assert detect(str(fifo)) == "eventlog"  # returns at once: opening it would wait for a writer
