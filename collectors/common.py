"""What every collector shares: argument parsing, sink options, workflow context.

Bad arguments give one line on stderr (``prog: error: ...``) and exit code 64
(:mod:`panorama_tui.cli.base`, every command's parser).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time

from panorama_tui.cli.base import EXIT_USAGE, add_show_config, show_config
from panorama_tui.core.secrets import scrub

__all__ = [
    "add_sink_args",
    "show_sink_config",
    "resolve_broker",
    "add_context_args",
    "resolve_context",
    "read_condor_job_ad",
    "mpi_rank",
    "say",
    "hostname",
    "status_event",
    "EXIT_USAGE",
    "EXIT_CONFIG",
    "EXIT_WRAPPER",
    "CONTEXT_FIELDS",
]

# As panorama-top: sysexits' EX_USAGE for bad arguments (the parser is every command's,
# panorama_tui.cli.base), EX_CONFIG for a setup that cannot work (no credentials, an event
# file that cannot be opened).
EXIT_CONFIG = 78
# A wrapper's own failure, as GNU env/timeout/nice: the wrapped command's exit
# codes stay unambiguous (126: found but cannot run, 127: not found).
EXIT_WRAPPER = 125

# The workflow context kickstart puts in every trace, and where Pegasus sets it.
# (kickstart's monitoring_helpers.c reads exactly these; Pegasus writes them into
# each job's ``environment`` in the .sub file.)
CONTEXT_ENV = {
    "wf_uuid": ("PEGASUS_WF_UUID",),
    "wf_label": ("PEGASUS_WF_LABEL",),
    "dag_job_id": ("PEGASUS_DAG_JOB_ID",),
    "task_id": ("PEGASUS_TASK_ID",),
    "xformation": ("PEGASUS_XFORMATION",),
    "site": ("PEGASUS_SITE",),
    "condor_job_id": ("CONDOR_JOBID",),
}
CONTEXT_FIELDS = tuple(CONTEXT_ENV) + ("rank",)

# The same, as HTCondor job ClassAd attributes Pegasus adds (``+pegasus_...``).
_JOB_AD_KEYS = {
    "wf_uuid": "pegasus_wf_uuid",
    "dag_job_id": "pegasus_wf_dag_job_id",
    "xformation": "pegasus_wf_xformation",
    "task_id": "pegasus_wf_dax_job_id",
    "site": "pegasus_site",
}

# MPI launchers: Open MPI, MPICH/Hydra (PMI), PMIx, MVAPICH2, Slurm srun.
RANK_ENV = ("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "MV2_COMM_WORLD_RANK", "SLURM_PROCID")


def say(prog: str, message: str) -> None:
    """One line on stderr, never more (newlines in ``message`` are folded), secrets masked."""
    text = " ".join(scrub(message).split("\n")).strip()
    try:
        sys.stderr.write(f"{prog}: {text}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


_HOSTNAME = None


def hostname() -> str:
    global _HOSTNAME
    if _HOSTNAME is None:
        _HOSTNAME = socket.gethostname()
    return _HOSTNAME


def positive_float(minimum: float):
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value >= minimum or value != value or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be a number >= {minimum:g}, got {text!r}")
        return value

    return convert


def add_sink_args(parser: argparse.ArgumentParser, out_help: str, spool_help: str | None = None) -> None:
    add_show_config(parser)
    g = parser.add_argument_group("where events go")
    g.add_argument("--out", metavar="FILE", help=out_help)
    g.add_argument(
        "--amqp",
        metavar="URL",
        help="also publish to AMQP through the spooling publisher "
        "(amqp[s]://user:pass@host:port/<vhost>/<exchange>; without a password, PANORAMA_AMQP_PASSWORD's "
        "or the config file's: one given here is starred in ps only once the program has started)",
    )
    g.add_argument(
        "--spool",
        metavar="PATH",
        help=spool_help or "the publisher's spool file, where events wait until the broker confirms them "
        "(default: a free slot under $PANORAMA_SPOOL_DIR or ~/.local/state/panorama-top/spool)",
    )


COLLECTOR_SETTINGS = ("amqp.url", "amqp.password", "spool.dir")


def show_sink_config(prog: str, args) -> int:
    """``--show-config`` for a collector: its broker and spool settings, where each came from."""
    from panorama_tui.core import settings

    try:
        found = settings.resolve(COLLECTOR_SETTINGS, {"amqp.url": getattr(args, "amqp", None)})
    except settings.ConfigError as exc:
        say(prog, str(exc))
        return EXIT_CONFIG
    return show_config(prog, found)


def resolve_broker(prog: str, args, env=None) -> str | None:
    """``args.amqp`` set from the one resolver: ``--amqp``, else ``PANORAMA_AMQP_URL`` (or its
    deprecated alias, said once), else the config file's ``[amqp] url``.  None when no place
    names a broker, or a one-line error (the config file) when it cannot be read."""
    from panorama_tui.core import settings

    try:
        found = settings.resolve(("amqp.url",), {"amqp.url": getattr(args, "amqp", None)}, env)
    except settings.ConfigError as exc:
        return str(exc)
    for warning in found.warnings:
        say(prog, f"warning: {warning}")
    args.amqp = found["amqp.url"]
    return None


def add_context_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group(
        "workflow context (default: from PEGASUS_* / CONDOR_JOBID / _CONDOR_JOB_AD / MPI rank variables)"
    )
    g.add_argument("--wf-uuid", metavar="UUID", help="workflow uuid (PEGASUS_WF_UUID)")
    g.add_argument("--wf-label", metavar="LABEL", help="workflow label (PEGASUS_WF_LABEL)")
    g.add_argument("--dag-job-id", metavar="JOB", help="DAG job id (PEGASUS_DAG_JOB_ID)")
    g.add_argument("--task-id", metavar="ID", help="task id (PEGASUS_TASK_ID)")
    g.add_argument("--xformation", metavar="NAME", help="transformation (PEGASUS_XFORMATION)")
    g.add_argument("--site", metavar="SITE", help="site (PEGASUS_SITE)")
    g.add_argument("--condor-job-id", metavar="ID", help="HTCondor job id, e.g. 14988.0 (CONDOR_JOBID)")
    g.add_argument("--rank", metavar="N", type=int, help="MPI rank (OMPI_COMM_WORLD_RANK, PMI_RANK, ...)")


def read_condor_job_ad(path: str | None) -> dict:
    """The attributes of HTCondor's ``$_CONDOR_JOB_AD`` file (``Key = Value`` lines)."""
    out = {}
    if not path:
        return out
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition("=")
                if not sep:
                    continue
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = value[1:-1]
                out[key.strip().lower()] = value
    except OSError:
        pass
    return out


