"""Runs whose process is gone: a `rekindle run` killed with SIGKILL (or OOM-killed, or on a
machine that lost power) never reports its end, so its run would stay STARTED for ever and,
with its `rekindle/warehouse=duckdb` tag, hold the run queue's only DuckDB slot.

`rekindle run` executes in its own process, not through a run launcher, so Dagster's run
monitoring cannot see it. Instead the run carries the host name, pid and process start time of
the process that executes it (`worker_tags`), and `fail_dead_runs` marks a run failed once that
process no longer exists. The next `rekindle run` calls it, and so does `dead_run_sensor` in the
daemon every 30 s.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.events import JobFailureData, RunFailureReason

HOST_TAG = "rekindle/host"
PID_TAG = "rekindle/pid"
# The pid's start time in clock ticks since boot (Linux): a pid reused by a later process has
# another start time, so the run still counts as dead.
PID_START_TAG = "rekindle/pid_start"
# Every status in which a run still expects its process to report. Only STARTING, STARTED and
# CANCELING hold a run-queue slot; NOT_STARTED is reaped too, as a run created just before the kill.
UNFINISHED = [
    DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING,
]


@dataclass(frozen=True)
class DeadRun:
    run_id: str
    host: str
    pid: int
    status: DagsterRunStatus  # before it was marked FAILURE (CANCELED if it was CANCELING)

    def __str__(self) -> str:
        ended = "CANCELED" if self.status == DagsterRunStatus.CANCELING else "FAILURE"
        return f"Run {self.run_id} marked {ended}: its process {self.pid} on {self.host} is gone"


def process_start(pid: int) -> str | None:
    """The process's start time (field 22 of /proc/<pid>/stat), None without /proc or without that
    process. Fields are read after the last ')': the command name in between may hold anything."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, *fields = stat[stat.rindex(")") + 2:].split()
    # a zombie has exited; it only waits for its parent to read its exit code
    return None if state in ("Z", "X") else fields[18]


def worker_tags() -> dict[str, str]:
    """Tags that name this process, for a run this process executes in process."""
    pid = os.getpid()
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(pid)}
    start = process_start(pid)
    if start is not None:
        tags[PID_START_TAG] = start
    return tags


def process_alive(pid: int, start: str | None) -> bool:
    """Whether the process `pid` that started at `start` (from `process_start`) still runs on this host."""
    if Path("/proc/self/stat").exists():
        current = process_start(pid)
        return current is not None and (start is None or current == start)
    try:  # no /proc (macOS): the pid exists, whoever it is now
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_dead_runs(instance: DagsterInstance, reaper: str) -> list[DeadRun]:
    """Mark failed every unfinished run executed by a process of this host that is gone (CANCELING
    runs are marked canceled, as they were meant to stop). Runs of other hosts are left alone:
    their processes cannot be seen from here. `reaper` says who noticed, in the run's log."""
    host = socket.gethostname()
    dead = []
    for record in instance.get_run_records(RunsFilter(statuses=UNFINISHED, tags={HOST_TAG: host})):
        run = record.dagster_run
        pid = int(run.tags[PID_TAG])
        if process_alive(pid, run.tags.get(PID_START_TAG)):
            continue
        run = instance.get_run_by_id(run.run_id)  # it may have ended just before its process did
        if run is None or run.is_finished:
            continue
        message = (
            f"The process that executed this run (pid {pid} on {host}) is gone without reporting its end: "
            f"killed or crashed. Marked by {reaper}."
        )
        if run.status == DagsterRunStatus.CANCELING:
            instance.report_run_canceled(run, message=message)
        else:
            crashed = JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION)
            instance.report_run_failed(run, message=message, job_failure_data=crashed)
        dead.append(DeadRun(run.run_id, host, pid, run.status))
    return dead
