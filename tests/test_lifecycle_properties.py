"""Property tests: over random small activity histories and random windows, the warehouse SQL
of rekindle.metrics equals the naive reference of SPEC section 5, and the lifecycle invariants
hold. DuckDB only (fast); one warehouse per test function, emptied before every example."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metric_reference
from metric_harness import (
    METRIC_TABLES,
    assert_frames_equal,
    assert_lifecycle_invariants,
    assert_metrics_equal,
    clear_metrics,
    load_activity,
    normalize,
    read_metrics,
    read_table,
    reference_frames,
    refresh_metrics,
)

BASE = date(2025, 1, 1)
HISTORY_DAYS = 120

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    # The warehouse fixture is shared by the examples of one test on purpose; every example
    # starts by replacing the activity table and deleting the metric rows.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def scenarios(draw):
    """(rows, start, end, inactivity windows N, periods P)."""
    n_customers = draw(st.integers(1, 6))
    rows = []
    gaps: set[int] = set()
    for i in range(n_customers):
        # Mostly clustered days (short gaps) with a few long jumps, so that gaps of every
        # length, including exactly N and N + 1, show up.
        offsets = draw(st.sets(st.integers(0, HISTORY_DAYS - 1), min_size=1, max_size=20))
        offsets = sorted(offsets)
        gaps.update(b - a for a, b in zip(offsets, offsets[1:]))
        for o in offsets:
            orders = draw(st.integers(0, 3))
            revenue = Decimal(draw(st.integers(0, 50_000))) / 100 if orders else Decimal(0)  # $0 orders exist
            events = draw(st.integers(0 if orders else 1, 3))
            rows.append((f"c{i}", BASE + timedelta(days=o), orders, revenue, events))
    # Windows: arbitrary ones, plus ones equal to a real gap (or off by one) to hit the boundaries.
    near_gaps = sorted({g + k for g in gaps for k in (-1, 0, 1) if 1 <= g + k <= 40}) or [1]
    window = st.one_of(st.integers(1, 40), st.sampled_from(near_gaps))
    ns = draw(st.lists(window, min_size=1, max_size=3, unique=True))
    ps = draw(st.lists(st.one_of(st.integers(1, 45), st.sampled_from(near_gaps)), min_size=1, max_size=3, unique=True))
    # The range may start before the first activity and end before the last one.
    first = draw(st.integers(-10, HISTORY_DAYS + 5))
    last = draw(st.integers(first, min(first + 60, HISTORY_DAYS + 10)))
    return rows, BASE + timedelta(days=first), BASE + timedelta(days=last), ns, ps


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_sql_equals_reference(duckdb_warehouse, scenario):
    rows, start, end, ns, ps = scenario
    load_activity(duckdb_warehouse, rows)
    clear_metrics(duckdb_warehouse)
    refresh_metrics(duckdb_warehouse, start, end, ns, ps)
    actual = read_metrics(duckdb_warehouse)
    assert_metrics_equal(actual, reference_frames(rows, start, end, ns, ps))
    assert_lifecycle_invariants(actual["lifecycle_daily"])


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_lifecycle_invariants(duckdb_warehouse, scenario):
    """The invariants of SPEC section 5, on the SQL output over the whole history (from before
    the first active day to after the last), and on the definitions themselves."""
    rows, _, _, ns, _ = scenario
    start, end = BASE - timedelta(days=3), BASE + timedelta(days=HISTORY_DAYS + 45)
    load_activity(duckdb_warehouse, rows)
    clear_metrics(duckdb_warehouse)
    refresh_metrics(duckdb_warehouse, start, end, ns, [1], tables=["lifecycle_daily"])
    lifecycle = read_table(duckdb_warehouse, "lifecycle_daily")
    assert_lifecycle_invariants(lifecycle)
    reference = normalize(pd.DataFrame(metric_reference.lifecycle_daily(rows, start, end, ns)), "lifecycle_daily")
    assert_lifecycle_invariants(reference)
    assert_frames_equal(lifecycle, reference, "lifecycle_daily")
    # Before anything happened everything is 0; long after the last activity everyone is inactive.
    customers = len({r[0] for r in rows})
    first_rows = lifecycle[lifecycle["as_of_date"] == start]
    assert (first_rows.drop(columns=["as_of_date", "inactivity_days"]) == 0).all().all()
    last_rows = lifecycle[lifecycle["as_of_date"] == end]
    assert (last_rows["inactive_customers"] == customers).all()
    assert (last_rows["active_customers"] == 0).all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios(), cuts=st.lists(st.integers(0, 70), max_size=4, unique=True), data=st.data())
def test_split_and_repeated_refreshes_equal_one_call(duckdb_warehouse, scenario, cuts, data):
    """Computing [start, end] in pieces (in any order, some twice) gives the rows of one call."""
    rows, start, end, ns, ps = scenario
    load_activity(duckdb_warehouse, rows)
    clear_metrics(duckdb_warehouse)
    refresh_metrics(duckdb_warehouse, start, end, ns, ps)
    whole = read_metrics(duckdb_warehouse)

    clear_metrics(duckdb_warehouse)
    length = (end - start).days + 1
    bounds = sorted({0, length} | {c for c in cuts if 0 < c < length})
    pieces = [(start + timedelta(days=a), start + timedelta(days=b - 1)) for a, b in zip(bounds, bounds[1:])]
    pieces = data.draw(st.permutations(pieces))
    pieces += data.draw(st.lists(st.sampled_from(pieces), max_size=2))  # re-runs
    for a, b in pieces:
        refresh_metrics(duckdb_warehouse, a, b, ns, ps)
    assert_metrics_equal(read_metrics(duckdb_warehouse), whole)


@pytest.mark.parametrize("table", METRIC_TABLES)
def test_reference_has_one_row_per_key(table):
    """Sanity check of the oracle itself: one row per day x N [x P] even without activity."""
    tables = reference_frames([], date(2025, 1, 1), date(2025, 1, 3), [2, 5], [1, 7])
    frame = tables[table]
    per_day = {"lifecycle_daily": 2, "reactivation_daily": 4, "retention_daily": 4, "purchase_daily": 2}[table]
    assert len(frame) == 3 * per_day
