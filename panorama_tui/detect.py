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
    first = head.lstrip().split(b"\n", 1)[0]
    if not first:
        # An empty log of a workflow that has not started yet is fine to follow.
        return "jsonlog"
    try:
        obj = json.loads(first)
    except ValueError:
        if b" event=" in first or first.startswith(b"event="):
            return "bplog"
        raise UnknownInput(f"{path}: not a monitord JSON event log (first line is not JSON)") from None
    if isinstance(obj, dict) and ("event" in obj or "monitoring_event" in obj):
        return "jsonlog"
    raise UnknownInput(f"{path}: JSON, but not Panorama or Stampede events (no 'event' field)")