def mpi_rank(env) -> int | None:
    for name in RANK_ENV:
        value = env.get(name)
        if value is None:
            continue
        try:
            return int(value)
        except ValueError:
            continue
    return None


def resolve_context(args=None, env=None) -> dict:
    """The workflow context: arguments, then environment, then the job ClassAd.

    Every field of :data:`CONTEXT_FIELDS` is present; unknown ones are None.
    """
    env = os.environ if env is None else env
    ad = read_condor_job_ad(env.get("_CONDOR_JOB_AD"))
    ctx = {}
    for field, names in CONTEXT_ENV.items():
        value = getattr(args, field, None) if args is not None else None
        if value in (None, ""):
            for name in names:
                if env.get(name):
                    value = env[name]
                    break
        if value in (None, "") and field in _JOB_AD_KEYS:
            value = ad.get(_JOB_AD_KEYS[field]) or None
            if value == "null":
                value = None
        ctx[field] = value if value not in ("",) else None
    if not ctx["condor_job_id"] and ad.get("clusterid") is not None:
        ctx["condor_job_id"] = f"{ad.get('clusterid')}.{ad.get('procid', '0')}"
    rank = getattr(args, "rank", None) if args is not None else None
    if rank is None:
        rank = mpi_rank(env)
    ctx["rank"] = rank if rank is not None else 0
    return ctx


def status_event(collector: str, state: str, reason: str, message: str, **extra) -> dict:
    """A ``collector.status`` event: state is ok, degraded or error."""
    ev = {
        "event": "collector.status",
        "ts": time.time(),
        "collector": collector,
        "state": state,
        "reason": reason,
        "message": message,
        "hostname": hostname(),
        "pid": os.getpid(),
    }
    ev.update(extra)
    return ev
