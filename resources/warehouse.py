"""The one warehouse resource: SQLAlchemy over DuckDB (embedded default) or PostgreSQL.

Every write is idempotent: a partition or date range is deleted and re-inserted inside one
transaction, so a re-run, a retry or a crash in the middle never leaves half a day behind.
Bulk loads never go row by row: DuckDB scans an Arrow table, PostgreSQL takes COPY.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from dagster import ConfigurableResource
from pydantic import PrivateAttr
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

from rekindle.tables import build_metadata


class WarehouseResource(ConfigurableResource):
    """The SQL warehouse that holds every Rekindle table, in schema `schema_name`."""

    url: str
    schema_name: str = "analytics"

    _engine: Engine | None = PrivateAttr(default=None)
    _metadata: sa.MetaData | None = PrivateAttr(default=None)

    def setup_for_execution(self, context) -> None:
        # every run starts from a warehouse that has the schema and all tables
        self.ensure_tables()

    def teardown_after_execution(self, context) -> None:
        # release the DuckDB file so the next run (or a reader) can open it
        self.dispose()

    # --- connection -------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        if self._engine is None:
            if self.is_duckdb:
                path = self.url.split("///", 1)[1] if "///" in self.url else ""
                if path and path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                # One pooled connection: reopening a DuckDB file per transaction costs a catalog
                # load and a checkpoint each time. DuckDB allows one writing process per file,
                # so the pool is disposed (file released) when a run or command is done.
                self._engine = sa.create_engine(self.url, poolclass=QueuePool, pool_size=1, max_overflow=4)
            else:
                self._engine = sa.create_engine(self.url, pool_pre_ping=True)
        return self._engine

    @property
    def is_duckdb(self) -> bool:
        return self.url.startswith("duckdb")

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
        with self.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {self.engine.dialect.identifier_preparer.quote_schema(self.schema_name)}"))
            self.metadata.create_all(conn, checkfirst=True)

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
    def replace_rows(
        self,
        conn: Connection,
        table: str,
        frame: pd.DataFrame,
        *,
        date_column: str,
        start: date,
        end: date,
        match: Mapping[str, Any] | None = None,
    ) -> int:
        """Delete `table` rows whose `date_column` is in [start, end] (and equal `match`),
        then bulk-insert `frame`. Call inside `begin()` so both happen atomically."""
        t = self.table(table)
        condition = t.c[date_column].between(start, end)
        for column, value in (match or {}).items():
            condition = condition & (t.c[column] == value)
        conn.execute(t.delete().where(condition))
        return self.bulk_insert(conn, table, frame)

    def bulk_insert(self, conn: Connection, table: str, frame: pd.DataFrame) -> int:
        if frame.empty:
            return 0
        prep = conn.dialect.identifier_preparer
        columns = ", ".join(prep.quote(c) for c in frame.columns)
        raw = conn.connection.driver_connection
        if self.is_duckdb:
            import pyarrow as pa

            view = f"rekindle_load_{uuid.uuid4().hex}"
            raw.register(view, pa.Table.from_pandas(frame, preserve_index=False))
            try:
                raw.execute(f"INSERT INTO {self.qualified(table)} ({columns}) SELECT {columns} FROM {view}")
            finally:
                raw.unregister(view)
        else:
            buffer = io.StringIO()
            frame.to_csv(buffer, index=False, header=False, na_rep=r"\N")
            with raw.cursor() as cursor:
                with cursor.copy(
                    f"COPY {self.qualified(table)} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
                ) as copy:
                    copy.write(buffer.getvalue())
        return len(frame)
