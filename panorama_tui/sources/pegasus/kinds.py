"""The Pegasus source kinds for the registry (``sources/registry.py``): a Stampede DB, a
master DB, a submit dir (or a dir of DAGMan's logs alone) and a DAGMan log.

Kept apart from the sources they open so that asking which kind a path is imports none
of them (dagman_out's and stampede_db's modules took ~110 ms to import on a busy 2-core
machine; a recording, the demo's input, needs neither).
"""

from __future__ import annotations

import os

from ..registry import BY_SUFFIX, CERTAIN, LIKELY, LOCKED, CannotOpen, WorkflowList

# the first line DAGMan writes to its log
DAGMAN_BANNER = b"(CONDOR_DAGMAN) STARTING UP"
PARSL_DB_NAME = "monitoring.db"  # a locked DB of this name is Parsl's to wait for, not ours


def _bulk_min(options) -> int | None:
    """The jobs from which a DB is read in bulk: --once and --report read every job's history,
    so none for them (imported here: recognising a path imports no source's module)."""
    from .stampede_bulk import BULK_MIN_JOBS

    return None if options.once else BULK_MIN_JOBS


def has_braindump(d: str) -> bool:
    """A Pegasus submit dir: the planner's braindump (``.yml`` since 5.0, ``.txt`` before)."""
    return any(os.path.isfile(os.path.join(d, n)) for n in ("braindump.yml", "braindump.txt"))


def pegasus_db_kind(target):
    """``stampede`` (workflow tables with rows, or an empty schema being filled),
    ``masterdb`` (only master_workflow rows), :data:`LOCKED` or None; worked out once
    per target (both kinds below ask)."""
    if "pegasus" not in target.notes:
        from ...core.sqlite import table_names

        def classify(conn):
            tables = table_names(conn)
            if "job_instance" in tables and "workflow" in tables:
                if "master_workflow" in tables and conn.execute("SELECT 1 FROM workflow LIMIT 1").fetchone() is None \
                        and conn.execute("SELECT 1 FROM master_workflow LIMIT 1").fetchone() is not None:
                    return "masterdb"
                return "stampede"
            if "master_workflow" in tables:
                return "masterdb"
            if "dbversion" in tables or "schema_info" in tables:
                return "stampede"  # a Pegasus DB; the source says what is wrong with it
            return None

        target.notes["pegasus"] = target.sqlite(classify) if target.is_sqlite else None
    return target.notes["pegasus"]


class StampedeDbKind:
    name = "stampede"
    order = 30

    def recognise(self, target):
        if not target.is_file:
            return None
        if target.head == b"":
            return BY_SUFFIX if target.path.endswith(".db") else None  # monitord created it, not written yet
        kind = pegasus_db_kind(target)
        if kind is LOCKED:
            # its writer is committing: the source waits for it (Parsl names its DB monitoring.db)
            return None if target.name == PARSL_DB_NAME else LIKELY
        return CERTAIN if kind == "stampede" else None

    def open(self, target, options):
        from .stampede_db import StampedeDbSource

        return StampedeDbSource(target.path, follow=options.follow, bulk_min=_bulk_min(options))


class MasterDbKind:
    name = "masterdb"
    order = 40

    def recognise(self, target):
        if target.is_file and target.head and pegasus_db_kind(target) == "masterdb":
            return CERTAIN
        return None

    def open(self, target, options):
        raise WorkflowList(target.path)  # a user's workflows to choose from, not one run


class SubmitDirKind:
    """A Pegasus submit dir, or a dir of DAGMan's logs alone."""

    name = "submitdir"
    order = 50

    def recognise(self, target):
        if not target.is_dir:
            return None
        if has_braindump(target.path):
            return CERTAIN
        from .dagman_out import has_dagman_out

        return CERTAIN if has_dagman_out(target.path) else None

    def open(self, target, options):
        from .submitdir import SubmitDirError, SubmitDirSource, find_submit_dir

        try:
            return SubmitDirSource(find_submit_dir(target.path), follow=options.follow,
                                   bulk_min=_bulk_min(options))
        except SubmitDirError as exc:
            raise CannotOpen(str(exc)) from None


class DagmanOutKind:
    """A DAGMan log (``*.dag.dagman.out``): read with the submit dir it sits in."""

    name = "dagmanout"
    order = 10

    def recognise(self, target):
        if target.is_file and (target.path.endswith(".dagman.out") or DAGMAN_BANNER in target.head):
            return CERTAIN
        return None

    def open(self, target, options):
        from .submitdir import SubmitDirSource, dagman_submit_dir

        return SubmitDirSource(dagman_submit_dir(target.path), follow=options.follow,
                                   bulk_min=_bulk_min(options))


STAMPEDE = StampedeDbKind()
MASTER_DB = MasterDbKind()
SUBMIT_DIR = SubmitDirKind()
DAGMAN_OUT = DagmanOutKind()
