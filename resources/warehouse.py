"""The one warehouse resource: SQLAlchemy over DuckDB (embedded default), PostgreSQL or Apache
Spark through Spark Connect (rekindle.spark, a SQLAlchemy dialect).

Every write is idempotent: a partition or date range is deleted and re-inserted inside one
transaction, so a re-run, a retry or a crash in the middle never leaves half a day behind.
Bulk loads never go row by row: DuckDB scans an Arrow table, PostgreSQL takes COPY.
"""

from __future__ import annotations

import copy
import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import psycopg
import sqlalchemy as sa
from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

from rekindle.migrations import migrate
from rekindle.sql import bulk_insert
from rekindle.settings import normalize_warehouse_url, warehouse_dialect
from rekindle.tables import build_metadata

logger = logging.getLogger(__name__)

# Worth retrying: the warehouse was unreachable, restarting, locked by another process or aborted
# the transaction (DB-API OperationalError and its kin). SQL, programming and data errors are not:
# the same statement on the same data fails the same way.
TRANSIENT_ERRORS = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.DisconnectionError,
    sa.exc.TimeoutError,
    duckdb.OperationalError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    ConnectionError,
    TimeoutError,
)


# Not worth retrying although DuckDB raises them as OperationalError (IOException, or a
# TransactionException when the commit cannot write the .wal next to the file): the warehouse file
# or its folder cannot be opened or written at all. Only the operator can fix that.
PERMANENT_DUCKDB_FILE_ERRORS = (
    "permission denied",
    "operation not permitted",
    "read-only file system",
    "not a directory",
    "no such file or directory",
    "is a directory",
    "not a valid duckdb database file",
)


def is_permanent_file_error(error: BaseException) -> bool:
    """True for a DuckDB error saying the warehouse file cannot be opened or written (see above)."""
    message = str(error).lower()
    return isinstance(error, duckdb.Error) and any(reason in message for reason in PERMANENT_DUCKDB_FILE_ERRORS)


def is_transient_error(error: BaseException | None) -> bool:
    """True when the same work may well succeed a little later: an error of the chain (SQLAlchemy
    keeps the driver's error as __cause__) is in TRANSIENT_ERRORS and none is a permanent file error."""
    chain = []
    while error is not None:
        chain.append(error)
        error = error.__cause__
    if any(is_permanent_file_error(e) for e in chain):
        return False
    return any(isinstance(e, TRANSIENT_ERRORS) for e in chain)


def is_duckdb_lock_conflict(error: BaseException) -> bool:
    return isinstance(error, duckdb.IOException) and "Could not set lock on file" in str(error)


# The embedded DuckDB's working memory; a year at scale M (1 M customers) needs 7 GiB unbounded
# and about 10% more time at this limit (BENCHMARKS.md, bench_scale).
DUCKDB_MEMORY_LIMIT = "2GB"


