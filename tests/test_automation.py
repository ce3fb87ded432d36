"""Automation on a real Dagster instance and a real DuckDB warehouse: the landing-zone sensor,
the downstream sensor, the daily schedule, the instance's run queue, and DuckDB runs that wait
for the file lock instead of failing.

Sensor requests are executed the way the daemon would launch them: the request's asset
selection and partition (or partition range) on the same instance, in process.
"""

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    Failure,
    RunRequest,
    build_schedule_context,
    build_sensor_context,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from warehouse_tables import assert_same_tables, materialize, read_tables

from assets.policies import DUCKDB_POOL, WAREHOUSE_RETRY_POLICY, fail_fast_on_permanent_errors
from pipelines.cli import INSTANCE_CONFIG, _ensure_dagster_home
from pipelines.definitions import build_definitions
from pipelines.jobs import DAILY_JOB_NAME, TRIGGER_TAG, WAREHOUSE_TAG
from pipelines.schedules import SCHEDULE_NAME
from pipelines.sensors import DOWNSTREAM_SENSOR_NAME, LANDING_SENSOR_NAME
from rekindle.generate import generate_landing_zone
from rekindle.settings import Settings
from resources.warehouse import is_transient_error

pytestmark = pytest.mark.slow

START, END = date(2026, 5, 2), date(2026, 6, 30)  # 60 days
LATE = END - timedelta(days=20)  # arrives last, long after its day
REDELIVERED = END - timedelta(days=5)
DOWNSTREAM_OF_ACTIVITY = {
    "customers", "lifecycle_daily", "reactivation_daily", "retention_daily", "purchase_daily", "clv_daily",
    "cohort_retention", "inactive_segments", "customer_predictions", "inactive_customers", "campaign_performance",
    "metrics_report",
}
# the quarantine's days are counted after the raw loads that write them: any raw change leaves it stale
DOWNSTREAM_OF_RAW = {"quarantine"}


@pytest.fixture(scope="module")
def source_zone(tmp_path_factory) -> Path:
    """Every file the tests deliver into a landing zone, day by day."""
    root = tmp_path_factory.mktemp("source")
    generate_landing_zone(root, customers=300, days=(END - START).days + 1, end_date=END, campaigns=False, seed=5)
    return root


def delivered_assets(source_zone: Path, day: date) -> tuple[set[str], set[str]]:
    """The assets a delivery of that day re-materializes, and those it leaves stale downstream."""
    raw = {f"raw_{folder.parent.name}" for folder in source_zone.glob(f"*/dt={day.isoformat()}")}
    downstream = DOWNSTREAM_OF_ACTIVITY | DOWNSTREAM_OF_RAW | ({"nps_daily"} if "raw_surveys" in raw else set())
    return raw | {"customer_daily_activity"}, downstream


def deliver(source_zone: Path, landing: Path, day: date) -> None:
    """Copy one day's files of every source, keeping their delivery times (like rsync -t)."""
    for folder in source_zone.glob(f"*/dt={day.isoformat()}"):
        shutil.copytree(folder, landing / folder.parent.name / folder.name)


def redeliver_with_fewer_rows(path: Path) -> None:
    """The same file name with corrected content (half the rows), delivered now."""
    compression = "gzip" if path.suffix == ".gz" else None
    if ".parquet" in path.suffixes:
        frame = pd.read_parquet(path)
        frame.iloc[: len(frame) // 2].to_parquet(path, index=False)
    elif ".csv" in path.suffixes:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, compression=compression)
        frame.iloc[: len(frame) // 2].to_csv(path, index=False, compression=compression)
    else:
        frame = pd.read_json(path, lines=True, dtype=False, compression=compression)
        frame.iloc[: len(frame) // 2].to_json(path, orient="records", lines=True, compression=compression)


def tick(defs, instance: DagsterInstance, name: str, cursor: str | None):
    sensor = defs.resolve_sensor_def(name)
    return sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor, definitions=defs))


