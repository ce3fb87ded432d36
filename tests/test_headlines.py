"""Row counts and headline numbers per day, on DuckDB and PostgreSQL: what each refresh returns is
the rows it wrote (DuckDB's driver says -1 for INSERT ... SELECT), and each day's numbers are that
day's rows of the table, read in one query per table however long the range."""

from datetime import date, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa
from metric_harness import load_activity

from rekindle import campaigns, cohorts, headlines, metrics, nps, segments
from rekindle.headlines import ROW_COUNT

START, END = date(2025, 1, 1), date(2025, 2, 28)
N, P = (7, 14), (1, 7)


def _activity() -> list[tuple]:
    """Three customers: one steady, one who lapses for 20 days and comes back, one who buys twice."""
    rows = [("steady", START + timedelta(days=d), 1, 10.0, 2) for d in range(0, 59, 3)]
    rows += [("lapser", START + timedelta(days=d), 0, 0.0, 1) for d in (0, 1, 2, 25, 26)]
    rows += [("buyer", START + timedelta(days=d), 2, 35.5, 0) for d in (5, 40)]
    return rows


def _refresh_all(wh, start: date, end: date) -> dict[str, int]:
    s = wh.schema_name
    with wh.begin() as conn:
        return {
            "lifecycle_daily": metrics.refresh_lifecycle_daily(conn, s, start, end, N),
            "reactivation_daily": metrics.refresh_reactivation_daily(conn, s, start, end, N, P),
            "retention_daily": metrics.refresh_retention_daily(conn, s, start, end, N, P),
            "purchase_daily": metrics.refresh_purchase_daily(conn, s, start, end, P),
            "clv_daily": metrics.refresh_clv_daily(conn, s, start, end, N),
            "nps_daily": nps.refresh_nps_daily(conn, s, start, end, P),
            "inactive_segments": segments.refresh_inactive_segments(conn, s, start, end, N),
        }


def _count(wh, table: str, where: str = "") -> int:
    return int(wh.scalar(f"SELECT COUNT(*) FROM {wh.qualified(table)} {where}"))


