"""Each day's headline numbers of a daily table, for the metadata of that day's partition.

Dagster plots numeric metadata by partition (an asset's Plots tab), so every dated partition
carries its own numbers: the rows its day holds and, for the metric tables, the values people
ask for ("yesterday's 30-day reactivation rate, and its trend"). Keys name what they hold:

- `_{N}d` is the inactivity window N, `_p{P}` the period P: `reactivation_rate_30d_p7` is the
  share of customers inactive (30+ days) at the start of the 7 days ending that day who came
  back within them. Only the primary N (the first of REKINDLE_INACTIVITY_DAYS); every P.
- `dagster/row_count`: the table's rows for that day (Dagster's own key), counted in the warehouse.

Computed in the warehouse: one query per table and run, the range's rows grouped by day with
the N and P pivoted into columns (CASE), so a 180-day range reads back 180 small rows, never a
query per day. Rates are fractions; a value that is NULL in the table (a rate with nobody at
the start) is left out of that day's numbers, which the plot shows as a gap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from rekindle.segments import bucket_labels
from rekindle.sql import schema_prefix

ROW_COUNT = "dagster/row_count"
Numbers = dict[str, int | float]


@dataclass(frozen=True)
class Headline:
    key: str  # the metadata key
    sql: str  # an aggregate over the day's rows
    kind: str = "count"  # count (int), rate (a ratio or score, 6 decimals) or amount (money, 2 decimals)


def _pick(column: str, **where: int | str) -> str:
    """The value of `column` in the day's one row that matches `where` (MAX of one value)."""
    condition = " AND ".join(f"{name} = {_literal(value)}" for name, value in where.items())
    return f"MAX(CASE WHEN {condition} THEN {column} END)"


def _literal(value: int | str) -> str:
    return str(int(value)) if isinstance(value, int) else "'" + value.replace("'", "''") + "'"


def _total(column: str, **where: int | str) -> str:
    """The sum of `column` over the day's rows that match `where`, 0 when none do."""
    condition = " AND ".join(f"{name} = {_literal(value)}" for name, value in where.items())
    if not condition:
        return f"COALESCE(SUM({column}), 0)"
    return f"COALESCE(SUM(CASE WHEN {condition} THEN {column} END), 0)"


def _kind(column: str) -> str:
    if column.endswith(("_rate", "nps")):
        return "rate"
    if column.endswith(("revenue", "average_order_value", "clv")):
        return "amount"
    if column in ("purchases_per_year", "expected_lifespan_years"):
        return "rate"
    return "count"


HeadlineBuilder = Callable[[int, Sequence[int]], list[Headline]]  # (primary N, periods P) -> the numbers


def _per_window(*columns: str) -> HeadlineBuilder:
    """Each column's value for the primary N: `{column}_{N}d`."""
    return lambda n, periods: [Headline(f"{c}_{n}d", _pick(c, inactivity_days=n), _kind(c)) for c in columns]


def _per_period(*columns: str) -> HeadlineBuilder:
    """Each column's value for each period P: `{column}_p{P}`."""
    return lambda n, periods: [
        Headline(f"{c}_p{p}", _pick(c, period_days=p), _kind(c)) for p in periods for c in columns
    ]


def _per_window_and_period(*columns: str) -> HeadlineBuilder:
    """Each column's value for the primary N and each period P: `{column}_{N}d_p{P}`."""
    return lambda n, periods: [
        Headline(f"{c}_{n}d_p{p}", _pick(c, inactivity_days=n, period_days=p), _kind(c))
        for p in periods for c in columns
    ]


def _inactive_segment_numbers(n: int, periods: Sequence[int]) -> list[Headline]:
    """The inactive customers of the primary N and their lifetime revenue, and the customers per bucket."""
    buckets = [
        Headline(f"inactive_customers_{n}d_{label.replace('-', '_').replace('+', '_plus')}",
                 _total("customers", inactivity_days=n, inactivity_bucket=label))
        for label in bucket_labels(n)
    ]
    return [
        Headline(f"inactive_customers_{n}d", _total("customers", inactivity_days=n)),
        Headline(f"inactive_lifetime_revenue_{n}d", _total("lifetime_revenue", inactivity_days=n), "amount"),
        *buckets,
    ]


def _activity_numbers(n: int, periods: Sequence[int]) -> list[Headline]:
    return [
        Headline("active_customers", "COUNT(*)"),
        Headline("orders", _total("orders")),
        Headline("revenue", _total("revenue"), "amount"),
        Headline("events", _total("events")),
    ]


@dataclass(frozen=True)
class DailyTable:
    """What each day's partition of a daily table records, and how the table's days are read."""

    headlines: HeadlineBuilder  # the numbers besides the row count
    date_column: str = "as_of_date"
    absent_is_zero: bool = False  # a day without rows has 0 of everything (nobody active), not unknown


DAILY_TABLES: dict[str, DailyTable] = {
    "customer_daily_activity": DailyTable(_activity_numbers, date_column="activity_date", absent_is_zero=True),
    "lifecycle_daily": DailyTable(_per_window(
        "new_customers", "returning_customers", "reactivated_customers", "dormant_customers",
        "active_customers", "inactive_customers",
    )),
    "reactivation_daily": DailyTable(_per_window_and_period("inactive_at_start", "reactivated", "reactivation_rate")),
    "retention_daily": DailyTable(
        _per_window_and_period("customers_at_start", "churned", "churn_rate", "retention_rate")
    ),
    "purchase_daily": DailyTable(_per_period("revenue", "orders", "buyers", "average_order_value")),
    "clv_daily": DailyTable(_per_window(
        "clv", "average_order_value", "purchases_per_year", "annual_churn_rate", "expected_lifespan_years"
    )),
    "nps_daily": DailyTable(_per_period("nps", "responses")),
    "inactive_segments": DailyTable(_inactive_segment_numbers),
}