def execute(defs, instance: DagsterInstance, request: RunRequest):
    """Launch a sensor's run request as the daemon would, on the same instance, in process."""
    tags = {k: v for k, v in request.tags.items() if not k.startswith("dagster/partition")}
    if ASSET_PARTITION_RANGE_START_TAG in request.tags:
        tags.update({k: request.tags[k] for k in (ASSET_PARTITION_RANGE_START_TAG, ASSET_PARTITION_RANGE_END_TAG)})
    result = defs.resolve_job_def(DAILY_JOB_NAME).execute_in_process(
        instance=instance, asset_selection=list(request.asset_selection), partition_key=request.partition_key,
        tags=tags,
    )
    assert result.success
    return result


def names(request: RunRequest) -> set[str]:
    return {key.to_user_string() for key in request.asset_selection}


def days_of(request: RunRequest) -> tuple[str, str]:
    if request.partition_key:
        return request.partition_key, request.partition_key
    return request.tags[ASSET_PARTITION_RANGE_START_TAG], request.tags[ASSET_PARTITION_RANGE_END_TAG]


def test_a_tick_without_landing_files_skips(tmp_path):
    settings = Settings(landing_dir=tmp_path / "landing", warehouse_url=f"duckdb:///{tmp_path}/w.duckdb",
                        start_date=START)
    for source in ("orders", "events"):
        (tmp_path / "landing" / source).mkdir(parents=True)
    defs = build_definitions(settings)
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        landing = tick(defs, instance, LANDING_SENSOR_NAME, None)
        assert not landing.run_requests
        assert "No new or changed files among 0" in landing.skip_message
        downstream = tick(defs, instance, DOWNSTREAM_SENSOR_NAME, None)
        assert not downstream.run_requests
        assert downstream.skip_message


def test_a_missing_landing_zone_fails_the_tick_naming_the_path(tmp_path):
    settings = Settings(landing_dir=tmp_path / "unmounted", warehouse_url=f"duckdb:///{tmp_path}/w.duckdb",
                        start_date=START)
    defs = build_definitions(settings)
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        with pytest.raises(Exception, match=f"{tmp_path / 'unmounted'} does not exist"):
            tick(defs, instance, LANDING_SENSOR_NAME, None)


def test_pruning_a_day_starts_no_run(tmp_path):
    settings = Settings(landing_dir=tmp_path / "landing", warehouse_url=f"duckdb:///{tmp_path}/w.duckdb",
                        start_date=START)
    (tmp_path / "landing/events").mkdir(parents=True)
    old_day = tmp_path / "landing/orders" / f"dt={START}"
    old_day.mkdir(parents=True)
    (old_day / "part-0.csv").write_text("order_id,customer_id,ordered_at,amount\n")
    defs = build_definitions(settings)
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        first = tick(defs, instance, LANDING_SENSOR_NAME, None)
        assert [days_of(r) for r in first.run_requests] == [(str(START), str(START))]
        (old_day / "part-0.csv").unlink()  # the landing zone is pruned: the warehouse keeps the day
        pruned = tick(defs, instance, LANDING_SENSOR_NAME, first.cursor)
        assert not pruned.run_requests


