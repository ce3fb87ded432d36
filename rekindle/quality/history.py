"""What a raw table's anomaly rules compare a day with: the table's own trailing days, read in
the warehouse (the rules themselves are volume_rule and amount_bound).

SQLAlchemy, so rekindle.quality does not import this module: importing the package stays cheap.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from rekindle.quality.runner import VOLUME_HISTORY_DAYS
from rekindle.sql import schema_prefix

# An order amount is compared with the orders of the 4 weeks before its day.
AMOUNT_HISTORY_DAYS = 28


def trailing_row_counts(
    conn: Connection, schema: str, table: str, start: date, days: int = VOLUME_HISTORY_DAYS
) -> dict[date, int]:
    """Rows per partition_date of `table` in the `days` days before `start` (start excluded);
    a day without rows is absent."""
    result = conn.execute(
        text(f"SELECT partition_date, COUNT(*) AS n FROM {schema_prefix(conn, schema)}.{table} "
             "WHERE partition_date BETWEEN :first AND :last GROUP BY partition_date"),
        {"first": start - timedelta(days=days), "last": start - timedelta(days=1)},
    )
    return {_as_date(day): int(n) for day, n in result}


def trailing_p999(
    conn: Connection, schema: str, table: str, column: str, start: date, days: int = AMOUNT_HISTORY_DAYS
) -> Decimal | float | None:
    """The 99.9th percentile of `column` (e.g. amount) in `table` over the `days` days before `start` (start
    excluded), as the warehouse computes it: percentile_cont, linear between the two nearest
    ranks; DuckDB keeps the column's 4 decimals, PostgreSQL returns a double. None without rows."""
    return conn.execute(
        text(f"SELECT percentile_cont(0.999) WITHIN GROUP (ORDER BY {column}) "
             f"FROM {schema_prefix(conn, schema)}.{table} WHERE partition_date BETWEEN :first AND :last"),
        {"first": start - timedelta(days=days), "last": start - timedelta(days=1)},
    ).scalar()


def _as_date(value) -> date:
    return value if isinstance(value, date) else pd.Timestamp(value).date()


def repeated_id_rows(conn: Connection, schema: str, table: str, column: str, days: list[date]) -> int:
    """Rows of `days` in `table` whose non-null `column` value occurs more than once among them:
    what GX's uniqueness rule counts on all those rows, for a load validated a chunk at a time."""
    if not days:
        return 0
    repeated = (
        f"SELECT COUNT(*) AS n FROM {schema_prefix(conn, schema)}.{table} "
        f"WHERE partition_date IN :days AND {column} IS NOT NULL GROUP BY {column} HAVING COUNT(*) > 1"
    )
    statement = text(f"SELECT COALESCE(SUM(n), 0) FROM ({repeated}) AS repeated")
    return int(conn.execute(statement.bindparams(bindparam("days", expanding=True)), {"days": days}).scalar())
