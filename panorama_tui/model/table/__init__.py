"""The columnar job table (issue #14): each job a number, each field a typed array.

Today every job is a ``Job`` and a ``Try`` per try (~1,700 B a job, and 43 s of per-row Python
to load 1M jobs).  Here a job is a number (arrival order; ``Job.order - 1``) into typed
columns (``array``): its workflow, id, state and the STATE column's word, type and
transformation (interned ids), the latest try's host, site, state name, start, end, local
duration and exit status, its tries count, retry limit and flags; per workflow, the counts by
state.  ``benchmarks/bench_table.py`` weighs it and times its build against the objects'.

* :mod:`.jobtable` -- the columns, the workflows, the state rule a column at a time, and the
  per-job queries (counts, tree counts, the failed jobs, a row's values, a duration);
* :mod:`.project` -- the table read off an object store (the bridge the views use first);
* :mod:`.bulk` -- the table filled from ``stampede.bulk`` rows with no object per job (the
  fast path a big DB's load will use);
* :mod:`.keys` -- the job list's sort keys and orders; ``views/tablefilter.py`` has the
  filter language's masks and the cells.

Both fills give the same table (``tests/test_jobtable.py``), whose queries answer what the
object path answers.  Nothing reads it yet.  The next steps:

1. the views on job numbers: ``JobOrder`` sorting and filtering ``array('i')`` of numbers
   with these keys and masks, the job list's rows drawn from :meth:`JobTable.row`, the tree
   and header from its counts -- kept current by :func:`.project.refresh` of the changed jobs;
2. the handlers writing columns: the bulk handler becomes :class:`.bulk.BulkLoader` (the
   store's Job objects made only for the jobs a user opens, from the source's history), then
   the incremental Stampede/Parsl handlers set the latest try's columns themselves;
3. tries packed: a try's history (states, invocations) read on demand or kept packed per job,
   so that no Try object stays for a job nobody opened.
"""

from .bulk import BulkLoader
from .interner import Interner
from .jobtable import JobTable
from .project import project, refresh

__all__ = ["BulkLoader", "Interner", "JobTable", "project", "refresh"]