def test_sensors_keep_the_warehouse_equal_to_a_run_from_scratch(source_zone, tmp_path):
    landing = tmp_path / "landing"
    for day in (START + timedelta(days=i) for i in range((END - START).days)):  # through END - 1
        if day != LATE:
            deliver(source_zone, landing, day)
    settings = Settings(landing_dir=landing, warehouse_url=f"duckdb:///{tmp_path}/sensed.duckdb", start_date=START,
                        quality_docs_dir=tmp_path / "docs")
    defs = build_definitions(settings)
    (tmp_path / "dagster_home").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dagster_home")) as instance:
        # loaded the way `rekindle run` does it, before the daemon ever ran
        materialize(settings, instance, START, END - timedelta(days=1))

        # the first ticks: everything in the landing zone is already loaded, nothing is stale
        first = tick(defs, instance, LANDING_SENSOR_NAME, None)
        assert first.run_requests == [] and "No new or changed files" in first.skip_message
        down = tick(defs, instance, DOWNSTREAM_SENSOR_NAME, None)
        assert down.run_requests == []
        landing_cursor, downstream_cursor = first.cursor, down.cursor

        # a new day: its raw partitions and activity, then that day of every metric and the snapshots
        deliver(source_zone, landing, END)
        new = tick(defs, instance, LANDING_SENSOR_NAME, landing_cursor)
        [request] = new.run_requests
        assert request.run_key.startswith(f"landing:{END}:")
        loaded, stale = delivered_assets(source_zone, END)
        assert names(request) == loaded and days_of(request) == (str(END), str(END))
        assert request.tags[TRIGGER_TAG] == "landing"
        # a repeated tick (say the cursor was lost) asks for the same run key: the daemon runs it once
        again = tick(defs, instance, LANDING_SENSOR_NAME, landing_cursor)
        assert [r.run_key for r in again.run_requests] == [request.run_key]
        execute(defs, instance, request)
        landing_cursor = new.cursor
        down = tick(defs, instance, DOWNSTREAM_SENSOR_NAME, downstream_cursor)
        [request] = down.run_requests
        assert names(request) == stale
        assert days_of(request) == (str(END), str(END))
        execute(defs, instance, request)
        downstream_cursor = down.cursor

        # the same files again: nothing to do, and the downstream run left nothing stale
        same = tick(defs, instance, LANDING_SENSOR_NAME, landing_cursor)
        assert same.run_requests == [] and "No new or changed files" in same.skip_message
        down = tick(defs, instance, DOWNSTREAM_SENSOR_NAME, downstream_cursor)
        assert down.run_requests == []
        downstream_cursor = down.cursor

        # a re-delivered file (corrected content, newer modification time)
        [orders_file] = (landing / "orders" / f"dt={REDELIVERED}").iterdir()
        redeliver_with_fewer_rows(orders_file)
        changed = tick(defs, instance, LANDING_SENSOR_NAME, landing_cursor)
        [request] = changed.run_requests
        assert request.run_key.startswith(f"landing:{REDELIVERED}:")
        assert names(request) == {"raw_orders", "customer_daily_activity"}
        execute(defs, instance, request)
        landing_cursor = changed.cursor
        down = tick(defs, instance, DOWNSTREAM_SENSOR_NAME, downstream_cursor)
        [request] = down.run_requests
        assert names(request) == DOWNSTREAM_OF_ACTIVITY | DOWNSTREAM_OF_RAW
        assert days_of(request) == (str(REDELIVERED), str(END))
        execute(defs, instance, request)
        downstream_cursor = down.cursor

        # a late file for a day 20 days back: that day, then every later day of every metric
        before = read_tables(settings)
        deliver(source_zone, landing, LATE)
        late = tick(defs, instance, LANDING_SENSOR_NAME, landing_cursor)
        [request] = late.run_requests
        loaded, stale = delivered_assets(source_zone, LATE)
        assert names(request) == loaded and days_of(request) == (str(LATE), str(LATE))
        execute(defs, instance, request)
        down = tick(defs, instance, DOWNSTREAM_SENSOR_NAME, downstream_cursor)
        [request] = down.run_requests
        assert names(request) == stale
        assert days_of(request) == (str(LATE), str(END))
        assert request.tags[TRIGGER_TAG] == "downstream"
        execute(defs, instance, request)
        assert tick(defs, instance, DOWNSTREAM_SENSOR_NAME, down.cursor).run_requests == []
        after = read_tables(settings)

    # the late day moved metric rows long after it (not only within N + P days of it)
    for table in ("lifecycle_daily", "retention_daily"):
        old, new_rows = before[table], after[table]
        moved = old.merge(new_rows, on=["as_of_date", *[c for c in ("inactivity_days", "period_days") if c in old]],
                          suffixes=("_before", "_after"))
        value = "inactive_customers" if table == "lifecycle_daily" else "churned"
        differs = moved[moved[f"{value}_before"] != moved[f"{value}_after"]]["as_of_date"]
        assert len(differs) and differs.max() == END, table
    assert not before["customers"].equals(after["customers"])

    # and the warehouse is exactly what one run over the final landing zone gives
    scratch = replace(settings, warehouse_url=f"duckdb:///{tmp_path}/scratch.duckdb")
    (tmp_path / "scratch_home").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "scratch_home")) as instance:
        materialize(scratch, instance, START, END)
    assert_same_tables(read_tables(scratch), after)


def scheduled(defs, at: datetime):
    return build_schedule_context(scheduled_execution_time=at, repository_def=defs.get_repository_def())


