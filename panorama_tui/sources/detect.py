"""Work out what a path given on the command line is."""

from __future__ import annotations

import json
import os
import stat

from ..core.recorder import is_recording

# Names that are not event logs: a missing one is an error, not something to wait for.
_NOT_LOG_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".dagman.out")
_NOT_FILES = ((stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


# the first line DAGMan writes to its log
DAGMAN_BANNER = b"(CONDOR_DAGMAN) STARTING UP"


class UnknownInput(Exception):
    """The path is not something panorama-top can read; the message says why."""


def detect(path: str, follow: bool = False) -> str:
    """Return the kind of input: ``recording``, ``jsonlog``, ``bplog``,
    ``submitdir`` (a Pegasus submit directory, or a dir of DAGMan logs),
    ``dagmanout`` (a DAGMan log, ``*.dag.dagman.out``), ``stampede`` (a
    Stampede DB), ``masterdb`` (a user's ~/.pegasus/workflow.db), ``parsl`` (a
    Parsl monitoring DB, or a dir holding ``runinfo/monitoring.db``), or
    ``eventlog``: an event log whose first line, read by the source, says JSON
    or BP (a FIFO or pipe, which cannot be read twice, or with ``follow`` a log
    not written yet)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if follow and not path.endswith(_NOT_LOG_SUFFIXES + (os.sep,)):
            return "eventlog"  # followed like tail -F once monitord creates it
        if follow and os.path.basename(path) == "monitoring.db":
            return "parsl"  # waited for until Parsl creates it
        raise UnknownInput(f"{path}: no such file or directory") from None
    except OSError as exc:
        raise UnknownInput(f"{path}: {exc.strerror or exc}") from None
    if stat.S_ISFIFO(mode):
        return "eventlog"  # not peeked at: what detection read, the source would never see
    for test, what in _NOT_FILES:
        if test(mode):
            raise UnknownInput(f"{path}: {what}, not a file panorama-top can read")
    if stat.S_ISDIR(mode):
        # -- Pegasus submit dir (sources/submitdir.py), or DAGMan's logs alone (sources/dagman_out.py) --
        if any(os.path.isfile(os.path.join(path, n)) for n in ("braindump.yml", "braindump.txt")):
            return "submitdir"
        from .pegasus.dagman_out import has_dagman_out

        if has_dagman_out(path):
            return "submitdir"
        from .parsl.monitoring_db import db_of_dir  # -- a Parsl run's dir (sources/parsl_db.py) --

        if db_of_dir(path):
            return "parsl"
        raise UnknownInput(f"{path}: is a directory without braindump.yml or *.dag.dagman.out, so not a Pegasus "
                           "submit directory, nor runinfo/monitoring.db of a Parsl run; give a submit dir, a "
                           "dagman.out, a Stampede DB, a Parsl monitoring.db, a monitord events file or a recording")
    if not os.access(path, os.R_OK):
        raise UnknownInput(f"{path}: permission denied")
    with open(path, "rb") as f:
        head = f.read(64 * 1024)
    if path.endswith(".dagman.out") or DAGMAN_BANNER in head:
        return "dagmanout"
    if head.startswith(b"SQLite format 3\x00"):
        if is_recording(path):
            return "recording"
        kind = _pegasus_db_kind(path)  # -- Stampede / master DB --
        if kind:
            return kind
        from .parsl.monitoring_db import is_parsl_db

        if is_parsl_db(path) or os.path.basename(path) == "monitoring.db":
            return "parsl"  # Parsl's, or its name: the source says what it lacks, or waits for Parsl to create it
        raise UnknownInput(f"{path}: an SQLite file, but not a panorama-top recording, a Pegasus DB or a Parsl "
                           "monitoring DB")
    if not head and os.path.basename(path) == "monitoring.db":
        return "parsl"  # Parsl has created it and not written yet: follow it
    if not head and path.endswith(".db"):
        return "stampede"  # monitord has created it and not written yet: follow it
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
        except (ValueError, RecursionError):  # RecursionError: a record nested ~1,000 deep
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


def bp_of(kind: str) -> bool | None:
    """JsonLogSource's ``bp`` for an event log's kind: None lets its first line say."""
    return {"jsonlog": False, "bplog": True}.get(kind)


def _pegasus_db_kind(path: str) -> str | None:
    """``stampede`` (workflow tables with rows, or an empty schema being
    filled), ``masterdb`` (only master_workflow rows), or None."""
    import sqlite3
    from urllib.parse import quote

    from ..core.sqlite import bound_work

    try:
        conn = sqlite3.connect("file:" + quote(os.path.abspath(path)) + "?mode=ro", uri=True, timeout=0.5)
        bound_work(conn)  # a corrupted page can make SQLite loop
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "job_instance" in tables and "workflow" in tables:
                if "master_workflow" in tables and conn.execute("SELECT 1 FROM workflow LIMIT 1").fetchone() is None \
                        and conn.execute("SELECT 1 FROM master_workflow LIMIT 1").fetchone() is not None:
                    return "masterdb"
                return "stampede"
            if "master_workflow" in tables:
                return "masterdb"
            if "dbversion" in tables or "schema_info" in tables:
                return "stampede"  # a Pegasus DB; the source says what is wrong with it
        finally:
            conn.close()
    except (sqlite3.Error, UnicodeDecodeError) as exc:  # UnicodeDecodeError: a corrupt schema's text
        if "locked" in str(exc) or "busy" in str(exc):
            # its writer is committing: the source waits for it (Parsl names its DB monitoring.db)
            return "parsl" if os.path.basename(path) == "monitoring.db" else "stampede"
        raise UnknownInput(f"{path}: an SQLite file that cannot be read ({exc}); truncated or corrupt?") from None
    return None
