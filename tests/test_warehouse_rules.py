"""Derived-table contracts counted in the warehouse equal Great Expectations' verdicts on the same
rows: same rules, success, unexpected counts and percents, on DuckDB and PostgreSQL."""

from datetime import date, timedelta

import pandas as pd
import pytest

from rekindle.quality import validate_frame
from rekindle.quality.suites import table_suite
from rekindle.quality.warehouse_rules import validate_table
from rekindle.sql import bulk_insert

DAY = date(2025, 3, 1)


def lifecycle_rows() -> pd.DataFrame:
    """Three days of N=7 and N=30 with planted faults: a broken invariant on day 3 (N=7) and
    a negative count on day 2 (N=30)."""
    rows = []
    for n in (7, 30):
        active, inactive = 10, 0
        for i in range(3):
            new, reactivated, dormant = 2, 1, 1
            active, inactive = active + new + reactivated - dormant, inactive + dormant - reactivated
            rows.append({"as_of_date": DAY + timedelta(days=i), "inactivity_days": n, "new_customers": new,
                         "returning_customers": 3, "reactivated_customers": reactivated,
                         "dormant_customers": dormant, "active_customers": active, "inactive_customers": inactive})
    frame = pd.DataFrame(rows)
    frame.loc[2, "active_customers"] += 5  # invariant broken on day 3, N=7
    frame.loc[4, "returning_customers"] = -1  # a negative count
    return frame


def activity_rows(with_duplicate: bool) -> pd.DataFrame:
    """A negative order count, and (where the table has no key: DuckDB) a customer twice on a day."""
    frame = pd.DataFrame({
        "customer_id": ["a", "a", "b", "c", "d"],
        "activity_date": [DAY, DAY, DAY, DAY + timedelta(days=1), DAY + timedelta(days=1)],
        "orders": [1, 1, 0, 2, -3],
        "revenue": [10.0, 10.0, 0.0, 20.5, 1.0],
        "events": [0, 0, 4, 1, 1],
    })
    return frame if with_duplicate else frame.iloc[1:]


def compare(warehouse, table: str, frame: pd.DataFrame, start: date, end: date, date_column: str) -> None:
    suite = table_suite(table)
    with warehouse.begin() as conn:
        bulk_insert(conn, warehouse.qualified(table), frame)
    with warehouse.engine.connect() as conn:
        ours, rows_checked = validate_table(conn, warehouse.schema_name, table, suite, start, end, date_column)
    first = start - timedelta(days=1) if table == "lifecycle_daily" else start
    in_range = frame[(frame[date_column] >= first) & (frame[date_column] <= end)]
    theirs = validate_frame(warehouse.read_frame(
        f"SELECT * FROM {warehouse.qualified(table)} WHERE {date_column} BETWEEN :first AND :end",
        {"first": first, "end": end}), suite).results
    assert rows_checked == len(in_range)
    assert [r.description for r in ours] == [r.description for r in theirs]
    for mine, gx in zip(ours, theirs, strict=True):
        assert (mine.success, mine.unexpected_count) == (gx.success, gx.unexpected_count), mine.description
        assert mine.unexpected_percent == pytest.approx(gx.unexpected_percent), mine.description
        assert len(mine.failing_examples) == len(gx.failing_examples), mine.description
    assert any(not r.success for r in ours)  # the planted faults are found


def test_lifecycle_contract_in_the_warehouse_equals_great_expectations(warehouse):
    compare(warehouse, "lifecycle_daily", lifecycle_rows(), DAY + timedelta(days=1), DAY + timedelta(days=2),
            "as_of_date")
    with warehouse.engine.connect() as conn:
        results, _ = validate_table(conn, warehouse.schema_name, "lifecycle_daily", table_suite("lifecycle_daily"),
                                    DAY + timedelta(days=1), DAY + timedelta(days=2))
    failed = {r.description for r in results if not r.success}
    assert failed == {"active(D) = active(D-1) + new(D) + reactivated(D) - dormant(D)", "returning_customers >= 0"}


def test_activity_contract_in_the_warehouse_equals_great_expectations(warehouse):
    compare(warehouse, "customer_daily_activity", activity_rows(warehouse.is_duckdb), DAY, DAY + timedelta(days=1), "activity_date")
