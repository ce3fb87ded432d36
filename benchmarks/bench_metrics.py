"""Metric SQL cost: it must grow with the activity rows, not with rows x days.

Synthetic customer_daily_activity (numpy) in a DuckDB file; every refresh timed for a one-day
run (the daily schedule) and a 365-day backfill, at 1x and 2x the customers. Doubling the rows
should roughly double the time; lengthening the range 365-fold should cost far less than 365x.

    python -m benchmarks.bench_metrics [--customers 50000] [--history-days 730]
"""

import argparse
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd

from rekindle import metrics
from resources.warehouse import WarehouseResource

INACTIVITY_DAYS = (30, 60, 90)
PERIOD_DAYS = (1, 7, 30)


def activity(customers: int, history_days: int, seed: int = 1) -> pd.DataFrame:
    """Bursty customers: about one active day in eight, some orders, over `history_days`."""
    rng = np.random.default_rng(seed)
    per_customer = rng.poisson(history_days / 8, customers) + 1
    customer = np.repeat(np.arange(customers), per_customer)
    offsets = rng.integers(0, history_days, customer.size)
    frame = pd.DataFrame({"c": customer, "d": offsets}).drop_duplicates()
    orders = rng.binomial(2, 0.2, len(frame))
    first = date(2024, 1, 1)
    return pd.DataFrame({
        "customer_id": [f"C{c:07d}" for c in frame["c"]],
        "activity_date": [first + timedelta(days=int(d)) for d in frame["d"]],
        "orders": orders,
        "revenue": [Decimal(str(round(v, 2))) for v in orders * rng.gamma(2.0, 30.0, len(frame))],
        "events": rng.integers(0, 5, len(frame)),
    })


def time_refreshes(wh: WarehouseResource, start: date, end: date) -> dict[str, float]:
    refreshes = {
        "lifecycle": lambda c: metrics.refresh_lifecycle_daily(c, wh.schema_name, start, end, INACTIVITY_DAYS),
        "reactivation": lambda c: metrics.refresh_reactivation_daily(c, wh.schema_name, start, end, INACTIVITY_DAYS, PERIOD_DAYS),
        "retention": lambda c: metrics.refresh_retention_daily(c, wh.schema_name, start, end, INACTIVITY_DAYS, PERIOD_DAYS),
        "purchase": lambda c: metrics.refresh_purchase_daily(c, wh.schema_name, start, end, PERIOD_DAYS),
        "clv": lambda c: metrics.refresh_clv_daily(c, wh.schema_name, start, end, INACTIVITY_DAYS),
    }
    seconds = {}
    for name, refresh in refreshes.items():
        began = time.perf_counter()
        with wh.begin() as conn:
            refresh(conn)
        seconds[name] = time.perf_counter() - began
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--history-days", type=int, default=730)
    args = parser.parse_args()
    last = date(2024, 1, 1) + timedelta(days=args.history_days - 1)
    print(f"{'customers':>10} {'rows':>10} {'range':>9} " + " ".join(f"{n:>12}" for n in
          ("lifecycle", "reactivation", "retention", "purchase", "clv")) + f" {'total':>8}")
    for scale in (1, 2):
        frame = activity(args.customers * scale, args.history_days)
        with tempfile.TemporaryDirectory() as tmp:
            wh = WarehouseResource(url=f"duckdb:///{tmp}/warehouse.duckdb", schema_name="bench")
            wh.ensure_tables()
            with wh.begin() as conn:
                wh.bulk_insert(conn, "customer_daily_activity", frame)
            for days in (1, 365):
                seconds = time_refreshes(wh, last - timedelta(days=days - 1), last)
                print(f"{args.customers * scale:>10,} {len(frame):>10,} {days:>5} day " +
                      " ".join(f"{s:>10.2f} s" for s in seconds.values()) + f" {sum(seconds.values()):>6.2f} s")
            wh.dispose()


if __name__ == "__main__":
    main()
