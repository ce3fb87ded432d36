"""The two baselines `rekindle run` is measured against (issue 11), over the same landing files.

- sql: the floor. One DuckDB connection reads every Parquet file with its file name, keeps one
  row per id, builds customer_daily_activity with one GROUP BY and runs Rekindle's own lifecycle,
  reactivation, retention and purchase SQL for every day of the year. No Dagster, no
  validation, no quarantine, no Great Expectations: what a hand-written job costs.
- pandas: what teams write first. A loop over the days; each day recomputes every customer's
  last active day and order history from the activity up to that day (rows x days). At scale M
  it runs on every 30th day and is extrapolated to the year (it says so).

    python -m benchmarks.baselines sql|pandas ZONE START END
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date, timedelta
from pathlib import Path

INACTIVITY_DAYS = (30, 60, 90)
PERIOD_DAYS = (1, 7, 30)
PASSIVE_EVENT_TYPES = ("email_sent", "email_delivered", "sms_sent", "push_sent")


def sql_baseline(zone: Path, start: date, end: date) -> dict:
    import duckdb
    import sqlalchemy as sa

    from rekindle import metrics
    from rekindle.tables import build_metadata

    began = time.perf_counter()
    engine = sa.create_engine("duckdb:///:memory:")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA analytics"))
        tables = [t for t in build_metadata("analytics").sorted_tables
                  if t.name in {"customer_daily_activity", "lifecycle_daily", "reactivation_daily",
                                "retention_daily", "purchase_daily"}]
        build_metadata("analytics").create_all(conn, tables=tables)
        raw: duckdb.DuckDBPyConnection = conn.connection.driver_connection
        passive = ", ".join(f"'{t}'" for t in PASSIVE_EVENT_TYPES)
        raw.execute(f"""
            INSERT INTO analytics.customer_daily_activity (customer_id, activity_date, orders, revenue, events)
            WITH orders AS (
                SELECT DISTINCT ON (order_id) order_id, customer_id, CAST(ordered_at AS DATE) AS day, amount, status
                FROM read_parquet('{zone}/orders/*/*.parquet', filename = true)
            ),
            events AS (
                SELECT DISTINCT ON (event_id) event_id, customer_id, CAST(occurred_at AS DATE) AS day, event_type
                FROM read_parquet('{zone}/events/*/*.parquet', filename = true)
            ),
            activity AS (
                SELECT customer_id, day, 1 AS orders, amount AS revenue, 0 AS events FROM orders WHERE status = 'completed'
                UNION ALL
                SELECT customer_id, day, 0, 0, 1 FROM events WHERE event_type NOT IN ({passive})
            )
            SELECT customer_id, day, SUM(orders), SUM(revenue), SUM(events)
            FROM activity WHERE day BETWEEN DATE '{start}' AND DATE '{end}'
            GROUP BY customer_id, day
        """)
        loaded = time.perf_counter() - began
        metrics.refresh_lifecycle_daily(conn, "analytics", start, end, INACTIVITY_DAYS)
        metrics.refresh_reactivation_daily(conn, "analytics", start, end, INACTIVITY_DAYS, PERIOD_DAYS)
        metrics.refresh_retention_daily(conn, "analytics", start, end, INACTIVITY_DAYS, PERIOD_DAYS)
        metrics.refresh_purchase_daily(conn, "analytics", start, end, PERIOD_DAYS)
        rows = conn.execute(sa.text("SELECT COUNT(*) FROM analytics.customer_daily_activity")).scalar()
    return {"seconds": time.perf_counter() - began, "read_and_activity_seconds": loaded, "activity_rows": rows}


def pandas_baseline(zone: Path, start: date, end: date, every: int = 1) -> dict:
    """Per day D: last active day of every customer (inactive for N?), reactivations over the P
    days, buyers and repeat buyers over P: the straightforward loop, on every `every`-th day."""
    import pandas as pd

    began = time.perf_counter()
    orders = pd.read_parquet(zone / "orders").drop_duplicates("order_id")
    events = pd.read_parquet(zone / "events").drop_duplicates("event_id")
    orders["day"] = orders["ordered_at"].dt.tz_convert(None).dt.normalize()
    events["day"] = events["occurred_at"].dt.tz_convert(None).dt.normalize()
    completed = orders[orders["status"] == "completed"]
    active = pd.concat([completed[["customer_id", "day"]],
                        events.loc[~events["event_type"].isin(PASSIVE_EVENT_TYPES), ["customer_id", "day"]]])
    active = active.drop_duplicates()
    days = pd.date_range(start, end)
    sampled = days[::every]
    results = []
    for day in sampled:
        history = active[active["day"] <= day]
        last = history.groupby("customer_id")["day"].max()
        for n in INACTIVITY_DAYS:
            inactive = int(((day - last).dt.days >= n).sum())
            for p in PERIOD_DAYS:
                period_start = day - pd.Timedelta(days=p)
                before = history[history["day"] <= period_start].groupby("customer_id")["day"].max()
                was_inactive = before[(period_start - before).dt.days >= n].index
                came_back = history[(history["day"] > period_start) & history["customer_id"].isin(was_inactive)]
                results.append((day, n, p, inactive, len(was_inactive), came_back["customer_id"].nunique()))
        for p in PERIOD_DAYS:
            window = completed[(completed["day"] > day - pd.Timedelta(days=p)) & (completed["day"] <= day)]
            per_buyer = window.groupby("customer_id").size()
            results.append((day, 0, p, len(window), len(per_buyer), int((per_buyer >= 2).sum())))
    seconds = time.perf_counter() - began
    return {"seconds": seconds * len(days) / len(sampled), "measured_seconds": seconds,
            "days_computed": len(sampled), "days": len(days), "extrapolated": every > 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=["sql", "pandas"])
    parser.add_argument("zone", type=Path)
    parser.add_argument("start", type=date.fromisoformat)
    parser.add_argument("end", type=date.fromisoformat)
    parser.add_argument("--every", type=int, default=1, help="pandas: compute every k-th day, extrapolate")
    args = parser.parse_args()
    result = (sql_baseline(args.zone, args.start, args.end) if args.which == "sql"
              else pandas_baseline(args.zone, args.start, args.end, args.every))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
