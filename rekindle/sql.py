"""The warehouse SQL's building blocks: statements built CTE by CTE with bound values, the one
way a refresh replaces a table's rows, and the few pieces of SQL that differ between engines.

The metric SQL sticks to what DuckDB, PostgreSQL and Spark share: CTEs, window functions, CASE,
GREATEST/LEAST, VALUES lists, double-quoted identifiers. What differs between engines (day
arithmetic, the calendar, integer series, type names) goes through the small helpers below,
named for what they mean, and each renders one text that all three run: a day difference is
CAST(DATE - DATE AS INTEGER) (Spark's difference is a one-field interval, which casts to its
days). Where no shared text exists, the Spark driver (rekindle.spark) gives Spark what the
others have: generate_series as a SQL table function and DOUBLE PRECISION read as DOUBLE.

Every value is a bound parameter (`:name`), so a rendered statement (`Query.sql`) can be pasted
into a SQL client as it is, with its `Query.params`.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from textwrap import indent
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeEngine

if TYPE_CHECKING:
    import pandas as pd

# --- statements --------------------------------------------------------------------------

_VALUE_TYPES = {int: "INTEGER", str: "VARCHAR"}


@dataclass
class Query:
    """A WITH query built CTE by CTE, and the values of its bound parameters. It reads top to
    bottom, each CTE under a one-line comment, and selects `columns` from its last CTE, `final`."""

    columns: Sequence[str]
    params: dict[str, Any] = field(default_factory=dict)
    ctes: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, comment: str, body: str, params: Mapping[str, Any] | None = None) -> None:
        """Append the CTE `name`. Adding the same CTE again is a no-op, so a part of a query adds
        the CTEs it reads itself (the calendar, the windows) however many other parts read them."""
        cte = f"-- {comment}\n{name} AS (\n{indent(_strip_margin(body), '    ')}\n)"
        if self.ctes.get(name, cte) != cte:
            raise ValueError(f"two different CTEs named {name}")
        for key, value in (params or {}).items():
            if self.params.get(key, value) != value:
                raise ValueError(f"two values for the parameter {key}")
            self.params[key] = value
        self.ctes[name] = cte

    def add_values(self, name: str, comment: str, rows: Sequence[Mapping[str, int | str]]) -> None:
        """Append the CTE `name` holding `rows` (mappings with the same keys, the column names),
        every value a bound parameter `:<name>_<column>_<row>` cast to INTEGER or VARCHAR."""
        columns = list(rows[0])
        params = {f"{name}_{column}_{i}": row[column] for i, row in enumerate(rows) for column in columns}
        lines = ",\n".join(
            "(" + ", ".join(
                f"CAST(:{name}_{column}_{i} AS {_VALUE_TYPES[type(row[column])]})" for column in columns
            ) + ")"
            for i, row in enumerate(rows)
        )
        body = f"SELECT {', '.join(columns)}\nFROM (VALUES\n{indent(lines, '    ')}\n) AS {name} ({', '.join(columns)})"
        self.add(name, comment, body, params)

    @property
    def sql(self) -> str:
        """WITH <the CTEs in order> SELECT <columns> FROM final."""
        return "WITH\n" + ",\n".join(self.ctes.values()) + f"\nSELECT {', '.join(self.columns)}\nFROM final"


def _strip_margin(body: str) -> str:
    """`body` without the indentation of its first line (SQL written inside indented Python)."""
    lines = body.strip("\n").splitlines()
    margin = lines[0][: len(lines[0]) - len(lines[0].lstrip())]
    return "\n".join(line[len(margin):] if line.startswith(margin) else line.strip() for line in lines).strip()


def running_totals(
    query: Query, name: str, events: str, grid: str, keys: Sequence[str], measures: Sequence[str]
) -> None:
    """Add the CTEs `<events>_by_day` and `name`: per row (day, *keys) of `grid`, each measure of
    `events` summed on that day (`<measure>`, 0 without events) and over all days up to and
    including it (`<measure>_to_date`).

    `events` holds (day, *keys, *measures) rows: a value that holds from day a to day b is +v on
    a and -v on b + 1, so each running total is the value on its day."""
    by_day = f"{events}_by_day"
    group = ", ".join(("day", *keys))
    sums = "".join(f",\n       SUM({m}) AS {m}" for m in measures)
    query.add(by_day, f"{events} summed per day", f"SELECT {group}{sums}\nFROM {events}\nGROUP BY {group}")
    on = "\n AND ".join(f"day_sums.{column} = {grid}.{column}" for column in ("day", *keys))
    partition = f"PARTITION BY {', '.join(f'{grid}.{k}' for k in keys)} " if keys else ""
    lines = [
        f"SELECT {', '.join(f'{grid}.{column}' for column in ('day', *keys))}",
        *(f"       COALESCE(day_sums.{m}, 0) AS {m}" for m in measures),
        *(f"       SUM(COALESCE(day_sums.{m}, 0)) OVER running AS {m}_to_date" for m in measures),
    ]
    query.add(name, f"per day of {grid}: the {events} of the day and up to it", ",\n".join(lines) + f"""
FROM {grid}
LEFT JOIN {by_day} AS day_sums
  ON {on}