def test_schedule_requests_yesterdays_partition():
    defs = build_definitions(Settings(start_date=date(2026, 1, 1)))
    schedule = defs.resolve_schedule_def(SCHEDULE_NAME)
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("30 0 * * *", "UTC")
    at = datetime(2026, 3, 10, 0, 30, tzinfo=timezone.utc)
    [request] = schedule.evaluate_tick(scheduled(defs, at)).run_requests
    assert request.partition_key == "2026-03-09"
    assert request.asset_selection is None  # the whole job: raw assets and everything downstream
    assert request.run_key == "schedule:2026-03-09" and request.tags[TRIGGER_TAG] == "schedule"


def test_schedule_in_another_time_zone_still_targets_the_last_complete_utc_day():
    settings = Settings(start_date=date(2026, 1, 1), schedule_cron="15 1 * * *", schedule_timezone="Asia/Tokyo")
    defs = build_definitions(settings)
    schedule = defs.resolve_schedule_def(SCHEDULE_NAME)
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("15 1 * * *", "Asia/Tokyo")
    at = datetime(2026, 3, 10, 1, 15, tzinfo=timezone(timedelta(hours=9)))  # 2026-03-09 16:15 UTC
    [request] = schedule.evaluate_tick(scheduled(defs, at)).run_requests
    assert request.partition_key == "2026-03-08"


def test_schedule_skips_days_before_the_start_date():
    defs = build_definitions(Settings(start_date=date(2026, 6, 1)))
    schedule = defs.resolve_schedule_def(SCHEDULE_NAME)
    at = datetime(2026, 6, 1, 0, 30, tzinfo=timezone.utc)
    data = schedule.evaluate_tick(scheduled(defs, at))
    assert not data.run_requests and "REKINDLE_START_DATE" in data.skip_message


def test_duckdb_runs_are_queued_one_at_a_time_postgres_runs_side_by_side():
    duck = build_definitions(Settings())
    assert duck.resolve_job_def(DAILY_JOB_NAME).tags[WAREHOUSE_TAG] == "duckdb"
    pg = build_definitions(Settings(warehouse_url="postgresql+psycopg://u@h/db"))
    assert pg.resolve_job_def(DAILY_JOB_NAME).tags[WAREHOUSE_TAG] == "postgresql"
    for key in duck.resolve_asset_graph().get_all_asset_keys():
        assert duck.resolve_assets_def(key).op.pool == DUCKDB_POOL
        assert pg.resolve_assets_def(key).op.pool is None
        assert duck.resolve_assets_def(key).op.retry_policy == WAREHOUSE_RETRY_POLICY


def test_instance_config_queues_duckdb_runs_and_new_homes_get_it(tmp_path, monkeypatch):
    project_config = Path(__file__).parent.parent / ".dagster_home" / "dagster.yaml"
    assert project_config.read_text() == INSTANCE_CONFIG
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    home = _ensure_dagster_home()
    assert (home / "dagster.yaml").read_text() == INSTANCE_CONFIG
    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        config = instance.get_concurrency_config()
        assert config.run_queue_config.tag_concurrency_limits == [
            {"key": WAREHOUSE_TAG, "value": "duckdb", "limit": 1}
        ]
        assert (config.pool_config.pool_granularity.value, config.pool_config.default_pool_limit) == ("run", 1)
        assert instance.get_settings("telemetry") == {"enabled": False}


def test_metric_assets_declare_their_freshness():
    graph = build_definitions(Settings()).resolve_asset_graph()
    fresh = {key.to_user_string() for key in graph.get_all_asset_keys() if graph.get(key).freshness_policy}
    assert fresh == {"lifecycle_daily", "reactivation_daily", "retention_daily", "purchase_daily", "clv_daily",
                     "nps_daily", "inactive_segments"}
    policy = graph.get(AssetKey("lifecycle_daily")).freshness_policy
    assert (policy.deadline_cron, policy.lower_bound_delta, policy.timezone) == ("0 6 * * *", timedelta(hours=6), "UTC")