class WarehouseResource(ConfigurableResource):
    """The SQL warehouse that holds every Rekindle table, in schema `schema_name`."""

    url: str = Field(
        description="SQLAlchemy URL of the warehouse. Dagster shows and stores resource config: when it "
        "holds a password, pass EnvVar(\"REKINDLE_WAREHOUSE_URL\") so only the variable's name is kept.",
    )
    schema_name: str = "analytics"
    lock_timeout_seconds: float = Field(
        default=600.0,
        description="How long to wait for a DuckDB file locked by another process (another run, "
        "`rekindle run` in another terminal) before failing.",
    )

    _engine: Engine | None = PrivateAttr(default=None)
    _metadata: sa.MetaData | None = PrivateAttr(default=None)
    _log: Any = PrivateAttr(default=None)

    def setup_for_execution(self, context) -> None:
        self._log = context.log  # a wait for the DuckDB lock shows in the run's log
        # every run starts from a warehouse that has the schema and all tables
        self.ensure_tables()

    def teardown_after_execution(self, context) -> None:
        # release the DuckDB file so the next run (or a reader) can open it
        self.dispose()

    # --- connection -------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        if self._engine is None:
            # `url` may come from EnvVar (see pipelines/definitions.py) as the user typed it
            url = normalize_warehouse_url(self.url)
            if self.is_duckdb:
                path = sa.engine.make_url(url).database or ""
                if path and path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                # One pooled connection: reopening a DuckDB file per transaction costs a catalog
                # load and a checkpoint each time. DuckDB allows one writing process per file,
                # so the pool is disposed (file released) when a run or command is done.
                # DuckDB runs inside the run's process: bounded, it spills big sorts to disk instead of
                # taking 80% of RAM (a URL's ?memory_limit=... wins, as duckdb_engine applies it last)
                config = {"memory_limit": DUCKDB_MEMORY_LIMIT}
                self._engine = sa.create_engine(
                    url, poolclass=QueuePool, pool_size=1, max_overflow=4, connect_args={"config": config})
                sa.event.listen(self._engine, "do_connect", self._connect_waiting_for_lock)
            else:
                self._engine = sa.create_engine(url, pool_pre_ping=True)
        return self._engine

    def _connect_waiting_for_lock(self, dialect, connection_record, cargs, cparams):
        """Open the DuckDB file; while another process holds its lock, wait (with backoff, up to
        lock_timeout_seconds) instead of failing. The run queue keeps the daemon's runs apart,
        but `rekindle run` executes outside it."""
        log = self._log or logger
        started = time.monotonic()
        pause, next_report = 0.5, 0.0
        while True:
            try:
                # the dialect consumes its keyword arguments: each attempt gets a fresh copy
                connection = dialect.connect(*cargs, **copy.deepcopy(cparams))
            except duckdb.IOException as error:
                waited = time.monotonic() - started
                if not is_duckdb_lock_conflict(error) or waited + pause > self.lock_timeout_seconds:
                    raise
                if waited >= next_report:  # say so at once, then once a minute
                    log.warning(
                        f"Waiting for the DuckDB warehouse, locked by another process "
                        f"({waited:.0f} of {self.lock_timeout_seconds:.0f} s): {error}"
                    )
                    next_report = waited + 60
                time.sleep(pause)
                pause = min(pause * 2, 10.0)
                continue
            if next_report:
                log.warning(f"Got the DuckDB warehouse lock after {time.monotonic() - started:.0f} s")
            return connection

    @property
    def dialect(self) -> str:
        """"duckdb", "postgresql" or "spark" (rekindle.settings.warehouse_dialect)."""
        return warehouse_dialect(self.url)

    @property
    def is_duckdb(self) -> bool:
        return self.dialect == "duckdb"

    @property
    def metadata(self) -> sa.MetaData:
        if self._metadata is None:
            self._metadata = build_metadata(self.schema_name)
        return self._metadata

    def table(self, name: str) -> sa.Table:
        return self.metadata.tables[f"{self.schema_name}.{name}"]

    def qualified(self, name: str) -> str:
        prep = self.engine.dialect.identifier_preparer
        return f"{prep.quote_schema(self.schema_name)}.{prep.quote(name)}"

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection inside one transaction: committed on success, rolled back on error."""
        with self.engine.begin() as conn:
            yield conn

    def ensure_tables(self) -> None:
        """Create the schema and the missing tables, and bring tables made by an earlier release
        to the newest definitions: the pending steps of rekindle.migrations, applied once."""
        migrate(self.engine, self.metadata, log=self._log or logger)

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # --- reads ------------------------------------------------------------------------
    def read_frame(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        with self.engine.connect() as conn:
            result = conn.execute(sa.text(sql), dict(params or {}))
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

    def scalar(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), dict(params or {})).scalar()

    # --- writes -----------------------------------------------------------------------
    def bulk_insert(self, conn: Connection, table: str, frame: pd.DataFrame) -> int:
        """Append `frame` to this schema's `table` (rekindle.sql.bulk_insert)."""
        return bulk_insert(conn, self.qualified(table), frame)

    def select_where_in(
        self, conn: Connection, table: str, column: str, values, *, where: Any = None
    ) -> pd.DataFrame:
        """Rows of `table` whose `column` is one of `values` (and match `where`), however many
        values there are: they go to the database as a table to join, not as a literal list."""
        import pyarrow as pa

        t = self.table(table)
        if len(values) == 0:
            return pd.DataFrame(columns=[c.name for c in t.columns])
        name = f"rekindle_values_{uuid.uuid4().hex}"
        raw = conn.connection.driver_connection
        values = values if isinstance(values, pa.Array) else pa.array(list(values), pa.string())
        if self.is_duckdb:
            # copied into a temporary table: a registered Arrow view would stay in memory until commit
            rekindle_values = pa.table({"value": values})  # noqa: F841 (scanned by name)
            raw.execute(f"CREATE TEMPORARY TABLE {name} AS SELECT value FROM rekindle_values")
        elif self.dialect == "spark":
            raw.register_arrow(name, pa.table({"value": values}))
        else:
            conn.execute(sa.text(f"CREATE TEMPORARY TABLE {name} (value text) ON COMMIT DROP"))
            with raw.cursor() as cursor, cursor.copy(f"COPY {name} (value) FROM STDIN") as copy:
                for value in values.to_pylist():
                    copy.write_row((value,))
        try:
            matching = sa.select(sa.table(name, sa.column("value")).c.value)
            query = sa.select(t).where(t.c[column].in_(matching))
            if where is not None:
                query = query.where(where)
            result = conn.execute(query)
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        finally:
            if self.is_duckdb:
                raw.execute(f"DROP TABLE {name}")
            elif self.dialect == "spark":
                raw.unregister(name)
