"""`rekindle run` records a run of the code location `rekindle`, as a launched run is recorded, and
`rekindle status` shows where things stand without running anything. One real small run, as an
operator starts it: its own landing zone, DuckDB file and Dagster instance in a temporary folder."""

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
from dagster import AssetCheckSeverity, AssetKey, DagsterInstance, DagsterRunStatus
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluation
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster_graphql.test.utils import execute_dagster_graphql

from pipelines.cli import main
from pipelines.jobs import DAILY_JOB_NAME, WAREHOUSE_TAG
from pipelines.run_health import HOST_TAG, PID_TAG
from pipelines.submission import LOCATION_NAME, WORKSPACE_FILE, workspace_location_origin
from rekindle.generate import generate_landing_zone

YESTERDAY = datetime.now(timezone.utc).date() - timedelta(days=1)
DAYS = 8
START = YESTERDAY - timedelta(days=DAYS - 1)
DAILY_TABLES = ("raw_orders", "raw_events", "customer_daily_activity", "lifecycle_daily", "reactivation_daily")


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("operator")
    generate_landing_zone(root / "landing", customers=150, days=DAYS, end_date=YESTERDAY, campaigns=False, seed=5)
    env = {
        **os.environ,
        "GX_ANALYTICS_ENABLED": "False",
        "REKINDLE_LANDING_DIR": str(root / "landing"),
        "REKINDLE_WAREHOUSE_URL": f"duckdb:///{root}/warehouse.duckdb",
        "REKINDLE_START_DATE": START.isoformat(),
        "REKINDLE_QUALITY_DOCS_DIR": str(root / "docs"),
        "DAGSTER_HOME": str(root / "dagster_home"),
    }
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "run"], env=env, cwd=root,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return env, root, done


def status(env: dict[str, str], root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "status"], env=env, cwd=root,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_the_run_is_recorded_as_a_run_of_the_code_location(cli_run):
    env, _, done = cli_run
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        [record] = instance.get_run_records()
    run = record.dagster_run
    assert f"Run {run.run_id}: succeeded" in done.stdout
    assert run.status == DagsterRunStatus.SUCCESS and run.job_name == DAILY_JOB_NAME
    # the origin `dagster job launch -w workspace.yaml` would record, and the code to run it again
    assert run.remote_job_origin is not None
    assert run.remote_job_origin.repository_origin.code_location_origin == workspace_location_origin()
    assert run.remote_job_origin.location_name == LOCATION_NAME
    assert run.job_code_origin.job_name == DAILY_JOB_NAME
    # still executed by the command's own process, for the whole range, tagged as before
    tags = run.tags
    assert tags[PID_TAG].isdigit() and HOST_TAG in tags and tags[WAREHOUSE_TAG] == "duckdb"
    assert tags["dagster/asset_partition_range_start"] == START.isoformat()
    assert tags["dagster/asset_partition_range_end"] == YESTERDAY.isoformat()
    # one progress line per step, as before
    assert "  ✓ reactivation_daily (" in done.stdout and "    check raw_orders:contract passed" in done.stdout


@pytest.mark.slow
def test_the_ui_files_the_run_under_the_workspace_job_with_the_same_snapshot(cli_run, monkeypatch):
    """What the UI's run page asks (GraphQL, through the workspace.yaml code location as the webserver
    loads it): the run's location, repository and job snapshot match the loaded job's, so the run is
    on the Overview timeline and Re-execute carries no "may be a different version" warning."""
    env, _, _ = cli_run
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # the code server starts from this environment, as under `make ui`
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        [record] = instance.get_run_records()
        target = WorkspaceFileTarget(paths=[str(WORKSPACE_FILE)])
        with WorkspaceProcessContext(instance, target) as workspace:
            context = workspace.create_request_context()
            run = execute_dagster_graphql(context, """query ($runId: ID!) { runOrError(runId: $runId) {
                ... on Run { pipelineSnapshotId repositoryOrigin { repositoryLocationName repositoryName } } } }""",
                {"runId": record.dagster_run.run_id}).data["runOrError"]
            origin = run["repositoryOrigin"]
            assert origin["repositoryLocationName"] == LOCATION_NAME
            job = execute_dagster_graphql(context, """query ($selector: PipelineSelector!) {
                pipelineOrError(params: $selector) { __typename ... on Pipeline { pipelineSnapshotId } } }""",
                {"selector": {"repositoryLocationName": origin["repositoryLocationName"],
                              "repositoryName": origin["repositoryName"], "pipelineName": DAILY_JOB_NAME}},
            ).data["pipelineOrError"]
    assert job["__typename"] == "Pipeline"
    assert run["pipelineSnapshotId"] == job["pipelineSnapshotId"]