def test_transient_errors_are_retried_permanent_ones_fail_fast(tmp_path):
    connection = duckdb.connect(str(tmp_path / "w.duckdb"))
    with pytest.raises(duckdb.Error) as syntax:
        connection.execute("SELEC 1")
    with pytest.raises(duckdb.Error) as missing:
        connection.execute("SELECT * FROM no_such_table")
    lock = duckdb.IOException('IO Error: Could not set lock on file "w.duckdb": Conflicting lock is held')
    refused = sa.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
    assert is_transient_error(lock) and is_transient_error(refused)
    assert not is_transient_error(syntax.value) and not is_transient_error(missing.value)
    assert not is_transient_error(ValueError("bad data"))

    def raising(error):
        @fail_fast_on_permanent_errors
        def body():
            raise error
        return body

    for error in (lock, refused):
        with pytest.raises(type(error)):  # untouched: the retry policy handles it
            raising(error)()
    for error in (syntax.value, missing.value, ValueError("bad data")):
        with pytest.raises(Failure) as failure:
            raising(error)()
        assert failure.value.allow_retries is False
        assert type(error).__name__ in failure.value.description and failure.value.__cause__ is error


def test_a_permanent_error_in_a_run_fails_at_once_without_retries(tmp_path):
    settings = Settings(landing_dir=tmp_path, warehouse_url=f"duckdb:///{tmp_path}/w.duckdb", start_date=START)
    engine = sa.create_engine(settings.warehouse_url)
    with engine.begin() as conn:  # a table whose column was retyped by hand: the SQL cannot work
        conn.exec_driver_sql("CREATE SCHEMA analytics")
        conn.exec_driver_sql(
            "CREATE TABLE analytics.lifecycle_daily (as_of_date DATE, inactivity_days INTEGER, new_customers DATE, "
            "returning_customers BIGINT, reactivated_customers BIGINT, dormant_customers BIGINT, "
            "active_customers BIGINT, inactive_customers BIGINT)"
        )
    engine.dispose()
    job = build_definitions(settings).resolve_job_def(DAILY_JOB_NAME)
    (tmp_path / "home").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "home")) as instance:
        result = job.execute_in_process(
            instance=instance, asset_selection=[AssetKey("lifecycle_daily")], partition_key=str(START),
            raise_on_error=False,
        )
    assert not result.success
    kinds = [event.event_type for event in result.all_events]
    assert DagsterEventType.STEP_UP_FOR_RETRY not in kinds
    [failure] = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    assert "permanent error: not retried" in failure.step_failure_data.error.message


@pytest.fixture(scope="module")
def two_cli_runs(tmp_path_factory):
    """Two `rekindle run` processes started at once on the same DuckDB warehouse and instance."""
    root = tmp_path_factory.mktemp("cli")
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    generate_landing_zone(root / "landing", customers=100, days=10, end_date=yesterday, campaigns=False, seed=9)
    env = {
        **os.environ,
        "REKINDLE_LANDING_DIR": str(root / "landing"),
        "REKINDLE_WAREHOUSE_URL": f"duckdb:///{root}/warehouse.duckdb",
        "REKINDLE_START_DATE": str(yesterday - timedelta(days=9)),
        "REKINDLE_QUALITY_DOCS_DIR": str(root / "docs"),
        "DAGSTER_HOME": str(root / "dagster_home"),
    }
    command = [sys.executable, "-m", "pipelines.cli", "run"]
    processes = [
        subprocess.Popen(command, env=env, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    return env, [(process.returncode, output) for process, output in zip(processes, outputs, strict=True)]


def test_two_runs_at_once_against_duckdb_both_succeed(two_cli_runs):
    env, results = two_cli_runs
    for code, output in results:
        assert code == 0, output
    # one of them found the warehouse locked by the other and waited instead of failing
    assert any("Waiting for the DuckDB warehouse, locked by another process" in output for _, output in results)
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        runs = instance.get_run_records()
        assert len(runs) == 2 and all(r.dagster_run.tags[WAREHOUSE_TAG] == "duckdb" for r in runs)


def test_first_tick_after_rekindle_run_requests_nothing(two_cli_runs):
    env, _ = two_cli_runs
    defs = build_definitions(Settings.from_env(env))
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        landing = tick(defs, instance, LANDING_SENSOR_NAME, None)
        assert landing.run_requests == [] and "No new or changed files among" in landing.skip_message
        assert tick(defs, instance, DOWNSTREAM_SENSOR_NAME, None).run_requests == []
