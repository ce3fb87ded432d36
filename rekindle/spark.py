"""Apache Spark through Spark Connect as a SQLAlchemy dialect: `sc://HOST:PORT` opens it.

Rekindle's SQL is one text for every engine (rekindle.sql). This module is what Spark needs to
run it, so nothing else in Rekindle knows that Spark is there:

- a DB-API driver over a Spark Connect session: bound values go to Spark as its own named
  parameters (`:name`), results come back as Arrow;
- session settings that make Spark read the SQL as DuckDB and PostgreSQL do (double-quoted
  identifiers, UTC), `generate_series` as a SQL table function (Spark has `sequence`), and
  the few phrases Spark spells its own way (SPARK_SPELLINGS: DOUBLE PRECISION, VARCHAR...);
- DELETE, which plain Parquet tables lack: the partitions a DELETE touches are dropped and the
  rows they keep put back (`_delete`), so `rekindle.sql.replace_rows` works unchanged;
- CREATE TABLE as Parquet, partitioned by the day column of the tables written by day
  (rekindle.tables.DAILY_PARTITION_COLUMNS).

Spark has no transactions: commit and rollback do nothing. A write that fails half-way leaves
its days half-written until they are run again; every write replaces whole days, so the re-run
repairs them (SPEC 4: re-running any partition gives the same rows).
"""

from __future__ import annotations

import logging
import re
import uuid
import warnings
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import types as sqltypes
from sqlalchemy.engine import default
from sqlalchemy.sql.compiler import DDLCompiler, GenericTypeCompiler

# --- DB-API 2.0 ---------------------------------------------------------------------------

apilevel = "2.0"
threadsafety = 1
paramstyle = "named"


class Error(Exception):
    pass


class Warning(Exception):  # noqa: A001 (the DB-API name)
    pass


class InterfaceError(Error):
    pass


class DatabaseError(Error):
    pass


class DataError(DatabaseError):
    pass


class OperationalError(DatabaseError):
    pass


class IntegrityError(DatabaseError):
    pass


class InternalError(DatabaseError):
    pass


class ProgrammingError(DatabaseError):
    pass


class NotSupportedError(DatabaseError):
    pass


# What Spark needs to read Rekindle's SQL as DuckDB and PostgreSQL do, set on every session.
SESSION_CONF = {
    "spark.sql.ansi.doubleQuotedIdentifiers": "true",  # "group" is a column, not a string
    "spark.sql.session.timeZone": "UTC",  # days are UTC days
    # a Hive metastore may fail to filter partitions by date (Derby, the local server's, does for
    # a year of days): Spark then lists the table's partitions and filters them itself
    "spark.sql.hive.metastorePartitionPruningFallbackOnException": "true",
}
# generate_series(first, last) as DuckDB and PostgreSQL have it (nothing when last < first;
# Spark's sequence would count down)
GENERATE_SERIES = """
CREATE OR REPLACE TEMPORARY FUNCTION generate_series(first BIGINT, last BIGINT)
RETURNS TABLE (generate_series BIGINT)
RETURN SELECT explode(IF(last >= first, sequence(first, last), CAST(array() AS ARRAY<BIGINT>)))
"""
# What DuckDB and PostgreSQL both spell one way and Spark another: the SQL-standard type names
# (Spark's VARCHAR needs a length), byte order of text (PostgreSQL must be told; Spark's default)
SPARK_SPELLINGS = {
    "DOUBLE PRECISION": "DOUBLE",
    " AS VARCHAR)": " AS STRING)",
    'COLLATE "C"': "COLLATE UTF8_BINARY",
}
# Arrow bytes sent to Spark per INSERT of a bulk load (see Connection.insert_arrow)
INSERT_SLICE_BYTES = 64 * 2**20
_LEADING_COMMENTS = r"(?:\s*--[^\n]*\n|\s*/\*.*?\*/)*"
_QUERY = re.compile(_LEADING_COMMENTS + r"\s*(\(|SELECT\b|WITH\b|VALUES\b|SHOW\b|DESCRIBE\b|TABLE\b)", re.I | re.S)
_DELETE = re.compile(_LEADING_COMMENTS + r"\s*DELETE\s+FROM\s+(?P<table>\S+)(?:\s+WHERE\s+(?P<where>.*?))?\s*", re.I | re.S)


# The table formats Rekindle creates its tables in (sc://host:port/;table_format=delta). Parquet
# is what every Spark has, and what is tested here; Delta and Iceberg, where the cluster has them,
# add ACID writes: DELETE is then Spark's own, not the partition replacement of Cursor._delete.
TABLE_FORMATS = ("parquet", "delta", "iceberg")


