"""panorama-darshan: Darshan logs to ``darshan.perf`` events.

``panorama-darshan [sink options] [context options] LOG...``
``panorama-darshan --watch DIR [--user NAME] [--jobid ID] [sink options]``
``panorama-darshan --payload LOG...`` (or ``--payload --log-dir DIR --jobid ID``)

Each event has, per module (POSIX, MPI-IO, STDIO), ``<MOD>_module_data`` with
the legacy ``darshan-parser --perf`` figures Panorama 360 stored (as darshan-util
3.3.1 computed them: ``agg_perf_by_slowest/by_cumul/by_open/by_open_lastio``,
``total_bytes``, ``shared_files.*``, ``unique_files.*``) and, under
``derived_metrics``, libdarshan-util's own accumulator metrics; plus the job
fields (nprocs, start/end/run time, exe, uid, jobid, metadata, log version,
compression method).

Logs are untrusted input.  They are parsed by a worker subprocess (one for
many logs, replaced when it dies): a log that makes the C library abort, a
truncated log, a wrong version, a log without POSIX/MPI-IO/STDIO data each give
a ``darshan.error`` event and one line on stderr, and the collector goes on.

``--payload`` prints a ``@@@MONITORING_PAYLOAD@@@`` block on stdout, as
pegasus-darshan did after a job, for pegasus-monitord or panorama-monitor to
pick up.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from panorama_tui.cli.base import CommandParser
from panorama_tui.core import logsetup, paths
from panorama_tui.core.logsetup import quiet_on_closed_stdout
from panorama_tui.core.private_files import replace_private

from ..common import (
    EXIT_CONFIG,
    add_context_args,
    add_sink_args,
    positive_float,
    resolve_context,
    resolve_broker,
    say,
    show_sink_config,
)
from ..sinks import SinkError, open_sink

PROG = "panorama-darshan"
MODULES = ("POSIX", "MPI-IO", "STDIO")
_PREFIX = {"POSIX": "POSIX", "MPI-IO": "MPIIO", "STDIO": "STDIO"}
_COMPRESSION = {0: "ZLIB", 1: "BZIP2", 2: "NONE"}
_CATEGORIES = ("all", "read_only", "write_only", "read_write", "unique", "shared", "part_shared")
HEADER_MIN = 17  # version string, magic number, compression type
DEFAULT_TIMEOUT = 60.0
LOG_NAME = re.compile(r"^(?P<user>.+?)_(?P<exe>.+)_id(?P<jobid>\d+)_.*\.darshan$")

__all__ = ["main", "build_parser", "legacy_perf", "LogParser", "payload_block", "find_logs"]


# ---------------------------------------------------------------------------
# The figures (run in the worker)


def _c_float(x: float) -> float:
    """The value darshan-parser printed (``%lf``: 6 decimals)."""
    return float(f"{x:.6f}")


def legacy_perf(records, counters, fcounters, prefix: str, nprocs: int) -> tuple[dict, list[str]]:
    """darshan-parser 3.3.1 ``--perf`` for one module, from its records in log order.

    ``records`` yields (rank, counters array, fcounters array); ``counters`` /
    ``fcounters`` are the module's counter names.  Reimplemented from the
    parser's description of its estimates: totals are sums over the records,
    shared files (rank -1) are timed four ways, unique files per rank.
    """
    ci = {n: i for i, n in enumerate(counters)}
    fi = {n: i for i, n in enumerate(fcounters)}
    b_read, b_written = ci[f"{prefix}_BYTES_READ"], ci[f"{prefix}_BYTES_WRITTEN"]
    open_start = fi[f"{prefix}_F_OPEN_START_TIMESTAMP"]
    close_end = fi[f"{prefix}_F_CLOSE_END_TIMESTAMP"]
    read_end = fi[f"{prefix}_F_READ_END_TIMESTAMP"]
    write_end = fi[f"{prefix}_F_WRITE_END_TIMESTAMP"]
    meta_t = fi[f"{prefix}_F_META_TIME"]
    read_t = fi[f"{prefix}_F_READ_TIME"]
    write_t = fi[f"{prefix}_F_WRITE_TIME"]
    slowest_t = fi[f"{prefix}_F_SLOWEST_RANK_TIME"]

    total_bytes = 0
    by_open = by_open_lastio = by_cumul = meta = by_slowest = 0.0
    rank_io: dict[int, float] = {}
    rank_md: dict[int, float] = {}
    warnings = []
    bad_ranks = set()
    for rank, c, f in records:
        total_bytes += int(c[b_read]) + int(c[b_written])
        f_meta, f_read, f_write = float(f[meta_t]), float(f[read_t]), float(f[write_t])
        if rank == -1:
            f_open, f_close = float(f[open_start]), float(f[close_end])
            f_rend, f_wend = float(f[read_end]), float(f[write_end])
            if f_close > f_open:
                by_open += f_close - f_open
            if f_rend > f_wend:
                if f_rend > f_open:
                    by_open_lastio += f_rend - f_open
            elif f_wend > f_open:
                by_open_lastio += f_wend - f_open
            by_cumul += f_meta + f_read + f_write
            meta += f_meta
            by_slowest += float(f[slowest_t])
        elif 0 <= rank < nprocs:
            rank_io[rank] = rank_io.get(rank, 0.0) + (f_meta + f_read + f_write)
            rank_md[rank] = rank_md.get(rank, 0.0) + f_meta
        else:
            bad_ranks.add(int(rank))
    if bad_ranks:
        warnings.append(f"{prefix}: records of ranks outside 0..{nprocs - 1} ignored: {sorted(bad_ranks)[:5]}")
    if nprocs > 0:
        by_cumul = by_cumul / float(nprocs)
        meta = meta / float(nprocs)
    slowest_time = slowest_meta = 0.0
    slowest_rank = 0
    for r in sorted(rank_io):  # the parser scans ranks upwards and keeps the first maximum
        if rank_io[r] > slowest_time:
            slowest_time = rank_io[r]
            slowest_meta = rank_md[r]
            slowest_rank = r
    mib = total_bytes / 1048576.0

    def agg(shared_time: float) -> float:
        d = slowest_time + shared_time
        return mib / d if d else 0.0

    out = {
        "agg_perf_by_cumul": _c_float(agg(by_cumul)),
        "agg_perf_by_open": _c_float(agg(by_open)),
        "agg_perf_by_open_lastio": _c_float(agg(by_open_lastio)),
        "agg_perf_by_slowest": _c_float(agg(by_slowest)),
        "shared_files": {
            "time_by_cumul_io_only": _c_float(by_cumul),
            "time_by_cumul_meta_only": _c_float(meta),
            "time_by_open": _c_float(by_open),
            "time_by_open_lastio": _c_float(by_open_lastio),
            "time_by_slowest": _c_float(by_slowest),
        },
        "total_bytes": total_bytes,
        "unique_files": {
            "slowest_rank": int(slowest_rank),
            "slowest_rank_io_time": _c_float(slowest_time),
            "slowest_rank_meta_only_time": _c_float(slowest_meta),
        },
    }
    return out, warnings


def _finite(x):
    x = float(x)
    return x if x == x and x not in (float("inf"), float("-inf")) else None


def derived_metrics(backend, records, counters, fcounters, mod: str, nprocs: int) -> dict:
    """libdarshan-util's accumulator (darshan >= 3.4) over the module's records."""
    import numpy as np
    import pandas as pd

    n = len(records)
    ids = np.array([r[3] for r in records], dtype=np.uint64)
    ranks = np.array([r[0] for r in records], dtype=np.int64)
    cvals = np.vstack([r[1] for r in records]).astype(np.int64) if n else np.zeros((0, len(counters)), np.int64)
    fvals = np.vstack([r[2] for r in records]).astype(np.float64) if n else np.zeros((0, len(fcounters)))
    cdf = pd.DataFrame(cvals, columns=list(counters))
    cdf.insert(0, "rank", ranks)
    cdf.insert(0, "id", ids)
    fdf = pd.DataFrame(fvals, columns=list(fcounters))
    fdf.insert(0, "rank", ranks)
    fdf.insert(0, "id", ids)
    acc = backend.accumulate_records({"counters": cdf, "fcounters": fdf}, mod, nprocs)
    dm = acc.derived_metrics
    out = {
        "total_bytes": int(dm.total_bytes),
        "unique_io_total_time_by_slowest": _finite(dm.unique_io_total_time_by_slowest),
        "unique_rw_only_time_by_slowest": _finite(dm.unique_rw_only_time_by_slowest),
        "unique_md_only_time_by_slowest": _finite(dm.unique_md_only_time_by_slowest),
        "unique_io_slowest_rank": int(dm.unique_io_slowest_rank),
        "shared_io_total_time_by_slowest": _finite(dm.shared_io_total_time_by_slowest),
        "agg_perf_by_slowest": _finite(dm.agg_perf_by_slowest),
        "agg_time_by_slowest": _finite(dm.agg_time_by_slowest),
        "category_counters": {},
    }
    for i, name in enumerate(_CATEGORIES):
        cc = dm.category_counters[i]
        out["category_counters"][name] = {
            "count": int(cc.count),
            "total_read_volume_bytes": int(cc.total_read_volume_bytes),
            "total_write_volume_bytes": int(cc.total_write_volume_bytes),
            "max_read_volume_bytes": int(cc.max_read_volume_bytes),
            "max_write_volume_bytes": int(cc.max_write_volume_bytes),
            "total_max_offset_bytes": int(cc.total_max_offset_bytes),
            "max_offset_bytes": int(cc.max_offset_bytes),
            "nprocs": int(cc.nprocs),
        }
    return out


def read_header(path: str) -> tuple[str | None, str | None]:
    """(log version, compression method) from the header, or (None, reason)."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER_MIN)
    except OSError as exc:
        return None, f"cannot read: {exc.strerror or exc}"
    if len(head) < HEADER_MIN:
        return None, f"not a Darshan log: {len(head)} bytes, shorter than a Darshan header"
    version = head[:8].split(b"\0", 1)[0]
    if not re.fullmatch(rb"\d+\.\d+", version):
        return None, "not a Darshan log: no version string at the start"
    comp = _COMPRESSION.get(head[16], "UNKNOWN")
    return version.decode(), comp


