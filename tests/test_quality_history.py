"""The trailing history the raw anomaly rules compare a day with, read in the warehouse, and the
amount bound the orders check uses, with hand-computed numbers on DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from rekindle.quality import amount_bound
from rekindle.quality.history import AMOUNT_HISTORY_DAYS, trailing_p999, trailing_row_counts
from rekindle.quality.runner import VOLUME_HISTORY_DAYS

START = date(2025, 3, 1)  # the first day checked: its history is the days before it


def insert_orders(warehouse, amounts_by_day: dict[date, list[Decimal]]) -> None:
    rows = [
        {"order_id": f"o-{day}-{i}", "customer_id": f"c{i}", "ordered_at": datetime.combine(day, datetime.min.time()),
         "amount": amount, "currency": "USD", "status": "completed", "channel": None,
         "partition_date": day, "source_file": f"orders/dt={day}/part-0.csv"}
        for day, amounts in amounts_by_day.items()
        for i, amount in enumerate(amounts)
    ]
    with warehouse.begin() as conn:
        conn.execute(warehouse.table("raw_orders").insert(), rows)


def test_the_amount_bound_is_ten_times_the_trailing_p999(warehouse):
    # amounts 1..1000 over the 28 days before START; outside them, amounts that would move the bound
    first = START - timedelta(days=AMOUNT_HISTORY_DAYS)
    history = {first + timedelta(days=d): [Decimal(a) for a in range(1 + d, 1001, AMOUNT_HISTORY_DAYS)]
               for d in range(AMOUNT_HISTORY_DAYS)}
    assert sorted(a for day in history.values() for a in day) == [Decimal(a) for a in range(1, 1001)]
    insert_orders(warehouse, {**history, first - timedelta(days=1): [Decimal(10**6)], START: [Decimal(10**6)]})
    with warehouse.engine.connect() as conn:
        p999 = trailing_p999(conn, warehouse.schema_name, "raw_orders", "amount", START)
    # percentile_cont: rank (1000 - 1) x 0.999 = 998.001 of the sorted amounts (0-based), i.e.
    # between 999 and 1000: 999 + 0.001 x (1000 - 999) = 999.001
    assert float(p999) == pytest.approx(999.001)
    assert amount_bound(p999) == pytest.approx(9990.01)


def test_without_history_there_is_no_amount_bound(warehouse):
    insert_orders(warehouse, {START: [Decimal(5)]})  # the day itself is not its history
    with warehouse.engine.connect() as conn:
        p999 = trailing_p999(conn, warehouse.schema_name, "raw_orders", "amount", START)
    assert p999 is None and amount_bound(p999) is None


def test_trailing_row_counts_are_the_4_weeks_before_the_day(warehouse):
    oldest = START - timedelta(days=VOLUME_HISTORY_DAYS)
    insert_orders(warehouse, {
        oldest - timedelta(days=1): [Decimal(1)] * 9,  # 29 days before: out
        oldest: [Decimal(1)] * 3,
        START - timedelta(days=1): [Decimal(1)] * 2,
        START: [Decimal(1)] * 7,  # the day checked: out
    })
    with warehouse.engine.connect() as conn:
        counts = trailing_row_counts(conn, warehouse.schema_name, "raw_orders", START)
    assert counts == {oldest: 3, START - timedelta(days=1): 2}
