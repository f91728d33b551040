"""A small real Parsl workflow, run by the tests with the real Parsl (tests/peers.py).

HighThroughputExecutor (2 workers) + MonitoringHub (resources every second),
one retry per task.  It has tasks that succeed, a python app and a bash app
that fail on every try (so they are retried, then fail), a task whose
dependency fails (dep_fail), a join app, and bash apps writing stdout and
stderr files.  ``RUN_DIR`` (argv[1]) is where ``runinfo/`` goes.  With
``--hang`` it runs only tasks that succeed and then one that sleeps for ten
minutes, for a test to kill the run mid-way.
"""
import os
import sys

import parsl
from parsl.app.app import bash_app, join_app, python_app
from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.monitoring.monitoring import MonitoringHub
from parsl.providers import LocalProvider

run_dir = os.path.abspath(sys.argv[1])
hang = "--hang" in sys.argv
out = os.path.join(run_dir, "out")
os.makedirs(out, exist_ok=True)

config = Config(
    executors=[HighThroughputExecutor(label="htex_local", cores_per_worker=1, max_workers_per_node=2,
                                      provider=LocalProvider(init_blocks=1, min_blocks=0, max_blocks=1))],
    monitoring=MonitoringHub(workflow_name="panorama-test", workflow_version="1",
                             resource_monitoring_interval=1),
    run_dir=os.path.join(run_dir, "runinfo"),
    retries=1,
    strategy="simple",
)


@python_app
def burn(seconds):
    import time
    # CPU seconds, not wall seconds: on a loaded 2-core machine a wall-clock loop got a fifth of
    # a core (0.3 s of CPU in 1.5 s), below what the test checks; the wall cap keeps it finite
    t_end = time.process_time() + seconds
    wall_end = time.time() + 30 * seconds
    x = 0
    while time.process_time() < t_end and time.time() < wall_end:
        x += 1
    return x


@python_app
def add(*xs):
    return sum(xs)


@python_app
def flaky(i):
    raise ValueError(f"deliberate failure {i}")


@python_app
def after(x):
    return x


@bash_app
def shout(i, stdout=None, stderr=None):
    return f"echo hello {i}; echo to stderr {i} >&2"


@bash_app
def bash_fail(stdout=None, stderr=None):
    return "echo about to fail; echo failing now >&2; exit 3"


@bash_app
def nap(seconds, after=None):
    return f"sleep {seconds}"


@join_app
def fan_in(n):
    return add(*[burn(0.2) for _ in range(n)])


def main():
    with parsl.load(config):
        burns = [burn(1.5) for _ in range(4)]
        total = add(*burns)
        if hang:
            for fut in [*burns, total, nap(600, after=total)]:  # the nap alone runs at the end
                fut.result()
            return
        shouts = [shout(i, stdout=f"{out}/shout{i}.out", stderr=f"{out}/shout{i}.err") for i in range(2)]
        bad = bash_fail(stdout=f"{out}/fail.out", stderr=f"{out}/fail.err")
        f = flaky(0)
        dep = after(f)
        joined = fan_in(3)
        tail = [add(total, i) for i in range(3)]
        for fut in burns + [total, *shouts, bad, f, dep, joined, *tail]:
            try:
                fut.result()
            except Exception:
                pass
    print("done", flush=True)


if __name__ == "__main__":
    main()
