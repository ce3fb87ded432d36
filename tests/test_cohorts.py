"""cohort_retention (rekindle.cohorts): a hand-computed case across a year boundary, months
without activity, the `through` cut-off, and DuckDB/PostgreSQL agreement."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

from rekindle.cohorts import refresh_cohort_retention

COLUMNS = "cohort_month, months_since_first, cohort_size, active_customers, retention_rate, revenue"


def load_activity(wh, rows) -> None:
    """Replace customer_daily_activity by rows (customer, day, orders, revenue, events)."""
    frame = pd.DataFrame([(c, d, o, Decimal(str(r)), e) for c, d, o, r, e in rows],
                         columns=["customer_id", "activity_date", "orders", "revenue", "events"])
    with wh.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {wh.qualified('customer_daily_activity')}"))
        wh.bulk_insert(conn, "customer_daily_activity", frame)


def cohort_rows(wh, through: date) -> list[tuple]:
    with wh.begin() as conn:
        refresh_cohort_retention(conn, wh.schema_name, through)
    frame = wh.read_frame(f"SELECT {COLUMNS} FROM {wh.qualified('cohort_retention')} "
                          "ORDER BY cohort_month, months_since_first")
    return [tuple(None if pd.isna(v) else v for v in r) for r in frame.itertuples(index=False)]


ROWS = [
    ("alice", date(2024, 12, 5), 1, 10, 0),
    ("alice", date(2024, 12, 20), 0, 0, 2),
    ("alice", date(2025, 2, 3), 1, 30, 0),
    ("alice", date(2025, 3, 10), 0, 0, 1),
    ("bob", date(2024, 12, 31), 1, 5, 0),
    ("bob", date(2025, 1, 1), 1, 7, 0),
    ("erin", date(2025, 1, 15), 0, 0, 1),
    ("carol", date(2025, 2, 28), 0, 0, 1),
    ("carol", date(2025, 3, 1), 1, 20, 0),
    ("dave", date(2025, 3, 20), 1, 99, 0),  # after `through`: not loaded yet
]


def test_hand_computed_cohorts(duckdb_warehouse):
    load_activity(duckdb_warehouse, ROWS)
    m = lambda y, mo: date(y, mo, 1)  # noqa: E731
    # through = Mar 15, 2025, so every cohort runs to March 2025.
    # Dec 2024 cohort = alice, bob: Dec both ($10 + $5); Jan bob ($7); Feb alice ($30);
    # Mar alice (events only, $0).
    # Jan 2025 cohort = erin: active in January only -> 0 rows for Feb and Mar.
    # Feb 2025 cohort = carol: Feb (events), Mar ($20). dave's first day is after `through`.
    assert cohort_rows(duckdb_warehouse, date(2025, 3, 15)) == [
        (m(2024, 12), 0, 2, 2, 1.0, Decimal("15")),
        (m(2024, 12), 1, 2, 1, 0.5, Decimal("7")),
        (m(2024, 12), 2, 2, 1, 0.5, Decimal("30")),
        (m(2024, 12), 3, 2, 1, 0.5, Decimal("0")),
        (m(2025, 1), 0, 1, 1, 1.0, Decimal("0")),
        (m(2025, 1), 1, 1, 0, 0.0, Decimal("0")),
        (m(2025, 1), 2, 1, 0, 0.0, Decimal("0")),
        (m(2025, 2), 0, 1, 1, 1.0, Decimal("0")),
        (m(2025, 2), 1, 1, 1, 1.0, Decimal("20")),
    ]


def test_rebuild_replaces_the_snapshot_and_empty_history_gives_no_rows(duckdb_warehouse):
    load_activity(duckdb_warehouse, ROWS)
    assert len(cohort_rows(duckdb_warehouse, date(2025, 3, 31))) == 4 + 3 + 2 + 1  # dave: Mar 2025, k = 0
    assert len(cohort_rows(duckdb_warehouse, date(2025, 1, 31))) == 2 + 1  # Dec: k 0-1; Jan: k 0
    load_activity(duckdb_warehouse, [])
    assert cohort_rows(duckdb_warehouse, date(2025, 3, 31)) == []


@pytest.mark.postgres
def test_duckdb_and_postgres_give_identical_cohorts(duckdb_warehouse, postgres_warehouse):
    rng = random.Random(4)
    rows = [(f"c{i}", date(2024, 1, 1) + timedelta(days=d), rng.choice([0, 1, 2]), rng.randrange(0, 9000) / 100, 1)
            for i in range(60) for d in sorted(rng.sample(range(500), 8))]
    results = []
    for wh in (duckdb_warehouse, postgres_warehouse):
        load_activity(wh, rows)
        results.append(cohort_rows(wh, date(2025, 4, 10)))
    assert results[0] and results[0] == results[1]
