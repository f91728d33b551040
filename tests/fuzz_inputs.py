"""Hostile inputs made from the real shared runs, for tests/test_fuzz.py.

A case is a small JSON-able dict: the shared file it starts from and the
operations that spoil it, applied in order:

``["sql", STATEMENT]``           run on a copy of a Stampede DB (before the byte operations)
``["write", OFFSET, HEX]``       overwrite bytes of the file
``["copy", SRC, DST, LENGTH]``   copy bytes within the file (a page copied over another)
``["truncate", LENGTH]``         cut the file
``["line", INDEX, HEX]``         replace a line of an event log (or a recording's body)
``["insert", INDEX, HEX]``       insert a line
``["every", KEY, VALUE]``        set a field of every record (VALUE: JSON text, or a BP value)

so a case that found a bug is kept as a few hundred bytes under
``tests/data/fuzz/`` (:func:`load_corpus`) and rebuilt from the shared data
(:func:`materialize`).  :func:`generate` makes ``n`` cases from a seed: the
same seed, the same cases.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

CORPUS = Path(__file__).parent / "data" / "fuzz"
PAGE = 4096

RUNS = {
    "process_wf_success": "process-0.stampede.db",
    "process_wf_failure": "process-0.stampede.db",
    "hierarchical_wf_success": "hierarchical-workflow-0.stampede.db",
}

# The usual terminal attacks: set the title, clear the screen, a colour, an 8-bit CSI, a carriage return.
ESCAPES = "\x1b]0;PWNED\x07\x1b[2J\x1b[31m\x9b6n\rX"

# JSON literals no Pegasus producer writes, for any field
JSON_VALUES = (
    "1e20", "1e308", "-1e308", "-1", "0", "NaN", "Infinity", "-Infinity", "1" + "0" * 400, "-" + "9" * 30,
    '"abc"', '""', '"1e20"', '"NaN"', '"9999-12-31T23:59:59Z"', '"0001-01-01T00:00:00"', '"2023-03-04T07:09:48.1Z"',
    "true", "false", "null", "[]", "{}", '[1, "a", null]', '{"a": {"b": 1}}', "253402300800", "4102444800.5",
    json.dumps(ESCAPES), json.dumps("%1B%5B2J%1B]0;t%07" + "%0A" * 3), '"\\ud800"', json.dumps("x" * 100_000),
    "[" * 1000 + "]" * 1000, "[" * 3000 + "]" * 3000, '{"a":' * 900 + "1" + "}" * 900,
)
# fields every kind of record carries or that a view shows
JSON_KEYS = (
    "ts", "xwf_id", "wf_uuid", "job_id", "job_inst_id", "js_id", "inv_id", "task_id", "exitcode", "status",
    "dax_label", "hostname", "site", "transformation", "stdout_text", "stderr_text", "start_time", "dur",
    "local_dur", "restart_count", "max_retries", "subwf_id", "parent_xwf_id", "root_xwf_id", "event",
    "sched_id", "reason", "type_desc", "multiplier_factor", "remote_cpu_time", "maxrss", "argv", "executable",
)
# the fields whose absurd values reach the most code: times, ids, what a view shows
EVERY_KEYS = ("ts", "ts", "xwf_id", "job_id", "job_inst_id", "js_id", "dax_label", "hostname", "site",
              "transformation", "exitcode", "status", "stdout_text", "local_dur", "start_time", "parent_xwf_id")
BP_VALUES = ("1e20", "-1", "NaN", "inf", "abc", "", "9999-12-31T23:59:59.000000Z", "0001-01-01T00:00:00Z",
             ESCAPES, "x" * 100_000, '"' + "\\" * 50 + '"')
# SQL values for a cell of a Stampede DB
SQL_VALUES = (
    "1e308", "-1e308", "9e999", "-9e999", "-1", "0", "1e20", "253402300800", "9223372036854775807",
    "-9223372036854775808", "'abc'", "''", "'1e20'", "x'00ff80'", "zeroblob(8)", "CAST(x'41ff42c3' AS TEXT)",
    "NULL", "printf('%.*c', 100000, 'x')", "char(27)||']0;PWNED'||char(7)||char(27)||'[2J'||char(155)||char(13)",
)
PARENTS = ("workflow", "job", "job_instance", "host", "task")


def shared_input(data: Path, base: str) -> Path:
    return data / "pegasus" / "monitord-replay" / base


def bases(kind: str) -> list[str]:
    if kind == "stampede":
        return [f"{run}/{db}" for run, db in RUNS.items()]
    name = {"jsonlog": "events.json", "bplog": "events.bp", "recording": "events.json"}[kind]
    return [f"{run}/{name}" for run in RUNS]


# -- making cases -----------------------------------------------------------------------------


def generate(data: Path, n: int, seed: int) -> list[dict]:
    """``n`` cases, round robin over the kinds of input, each from its own seeded generator."""
    kinds = ("jsonlog", "stampede", "bplog", "recording")
    cases = []
    for i in range(n):
        rng = random.Random(seed * 1_000_003 + i)
        kind = kinds[i % len(kinds)]
        base = rng.choice(bases(kind))
        path = shared_input(data, base)
        ops = _db_ops(rng, path) if kind == "stampede" else _log_ops(rng, path, kind)
        cases.append({"name": f"{seed}-{i}", "kind": kind, "base": base, "ops": ops})
    return cases


def _log_ops(rng: random.Random, path: Path, kind: str) -> list:
    lines = path.read_bytes().splitlines()
    ops: list = []
    if rng.random() < 0.25:
        key = rng.choice(EVERY_KEYS)
        if kind == "bplog":
            key = key.replace("xwf_id", "xwf.id").replace("job_inst_id", "job_inst.id").replace("js_id", "js.id")
        ops.append(["every", key, rng.choice(BP_VALUES if kind == "bplog" else JSON_VALUES)])
    for _ in range(rng.choice((1, 1, 2, 5))):
        i = rng.randrange(len(lines))
        how = rng.random()
        if how < 0.55:
            line = _spoil_field(rng, lines[i], kind)
        elif how < 0.75:  # flipped bytes
            b = bytearray(lines[i])
            for _ in range(rng.choice((1, 3, 10))):
                b[rng.randrange(len(b))] = rng.randrange(256)
            line = bytes(b)
        elif how < 0.85:  # cut short
            line = lines[i][: rng.randrange(len(lines[i]))]
        else:  # another record twice, or out of place
            ops.append(["insert", i, lines[rng.randrange(len(lines))].hex()])
            continue
        ops.append(["line", i, line.hex()])
    if kind != "recording" and rng.random() < 0.1:
        ops.append(["truncate", rng.randrange(path.stat().st_size)])
    return ops


def _spoil_field(rng: random.Random, line: bytes, kind: str) -> bytes:
    if kind == "bplog":
        keys = [k.split(b"=", 1)[0] for k in line.split(b" ") if b"=" in k]
        key = rng.choice(keys + [b"ts"]).decode("utf-8", "replace")
        return _set_field(line, key, rng.choice(BP_VALUES), kind)
    try:
        obj = json.loads(line)
    except ValueError:
        return line
    if not isinstance(obj, dict):
        return line
    return _set_field(line, rng.choice(list(obj) + list(JSON_KEYS)), rng.choice(JSON_VALUES), kind)


def _set_field(line: bytes, key: str, value: str, kind: str) -> bytes:
    """The record with ``key`` set to ``value`` (raw JSON text, or a BP value); a line that is
    not a record stays as it is."""
    if kind == "bplog":
        quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return line + f" {key}={quoted}".encode()
    try:
        obj = json.loads(line)
    except ValueError:
        return line
    if not isinstance(obj, dict):
        return line
    obj.pop(key, None)
    head = json.dumps(obj)[:-1]  # the record without its closing brace; the raw value goes last
    return (head + (", " if obj else "") + json.dumps(key) + ": " + value + "}").encode()


def _db_ops(rng: random.Random, path: Path) -> list:
    ops: list = []
    how = rng.random()
    if how < 0.5:
        for _ in range(rng.choice((1, 1, 3))):
            ops.append(["sql", _cell_update(rng, path)])
    elif how < 0.7:
        ops.append(["sql", _structure_change(rng, path)])
    else:
        size = path.stat().st_size
        pages = size // PAGE
        what = rng.random()
        if what < 0.4:
            for _ in range(rng.choice((1, 3, 10))):
                # the first pages hold the schema: corrupt those more often
                off = rng.randrange(min(size, 2 * PAGE)) if rng.random() < 0.5 else rng.randrange(100, size)
                ops.append(["write", off, bytes([rng.randrange(256)]).hex()])
        elif what < 0.8:
            src, dst = rng.randrange(pages), rng.randrange(1, pages)
            ops.append(["copy", src * PAGE, dst * PAGE, PAGE])
        else:
            ops.append(["truncate", rng.choice((rng.randrange(size), rng.randrange(1, pages) * PAGE))])
    return ops


def _tables(path: Path) -> dict:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out = {}
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
            rowids = [r[0] for r in conn.execute(f"SELECT rowid FROM {name} ORDER BY rowid")]
            if rowids:
                out[name] = ([r[1] for r in conn.execute(f"PRAGMA table_info({name})")], rowids)
        return out
    finally:
        conn.close()


def _cell_update(rng: random.Random, path: Path) -> str:
    tables = _tables(path)
    name = rng.choice(sorted(tables))
    cols, rowids = tables[name]
    col = rng.choice(cols)
    where = "" if rng.random() < 0.25 else f" WHERE rowid = {rng.choice(rowids)}"  # or the whole column
    return f'UPDATE {name} SET "{col}" = {rng.choice(SQL_VALUES)}{where}'


def _structure_change(rng: random.Random, path: Path) -> str:
    tables = _tables(path)
    what = rng.random()
    if what < 0.5:  # a row whose children stay: they lose their parent
        name = rng.choice([t for t in PARENTS if t in tables])
        return f"DELETE FROM {name} WHERE rowid = {rng.choice(tables[name][1])}"
    if what < 0.8:  # a child pointing at a parent that never was
        name, col = rng.choice((("job_instance", "job_id"), ("jobstate", "job_instance_id"),
                                ("invocation", "job_instance_id"), ("job", "wf_id"), ("workflowstate", "wf_id"),
                                ("job_instance", "host_id"), ("task", "job_id"), ("job_instance", "subwf_id")))
        return f"UPDATE {name} SET {col} = {rng.choice((99999, -1, 0))} WHERE rowid = {rng.choice(tables[name][1])}"
    # workflows that are their own ancestors
    ids = tables["workflow"][1]
    if len(ids) > 1 and rng.random() < 0.5:
        return f"UPDATE workflow SET parent_wf_id = {ids[1]}, root_wf_id = {ids[1]} WHERE wf_id = {ids[0]}"
    return f"UPDATE workflow SET parent_wf_id = wf_id, root_wf_id = wf_id WHERE wf_id = {rng.choice(ids)}"


# -- building a case's input --------------------------------------------------------------------


def materialize(case: dict, data: Path, out_dir: Path) -> Path:
    """The case's input file under ``out_dir``."""
    src = shared_input(data, case["base"])
    kind = case["kind"]
    out = out_dir / f"{case['name']}{'.panorama.db' if kind == 'recording' else src.suffix}"
    ops = case["ops"]
    if kind == "stampede":
        out.write_bytes(src.read_bytes())
        sql = [op[1] for op in ops if op[0] == "sql"]
        if sql:
            conn = sqlite3.connect(out)
            try:
                for stmt in sql:
                    try:
                        conn.execute(stmt)
                    except sqlite3.IntegrityError:
                        pass  # a key or constraint the DB itself keeps: that cell cannot go bad
                conn.commit()
            finally:
                conn.close()
        raw = bytearray(out.read_bytes())
    else:
        lines = src.read_bytes().splitlines()
        kind_of_lines = "bplog" if kind == "bplog" else "jsonlog"
        for op in ops:
            if op[0] == "line":
                lines[op[1]] = bytes.fromhex(op[2])
            elif op[0] == "insert":
                lines.insert(op[1], bytes.fromhex(op[2]))
            elif op[0] == "every":
                lines = [_set_field(ln, op[1], op[2], kind_of_lines) for ln in lines]
        if kind == "recording":
            _write_recording(out, lines)
            return out
        raw = bytearray(b"\n".join(lines) + b"\n")
    for op in ops:
        if op[0] == "write":
            b = bytes.fromhex(op[2])
            raw[op[1]:op[1] + len(b)] = b
        elif op[0] == "copy":
            raw[op[2]:op[2] + op[3]] = raw[op[1]:op[1] + op[3]]
        elif op[0] == "truncate":
            del raw[op[1]:]
    out.write_bytes(bytes(raw))
    return out


def _write_recording(path: Path, bodies: list[bytes]) -> None:
    """A recording of these message bodies, one second apart, through the recorder's own API."""
    from panorama_tui.core.recorder import Recorder

    rec = Recorder(str(path), source="fuzz")
    try:
        rec.append_timed((1_700_000_000.0 + i, None, b.decode("utf-8", "replace")) for i, b in enumerate(bodies))
    finally:
        rec.close()


def commands(kind: str) -> list[list[str]]:
    once = [["--once"], ["--once", "--json"]]
    return once + [["--stats"], ["--stats", "--json"]] if kind == "stampede" else once


def load_corpus() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(CORPUS.glob("*.json"))]


def save_case(case: dict) -> Path:
    CORPUS.mkdir(parents=True, exist_ok=True)
    p = CORPUS / f"{case['name']}.json"
    p.write_text(json.dumps(case, indent=1) + "\n")
    return p