def _daily_table(table: str) -> DailyTable:
    if table not in DAILY_TABLES:
        raise ValueError(f"no headline numbers defined for {table}")
    return DAILY_TABLES[table]


def headlines(table: str, inactivity_days: Sequence[int], period_days: Sequence[int]) -> list[Headline]:
    """The numbers recorded on each day's partition of `table` besides its row count (only the
    primary N, the first of `inactivity_days`)."""
    return _daily_table(table).headlines(inactivity_days[0], period_days)


def headlines_sql(
    s: str, table: str, inactivity_days: Sequence[int], period_days: Sequence[int], extra_days: bool
) -> str:
    """One query: per day of [:start, :end] (and of :extra_days) that has rows, its row count
    and headline numbers."""
    day = _daily_table(table).date_column
    columns = ",\n               ".join(
        f'{h.sql} AS "{h.key}"' for h in headlines(table, inactivity_days, period_days)
    )
    return f"""
        SELECT {day} AS day, COUNT(*) AS row_count,
               {columns}
        FROM {s}.{table}
        WHERE {_days_filter(day, extra_days)}
        GROUP BY {day}
    """


def _days_filter(column: str, extra_days: bool) -> str:
    in_range = f"{column} BETWEEN CAST(:start AS DATE) AND CAST(:end AS DATE)"
    return f"({in_range} OR {column} IN :extra_days)" if extra_days else in_range


def _read(conn: Connection, sql: str, start: date, end: date, extra_days: Sequence[date]) -> pd.DataFrame:
    query = text(sql)
    params: dict = {"start": start, "end": end}
    if extra_days:
        query = query.bindparams(bindparam("extra_days", expanding=True))
        params["extra_days"] = list(extra_days)
    result = conn.execute(query, params)
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def daily_headlines(
    conn: Connection,
    schema: str,
    table: str,
    start: date,
    end: date,
    inactivity_days: Sequence[int],
    period_days: Sequence[int],
    extra_days: Iterable[date] = (),
) -> dict[date, Numbers]:
    """Each day of [start, end] (and each of `extra_days`) -> its row count and headline numbers.
    A day without rows gets a row count of 0 (and, for customer_daily_activity, zero activity)."""
    s = schema_prefix(conn, schema)
    extra = sorted(set(extra_days))
    defined = headlines(table, inactivity_days, period_days)
    frame = _read(conn, headlines_sql(s, table, inactivity_days, period_days, bool(extra)), start, end, extra)
    rows = {_as_date(r["day"]): r for r in frame.to_dict("records")}
    zero = _daily_table(table).absent_is_zero
    numbers = {}
    for day in [*_days(start, end), *extra]:
        row = rows.get(day, {})
        values: Numbers = {ROW_COUNT: int(row.get("row_count", 0))}
        for h in defined:
            value = row.get(h.key, 0 if zero else None)
            if value is not None and not pd.isna(value):
                values[h.key] = _number(value, h.kind)
        numbers[day] = values
    return numbers


@dataclass(frozen=True)
class RawDay:
    """A raw partition as the warehouse holds it: accepted rows, quarantined rows and why."""

    rows_loaded: int
    rows_quarantined: int
    reasons: dict[str, int]


def raw_day_counts(
    conn: Connection, schema: str, source: str, table: str, start: date, end: date, extra_days: Iterable[date] = ()
) -> dict[date, RawDay]:
    """Each day of [start, end] (and each of `extra_days`) -> what raw `table` and the quarantine
    hold for it: one grouped query per table."""
    s = schema_prefix(conn, schema)
    extra = sorted(set(extra_days))
    where = _days_filter("partition_date", bool(extra))
    loaded = _read(conn, f"""
        SELECT partition_date AS day, COUNT(*) AS rows_loaded
        FROM {s}.{table} WHERE {where} GROUP BY partition_date
    """, start, end, extra)
    rejected = _read(conn, f"""
        SELECT partition_date AS day, reason, COUNT(*) AS rows_quarantined
        FROM {s}.quarantine WHERE source = {_literal(source)} AND {where} GROUP BY partition_date, reason
    """, start, end, extra)
    loaded_by_day = {_as_date(d): int(n) for d, n in zip(loaded["day"], loaded["rows_loaded"])}
    reasons: dict[date, dict[str, int]] = {}
    for d, reason, n in zip(rejected["day"], rejected["reason"], rejected["rows_quarantined"]):
        reasons.setdefault(_as_date(d), {})[reason] = int(n)
    return {
        day: RawDay(
            loaded_by_day.get(day, 0),
            sum(reasons.get(day, {}).values()),
            dict(sorted(reasons.get(day, {}).items())),
        )
        for day in [*_days(start, end), *extra]
    }


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _number(value, kind: str) -> int | float:
    if kind == "count":
        return int(value)
    return round(float(value), 6 if kind == "rate" else 2)


def _as_date(value) -> date:
    return value if isinstance(value, date) and not hasattr(value, "hour") else pd.Timestamp(value).date()