def connect(remote: str, table_format: str = "parquet") -> Connection:
    # pyspark logs every failed statement with its JVM stack trace; the error itself says enough
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            # pyspark 4 warns that it was built against pandas 2; its Connect client, all that is
            # used here, passes the parity test on pandas 3 (tests/test_spark.py)
            warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
            from pyspark.sql import SparkSession

            session = SparkSession.builder.remote(remote).create()
        session.client.set_retry_policies([_connection_retries()])
        for key, value in SESSION_CONF.items():
            session.conf.set(key, value)
        session.sql(GENERATE_SERIES)
    except Exception as error:
        raise _driver_error(error) from error
    return Connection(session, table_format)


def _connection_retries():
    """Spark Connect's client retries an unreachable server for 10 minutes by default, silently;
    here six times over about a minute (backoff 0.05 .. 10 s, plus each attempt's connect
    timeout), then the error is an OperationalError, which the step's retry policy retries
    (resources.warehouse.TRANSIENT_ERRORS) and says so in the run's log."""
    from pyspark.sql.connect.client.retries import DefaultPolicy

    return DefaultPolicy(max_retries=6, max_backoff=10_000)


class Connection:
    def __init__(self, session, table_format: str = "parquet"):
        self.session = session
        self.table_format = table_format
        self._partition_columns: dict[str, str | None] = {}

    def cursor(self) -> Cursor:
        return Cursor(self)

    def commit(self) -> None:
        """Nothing to commit: every statement took effect when it ran (see the module docstring)."""

    def rollback(self) -> None:
        """Nothing to roll back (see the module docstring)."""

    def close(self) -> None:
        try:
            self.session.stop()
        except Exception:  # the server may be gone already
            pass

    def insert_arrow(self, table: str, columns: str, frame) -> None:
        """INSERT INTO `table` (`columns`) the rows of a pandas frame, sent to Spark as Arrow in
        slices of about INSERT_SLICE_BYTES: the driver holds a slice as one local relation (a year
        of events in one, 4 M rows, ran a 6 GiB driver out of heap)."""
        import pyarrow as pa

        rows = pa.Table.from_pandas(frame, preserve_index=False)
        per_slice = max(1, INSERT_SLICE_BYTES * rows.num_rows // max(rows.nbytes, 1))
        view = f"rekindle_load_{uuid.uuid4().hex}"
        try:
            for offset in range(0, rows.num_rows, per_slice):
                self.session.createDataFrame(rows.slice(offset, per_slice)).createOrReplaceTempView(view)
                self.session.sql(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {view}").collect()
            self.session.catalog.dropTempView(view)
        except Error:
            raise
        except Exception as error:
            raise _driver_error(error) from error

    def register_arrow(self, name: str, table) -> None:
        """`table` (Arrow) as the temporary view `name` of this session."""
        self.session.createDataFrame(table).createOrReplaceTempView(name)

    def unregister(self, name: str) -> None:
        self.session.catalog.dropTempView(name)

    def partition_column(self, table: str) -> str | None:
        """The column `table` is partitioned by, None when it is not."""
        if table not in self._partition_columns:
            columns = self.session.catalog.listColumns(_unquoted(table))
            self._partition_columns[table] = next((c.name for c in columns if c.isPartition), None)
        return self._partition_columns[table]


class Cursor:
    arraysize = 1000

    def __init__(self, connection: Connection):
        self.connection = connection
        self.description: list[tuple] | None = None
        self.rowcount = -1
        self._rows: list[tuple] = []

    def execute(self, operation: str, parameters: Mapping[str, Any] | None = None) -> None:
        sql = operation
        for standard, spark in SPARK_SPELLINGS.items():
            sql = sql.replace(standard, spark)
        args = dict(parameters) if parameters else None
        self.description, self._rows, self.rowcount = None, [], -1
        try:
            delete = _DELETE.fullmatch(sql) if self.connection.table_format == "parquet" else None
            if delete:
                self.rowcount = self._delete(delete["table"], delete["where"], args)
                return
            result = self.connection.session.sql(sql, args=args)
            if _QUERY.match(sql):
                self._set_result(result.toArrow())
            else:
                result.collect()  # a command ran when submitted; this waits for its (empty) answer
        except Error:
            raise
        except Exception as error:
            raise _driver_error(error) from error

    def executemany(self, operation: str, seq_of_parameters: Sequence[Mapping[str, Any]]) -> None:
        for parameters in seq_of_parameters:
            self.execute(operation, parameters)

    def fetchone(self):
        return self._rows.pop(0) if self._rows else None

    def fetchmany(self, size: int | None = None):
        size = size or self.arraysize
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    def fetchall(self):
        rows, self._rows = self._rows, []
        return rows

    def close(self) -> None:
        self._rows = []

    def _set_result(self, table) -> None:
        import pyarrow as pa

        columns = []
        for column in table.columns:
            if pa.types.is_timestamp(column.type) and column.type.tz is not None:
                column = column.cast(pa.timestamp(column.type.unit))  # naive UTC, as everywhere here
            columns.append(column.to_pylist())
        self.description = [(name, None, None, None, None, None, None) for name in table.column_names]
        self._rows = list(zip(*columns)) if columns else []
        self.rowcount = table.num_rows

    def _delete(self, table: str, where: str | None, args: dict | None) -> int:
        """DELETE FROM `table` [WHERE `where`] on a Parquet table: drop the partitions holding rows
        to delete and put back the rows they keep (a snapshot table, unpartitioned, is rewritten
        whole). The rows kept are copied to a staging table first: Spark cannot overwrite a
        table from a query that reads it."""
        session = self.connection.session
        if where is None:
            session.sql(f"TRUNCATE TABLE {table}").collect()
            return -1
        kept = f"NOT COALESCE(({where}), FALSE)"
        column = self.connection.partition_column(table)
        if column is None:
            stage = self._stage(table, f"SELECT * FROM {table} WHERE {kept}", args)
            session.sql(f"INSERT OVERWRITE TABLE {table} SELECT * FROM {stage}").collect()
            session.sql(f"DROP TABLE {stage}").collect()
            return -1
        days = [row[0] for row in session.sql(
            f"SELECT DISTINCT {column} FROM {table} WHERE {where}", args=args).collect()]
        if not days:
            return 0
        in_days = f"{column} IN ({', '.join(_literal(day) for day in days)})"
        keeps_rows = session.sql(f"SELECT 1 FROM {table} WHERE {in_days} AND {kept} LIMIT 1", args=args).collect()
        stage = self._stage(table, f"SELECT * FROM {table} WHERE {in_days} AND {kept}", args) if keeps_rows else None
        partitions = ", ".join(f"PARTITION ({column} = {_literal(day)})" for day in days)
        session.sql(f"ALTER TABLE {table} DROP IF EXISTS {partitions}").collect()
        if stage:
            session.sql(f"INSERT INTO {table} SELECT * FROM {stage}").collect()
            session.sql(f"DROP TABLE {stage}").collect()
        return -1

    def _stage(self, table: str, query: str, args: dict | None) -> str:
        schema = table.rsplit(".", 1)[0] if "." in table else "default"
        stage = f"{schema}.rekindle_stage_{uuid.uuid4().hex}"
        self.connection.session.sql(f"CREATE TABLE {stage} USING parquet AS {query}", args=args).collect()
        return stage


def _literal(value: Any) -> str:
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _unquoted(name: str) -> str:
    return ".".join(part.strip('"`') for part in name.split("."))


def _driver_error(error: Exception) -> Error:
    """The DB-API error for a pyspark one: OperationalError (worth retrying, see
    resources.warehouse.TRANSIENT_ERRORS) when the server could not be reached."""
    from pyspark.errors import AnalysisException, ArithmeticException, NumberFormatException

    message = str(error).split("\n\nJVM stacktrace:")[0].strip()
    if isinstance(error, AnalysisException):
        return ProgrammingError(message)
    if isinstance(error, ArithmeticException | NumberFormatException):
        return DataError(message)
    if any(word in message for word in ("UNAVAILABLE", "Connection refused", "failed to connect")):
        return OperationalError(f"Spark Connect server unreachable: {message}")
    return DatabaseError(message)


# --- SQLAlchemy dialect -------------------------------------------------------------------


class SparkTypeCompiler(GenericTypeCompiler):
    def visit_VARCHAR(self, type_, **kw):
        return "STRING"

    visit_CHAR = visit_NVARCHAR = visit_NCHAR = visit_TEXT = visit_CLOB = visit_VARCHAR

    def visit_DOUBLE(self, type_, **kw):
        return "DOUBLE"

    visit_DOUBLE_PRECISION = visit_FLOAT = visit_REAL = visit_DOUBLE

    def visit_DATETIME(self, type_, **kw):
        return "TIMESTAMP_NTZ"  # naive UTC, like every timestamp here

    visit_TIMESTAMP = visit_DATETIME

    def visit_NUMERIC(self, type_, **kw):
        return f"DECIMAL({type_.precision or 18}, {type_.scale or 0})"

    visit_DECIMAL = visit_NUMERIC

    def visit_INTEGER(self, type_, **kw):
        return "INT"


class SparkDDLCompiler(DDLCompiler):
    def get_column_specification(self, column, **kw):
        spec = f"{self.preparer.format_column(column)} {self.type_compiler.process(column.type, type_expression=column)}"
        if not column.nullable:
            spec += " NOT NULL"
        if column.comment:
            spec += f" COMMENT {_literal(column.comment)}"
        return spec

    def post_create_table(self, table):
        clauses = [f"\nUSING {self.dialect.table_format}"]
        if table.info.get("partitioned_by"):
            clauses.append(f"PARTITIONED BY ({self.preparer.quote(table.info['partitioned_by'])})")
        if table.comment:
            clauses.append(f"COMMENT {_literal(table.comment)}")
        return "\n".join(clauses)

    def visit_primary_key_constraint(self, constraint, **kw):
        return None  # Spark keeps no keys; the grain is checked after each write (quality suites)

    def visit_set_column_comment(self, create, **kw):
        column = create.element
        return (f"ALTER TABLE {self.preparer.format_table(column.table)} ALTER COLUMN "
                f"{self.preparer.format_column(column)} COMMENT {_literal(column.comment or '')}")


class SparkConnectDialect(default.DefaultDialect):
    name = "spark"
    driver = "connect"
    supports_statement_cache = True
    default_paramstyle = "named"
    supports_native_decimal = True
    supports_native_boolean = True
    supports_comments = True
    inline_comments = True
    supports_sane_rowcount = False
    supports_sane_multi_rowcount = False
    supports_default_values = False
    supports_empty_insert = False
    supports_multivalues_insert = True
    postfetch_lastrowid = False
    type_compiler_cls = SparkTypeCompiler
    ddl_compiler = SparkDDLCompiler

    @classmethod
    def import_dbapi(cls):
        import rekindle.spark

        return rekindle.spark

    table_format = "parquet"

    def create_connect_args(self, url):
        # sc://host:port/;token=...;use_ssl=true: what follows the slash is Spark Connect's own,
        # but for table_format=delta|iceberg, which is Rekindle's (TABLE_FORMATS)
        remote = f"sc://{url.host}:{url.port or 15002}"
        options = [option for option in (url.database or "").split(";") if option]
        for option in list(options):
            key, _, value = option.partition("=")
            if key == "table_format":
                if value not in TABLE_FORMATS:
                    raise ValueError(f"table_format={value}: expected one of {', '.join(TABLE_FORMATS)}")
                self.table_format = value
                options.remove(option)
        if options:
            remote += "/;" + ";".join(options)
        return [remote], {"table_format": self.table_format}

    def do_rollback(self, dbapi_connection):
        pass

    def do_commit(self, dbapi_connection):
        pass

    def do_ping(self, dbapi_connection):
        dbapi_connection.session.sql("SELECT 1").collect()
        return True

    def get_isolation_level(self, dbapi_connection):
        return None

    def get_default_isolation_level(self, dbapi_conn):
        return None

    def _get_server_version_info(self, connection):
        version = self._session(connection).version
        return tuple(int(part) for part in re.findall(r"\d+", version)[:3])

    def _get_default_schema_name(self, connection):
        return "default"

    @staticmethod
    def _session(connection):
        return connection.connection.driver_connection.session

    def has_schema(self, connection, schema_name, **kw):
        return self._session(connection).catalog.databaseExists(schema_name)

    def has_table(self, connection, table_name, schema=None, **kw):
        name = f"{schema}.{table_name}" if schema else table_name
        return self._session(connection).catalog.tableExists(name)

    def get_schema_names(self, connection, **kw):
        return [database.name for database in self._session(connection).catalog.listDatabases()]

    def get_table_names(self, connection, schema=None, **kw):
        tables = self._session(connection).catalog.listTables(schema or "default")
        return [t.name for t in tables if not t.isTemporary and t.tableType != "VIEW"]

    def get_view_names(self, connection, schema=None, **kw):
        tables = self._session(connection).catalog.listTables(schema or "default")
        return [t.name for t in tables if t.tableType == "VIEW"]

    def get_columns(self, connection, table_name, schema=None, **kw):
        name = f"{schema}.{table_name}" if schema else table_name
        return [
            {"name": c.name, "type": sqltypes.NullType(), "nullable": c.nullable, "default": None,
             "comment": c.description}
            for c in self._session(connection).catalog.listColumns(name)
        ]

    def get_pk_constraint(self, connection, table_name, schema=None, **kw):
        return {"constrained_columns": [], "name": None}

    def get_foreign_keys(self, connection, table_name, schema=None, **kw):
        return []

    def get_indexes(self, connection, table_name, schema=None, **kw):
        return []

    def get_unique_constraints(self, connection, table_name, schema=None, **kw):
        return []
