"""The agent's stop (nodes/stopping.py, ``run_until_stopped``): SIGTERM or SIGINT at any
moment stops it once its running job has finished, even a job that asks the scheduler for
its locks meanwhile (the homes' rescan); a second signal stops it at once; a scheduler
thread that dies stops it with an error instead of leaving it alive and idle. Each case
runs the real scheduler of ``fiscalsync agent`` in a process of its own, signalled for
real."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).parent.parent

_PRELUDE = """
import logging, os, random, signal, sys, threading, time
from datetime import UTC, datetime
from nodes import agent

logging.basicConfig(level=logging.INFO, format="%(message)s")
scheduler = agent.scheduler_for_homes()

def soon(job, **kwargs):
    scheduler.add_job(job, next_run_time=datetime.now(UTC), **kwargs)

def started(_described):
    print("started", flush=True)
"""


def _child(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _PRELUDE + script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _finished(child: subprocess.Popen[str], timeout: float = 60) -> tuple[str, str]:
    try:
        return child.communicate(timeout=timeout)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()


def _ran(script: str, *args: str, timeout: float = 60) -> tuple[str, str]:
    """What a child running ``script`` printed, out and err, once it exited with 0."""
    child = _child(script, *args)
    out, err = _finished(child, timeout)
    assert child.returncode == 0, err
    return out, err


_STOPPED_AT_RANDOM = """
def signal_soon(_described):
    later = random.random() * 0.02
    threading.Timer(later, os.kill, [os.getpid(), signal.SIGTERM]).start()

for number in range(int(sys.argv[1])):
    scheduler = agent.scheduler_for_homes()
    for job in range(20):
        scheduler.add_job(
            time.sleep, "interval", args=[0], seconds=0.01, id=f"job-{job}",
            next_run_time=datetime.now(UTC),
        )
    agent.run_until_stopped(scheduler, [], signal_soon)
print(number + 1)
print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)
print(signal.set_wakeup_fd(-1) == -1)
"""


def test_a_signal_at_any_moment_stops_the_agent() -> None:
    # A stop begun inside the signal handler deadlocked once in a few dozen runs: the
    # handler had interrupted the scheduler submitting a job, holding the lock the
    # stop waits for.
    out, err = _ran(_STOPPED_AT_RANDOM, "300", timeout=120)
    assert out.split() == ["300", "True", "True", "True"]  # the handlers and pipe put back
    assert err.count("signal 15: stopping after the running job") == 300


_RESCAN_WHILE_STOPPING = """
def rescan():
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.5)  # the stop has begun
    scheduler.get_jobs()  # the scheduler's locks, as add_home and remove_home take
    print("rescan done", flush=True)

soon(rescan)
agent.run_until_stopped(scheduler, [], started)
print("stopped", flush=True)
"""


def test_a_job_that_asks_the_scheduler_s_locks_while_it_stops_finishes_and_the_agent_stops() -> (
    None
):
    out, err = _ran(_RESCAN_WHILE_STOPPING)
    assert out.split("\n") == ["started", "rescan done", "stopped", ""]
    assert "signal 15: stopping after the running job" in err


_STUCK_JOB = """
soon(time.sleep, args=[3600])
agent.run_until_stopped(scheduler, [], started)
print("stopped", flush=True)
"""


def test_a_second_signal_stops_the_agent_at_once_its_running_job_abandoned() -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        child = _child(_STUCK_JOB)
        assert child.stdout is not None
        assert child.stdout.readline() == "started\n"
        time.sleep(0.5)  # the job runs
        child.send_signal(sig)
        time.sleep(0.5)
        assert child.poll() is None  # waiting for its job
        child.send_signal(sig)
        out, err = _finished(child, timeout=30)
        assert child.returncode == -sig, err
        assert out == ""  # never came out of the stop
        assert f"signal {int(sig)}: stopping after the running job" in err


_SCHEDULER_DIES = """
from apscheduler.jobstores.memory import MemoryJobStore
from sync.errors import FiscalsyncError

