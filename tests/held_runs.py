"""The runs with a held job in tests/data/held (made by scripts/make_held_fixture.py).

Cases: ``removed`` (ls_ID0000001 held, removed by its periodic_remove, retried,
held and removed again; the DAG fails), ``held`` (the same cut while the retry
is held) and ``stale`` (a DB that lags its jobstate.log).  Each has a submit
dir (its Stampede DB kept as SQL text), ``events.json`` and ``expected/``, the
real Pegasus tools' answers.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

HELD = Path(__file__).resolve().parent / "data" / "held"
WF = "f00c0056-abd4-4e8e-b793-24eb760dda1f"
JOB = "ls_ID0000001"
DB = "process-0.stampede.db"
HOLD_REASON = ("Transfer input files failure at access point workflow.isi.edu while sending files to execution "
               "point slot1@workflow.isi.edu.")


def submit_dir(case: str, dst: Path) -> Path:
    """A copy of the case's submit dir under ``dst``, its Stampede DB rebuilt."""
    d = dst / case
    shutil.copytree(HELD / case / "submit", d)
    sql = d / "process-0.stampede.sql"
    conn = sqlite3.connect(d / DB)
    try:
        conn.executescript(sql.read_text())
    finally:
        conn.close()
    sql.unlink()
    return d


def events(case: str) -> Path:
    return HELD / case / "events.json"


def expected(case: str, name: str) -> str:
    return (HELD / case / "expected" / name).read_text()