@pytest.mark.slow
def test_status_shows_metrics_partitions_failed_checks_and_quarantine(cli_run):
    env, root, _ = cli_run
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        # a failed evaluation after the run's, as a later run would leave it
        instance.report_runless_asset_event(AssetCheckEvaluation(
            asset_key=AssetKey("raw_orders"), check_name="contract", passed=False, severity=AssetCheckSeverity.ERROR,
            description="ERROR amount_at_least_0: 3 rows (1.0%) in orders/dt=x/a.csv\nsecond line, not shown",
            metadata={},
        ))
        done = status(env, root)
        assert done.returncode == 0, done.stdout + done.stderr
        assert instance.get_runs_count() == 1  # nothing was run
    out = done.stdout
    assert f"Latest metrics as of {YESTERDAY} (inactive = no activity for 30+ days)" in out
    assert "reactivated" in out and "react. rate" in out
    lines = out.splitlines()
    for table in DAILY_TABLES:  # the latest day, and every day of the range materialized
        [line] = [line for line in lines if line.startswith(f"  {table} ")]
        assert f" {YESTERDAY} " in line and f" {DAYS}/{DAYS} " in line, line
    assert ("  ✗ raw_orders:contract (ERROR, " in out
            and "): ERROR amount_at_least_0: 3 rows (1.0%) in orders/dt=x/a.csv" in out)
    assert "second line" not in out
    # the quarantine of the last 7 days, by source and reason, as the warehouse holds it
    first = YESTERDAY - timedelta(days=6)
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as db:
        counts = db.execute(
            "SELECT source, COUNT(*) FROM analytics.quarantine WHERE partition_date BETWEEN ? AND ? "
            "GROUP BY source", [first, YESTERDAY],
        ).fetchall()
    assert counts, "the sample data has dirty rows every week"
    assert f"Quarantine, last 7 days ({first} .. {YESTERDAY}): {sum(n for _, n in counts):,} rows" in out
    for source, n in counts:
        assert any(line.split()[:2] == [source, f"{n:,}"] for line in lines), (source, n)


@pytest.mark.slow
def test_status_beside_a_writer_names_the_process_holding_the_duckdb_file(cli_run):
    env, root, _ = cli_run
    writer = duckdb.connect(str(root / "warehouse.duckdb"))  # as a run holds it
    try:
        done = status(env, root)
    finally:
        writer.close()
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"The DuckDB warehouse is open for writing by process {os.getpid()}" in done.stdout
    assert "Quarantine: not shown" in done.stdout
    assert "  raw_orders " in done.stdout  # what the instance knows is still shown


def test_status_before_any_run_exits_2_with_a_hint(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "no_home"))
    monkeypatch.setenv("REKINDLE_WAREHOUSE_URL", f"duckdb:///{tmp_path}/warehouse.duckdb")
    assert main(["status"]) == 2
    assert "no Dagster instance in" in capsys.readouterr().err

    (tmp_path / "no_home").mkdir()
    (tmp_path / "no_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    assert main(["status"]) == 2
    error = capsys.readouterr().err
    assert "no warehouse yet" in error and "run `rekindle run`" in error
    assert not (tmp_path / "warehouse.duckdb").exists()  # status creates nothing
