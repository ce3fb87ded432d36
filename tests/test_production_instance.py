"""deploy/dagster.yaml, the production instance (docs/production.md): runs, event logs and schedule
state in PostgreSQL through dagster-postgres, credentials from the environment, the same run queue,
pools and run monitoring as the local instance. Loaded here as written, against the local server, in
a database of its own that is dropped afterwards, and a real `rekindle run` recorded in it."""

import os
import shutil
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
import yaml
from dagster import AssetKey, DagsterInstance, DagsterRunStatus

from pipelines.cli import INSTANCE_CONFIG
from pipelines.submission import LOCATION_NAME
from rekindle.generate import generate_landing_zone

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[1]
PRODUCTION_CONFIG = REPO / "deploy" / "dagster.yaml"
ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
YESTERDAY = datetime.now(timezone.utc).date() - timedelta(days=1)


def test_the_production_instance_queues_and_monitors_runs_like_the_local_one():
    production, local = yaml.safe_load(PRODUCTION_CONFIG.read_text()), yaml.safe_load(INSTANCE_CONFIG)
    for section in ("concurrency", "run_monitoring", "telemetry"):
        assert production[section] == local[section], section
    # every credential is read from the environment, none is written in the file
    postgres_db = production["storage"]["postgres"]["postgres_db"]
    for field in ("username", "password", "hostname", "db_name", "port"):
        assert set(postgres_db[field]) == {"env"}, field


@pytest.fixture
def dagster_database(postgres_server):
    """A database of its own for Dagster's tables, dropped with everything in it afterwards."""
    name = f"rekindle_dagster_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
def test_a_rekindle_run_is_recorded_in_postgresql(dagster_database, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PRODUCTION_CONFIG, home / "dagster.yaml")
    credentials = {
        "DAGSTER_PG_USERNAME": "postgres",
        "DAGSTER_PG_PASSWORD": "",  # the local server trusts local connections
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": "5432",
        "DAGSTER_PG_DB": dagster_database,
    }
    generate_landing_zone(tmp_path / "landing", customers=60, days=3, end_date=YESTERDAY, campaigns=False,
                          surveys=False, seed=4)
    env = {
        **os.environ,
        **credentials,
        "GX_ANALYTICS_ENABLED": "False",
        "DAGSTER_HOME": str(home),
        "REKINDLE_LANDING_DIR": str(tmp_path / "landing"),
        "REKINDLE_WAREHOUSE_URL": f"duckdb:///{tmp_path}/warehouse.duckdb",
        "REKINDLE_START_DATE": (YESTERDAY - timedelta(days=2)).isoformat(),
        "REKINDLE_QUALITY_DOCS_DIR": str(tmp_path / "docs"),
    }
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "run"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr

    for key, value in credentials.items():
        monkeypatch.setenv(key, value)
    with DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        [record] = instance.get_run_records()
        run = record.dagster_run
        assert run.status == DagsterRunStatus.SUCCESS
        assert run.remote_job_origin.location_name == LOCATION_NAME
        assert instance.get_materialized_partitions(AssetKey("reactivation_daily")) == {
            (YESTERDAY - timedelta(days=n)).isoformat() for n in range(3)
        }
        assert instance.run_coordinator.__class__.__name__ == "QueuedRunCoordinator"
    # the rows are in that database, not in a file under DAGSTER_HOME
    with psycopg.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={dagster_database}") as db:
        assert db.execute("SELECT run_id, status FROM runs").fetchall() == [(run.run_id, "SUCCESS")]
        assert db.execute("SELECT COUNT(*) FROM event_logs WHERE run_id = %s", [run.run_id]).fetchone()[0] > 50
        # the daemon keeps schedule and sensor state here: the table exists and takes rows
        assert db.execute("SELECT COUNT(*) FROM instigators").fetchone()[0] == 0
    assert not list(home.rglob("*.db"))  # no SQLite storage beside it (only the steps' captured logs)

    shown = subprocess.run([sys.executable, "-m", "pipelines.cli", "status"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert f"Latest run {run.run_id} (rekindle_daily): SUCCESS" in shown.stdout
