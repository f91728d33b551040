"""The Parsl source kind for the registry (``sources/registry.py``): a Parsl
monitoring DB, or the dir of a Parsl run holding ``runinfo/monitoring.db``.

Apart from the source so that asking which kind a path is does not import it."""

from __future__ import annotations

from ..registry import BY_NAME, CERTAIN, LIKELY, LOCKED, CannotOpen

DB_NAME = "monitoring.db"


def _workflow_columns(conn) -> set[str]:
    return {r[1] for r in conn.execute('PRAGMA table_info("workflow")')}


class ParslDbKind:
    name = "parsl"
    order = 60

    def recognise(self, target):
        named = target.name == DB_NAME
        if target.missing:
            return BY_NAME if target.follow and named else None  # waited for until Parsl creates it
        if target.is_dir:
            from .monitoring_db import db_of_dir

            return LIKELY if db_of_dir(target.path) else None  # a Pegasus submit dir holding one is Pegasus's
        if not target.is_file:
            return None
        if not target.is_sqlite:
            return BY_NAME if named and target.head == b"" else None  # created, not written yet: followed
        if target.sqlite_tables() is LOCKED:  # (a DB SQLite cannot read is refused here, as by every kind)
            return BY_NAME if named else None  # its writer is committing: the source waits for it
        # Parsl's workflow table has run_id (a Stampede workflow has wf_uuid): Parsl's, even if the
        # rest is not what the source reads (it says what it lacks)
        columns = target.sqlite(_workflow_columns)
        if columns is not LOCKED and "run_id" in columns:
            return CERTAIN
        return BY_NAME if named else None

    def open(self, target, options):
        from .monitoring_db import ParslDbError, ParslDbSource, find_db

        try:
            return ParslDbSource(find_db(target.path), follow=options.follow)
        except ParslDbError as exc:
            raise CannotOpen(str(exc)) from None


KIND = ParslDbKind()
