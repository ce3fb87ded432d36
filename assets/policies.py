"""How every asset runs against the warehouse, decided once for all of them (`warehouse_asset`):

- retried with exponential backoff when the warehouse is briefly unavailable (connection refused,
  server restarting, DuckDB file still locked after the resource's wait): WAREHOUSE_RETRY_POLICY;
- failed at once, with the cause, when retrying cannot help (SQL, programming or data errors):
  dagster.Failure(allow_retries=False);
- on DuckDB, in the `duckdb_warehouse` pool. The instance (.dagster_home/dagster.yaml) limits
  pools to one run at a time (`granularity: run`), so a second run that writes the DuckDB file
  waits in the queue however it was launched, ad-hoc materializations from the UI included;
- described in the catalog the same way (`catalog_metadata`): owners, a link to its code, and for
  an asset that is a warehouse table (named as in rekindle.tables, as every table asset is) its
  table name and column schema, each column with its description from rekindle.tables.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from dagster import (
    Backoff,
    CodeReferencesMetadataValue,
    Failure,
    FreshnessPolicy,
    Jitter,
    LocalFileCodeReference,
    RetryPolicy,
    RetryRequested,
    TableColumn,
    TableColumnConstraints,
    TableConstraints,
    TableSchema,
    asset,
)
from sqlalchemy.dialects import postgresql

from rekindle import sources, tables
from rekindle.settings import Settings
from resources.warehouse import is_transient_error

# 15 s, 30 s, 60 s (each +/- jitter): rides out a database restart or a lock held past the wait.
WAREHOUSE_RETRY_POLICY = RetryPolicy(max_retries=3, delay=15, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)

DUCKDB_POOL = "duckdb_warehouse"


def warehouse_pool(settings: Settings) -> str | None:
    """The pool of a step that opens the warehouse: DuckDB's file takes one process at a time."""
    return DUCKDB_POOL if settings.is_duckdb else None

# Yesterday's numbers by 06:00 UTC: the daily schedule (00:30 UTC by default) has run since midnight.
# A dated metric not materialized between 00:00 and 06:00 UTC shows as overdue in the UI.
DAILY_METRIC_FRESHNESS = FreshnessPolicy.cron(deadline_cron="0 6 * * *", lower_bound_delta=timedelta(hours=6))


# Who answers for every asset: shown on each asset's page, searchable and filterable in the catalog.
OWNERS = ("team:data-engineering",)


def warehouse_asset(settings: Settings, **asset_args) -> Callable[[Callable], object]:
    """`@asset` for a step that reads and writes the warehouse, with the policies above."""

    def decorate(compute: Callable):
        name = asset_args.get("name") or compute.__name__
        table = _table_definitions(settings.schema).tables.get(f"{settings.schema}.{name}")
        catalog = {
            "owners": list(OWNERS),
            # the table says what it holds when the asset does not
            "description": table.comment if table is not None else None,
            **asset_args,
            "metadata": {**catalog_metadata(compute, table), **asset_args.get("metadata", {})},
        }
        return asset(
            retry_policy=WAREHOUSE_RETRY_POLICY,
            pool=warehouse_pool(settings),
            **catalog,
        )(fail_fast_on_permanent_errors(compute))

    return decorate


def catalog_metadata(compute: Callable, table: sa.Table | None) -> dict[str, object]:
    """Definition metadata for the catalog: where the code is (the asset's function, and the table
    definition), and for a warehouse table its name as SQL names it and its column schema."""
    references = [_code_reference(compute, "asset")]
    metadata: dict[str, object] = {}
    if table is not None:
        path, line = _table_definition_lines().get(table.name, (Path(tables.__file__).resolve(), None))
        references.append(LocalFileCodeReference(file_path=str(path), line_number=line, label="table definition"))
        metadata["dagster/table_name"] = f"{table.schema}.{table.name}"
        metadata["dagster/column_schema"] = table_schema(table)
    metadata["dagster/code_references"] = CodeReferencesMetadataValue(code_references=references)
    return metadata


def table_schema(table: sa.Table) -> TableSchema:
    """The table's columns in order, each with its SQL type, nullability and description; its
    grain as a table constraint (a primary key on PostgreSQL; on DuckDB the contract check tests
    it after every write, see KEYED_DIALECTS in rekindle.tables)."""
    key = [column.name for column in table.primary_key.columns]
    grain = [f"one row per ({', '.join(key)})"] if key else []
    return TableSchema(
        columns=[
            TableColumn(
                name=column.name,
                type=column.type.compile(dialect=_SQL_TYPES),
                description=column.comment,
                constraints=TableColumnConstraints(nullable=column.nullable, unique=key == [column.name]),
            )
            for column in table.columns
        ],
        constraints=TableConstraints(other=grain),
    )


# Types as the DDL declares them on both warehouses (DuckDB reads PostgreSQL's names), e.g.
# TEXT, NUMERIC(18, 4), TIMESTAMP WITHOUT TIME ZONE, DOUBLE PRECISION
_SQL_TYPES = postgresql.dialect()


def _code_reference(compute: Callable, label: str) -> LocalFileCodeReference:
    function = inspect.unwrap(compute)
    return LocalFileCodeReference(
        file_path=str(Path(inspect.getsourcefile(function)).resolve()),
        line_number=inspect.getsourcelines(function)[1],
        label=label,
    )


@functools.cache
def _table_definitions(schema: str) -> sa.MetaData:
    return tables.build_metadata(schema)  # once per code-location load, not once per asset


@functools.cache
def _table_definition_lines() -> dict[str, tuple[Path, int]]:
    """Where each table is defined, for the code references: the `"name", md,` line of its
    Table(...) in rekindle/tables.py, or for a raw table the `table="name",` line of its landing
    source record in rekindle/sources.py."""
    lines = {}
    for module, pattern in ((tables, r'\s+"(\w+)", md,'), (sources, r'\s+table="(\w+)",')):
        path = Path(module.__file__).resolve()
        for number, text in enumerate(path.read_text().splitlines(), start=1):
            if match := re.fullmatch(pattern, text):
                lines[match.group(1)] = (path, number)
    return lines


def fail_fast_on_permanent_errors(compute: Callable) -> Callable:
    """Let transient errors reach the retry policy; turn every other error into a Failure that
    skips it, so a broken statement fails in seconds instead of after every backoff."""

    @functools.wraps(compute)  # Dagster reads the parameters (context, resources) through the wrapper
    def run(*args, **kwargs):
        try:
            return compute(*args, **kwargs)
        except (Failure, RetryRequested):
            raise
        except Exception as error:
            if is_transient_error(error):
                raise
            raise Failure(
                description=f"{type(error).__name__}: {error} (a permanent error: not retried)",
                allow_retries=False,
            ) from error

    return run
