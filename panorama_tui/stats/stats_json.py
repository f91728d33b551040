"""``panorama-top --stats --json`` written as it is computed, in bounded memory.

:func:`panorama_tui.stats.sql_stats.all_statistics_db` returns every instance's jobs.csv row as
a dict (~740 bytes each: 0.75 GB at 1M jobs), and its JSON text is made whole on top of that
(bytes, then str: ~0.6 GB each).  :func:`write_statistics_json` writes the same JSON (the
same keys, values and order) with the rows read from one SQL stream per workflow, in
pegasus-statistics' order (SQLite sorts them, spilling to a temporary file past its page
cache), each written as it comes: what is held is the aggregates, a few hundred rows.

The aggregates are sql_stats' own.  A DB sql_stats would answer another way (a caller's
connection, a value the figures cannot use, which sends it to the store) gets
``all_statistics_db``'s answer written whole; text that is not UTF-8 is read with U+FFFD
from the start, each such value a warning, as sql_stats' second read does.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import tzinfo

from ..core.sqlite import MAX_STATEMENT_SECONDS, bound_work, text_reader
from . import sql_stats as S

__all__ = ["write_statistics_json", "dumps"]

# rows per write: few enough to hold, many enough that a write costs nothing per row
_BATCH = 2000
# The rows' statement sorts a workflow's instances before its first row: 20-60 s at 1M jobs on
# a busy 2-core machine, past the usual bound on a statement (core.sqlite).  It gets this long
# to its first row, then the usual bound again between batches of rows.
_FIRST_ROW_SECONDS = 600.0
_SENTINEL = "\x00jobs\x00"


def dumps(obj) -> str:
    """JSON with a 2-space indent, as ``panorama-top --json`` prints it (orjson when it is
    there; json for what orjson refuses, an integer past 64 bits)."""
    try:
        import orjson

        return orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode()
    except (ImportError, TypeError):
        return json.dumps(obj, indent=2)


def write_statistics_json(path, out, wf_uuid: str | None = None, tz: tzinfo | None = None,
                          warnings: list | None = None) -> None:
    """Writes ``dumps(json_units(all_statistics_db(path, wf_uuid, tz, warnings)))`` to the
    text stream ``out``.  Raises :class:`~panorama_tui.stats.sql_stats.StatsDbError` before
    writing anything when the DB cannot be read."""
    if isinstance(path, str) and _stream(path, out, wf_uuid, tz, warnings):
        return
    out.write(dumps(S.json_units(S.all_statistics_db(path, wf_uuid, tz, warnings))))


def _stream(path: str, out, wf_uuid, tz, warnings) -> bool:
    """The streamed answer, or False (nothing written) when the DB needs sql_stats' whole one."""
    def not_utf8(text: str) -> None:
        if warnings is not None:
            warnings.append(f"{path}: text that is not UTF-8, read as {text[:60]!r}")

    r = S._Reader(path, text_reader(not_utf8))
    with r as conn:
        S._lean(conn)
        tree = S._Tree(conn, wf_uuid, r.name)
        pool = None
        try:
            try:
                if _odd(conn):
                    return False
                head, tail_of, pool = _head(r, conn, tree, tz)
                # the time tables before any output: a value they cannot use (a time past
                # time_t) still lets sql_stats answer the whole way (from the store)
                tail = tail_of()
            except S._ODD_VALUES:
                return False
            try:
                # from here on, output: a figure that fails now is an error, not another path
                text = dumps({**head, "jobs": _SENTINEL})
                cut = text.index(dumps(_SENTINEL))
                out.write(text[:cut])
                _write_jobs(conn, tree, out)
                text = dumps({"jobs": _SENTINEL, **tail})
                out.write(text[text.index(dumps(_SENTINEL)) + len(dumps(_SENTINEL)):])
            except S._ODD_VALUES as exc:
                raise S.StatsDbError(f"{path}: a value the figures cannot use ({type(exc).__name__}: {exc})"[:200]) from None
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
    return True