def _ascii_time(t: int) -> str:
    return time.asctime(time.gmtime(t)) if t > 0 else ""


def parse_log(path: str) -> dict:
    """Everything about one log (called in the worker).  Raises on failure."""
    from darshan.backend import cffi_backend as backend

    version, comp = read_header(path)
    if version is None:
        raise LogError("not_darshan", comp)
    log = backend.log_open(path)
    if log["handle"] == backend.ffi.NULL:
        raise LogError("open", "libdarshan-util could not open the log")
    try:
        job = backend.log_get_job(log)
        exe = backend.log_get_exe(log)
        mods = backend.log_get_modules(log)
        nprocs = int(job["nprocs"])
        start, end = int(job["start_time_sec"]), int(job["end_time_sec"])
        ev = {
            "event": "darshan.perf",
            "monitoring_event": "darshan.perf",
            "ts": time.time(),
            "darshan_log_version": version,
            "compression_method": comp,
            "exe": exe,
            "uid": str(job["uid"]),
            "jobid": str(job["jobid"]),
            "nprocs": nprocs,
            "start_time": start,
            "start_time_ascii": _ascii_time(start),
            "end_time": end,
            "end_time_ascii": _ascii_time(end),
            "run_time": end - start + 1 if end >= start else 0,
            "metadata": dict(job.get("metadata") or {}),
            "modules": sorted(mods),
            "log_file": os.path.abspath(path),
            "darshan_util_version": backend.get_lib_version(),
        }
        warnings = []
        partial = []
        found = 0
        for mod in MODULES:
            if mod not in mods:
                continue
            if mods[mod].get("partial_flag"):
                partial.append(mod)
            counters = backend.counter_names(mod)
            fcounters = backend.fcounter_names(mod)
            records = []
            while True:
                rec = backend.log_get_record(log, mod, dtype="numpy")
                if rec is None:
                    break
                records.append((int(rec["rank"]), rec["counters"], rec["fcounters"], int(rec["id"])))
            found += 1
            data, warn = legacy_perf(((r[0], r[1], r[2]) for r in records), counters, fcounters, _PREFIX[mod], nprocs)
            warnings.extend(warn)
            data["records"] = len(records)
            data["partial"] = bool(mods[mod].get("partial_flag"))
            if records:
                data["derived_metrics"] = derived_metrics(backend, records, counters, fcounters, mod, nprocs)
            ev[f"{mod}_module_data"] = data
        if not found:
            raise LogError("no_modules", f"no POSIX, MPI-IO or STDIO data (modules: {', '.join(sorted(mods)) or 'none'})",
                           {k: ev[k] for k in ("exe", "jobid", "uid", "nprocs", "start_time", "end_time")})
        if partial:
            ev["partial_modules"] = partial
            warnings.append(f"modules with incomplete data (Darshan ran out of memory): {', '.join(partial)}")
        if warnings:
            ev["warnings"] = warnings
        return ev
    finally:
        backend.log_close(log)