def test_every_refresh_returns_the_rows_it_wrote(warehouse):
    load_activity(warehouse, _activity())
    days = (END - START).days + 1
    written = _refresh_all(warehouse, START, END)
    expected = {
        "lifecycle_daily": days * len(N), "reactivation_daily": days * len(N) * len(P),
        "retention_daily": days * len(N) * len(P), "purchase_daily": days * len(P), "clv_daily": days * len(N),
        "nps_daily": days * len(P), "inactive_segments": days * len(N) * 3 * len(segments.RFM_SEGMENTS),
    }
    assert written == expected
    for table, rows in written.items():
        assert rows == _count(warehouse, table)

    # a rewrite of a few days says how many rows those days hold, not the table's total
    middle = START + timedelta(days=20)
    again = _refresh_all(warehouse, middle, middle + timedelta(days=2))
    assert again == {table: rows // days * 3 for table, rows in expected.items()}

    s = warehouse.schema_name
    with warehouse.begin() as conn:
        assert metrics.refresh_customer_daily_activity(conn, s, START, END, ()) == 0  # no raw rows: none written
    load_activity(warehouse, _activity())
    with warehouse.begin() as conn:
        assert metrics.refresh_customers(conn, s) == 3
        cohort_rows = cohorts.refresh_cohort_retention(conn, s, END)
        assert campaigns.refresh_campaign_performance(conn, s, 7, 14) == 0
        assert segments.refresh_inactive_customers(conn, s, END, 7) == 2  # the lapser and the buyer
    assert cohort_rows == _count(warehouse, "cohort_retention") == 2  # one cohort (January), months 0 and 1


def test_each_day_gets_its_own_headline_numbers(warehouse):
    load_activity(warehouse, _activity())
    _refresh_all(warehouse, START, END)
    s = warehouse.schema_name
    with warehouse.begin() as conn:
        per_day = headlines.daily_headlines(conn, s, "reactivation_daily", START, END, N, P)
    table = warehouse.read_frame(f"SELECT * FROM {warehouse.qualified('reactivation_daily')} WHERE inactivity_days = 7")
    assert sorted(per_day) == [START + timedelta(days=d) for d in range((END - START).days + 1)]
    came_back = START + timedelta(days=25)  # the lapser: inactive from Jan 10 (7 days after Jan 3)
    for day, numbers in per_day.items():
        assert numbers[ROW_COUNT] == len(N) * len(P)
        for p in P:
            row = table[(table["as_of_date"] == pd.Timestamp(day).date()) & (table["period_days"] == p)].iloc[0]
            assert numbers[f"inactive_at_start_7d_p{p}"] == row["inactive_at_start"]
            assert numbers[f"reactivated_7d_p{p}"] == row["reactivated"]
            if pd.isna(row["reactivation_rate"]):  # nobody inactive at the start: no number, a gap in the plot
                assert f"reactivation_rate_7d_p{p}" not in numbers
            else:
                assert numbers[f"reactivation_rate_7d_p{p}"] == pytest.approx(row["reactivation_rate"])
    assert per_day[came_back]["reactivated_7d_p1"] == 1
    assert per_day[came_back]["reactivation_rate_7d_p1"] == pytest.approx(1 / 2)  # the lapser of the two inactive
    assert "reactivation_rate_14d_p1" not in per_day[came_back]  # only the primary N


def test_headline_keys_of_every_daily_table(warehouse):
    load_activity(warehouse, _activity())
    _refresh_all(warehouse, START, END)
    day = START + timedelta(days=26)
    s = warehouse.schema_name
    with warehouse.begin() as conn:
        numbers = {
            table: headlines.daily_headlines(conn, s, table, day, day, N, P)[day]
            for table in ("lifecycle_daily", "retention_daily", "purchase_daily", "clv_daily", "nps_daily",
                          "inactive_segments", "customer_daily_activity")
        }
    assert numbers["lifecycle_daily"] == {
        ROW_COUNT: 2, "new_customers_7d": 0, "returning_customers_7d": 1, "reactivated_customers_7d": 0,
        "dormant_customers_7d": 0, "active_customers_7d": 2, "inactive_customers_7d": 1,
    }
    # the steady customer's orders of Jan 22 and 25, in the 7 days ending Jan 27
    assert numbers["purchase_daily"]["revenue_p7"] == 20.0 and numbers["purchase_daily"]["orders_p7"] == 2
    assert {"churn_rate_7d_p7", "retention_rate_7d_p7", "customers_at_start_7d_p7", "churned_7d_p7"} <= set(
        numbers["retention_daily"])
    assert numbers["nps_daily"] == {ROW_COUNT: 2, "responses_p1": 0, "responses_p7": 0}  # nps NULL: left out
    assert numbers["inactive_segments"]["inactive_customers_7d"] == 1
    assert numbers["inactive_segments"]["inactive_customers_7d_14_27"] == 1  # the buyer, 21 days inactive
    assert numbers["inactive_segments"]["inactive_lifetime_revenue_7d"] == 35.5
    assert numbers["customer_daily_activity"] == {
        ROW_COUNT: 1, "active_customers": 1, "orders": 0, "revenue": 0.0, "events": 1,
    }
    # 11 orders for 125.50 by 2 buyers so far; nobody was in the base a year before, so no churn rate, no CLV
    assert numbers["clv_daily"] == {
        ROW_COUNT: 2, "average_order_value_7d": 11.41, "purchases_per_year_7d": 5.5,
    }


def test_quiet_days_and_raw_days_come_from_the_warehouse(warehouse):
    s = warehouse.schema_name
    quiet = date(2025, 3, 5)
    with warehouse.begin() as conn:
        per_day = headlines.daily_headlines(conn, s, "customer_daily_activity", quiet, quiet, N, P)
    assert per_day == {quiet: {ROW_COUNT: 0, "active_customers": 0, "orders": 0, "revenue": 0, "events": 0}}

    orders = pd.DataFrame({
        "order_id": ["o1", "o2", "o3"], "customer_id": ["c1", "c2", "c1"],
        "ordered_at": pd.to_datetime(["2025-03-01 10:00", "2025-03-01 11:00", "2025-03-03 09:00"]),
        "amount": [10.0, 20.0, 5.0], "currency": "USD", "status": "completed", "channel": None,
        "partition_date": [date(2025, 3, 1), date(2025, 3, 1), date(2025, 3, 3)], "source_file": "f.csv",
    })
    rejected = pd.DataFrame({
        "source": ["orders", "orders", "orders", "events"],
        "partition_date": [date(2025, 3, 1), date(2025, 3, 1), date(2025, 3, 9), date(2025, 3, 1)],
        "source_file": "f.csv", "reason": ["duplicate", "negative_amount", "duplicate", "duplicate"],
        "record": ["{}", "{}", "{}", "{}"],
    })
    with warehouse.begin() as conn:
        warehouse.bulk_insert(conn, "raw_orders", orders)
        warehouse.bulk_insert(conn, "quarantine", rejected)
        held = headlines.raw_day_counts(
            conn, s, "orders", "raw_orders", date(2025, 3, 1), date(2025, 3, 3), extra_days=[date(2025, 3, 9)]
        )
    assert held == {
        date(2025, 3, 1): headlines.RawDay(2, 2, {"duplicate": 1, "negative_amount": 1}),
        date(2025, 3, 2): headlines.RawDay(0, 0, {}),
        date(2025, 3, 3): headlines.RawDay(1, 0, {}),
        date(2025, 3, 9): headlines.RawDay(0, 1, {"duplicate": 1}),
    }


def test_a_long_range_is_one_query_per_table(duckdb_warehouse):
    load_activity(duckdb_warehouse, _activity())
    _refresh_all(duckdb_warehouse, START, END)
    statements = []
    listener = lambda conn, cursor, statement, *args: statements.append(statement)  # noqa: E731
    sa.event.listen(duckdb_warehouse.engine, "before_cursor_execute", listener)
    try:
        with duckdb_warehouse.begin() as conn:
            per_day = headlines.daily_headlines(conn, duckdb_warehouse.schema_name, "retention_daily", START, END, N, P)
    finally:
        sa.event.remove(duckdb_warehouse.engine, "before_cursor_execute", listener)
    assert len(per_day) == 59
    assert len([s for s in statements if "retention_daily" in s]) == 1
