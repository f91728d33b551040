"""Work out what a path given on the command line is."""

from __future__ import annotations

import json
import os

from .recorder import is_recording


class UnknownInput(Exception):
    """The path is not something panorama-top can read; the message says why."""


def detect(path: str) -> str:
    """Return the kind of input: ``recording``, ``jsonlog`` or ``bplog``."""
    if not os.path.exists(path):
        raise UnknownInput(f"{path}: no such file or directory")
    if os.path.isdir(path):
        raise UnknownInput(f"{path}: is a directory; give a monitord events file or a recording")
    if not os.access(path, os.R_OK):
        raise UnknownInput(f"{path}: permission denied")
    with open(path, "rb") as f:
        head = f.read(64 * 1024)
    if head.startswith(b"SQLite format 3\x00"):
        if is_recording(path):
            return "recording"
        raise UnknownInput(f"{path}: an SQLite file, but not a panorama-top recording")
    lines = [ln.strip() for ln in head.split(b"\n")]
    complete = lines[:-1] if len(head) == 64 * 1024 else lines  # the last may be cut
    lines = [ln for ln in complete if ln][:50]
    if not lines:
        if head.lstrip().startswith(b"{"):
            # One line longer than we peek at: a JSON log; the reader will
            # count the record as too big rather than us refusing the file.
            return "jsonlog"
        # An empty log of a workflow that has not started yet is fine to follow.
        return "jsonlog"
    # Judge by the first lines that parse, so a garbled first line (a crash
    # mid-write, a stray banner) does not hide a good log behind it.
    saw_json_object = False
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            if b" event=" in line or line.startswith(b"event="):
                return "bplog"
            continue
        if isinstance(obj, dict):
            if "event" in obj or "monitoring_event" in obj:
                return "jsonlog"
            saw_json_object = True
    if saw_json_object:
        raise UnknownInput(f"{path}: JSON, but not Panorama or Stampede events (no 'event' field)")
    raise UnknownInput(f"{path}: not a monitord event log (no JSON or BP event in its first lines)")
