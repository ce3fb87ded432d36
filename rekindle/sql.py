"""Small SQL-building helpers so metric SQL stays portable across warehouses.

The metric SQL sticks to what DuckDB and PostgreSQL (and Snowflake, BigQuery, Trino with a
dialect tweak here) share: CTEs, window functions, CASE, GREATEST/LEAST, VALUES lists.
Date arithmetic is the part that differs between engines, so it goes through `add_days`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection


def schema_prefix(conn: Connection, schema: str) -> str:
    """The schema name quoted for this connection's dialect, to prefix table names."""
    return conn.dialect.identifier_preparer.quote_schema(schema)


def add_days(date_expr: str, days: str | int) -> str:
    """`date_expr` plus a whole number of days, as a DATE (DuckDB needs an INTEGER operand)."""
    return f"({date_expr} + CAST({days} AS INTEGER))"


def int_values(alias: str, column: str, values: Iterable[int]) -> str:
    """A one-column inline table, e.g. the configured inactivity windows."""
    rows = ", ".join(f"({int(v)})" for v in values)
    return f"(SELECT * FROM (VALUES {rows}) AS v({column})) AS {alias}"


def calendar_cte(name: str, first: date, last: date) -> str:
    """A CTE `name(day)` holding every day from `first` to `last` inclusive."""
    span = max((last - first).days, -1)
    first_literal = f"DATE '{first.isoformat()}'"
    return (
        f"{name} AS (SELECT {add_days(first_literal, 'g.i')} AS day "
        f"FROM generate_series(0, {span}) AS g(i))"
    )


def ratio(numerator: str, denominator: str) -> str:
    """numerator / denominator as a double, NULL when the denominator is 0."""
    return f"CAST({numerator} AS DOUBLE PRECISION) / NULLIF({denominator}, 0)"


def earliest_activity(conn: Connection, schema_prefix: str) -> date | None:
    return conn.execute(text(f"SELECT MIN(activity_date) FROM {schema_prefix}.customer_daily_activity")).scalar()


def day_after(day: date) -> date:
    return day + timedelta(days=1)


def count_rows(
    conn: Connection, table: str, date_column: str | None = None, start: date | None = None, end: date | None = None
) -> int:
    """Rows of `table` (schema-qualified), or of its days [start, end] by `date_column`: what a
    refresh wrote, counted in its own transaction. The driver's affected-row count is no use:
    DuckDB reports -1 for INSERT ... SELECT."""
    if date_column is None:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar())
    sql = f"SELECT COUNT(*) FROM {table} WHERE {date_column} BETWEEN CAST(:start AS DATE) AND CAST(:end AS DATE)"
    return int(conn.execute(text(sql), {"start": start, "end": end}).scalar())