def _odd(conn) -> bool:
    """A multiplier that is not a number: the rows' Kickstart-Mult would fail in Python (the
    store skips such a row; sql_stats then answers from the store)."""
    return conn.execute("SELECT 1 FROM job_instance WHERE typeof(multiplier_factor) NOT IN ('integer', 'real') "
                        "LIMIT 1").fetchone() is not None


def _head(r, conn, tree, tz) -> tuple:
    """(summary, workflows and breakdown in json_units, a function giving per_host, per_day
    and integrity, the worker pool to shut down).  The time tables are computed meanwhile on a
    second connection when there is one: they come after the rows."""
    hosts = {h: S._text(name) for h, name in conn.execute("SELECT host_id, hostname FROM host")}
    states = S._wf_states(conn, tree)
    integrity = S._integrity(conn, tree)
    other = r.second()
    pool = None
    if other is not None:
        S._lean(other)  # one pass per table: read(2), not every page mapped into this process
        pool = ThreadPoolExecutor(1, thread_name_prefix="statsjson")
        times_f = pool.submit(S._time_tables, other, tree, hosts)
    try:
        return _head_rest(conn, tree, tz, states, integrity, hosts, pool, times_f if pool is not None else None)
    except BaseException:
        # The worker must be done with its connection before the caller closes it: a query
        # on a closed connection crashes the process (the fuzz test's odd-valued DB did).
        if pool is not None:
            other.interrupt()
            pool.shutdown(wait=True, cancel_futures=True)
        raise


def _head_rest(conn, tree, tz, states, integrity, hosts, pool, times_f) -> tuple:
    from .store_stats import by_day

    tc = S._task_counts(conn, tree)
    jobs, subs, side = S._tree_instances(conn, tree)
    cum = S._cumulative(conn, tree)
    breakdown = S._breakdown(conn, tree)
    top = tree.top
    zero = (0, 0, 0, 0)
    if len(tree.ids) == 1:
        jc = {(top, False): jobs, (top, True): subs}
    else:
        jc = _wf_job_counts(conn, tree)
    summary = S._summary(tree, states, S._sum_counts(tc.get(w, zero) for w in tree.ids),
                         S._sum_counts(jc.get((w, False), zero) for w in tree.ids),
                         S._sum_counts(jc.get((w, True), zero) for w in tree.ids), cum, side)
    every = {k: summary[k] for k in ("tasks", "jobs", "sub_workflows", "workflow_retries")}
    if len(tree.ids) == 1:
        workflows = [{"wf_uuid": tree.uuid[top], "label": tree.label[top], **every}]
    else:
        workflows = [{
            "wf_uuid": tree.uuid[w], "label": tree.label[w],
            "tasks": S._counts(*tc.get(w, zero)),
            "jobs": S._counts(*jc.get((w, False), zero)),
            "sub_workflows": S._counts(*jc.get((w, True), zero)),
            "workflow_retries": S._retries(states, [w]),
        } for w in tree.ids]
    workflows.append({"wf_uuid": "ALL", "label": None, **every})
    head = S.json_units({"summary": summary, "workflows": workflows, "breakdown": breakdown})

    def tail() -> dict:
        times = times_f.result() if pool is not None else S._time_tables(conn, tree, hosts)
        return {"per_host": {"jobs": by_day(times["hj"], tz), "invocations": by_day(times["hi"], tz)},
                "per_day": {"jobs": by_day(times["dj"], tz), "invocations": by_day(times["di"], tz)},
                "integrity": integrity}

    return head, tail, pool


def _wf_job_counts(conn, tree) -> dict:
    """{(wf_id, is_subwf): (succeeded, failed, total, retries)} per workflow of the tree: one
    pass over the instances with their job (the retried instances from sql_stats' list)."""
    acc = {k: [0, 0, n, 0] for k, n in S._job_totals(conn, tree).items()}
    for wf_id, sub, ok, bad, retried in conn.execute(f"""
            SELECT j.wf_id, CASE WHEN j.type_desc IN {S.SUBWF} THEN 1 ELSE 0 END,
                   sum(CASE WHEN r = 0 AND ji.exitcode = 0 THEN 1 ELSE 0 END),
                   sum(CASE WHEN r = 0 AND ji.exitcode <> 0 THEN 1 ELSE 0 END), sum(r)
            FROM (SELECT job_id, exitcode, CASE WHEN job_instance_id IN ({S._RETRIED}) THEN 1 ELSE 0 END AS r
                  FROM job_instance) AS ji
            JOIN job j ON j.job_id = ji.job_id
            WHERE {tree.where('j.wf_id')}
            GROUP BY 1, 2"""):
        a = acc[(wf_id, bool(sub))]
        a[0], a[1], a[3] = ok, bad, retried
    return {k: tuple(v) for k, v in acc.items()}