class LogError(Exception):
    def __init__(self, kind: str, reason: str, job: dict | None = None):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.job = job or {}


def _c_errors(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def _reason_from_c(lines: list[str], default: str) -> tuple[str, str]:
    """(kind, one-line reason) from what libdarshan-util printed."""
    text = " ".join(lines)
    m = re.search(r"expected version (\S+), but got (\S+)", text)
    if m:
        return "version", (f"unsupported Darshan log format version {m.group(2)} "
                           f"(libdarshan-util reads {m.group(1)} and older 3.x formats)")
    for ln in lines:
        if "Assertion" in ln or "double free" in ln or "corrupted" in ln:
            return "aborted", ln
    errs = [ln for ln in lines if ln.startswith("Error")]
    if any("compressed data" in e or "inflate" in e or "unable to seek" in e or "failed to read" in e for e in errs):
        return "truncated", "damaged or truncated log: " + errs[0].removeprefix("Error: ").rstrip(".")
    if errs:
        return "error", errs[0].removeprefix("Error: ").rstrip(".")
    return "error", default


def worker_main() -> int:
    """Reads {"path", "stderr"} lines on stdin, answers one JSON line each."""
    try:
        from darshan.backend import cffi_backend  # noqa: F401  (load once, up front)
    except Exception as exc:  # pragma: no cover - install problem
        sys.stdout.write(json.dumps({"fatal": f"cannot load PyDarshan: {type(exc).__name__}: {exc}"}) + "\n")
        sys.stdout.flush()
        os._exit(3)
    for line in sys.stdin:
        try:
            req = json.loads(line)
        except ValueError:
            continue
        fd = os.open(req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 2)
        os.close(fd)
        try:
            ev = parse_log(req["path"])
            result = {"ok": True, "event": ev}
        except LogError as exc:
            result = {"ok": False, "kind": exc.kind, "reason": exc.reason, "job": exc.job}
        except Exception as exc:
            result = {"ok": False, "kind": "error", "reason": f"{type(exc).__name__}: {exc}"}
        try:
            with open(req["stderr"], encoding="utf-8", errors="replace") as f:
                c_lines = _c_errors(f.read())
        except OSError:
            c_lines = []
        if c_lines:
            result["c_stderr"] = c_lines[:20]
            if result.get("ok") and any(ln.startswith("Error") for ln in c_lines):
                kind, reason = _reason_from_c(c_lines, "libdarshan-util reported errors")
                ev = result.pop("event")
                result.update({"ok": False, "kind": kind, "reason": reason,
                               "job": {k: ev.get(k) for k in ("exe", "jobid", "uid", "nprocs", "start_time", "end_time")}})
            elif not result.get("ok") and result.get("kind") in ("open", "error"):
                result["kind"], result["reason"] = _reason_from_c(c_lines, result["reason"])
        from ..sinks import _clean

        sys.stdout.write(json.dumps(_clean(result), allow_nan=False, default=_json_default) + "\n")
        sys.stdout.flush()
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: the C library's finalisers are not to be trusted


def _json_default(obj):
    try:
        import numpy as np

        if isinstance(obj, np.integer):
            return int(obj)
        if isinstance(obj, np.floating):
            return _finite(obj)
    except ImportError:  # pragma: no cover
        pass
    return str(obj)


# ---------------------------------------------------------------------------
# The parent side


class LogParser:
    """Parses logs in a worker subprocess; a dead or stuck worker is replaced."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT):
        self.timeout = timeout
        self.proc = None
        self._buf = b""
        self._tmp = tempfile.mkdtemp(prefix="panorama-darshan-")
        self._n = 0

    def _start(self) -> None:
        # The worker imports the installed package; no PYTHONPATH of ours (pointing it at
        # collectors/ made the wheel's `darshan` resolve to this package's own darshan/).
        env = dict(os.environ)
        env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "panorama_tui.collectors.darshan", "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        self._buf = b""

    def _kill(self) -> int | None:
        if self.proc is None:
            return None
        try:
            self.proc.kill()
        except OSError:
            pass
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            rc = None
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except (OSError, ValueError):
                pass
        self.proc = None
        return rc

    def _readline(self, deadline: float) -> bytes | None:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b""
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line

    def parse(self, path: str) -> dict:
        """{"ok": True, "event": {...}} or {"ok": False, "kind", "reason", ...}."""
        version, reason = read_header(path)
        if version is None:
            kind = "missing" if reason.startswith("cannot read") else "not_darshan"
            return {"ok": False, "kind": kind, "reason": reason}
        self._n += 1
        err_path = os.path.join(self._tmp, f"{self._n}.stderr")
        for _attempt in (1, 2):
            if self.proc is None or self.proc.poll() is not None:
                if self.proc is not None:
                    self._kill()
                self._start()
            try:
                self.proc.stdin.write((json.dumps({"path": os.path.abspath(path), "stderr": err_path}) + "\n").encode())
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError):
                self._kill()  # it died between logs: start another
                continue
            line = self._readline(time.monotonic() + self.timeout)
            if line:
                try:
                    res = json.loads(line)
                except ValueError:
                    res = {"ok": False, "kind": "error", "reason": "worker answered garbage"}
                if "fatal" in res:
                    self._kill()
                    return {"ok": False, "kind": "error", "reason": res["fatal"]}
                return res
            timed_out = line is None
            rc = self._kill()
            c_lines = []
            try:
                with open(err_path, encoding="utf-8", errors="replace") as f:
                    c_lines = _c_errors(f.read())
            except OSError:
                pass
            if timed_out:
                return {"ok": False, "kind": "timeout", "reason": f"parsing took longer than {self.timeout:g} s: gave up",
                        "c_stderr": c_lines[:20]}
            if rc is not None and rc < 0:
                sig = -rc
                try:
                    name = signal.Signals(sig).name
                except ValueError:
                    name = f"signal {sig}"
                detail = next((ln for ln in reversed(c_lines) if "Assert" in ln or "free" in ln or "corrupt" in ln),
                              c_lines[-1] if c_lines else "")
                reason = f"libdarshan-util crashed ({name}) reading this log" + (f": {detail}" if detail else "")
                return {"ok": False, "kind": "aborted", "reason": reason, "c_stderr": c_lines[:20]}
            return {"ok": False, "kind": "error", "reason": f"parser worker exited with status {rc}",
                    "c_stderr": c_lines[:20]}
        return {"ok": False, "kind": "error", "reason": "could not start the parser worker"}

    def close(self) -> None:
        if self.proc is not None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
            self._kill()
        shutil.rmtree(self._tmp, ignore_errors=True)


def error_event(path: str, res: dict, ctx: dict) -> dict:
    ev = {
        "event": "darshan.error",
        "ts": time.time(),
        "log_file": os.path.abspath(path),
        "kind": res.get("kind", "error"),
        "reason": res.get("reason", "unknown error"),
    }
    if res.get("c_stderr"):
        ev["c_stderr"] = res["c_stderr"]
    for k, v in (res.get("job") or {}).items():
        if v is not None:
            ev[k] = v
    _add_context(ev, ctx)
    return ev


def _add_context(ev: dict, ctx: dict) -> None:
    if not ctx:
        return
    if ctx.get("wf_uuid"):
        ev.setdefault("xwf_id", ctx["wf_uuid"])
        ev.setdefault("wf_uuid", ctx["wf_uuid"])
    if ctx.get("dag_job_id"):
        ev.setdefault("job_id", ctx["dag_job_id"])
        ev.setdefault("dag_job_id", ctx["dag_job_id"])
    if ctx.get("condor_job_id"):
        ev.setdefault("sched_id", ctx["condor_job_id"])
    for key in ("wf_label", "task_id", "xformation", "site"):
        if ctx.get(key):
            ev.setdefault(key, ctx[key])


def payload_block(events: list[dict], ts: float | None = None) -> str:
    """The MONITORING_PAYLOAD block pegasus-darshan printed (``ts`` after the payload)."""
    items = []
    for ev in events:
        item = {k: v for k, v in ev.items() if k not in ("event", "monitoring_event", "ts")}
        items.append(item)
    body = {"monitoring_event": "darshan.perf", "payload": items, "ts": int(ts if ts is not None else time.time())}
    from ..sinks import _clean

    text = json.dumps(_clean(body), indent=4, allow_nan=False)
    return f"@@@MONITORING_PAYLOAD - START@@@\n{text}\n@@@MONITORING_PAYLOAD - END@@@\n"


# ---------------------------------------------------------------------------
# Finding logs


def _dated_dirs(root: str, days: int, now: float | None = None) -> list[str]:
    now = time.time() if now is None else now
    out = []
    for back in range(max(1, days)):
        t = time.localtime(now - back * 86400)
        d = os.path.join(root, str(t.tm_year), str(t.tm_mon), str(t.tm_mday))
        if d not in out:
            out.append(d)
    return out


def find_logs(root: str, user: str | None = None, jobid: str | None = None, days: int = 2,
              now: float | None = None) -> list[str]:
    """Finished logs (``*.darshan``) under Darshan's dated layout ``root/YYYY/M/D``
    for the last ``days`` days (and ``root`` itself), oldest first."""
    found = []
    for d in [root] + _dated_dirs(root, days, now):
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for name in names:
            if not name.endswith(".darshan"):
                continue  # *.darshan_partial: still being written
            if user and not name.startswith(user + "_"):
                continue
            if jobid and f"_id{jobid}_" not in name:
                continue
            path = os.path.join(d, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            found.append((st.st_mtime, path))
    found.sort()
    return [p for _, p in found]


class SeenState:
    """Logs already processed (path -> [size, mtime]), kept in a JSON file."""

    def __init__(self, path: str | None):
        self.path = path
        self.seen: dict[str, list] = {}
        if path:
            try:
                with open(path, encoding="utf-8") as f:
                    data = json.load(f)
                if isinstance(data, dict):
                    self.seen = {str(k): v for k, v in data.get("seen", {}).items()}
            except (OSError, ValueError):
                pass

    def key(self, path: str):
        try:
            st = os.stat(path)
        except OSError:
            return None
        return [st.st_size, int(st.st_mtime)]

    def is_new(self, path: str) -> bool:
        return self.seen.get(os.path.abspath(path)) != self.key(path)

    def mark(self, path: str) -> None:
        k = self.key(path)
        if k is not None:
            self.seen[os.path.abspath(path)] = k
        self.save()

    def save(self) -> None:
        if self.path:
            replace_private(self.path, json.dumps({"seen": self.seen}))


def _default_state() -> str:
    return os.path.join(paths.state_dir(), "darshan-watch.json")


# ---------------------------------------------------------------------------
# command line


def build_parser():
    p = CommandParser(
        prog=PROG,
        description="Turn Darshan logs into darshan.perf events (legacy darshan-parser --perf figures per "
        "POSIX/MPI-IO/STDIO module, plus libdarshan-util's derived metrics).",
    )
    p.add_argument("logs", nargs="*", metavar="LOG", help="Darshan log files")
    g = p.add_argument_group("finding logs")
    g.add_argument("--watch", metavar="DIR", help="watch Darshan's dated log directory DIR/YYYY/M/D for new logs")
    g.add_argument("--log-dir", metavar="DIR", help="look once in Darshan's dated log directory DIR/YYYY/M/D")
    g.add_argument("--user", metavar="NAME", help="only logs of this user (log names start with NAME_)")
    g.add_argument("--jobid", metavar="ID", help="only logs of this scheduler job id (_idID_ in the name)")
    g.add_argument("--days", type=int, default=2, metavar="N", help="dated directories of the last N days (default 2)")
    g.add_argument("--poll", type=positive_float(0.05), default=5.0, metavar="SECONDS",
                   help="--watch: seconds between looks (default 5)")
    g.add_argument("--settle", type=positive_float(0.0), default=2.0, metavar="SECONDS",
                   help="--watch: a log must be unchanged this long before it is read (default 2)")
    g.add_argument("--state", metavar="FILE",
                   help="--watch: remember processed logs here (default $XDG_STATE_HOME/panorama-top/darshan-watch.json)")
    g.add_argument("--max-polls", type=int, default=None, help=argparse_suppress())
    g = p.add_argument_group("output")
    g.add_argument("--payload", action="store_true",
                   help="print a MONITORING_PAYLOAD block on stdout (as pegasus-darshan did after a job)")
    g.add_argument("--timeout", type=positive_float(1.0), default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"give up on a log after this long (default {DEFAULT_TIMEOUT:g})")
    add_sink_args(p, out_help="JSON-lines file to append events to, '-' for stdout "
                              "(default: stdout; none with --payload)")
    add_context_args(p)
    p.add_argument("--worker", action="store_true", help=argparse_suppress())
    return p


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


def _process(parser: LogParser, path: str, sink, ctx: dict, parsed: list) -> bool:
    res = parser.parse(path)
    if res.get("ok"):
        ev = res["event"]
        _add_context(ev, ctx)
        for w in ev.get("warnings", []):
            say(PROG, f"{path}: warning: {w}")
        parsed.append(ev)
        if sink is not None:
            sink.emit([ev])
        return True
    ev = error_event(path, res, ctx)
    say(PROG, f"{path}: {ev['reason']}")
    if sink is not None:
        sink.emit([ev])
    return False


@quiet_on_closed_stdout
def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        return worker_main()
    logsetup.setup(PROG)  # the publisher's and pika's records: on stderr, secrets masked
    parser_ = build_parser()
    args = parser_.parse_args(argv)
    if args.show_config:
        return show_sink_config(PROG, args)
    sources = sum(bool(x) for x in (args.logs, args.watch, args.log_dir))
    if sources == 0:
        parser_.error("give LOG files, --log-dir DIR or --watch DIR")
    if args.watch and (args.logs or args.log_dir):
        parser_.error("--watch cannot be combined with LOG files or --log-dir")
    if args.watch and args.payload:
        parser_.error("--payload is for one job's logs, not --watch")
    for d in (args.watch, args.log_dir):
        if d and not os.path.isdir(d):
            parser_.error(f"not a directory: {d}")
    # The job's environment names the job only when we run as its post-step.
    ctx = resolve_context(args, None if not args.watch else {})
    if args.watch:
        ctx = {k: v for k, v in ctx.items() if k != "rank"}
    problem = resolve_broker(PROG, args)
    if problem:
        say(PROG, problem)
        return EXIT_CONFIG
    sink = None
    if not args.payload or args.out or args.amqp:
        try:
            sink = open_sink(args, PROG, default_out="-")
        except SinkError as exc:
            say(PROG, f"cannot open the event sink: {exc}")
            return EXIT_CONFIG
    if args.payload and args.out == "-":
        parser_.error("--payload prints the block on stdout: use --out FILE for the events")
    lp = LogParser(timeout=args.timeout)
    parsed: list[dict] = []
    failures = 0
    try:
        if args.watch:
            return _watch(args, lp, sink, ctx)
        paths = list(args.logs)
        if args.log_dir:
            paths += find_logs(args.log_dir, args.user, args.jobid, args.days)
            if not paths:
                say(PROG, f"no Darshan logs found under {args.log_dir}")
        for path in paths:
            if not _process(lp, path, sink, ctx, parsed):
                failures += 1
        if args.payload and parsed:
            sys.stdout.write(payload_block(parsed))
            sys.stdout.flush()
        if not paths:
            return 1
        return 0 if failures == 0 else 1
    finally:
        lp.close()
        if sink is not None:
            sink.close(timeout=10)


def _watch(args, lp: LogParser, sink, ctx: dict) -> int:
    state = SeenState(args.state or _default_state())
    stop = []

    def _stop(signum, frame):
        stop.append(signum)

    old = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    sizes: dict[str, tuple] = {}
    polls = 0
    try:
        while not stop:
            now = time.time()
            for path in find_logs(args.watch, args.user, args.jobid, args.days):
                if stop:
                    break
                if not state.is_new(path):
                    continue
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                key = (st.st_size, st.st_mtime)
                if now - st.st_mtime < args.settle and sizes.get(path) != key:
                    sizes[path] = key  # still being written, look again next time
                    continue
                _process(lp, path, sink, ctx, [])
                state.mark(path)
                sizes.pop(path, None)
            if sink is not None:
                sink.flush()
            polls += 1
            if args.max_polls is not None and polls >= args.max_polls:
                break
            end = time.monotonic() + args.poll
            while not stop and time.monotonic() < end:
                time.sleep(min(0.2, max(0.0, end - time.monotonic())))
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return 0


if __name__ == "__main__":
    sys.exit(main())
