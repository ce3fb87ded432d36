"""Runs whose process is gone: a `rekindle run` killed with SIGKILL leaves its run STARTED, and
with it the run queue's only DuckDB slot. The next `rekindle run` and the daemon's dead_run_sensor
mark such a run failed; a run whose process still runs is never touched.

The first tests put runs with given tags on a real temporary instance and point them at real
processes (this one, a child that is alive, killed, or a zombie). The slow ones SIGKILL a real
`rekindle run` in the middle of its run.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    RunsFilter,
    build_sensor_context,
)
from dagster._core.storage.dagster_run import ACTIVE_RUN_STATUSES
from dagster._core.utils import make_new_run_id

from pipelines.cli import INSTANCE_CONFIG
from pipelines.definitions import build_definitions
from pipelines.jobs import DAILY_JOB_NAME, WAREHOUSE_TAG
from pipelines.run_health import (
    HOST_TAG,
    PID_START_TAG,
    PID_TAG,
    fail_dead_runs,
    process_alive,
    process_start,
    worker_tags,
)
from pipelines.sensors import DEAD_RUN_SENSOR_NAME
from rekindle.generate import generate_landing_zone
from rekindle.settings import Settings

END = date(2026, 6, 30)
START = END - timedelta(days=9)


@pytest.fixture
def instance(tmp_path):
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        yield instance


@pytest.fixture
def child():
    """A live process of ours, killed at the end."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield process
    process.kill()
    process.wait()


def add_run(instance: DagsterInstance, tags: dict[str, str], status=DagsterRunStatus.STARTED) -> str:
    """A run as `rekindle run` leaves it: these tags, this status."""
    run = DagsterRun(job_name=DAILY_JOB_NAME, run_id=make_new_run_id(), status=status,
                     tags={WAREHOUSE_TAG: "duckdb", **tags})
    instance.add_run(run)
    return run.run_id


def tags_of(process: subprocess.Popen) -> dict[str, str]:
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(process.pid), PID_START_TAG: process_start(process.pid)}


def status(instance: DagsterInstance, run_id: str) -> DagsterRunStatus:
    return instance.get_run_by_id(run_id).status


def failure_message(instance: DagsterInstance, run_id: str) -> str:
    [event] = instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)
    return event.message


def test_runs_whose_process_is_alive_are_left_alone(instance, child):
    mine = add_run(instance, worker_tags())
    theirs = add_run(instance, tags_of(child))
    assert fail_dead_runs(instance, reaper="a test") == []
    assert status(instance, mine) == status(instance, theirs) == DagsterRunStatus.STARTED
    assert worker_tags()[PID_TAG] == str(os.getpid()) and process_alive(os.getpid(), worker_tags()[PID_START_TAG])


def test_a_killed_process_fails_its_run_and_frees_the_duckdb_slot(instance, child):
    run_id = add_run(instance, tags_of(child))
    child.kill()
    child.wait()
    [dead] = fail_dead_runs(instance, reaper="a test")
    assert (dead.run_id, dead.pid, dead.host) == (run_id, child.pid, socket.gethostname())
    assert status(instance, run_id) == DagsterRunStatus.FAILURE
    message = failure_message(instance, run_id)
    assert f"pid {child.pid} on {socket.gethostname()}" in message and "Marked by a test" in message
    # what the run queue counts against the limit of one DuckDB run
    assert not instance.get_run_records(RunsFilter(statuses=ACTIVE_RUN_STATUSES, tags={WAREHOUSE_TAG: "duckdb"}))
    assert fail_dead_runs(instance, reaper="a test") == []  # once


def test_a_zombie_is_dead(instance, child):
    """Killed but not yet waited for by its parent: the pid is still in /proc, in state Z."""
    run_id = add_run(instance, tags_of(child))
    child.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while process_start(child.pid) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert Path(f"/proc/{child.pid}").exists()
    assert [d.run_id for d in fail_dead_runs(instance, reaper="a test")] == [run_id]


def test_a_reused_pid_does_not_keep_a_dead_run(instance):
    """The pid now belongs to another process (this one), which started at another time."""
    tags = {**worker_tags(), PID_START_TAG: str(int(worker_tags()[PID_START_TAG]) - 1)}
    run_id = add_run(instance, tags)
    assert [d.run_id for d in fail_dead_runs(instance, reaper="a test")] == [run_id]


def test_other_hosts_finished_runs_and_untagged_runs_are_left_alone(instance, child):
    tags = tags_of(child)
    child.kill()
    child.wait()
    elsewhere = add_run(instance, {**tags, HOST_TAG: "another-host"})
    finished = add_run(instance, tags, status=DagsterRunStatus.SUCCESS)
    untagged = add_run(instance, {})  # launched by the daemon: its code server reports a dead worker
    assert fail_dead_runs(instance, reaper="a test") == []
    assert status(instance, elsewhere) == DagsterRunStatus.STARTED
    assert status(instance, finished) == DagsterRunStatus.SUCCESS
    assert status(instance, untagged) == DagsterRunStatus.STARTED


def test_a_dead_run_being_canceled_ends_canceled(instance, child):
    run_id = add_run(instance, tags_of(child), status=DagsterRunStatus.CANCELING)
    child.kill()
    child.wait()
    [dead] = fail_dead_runs(instance, reaper="a test")
    assert str(dead).startswith(f"Run {run_id} marked CANCELED")
    assert status(instance, run_id) == DagsterRunStatus.CANCELED