# One instance's jobs.csv figures: its job's name, its try (its rank among its job's instances
# by job_submit_seq: 1 unless the job has several), DAGMan's figures, and the jobstate and
# invocation aggregates of sql_stats' jobs.csv queries, joined in SQL (SQLite materializes
# them with an index on the instance id), in pegasus-statistics' order.
_ROWS_SQL = """
WITH js(jiid, post, queued, resource) AS ({js}),
     inv(jiid, kick, cpu, code) AS ({inv})
SELECT j.exec_job_id, ji.job_submit_seq, ji.site, ji.multiplier_factor,
       CAST(ji.local_duration AS REAL), CAST(ji.cluster_duration AS REAL), ji.host_id,
       CASE WHEN ji.job_id IN (SELECT job_id FROM job_instance GROUP BY job_id HAVING count(*) > 1)
            THEN (SELECT count(*) FROM job_instance k
                  WHERE k.job_id = ji.job_id AND k.job_submit_seq <= ji.job_submit_seq)
            ELSE 1 END,
       js.post, js.queued, js.resource, inv.kick, inv.cpu, inv.code
FROM job_instance ji CROSS JOIN job j ON j.job_id = ji.job_id
LEFT JOIN js ON js.jiid = ji.job_instance_id
LEFT JOIN inv ON inv.jiid = ji.job_instance_id
WHERE j.wf_id = ?
ORDER BY ji.job_submit_seq, ji.job_instance_id"""


def _write_jobs(conn, tree, out) -> None:
    """``"jobs": {wf_uuid: [rows]}`` as dumps would indent it inside the answer (rows at 6)."""
    hosts = {h: S._text(name) for h, name in conn.execute("SELECT host_id, hostname FROM host")}
    host_get = hosts.get
    text = S._text
    sql = _ROWS_SQL.format(js=S._sql(S._JS_SQL.format(where=tree.inst_where("job_instance_id"))),
                           inv=S._sql(S._INV_SQL.format(where=tree.where("wf_id"))))
    out.write("{")
    for n_wf, w in enumerate(tree.ids):
        out.write(("," if n_wf else "") + "\n    " + dumps(tree.uuid[w]) + ": [")
        batch: list[str] = []
        first = True
        bound_work(conn, _FIRST_ROW_SECONDS)
        for name, seq, site, mult, ldur, cdur, host_id, n, post, queued, resource, kick, cpu, code in conn.execute(
                sql, (w,)):
            if type(name) is not str or not name.isprintable():
                name = text(name)
            if type(site) is not str or not site.isprintable():
                site = text(site)
            row = {
                "job_id": name, "try": n, "job_inst_id": seq, "site": site, "kickstart": kick, "multiplier": mult,
                "kickstart_mult": None if kick is None else kick * mult, "cpu_time": cpu, "post": post,
                "condor_q_time": queued, "resource": resource, "runtime": ldur, "seqexec": cdur,
                "seqexec_delay": None if cdur is None or kick is None else cdur - kick, "exitcode": code,
                "host": host_get(host_id),
            }
            batch.append(("\n      " if first else ",\n      ") + dumps(row).replace("\n", "\n      "))
            first = False
            if len(batch) >= _BATCH:
                out.write("".join(batch))
                batch.clear()
                bound_work(conn, MAX_STATEMENT_SECONDS)  # rows are coming: a new bound from now
        out.write("".join(batch))
        out.write("]" if first else "\n    ]")
    bound_work(conn)
    out.write("\n  }" if tree.ids else "}")