WINDOW running AS ({partition}ORDER BY {grid}.day ROWS UNBOUNDED PRECEDING)""")


def replace_rows(
    conn: Connection,
    table: str,
    rows: Query | pd.DataFrame,
    *,
    date_column: str | None = None,
    start: date | None = None,
    end: date | None = None,
    match: Mapping[str, Any] | None = None,
) -> int:
    """The one way a write replaces rows: delete the rows of `table` (schema-qualified) whose
    `date_column` lies in [start, end] and whose columns equal `match`, or all its rows when both
    are None (a snapshot), then insert `rows` (a query's, by INSERT ... SELECT, or a frame's, by
    bulk_insert), inside the caller's transaction. Returns the rows the table now holds for those
    days, counted: DuckDB's driver reports -1 for INSERT ... SELECT. A list or tuple parameter of
    the query binds as an IN list."""
    conditions = [f"{date_column} BETWEEN CAST(:start AS DATE) AND CAST(:end AS DATE)"] if date_column else []
    bounds: dict[str, Any] = {"start": start, "end": end} if date_column else {}
    for column, value in (match or {}).items():
        conditions.append(f"{column} = :match_{column}")
        bounds[f"match_{column}"] = value
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    conn.execute(text(f"DELETE FROM {table}{where}"), bounds)
    if isinstance(rows, Query):
        insert = text(f"INSERT INTO {table} ({', '.join(rows.columns)})\n{rows.sql}")
        lists = [bindparam(k, expanding=True) for k, v in rows.params.items() if isinstance(v, list | tuple)]
        conn.execute(insert.bindparams(*lists), rows.params)
    else:
        bulk_insert(conn, table, rows)
    return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}{where}"), bounds).scalar())


def bulk_insert(conn: Connection, table: str, frame: pd.DataFrame) -> int:
    """Append `frame` to `table` (schema-qualified; the frame's columns by name), never row by row:
    DuckDB scans it as an Arrow table, Spark is sent it as Arrow, PostgreSQL takes COPY. Returns
    the rows appended."""
    if frame.empty:
        return 0
    columns = ", ".join(conn.dialect.identifier_preparer.quote(c) for c in frame.columns)
    driver = conn.connection.driver_connection
    if conn.dialect.name == "duckdb":
        import pyarrow as pa

        # scanned by its variable name (DuckDB's replacement scan), not registered: a registered
        # view keeps its Arrow table alive until the transaction ends, a chunked load's every chunk
        rekindle_rows = pa.Table.from_pandas(frame, preserve_index=False)  # noqa: F841
        driver.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM rekindle_rows")
    elif conn.dialect.name == "spark":
        driver.insert_arrow(table, columns, frame)
    else:
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False, header=False, na_rep=r"\N")
        with driver.cursor() as cursor, cursor.copy(
            f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
        ) as copy:
            copy.write(buffer.getvalue())
    return len(frame)


# --- what differs between engines --------------------------------------------------------


def schema_prefix(conn: Connection, schema: str) -> str:
    """The schema name quoted for this connection's dialect, to prefix table names."""
    return conn.dialect.identifier_preparer.quote_schema(schema)


def type_name(conn: Connection, type_: TypeEngine) -> str:
    """The SQL name of a column type (e.g. rekindle.tables.MONEY) in this connection's dialect."""
    return type_.compile(dialect=conn.dialect)


def days_between(earlier: str, later: str) -> str:
    """Whole days from the DATE `earlier` to the DATE `later`, as an INTEGER."""
    return f"CAST(({later} - {earlier}) AS INTEGER)"


def add_days(date_expr: str, days: str | int) -> str:
    """`date_expr` plus a whole number of days, as a DATE (DuckDB needs an INTEGER operand)."""
    return f"({date_expr} + CAST({days} AS INTEGER))"


def integer_series(last: str, alias: str, column: str) -> str:
    """A table `alias(column)` of the integers 0, 1, ..., `last` (none when `last` < 0)."""
    return f"generate_series(0, {last}) AS {alias} ({column})"


def calendar(first: str, last: str) -> str:
    """A SELECT of one row (day) per DATE from `first` to `last` inclusive."""
    offsets = integer_series(days_between(first, last), "day_offsets", "day_offset")
    return f"SELECT {add_days(first, 'day_offsets.day_offset')} AS day FROM {offsets}"


def month_number(date_expr: str) -> str:
    """Months since year 0 of a DATE (year * 12 + month), so months subtract like numbers."""
    return (f"(CAST(EXTRACT(YEAR FROM {date_expr}) AS INTEGER) * 12 "
            f"+ CAST(EXTRACT(MONTH FROM {date_expr}) AS INTEGER))")


def first_of_month(date_expr: str) -> str:
    """The first day of the month of a DATE, as a DATE (via TIMESTAMP: PostgreSQL would make a
    DATE a timestamp with time zone)."""
    return f"CAST(DATE_TRUNC('month', CAST({date_expr} AS TIMESTAMP)) AS DATE)"


def as_double(expr: str) -> str:
    return f"CAST({expr} AS DOUBLE PRECISION)"


def ratio(numerator: str, denominator: str) -> str:
    """numerator / denominator as a double, NULL when the denominator is 0."""
    return f"{as_double(numerator)} / NULLIF({denominator}, 0)"