def test_the_instance_monitors_runs_the_daemon_launches(tmp_path):
    (tmp_path / "dagster.yaml").write_text(INSTANCE_CONFIG)
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert "MONITORING" in instance.get_required_daemon_types()
        assert instance.run_monitoring_poll_interval_seconds == 30
        assert instance.run_monitoring_start_timeout_seconds == instance.run_monitoring_cancel_timeout_seconds == 180
        assert instance.run_monitoring_max_resume_run_attempts == 0  # the default launcher cannot resume a run


# --- a real `rekindle run`, killed ---------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("killed")
    generate_landing_zone(root / "landing", customers=200, days=10, end_date=END, campaigns=False, seed=3)
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_CONFIG)
    with DagsterInstance.from_config(str(home)):  # storage created here, not by two processes at once
        pass
    return {
        **os.environ,
        "GX_ANALYTICS_ENABLED": "False",
        "REKINDLE_LANDING_DIR": str(root / "landing"),
        "REKINDLE_WAREHOUSE_URL": f"duckdb:///{root}/warehouse.duckdb",
        "REKINDLE_START_DATE": START.isoformat(),
        "REKINDLE_QUALITY_DOCS_DIR": str(root / "docs"),
        "DAGSTER_HOME": str(home),
        "ROOT": str(root),
    }


def rekindle_run(env: dict[str, str], **kwargs):
    command = [sys.executable, "-m", "pipelines.cli", "run", "--end", END.isoformat()]
    return command, {"env": env, "cwd": env["ROOT"], "text": True, **kwargs}


def started_run(instance: DagsterInstance, process: subprocess.Popen, materialized: int = 0,
                timeout: float = 300) -> str:
    """The id of the process's run, once the run is STARTED and has materialized that many assets."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"rekindle run ended early: {process.stdout.read()}"
        records = instance.get_run_records(RunsFilter(tags={PID_TAG: str(process.pid)}))
        if records and records[0].dagster_run.status == DagsterRunStatus.STARTED:
            run_id = records[0].dagster_run.run_id
            if len(instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)) >= materialized:
                return run_id
        time.sleep(0.2)
    raise AssertionError(f"no STARTED run of pid {process.pid} with {materialized} materializations after {timeout} s")


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdout.close()


def assert_stays_started(instance: DagsterInstance, run_id: str) -> None:
    """Nothing in Dagster notices the kill by itself: the run holds the DuckDB slot."""
    time.sleep(2)
    assert status(instance, run_id) == DagsterRunStatus.STARTED
    holding = instance.get_run_records(RunsFilter(statuses=ACTIVE_RUN_STATUSES, tags={WAREHOUSE_TAG: "duckdb"}))
    assert [r.dagster_run.run_id for r in holding] == [run_id]


@pytest.mark.slow
def test_dead_run_sensor_fails_a_killed_rekindle_run_and_leaves_a_live_one(cli_env):
    sensor = build_definitions(Settings.from_env(cli_env)).resolve_sensor_def(DEAD_RUN_SENSOR_NAME)
    command, options = rekindle_run(cli_env)
    with DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **options)
        try:
            run_id = started_run(instance, process)
            alive = sensor.evaluate_tick(build_sensor_context(instance=instance))
            assert alive.run_requests == [] and alive.skip_message == "Every unfinished run's process is alive"
            assert status(instance, run_id) == DagsterRunStatus.STARTED
        finally:
            kill(process)
        assert_stays_started(instance, run_id)

        reaped = sensor.evaluate_tick(build_sensor_context(instance=instance))
        assert reaped.run_requests == []
        line = f"Run {run_id} marked FAILURE: its process {process.pid} on {socket.gethostname()} is gone"
        assert reaped.skip_message == line
        assert status(instance, run_id) == DagsterRunStatus.FAILURE
        assert f"Marked by {DEAD_RUN_SENSOR_NAME}" in failure_message(instance, run_id)
        assert not instance.get_run_records(RunsFilter(statuses=ACTIVE_RUN_STATUSES))


@pytest.mark.slow
def test_the_next_rekindle_run_fails_a_killed_one_and_proceeds(cli_env):
    command, options = rekindle_run(cli_env)
    with DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **options)
        try:
            run_id = started_run(instance, process, materialized=2)  # killed while writing the warehouse
        finally:
            kill(process)
        assert_stays_started(instance, run_id)

        done = subprocess.run(command, capture_output=True, timeout=900, **options)
        assert done.returncode == 0, done.stdout + done.stderr
        line = f"Run {run_id} marked FAILURE: its process {process.pid} on {socket.gethostname()} is gone"
        assert line in done.stdout.splitlines()
        assert status(instance, run_id) == DagsterRunStatus.FAILURE
        assert "Marked by the next `rekindle run`" in failure_message(instance, run_id)
        [latest] = instance.get_run_records(limit=1)
        assert latest.dagster_run.run_id != run_id and latest.dagster_run.status == DagsterRunStatus.SUCCESS
        assert f"Run {latest.dagster_run.run_id}: succeeded" in done.stdout
