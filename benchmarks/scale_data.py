"""Landing zones at benchmark scale (issue 11): scale S is 200,000 customers, about 4 million
events and 0.4 million orders over 365 days; scale M is five times that.

The sample-data generator (`rekindle generate`) simulates campaigns, surveys and a dozen kinds
of dirty rows, and its customers are far more active (20,000 of them make 1.7 million events a
year). Speed depends on rows and customers, so this writer matches the issue's row and customer
counts instead: one typed Parquet file per source and day, as most production exports are,
with 0.5% of the rows re-delivered on the same day (exact duplicates) so deduplication has work.

Each customer is active between a first and a last day (starting uniformly over the
four months before and the year itself, so some form a base that goes inactive early), on
about 12 active days, with 1 + Poisson(0.8) events per active day and an order on 18% of them.

    python -m benchmarks.scale_data OUT --customers 200000 [--days 365]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SCALES = {"S": 200_000, "M": 1_000_000}
ACTIVE_DAYS_PER_CUSTOMER = 12
EVENTS_PER_ACTIVE_DAY = 0.8  # 1 + Poisson(0.8)
ORDER_SHARE = 0.18
DUPLICATE_SHARE = 0.005
EVENT_TYPES = np.array(["page_view", "app_open", "search", "add_to_cart", "email_open", "email_sent"])
EVENT_WEIGHTS = np.array([0.40, 0.20, 0.15, 0.10, 0.10, 0.05])  # email_sent is passive
CHANNELS = np.array(["web", "app", "email"])


@dataclass
class ScaleZone:
    root: Path
    start_date: date
    end_date: date
    customers: int
    rows: dict[str, int]


def write_scale_zone(root: Path, customers: int, days: int = 365, end_date: date = date(2026, 6, 30),
                     seed: int = 11) -> ScaleZone:
    """Write the zone under `root` (which must not hold one yet) and return its counts."""
    rng = np.random.default_rng(seed)
    start_date = end_date - timedelta(days=days - 1)
    # lifetimes start in [-days/3, days): a quarter of the customers were active before the first day
    first = rng.integers(-days // 3, days, customers)
    last = np.minimum(first + rng.exponential(days / 3, customers).astype(np.int64), days - 1)
    span = np.maximum(last, 0) - np.maximum(first, 0) + 1  # days inside the year; >= 1
    active_days = 1 + rng.poisson((ACTIVE_DAYS_PER_CUSTOMER - 1) * span / span.mean(), customers)
    customer = np.repeat(np.arange(customers), active_days)
    lo, hi = np.maximum(first, 0)[customer], np.maximum(last, 0)[customer]
    day = lo + (rng.random(customer.size) * (hi - lo + 1)).astype(np.int64)
    pairs = np.unique(customer.astype(np.int64) * days + day)  # one row per customer and active day
    customer, day = pairs // days, pairs % days

    n_events = 1 + rng.poisson(EVENTS_PER_ACTIVE_DAY, customer.size)
    event_customer, event_day = np.repeat(customer, n_events), np.repeat(day, n_events)
    with_order = rng.random(customer.size) < ORDER_SHARE
    order_customer, order_day = customer[with_order], day[with_order]

    epoch = datetime(start_date.year, start_date.month, start_date.day, tzinfo=timezone.utc)
    events = {
        "event_id": _ids("E", event_customer.size),
        "customer_id": _customer_ids(event_customer),
        "occurred_at": _timestamps(rng, epoch, event_day),
        "event_type": EVENT_TYPES[rng.choice(EVENT_TYPES.size, event_customer.size, p=EVENT_WEIGHTS)],
        "channel": CHANNELS[rng.integers(0, CHANNELS.size, event_customer.size)],
    }
    orders = {
        "order_id": _ids("O", order_customer.size),
        "customer_id": _customer_ids(order_customer),
        "ordered_at": _timestamps(rng, epoch, order_day),
        "amount": np.round(rng.gamma(2.0, 35.0, order_customer.size), 2),
        "currency": np.full(order_customer.size, "USD"),
        "status": np.where(rng.random(order_customer.size) < 0.95, "completed", "refunded"),
        "channel": CHANNELS[rng.integers(0, 2, order_customer.size)],
    }
    rows = {"orders": _write_source(rng, root / "orders", start_date, orders, order_day, days),
            "events": _write_source(rng, root / "events", start_date, events, event_day, days)}
    return ScaleZone(root, start_date, end_date, customers, rows)


def _ids(prefix: str, n: int) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(np.arange(n).astype(str), 9))


def _customer_ids(index: np.ndarray) -> np.ndarray:
    return np.char.add("C", np.char.zfill(index.astype(str), 8))


def _timestamps(rng: np.random.Generator, epoch: datetime, day: np.ndarray) -> np.ndarray:
    seconds = day * 86400 + rng.integers(0, 86400, day.size)
    return np.datetime64(epoch.replace(tzinfo=None), "s") + seconds.astype("timedelta64[s]")


def _write_source(rng, folder: Path, start: date, columns: dict[str, np.ndarray], day: np.ndarray, days: int) -> int:
    """One Parquet file per day, rows of that day plus a few exact re-deliveries; returns rows written."""
    order = np.argsort(day, kind="stable")
    day = day[order]
    columns = {name: values[order] for name, values in columns.items()}
    bounds = np.searchsorted(day, np.arange(days + 1))
    written = 0
    for d in range(days):
        lo, hi = bounds[d], bounds[d + 1]
        if lo == hi:
            continue
        pick = np.arange(lo, hi)
        pick = np.concatenate([pick, rng.choice(pick, int(len(pick) * DUPLICATE_SHARE))])
        table = pa.table({name: (pa.array(values[pick], pa.timestamp("s", tz="UTC"))
                                 if values.dtype.kind == "M" else values[pick])
                          for name, values in columns.items()})
        out = folder / f"dt={(start + timedelta(days=d)).isoformat()}"
        out.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, out / "part-0000.parquet")
        written += len(pick)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--customers", type=int, default=SCALES["S"])
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    zone = write_scale_zone(args.out, args.customers, args.days)
    print(f"{zone.customers:,} customers, {zone.start_date}..{zone.end_date}: "
          + ", ".join(f"{name} {rows:,}" for name, rows in zone.rows.items()))


if __name__ == "__main__":
    main()
