"""Shared fixtures: an empty Rekindle warehouse on DuckDB (a temporary file) or on PostgreSQL
(a fresh schema in database `test` on 127.0.0.1:5432, dropped again afterwards).

The PostgreSQL fixture never skips: when the server does not answer it is started with
pg_ctlcluster, and the test fails loudly when that does not help.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from pg_schemas import drop_schema

from resources.warehouse import WarehouseResource

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"


def _pg_error() -> str | None:
    """None when the server accepts a connection, otherwise the error text."""
    try:
        psycopg.connect(PG_DSN).close()
        return None
    except psycopg.OperationalError as exc:
        return str(exc).strip()


def _start_postgres() -> str:
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions:
        return "no cluster under /etc/postgresql"
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    return f"$ {' '.join(command)} -> exit {done.returncode}\n{done.stdout}{done.stderr}"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """Make sure PostgreSQL on 127.0.0.1:5432 answers; start it if needed, else fail."""
    error = _pg_error()
    if error is None:
        return PG_URL
    start_log = _start_postgres()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        error = _pg_error()
        if error is None:
            return PG_URL
        time.sleep(0.5)
    pytest.fail(
        f"PostgreSQL on 127.0.0.1:5432 is down and could not be started.\n"
        f"last connection error: {error}\nstart attempt: {start_log}",
        pytrace=False,
    )


SPARK_URL = "sc://127.0.0.1:15002"


@pytest.fixture(scope="session")
def spark_server(tmp_path_factory) -> Iterator[str]:
    """A Spark Connect server on 127.0.0.1:15002: the one running (`make spark`), or one started
    for the session (its metastore and tables in a temporary folder) and stopped afterwards."""
    from pipelines import spark_server

    if spark_server.is_listening():
        yield SPARK_URL
        return
    state = tmp_path_factory.mktemp("spark")
    spark_server.start(state)
    try:
        yield SPARK_URL
    finally:
        spark_server.stop(state)


@pytest.fixture
def spark_warehouse(spark_server: str) -> Iterator[WarehouseResource]:
    """An empty Rekindle warehouse in a fresh Spark database, dropped afterwards."""
    schema = f"rk_test_{uuid.uuid4().hex[:10]}"
    warehouse = WarehouseResource(url=spark_server, schema_name=schema)
    warehouse.ensure_tables()
    yield warehouse
    drop_spark_database(warehouse)


def drop_spark_database(warehouse: WarehouseResource) -> None:
    with warehouse.begin() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {warehouse.schema_name} CASCADE")
    warehouse.dispose()


@pytest.fixture
def duckdb_warehouse(tmp_path) -> Iterator[WarehouseResource]:
    warehouse = WarehouseResource(url=f"duckdb:///{tmp_path}/w.duckdb", schema_name="analytics")
    warehouse.ensure_tables()
    try:
        yield warehouse
    finally:
        warehouse.dispose()  # releases the pooled DuckDB connection(s) and the file


@pytest.fixture
def postgres_warehouse(postgres_server: str) -> Iterator[WarehouseResource]:
    schema = f"rekindle_test_{uuid.uuid4().hex[:12]}"
    warehouse = WarehouseResource(url=postgres_server, schema_name=schema)
    try:
        warehouse.ensure_tables()
        yield warehouse
    finally:
        warehouse.dispose()
        drop_schema(postgres_server, schema)


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request) -> WarehouseResource:
    """The same test on both warehouses."""
    return request.getfixturevalue(f"{request.param}_warehouse")