class Broken(MemoryJobStore):
    def get_next_run_time(self):
        raise RuntimeError("the job store broke")

stopped = []
for _ in range(20):
    scheduler = agent.scheduler_for_homes()
    scheduler.add_jobstore(Broken(), "broken")
    try:
        agent.run_until_stopped(scheduler, [], started)
    except FiscalsyncError as error:
        stopped.append(error.exit_code)
        message = error.message
print(stopped.count(1))
print(message, flush=True)
"""


def test_a_scheduler_thread_that_dies_stops_the_agent_with_an_error() -> None:
    # Its thread dies at its first pass, as start() returns: 20 times over.
    out, err = _ran(_SCHEDULER_DIES)
    lines = out.splitlines()
    assert lines[:20] == ["started"] * 20
    assert lines[20] == "20"
    assert lines[21].startswith("the agent's scheduler thread APScheduler ended with an error")
    assert err.count("RuntimeError: the job store broke") == 20  # the traceback, in the log
    assert err.count("thread APScheduler ended: stopping after the running job") == 20


_HOME_REMOVED = """
def home_job():
    time.sleep(0.5)
    print("home job done", flush=True)

def let_go():
    alive = [t.name for t in threading.enumerate() if t.name.startswith("home-410102_")]
    print("let go", alive, flush=True)

def rescan():
    time.sleep(0.1)  # the home's job runs
    scheduler.remove_worker("home-410102", let_go)  # as remove_home does
    print("removed", flush=True)  # at once: the scans go on
    os.kill(os.getpid(), signal.SIGTERM)

scheduler.add_worker("home-410102", "home-410102")
soon(home_job, executor="home-410102")
soon(rescan)
agent.run_until_stopped(scheduler, [], started)
print("stopped", flush=True)
"""


def test_a_home_removed_lets_its_running_job_finish_apart_and_its_worker_thread_end() -> None:
    out, _err = _ran(_HOME_REMOVED)
    assert out.splitlines() == ["started", "removed", "home job done", "let go []", "stopped"]


_SIGNAL_AS_THE_HANDLER_IS_SET = """
real = signal.signal

def installing(sig, handler):
    previous = real(sig, handler)
    if sig == signal.SIGTERM and getattr(handler, "__name__", "") == "_noted":
        os.kill(os.getpid(), signal.SIGTERM)  # taken before the next line runs
    return previous

signal.signal = installing
soon(time.sleep, args=[0.2])
agent.run_until_stopped(scheduler, [], started)
print("stopped", flush=True)
"""


def test_a_signal_the_moment_its_handler_is_set_stops_the_agent() -> None:
    # The pipe is set before the handler: a handler without the pipe behind it would
    # take the signal and wake nobody.
    out, err = _ran(_SIGNAL_AS_THE_HANDLER_IS_SET)
    assert out.splitlines() == ["started", "stopped"]
    assert "signal 15: stopping after the running job" in err


def test_workers_taken_out_while_the_stop_waits_are_each_waited_for() -> None:
    """A job taking workers out (as a rescan of ``agent --homes`` does) while the stop
    waits for the workers: each one is waited for and let go of, and none is joined
    before its draining thread has started."""
    import threading
    from functools import partial

    from nodes import agent

    scheduler = agent.scheduler_for_homes()
    count = 300
    for n in range(count):
        scheduler.add_worker(f"w{n}")
    let_go: list[int] = []

    def take_out() -> None:
        for n in range(count):
            scheduler.remove_worker(f"w{n}", partial(let_go.append, n))

    taker = threading.Thread(target=take_out)
    taker.start()
    while taker.is_alive():
        scheduler.finish_jobs()
    taker.join()
    scheduler.finish_jobs()
    assert sorted(let_go) == list(range(count))
    assert list(scheduler.workers) == ["default"]
