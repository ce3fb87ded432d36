"""The metric SQL of rekindle.metrics against hand-computed numbers, the worked examples of
SPEC section 5, boundary cases, idempotence, DuckDB/PostgreSQL agreement and the naive
reference (tests/metric_reference.py).

Tests taking the `warehouse` fixture run on DuckDB and on PostgreSQL.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

from metric_harness import (
    METRIC_TABLES,
    assert_frames_equal,
    assert_lifecycle_invariants,
    assert_metrics_equal,
    clear_metrics,
    load_activity,
    normalize,
    random_history,
    read_metrics,
    read_table,
    reference_frames,
    refresh_metrics,
    row,
)
from rekindle import metrics
from rekindle.settings import DEFAULT_PASSIVE_EVENT_TYPES


def jan(d: int) -> date:
    return date(2025, 1, d)


def dates(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def lifecycle_tuples(frame: pd.DataFrame, n: int) -> list[tuple]:
    g = frame[frame["inactivity_days"] == n].sort_values("as_of_date")
    return [
        (r.as_of_date, r.new_customers, r.returning_customers, r.reactivated_customers, r.dormant_customers,
         r.active_customers, r.inactive_customers)
        for r in g.itertuples()
    ]


# =========================================================================================
# (a) tiny histories computed by hand
# =========================================================================================

# alice: active Jan 1 (1 order, $10), Jan 4 (events only), Jan 8 (2 orders, $30)
# bob:   active Jan 2 (1 order, $5), Jan 3 (1 order, $7)
ALICE_BOB = [
    ("alice", jan(1), 1, Decimal("10.00"), 0),
    ("alice", jan(4), 0, Decimal("0"), 3),
    ("alice", jan(8), 2, Decimal("30.00"), 1),
    ("bob", jan(2), 1, Decimal("5.00"), 0),
    ("bob", jan(3), 1, Decimal("7.00"), 2),
]


def test_hand_computed_lifecycle(warehouse):
    load_activity(warehouse, ALICE_BOB)
    refresh_metrics(warehouse, jan(1), jan(10), [3], [2], tables=["lifecycle_daily"])
    # N = 3. alice: new Jan 1; Jan 4 returning (previous Jan 1 = Jan 4 - 3, a gap of exactly N);
    # her last active day Jan 4 = Jan 7 - 3 -> dormant Jan 7; Jan 8 reactivated (previous
    # Jan 4 < Jan 8 - 3 = Jan 5). bob: new Jan 2, returning Jan 3, dormant Jan 6 (Jan 3 = Jan 6 - 3).
    # in base: alice Jan 1-6 and Jan 8-10, bob Jan 2-5; inactive: alice Jan 7, bob Jan 6-10.
    #              day      new ret react dorm active inactive
    expected = [
        (jan(1), 1, 0, 0, 0, 1, 0),
        (jan(2), 1, 0, 0, 0, 2, 0),
        (jan(3), 0, 1, 0, 0, 2, 0),
        (jan(4), 0, 1, 0, 0, 2, 0),
        (jan(5), 0, 0, 0, 0, 2, 0),
        (jan(6), 0, 0, 0, 1, 1, 1),
        (jan(7), 0, 0, 0, 1, 0, 2),
        (jan(8), 0, 0, 1, 0, 1, 1),
        (jan(9), 0, 0, 0, 0, 1, 1),
        (jan(10), 0, 0, 0, 0, 1, 1),
    ]
    assert lifecycle_tuples(read_table(warehouse, "lifecycle_daily"), 3) == expected


def test_hand_computed_reactivation_retention_purchase(warehouse):
    load_activity(warehouse, ALICE_BOB)
    refresh_metrics(warehouse, jan(1), jan(10), [3], [2])
    m = read_metrics(warehouse)
    rea, ret, pur = m["reactivation_daily"], m["retention_daily"], m["purchase_daily"]

    def reactivation(d):
        r = row(rea, as_of_date=d, inactivity_days=3, period_days=2)
        return r["inactive_at_start"], r["reactivated"], r["reactivation_rate"], r["reactivated_revenue"]

    # N = 3, P = 2, S = D - 2.
    # D = Jan 5: S = Jan 3, nobody inactive yet -> 0 / 0, rate NULL.
    assert reactivation(jan(5)) == (0, 0, None, Decimal("0"))
    # D = Jan 8: S = Jan 6, only bob is inactive (alice: 2 days < 3); bob does not come back.
    assert reactivation(jan(8)) == (1, 0, 0.0, Decimal("0"))
    # D = Jan 9: S = Jan 7, alice and bob inactive; alice active Jan 8 in (Jan 7, Jan 9] with $30.
    assert reactivation(jan(9)) == (2, 1, 0.5, Decimal("30"))
    # D = Jan 10: S = Jan 8, alice is active on S, so only bob is inactive at the start.
    assert reactivation(jan(10)) == (1, 0, 0.0, Decimal("0"))

    def retention(d):
        r = row(ret, as_of_date=d, inactivity_days=3, period_days=2)
        return r["customers_at_start"], r["retained"], r["churned"], r["retention_rate"], r["churn_rate"]

    # D = Jan 2: S = Dec 31, nobody seen yet -> rates NULL.
    assert retention(jan(2)) == (0, 0, 0, None, None)
    # D = Jan 3: S = Jan 1, alice in base; on Jan 3 she is 2 days inactive (< 3) -> retained.
    assert retention(jan(3)) == (1, 1, 0, 1.0, 0.0)
    # D = Jan 6: S = Jan 4, both in base; bob inactive on Jan 6 (3 days), alice not (2 days).
    assert retention(jan(6)) == (2, 1, 1, 0.5, 0.5)
    # D = Jan 7: S = Jan 5, both in base, both inactive on Jan 7.
    assert retention(jan(7)) == (2, 0, 2, 0.0, 1.0)
    # D = Jan 8: S = Jan 6, only alice in base (bob inactive); alice active Jan 8 -> retained.
    assert retention(jan(8)) == (1, 1, 0, 1.0, 0.0)
    # D = Jan 9: S = Jan 7, both inactive at the start -> empty base, rates NULL.
    assert retention(jan(9)) == (0, 0, 0, None, None)

    def purchase(d):
        r = row(pur, as_of_date=d, period_days=2)
        return (r["orders"], r["buyers"], r["revenue"], r["average_order_value"], r["purchase_frequency"],
                r["repeat_buyers"], r["repeat_purchase_rate"])

    # (Dec 31, Jan 2]: alice 1 x $10, bob 1 x $5.
    assert purchase(jan(2)) == (2, 2, Decimal("15"), 7.5, 1.0, 0, 0.0)
    # (Jan 1, Jan 3]: bob $5 + $7 on two days -> repeat buyer.
    assert purchase(jan(3)) == (2, 1, Decimal("12"), 6.0, 2.0, 1, 1.0)
    # (Jan 2, Jan 4]: bob $7; alice's Jan 4 has events but no order.
    assert purchase(jan(4)) == (1, 1, Decimal("7"), 7.0, 1.0, 0, 0.0)
    # (Jan 4, Jan 6]: no orders -> counts 0, rates NULL.
    assert purchase(jan(6)) == (0, 0, Decimal("0"), None, None, 0, None)
    # (Jan 6, Jan 8] and (Jan 7, Jan 9]: alice's 2 orders on Jan 8 make her a repeat buyer.
    assert purchase(jan(8)) == (2, 1, Decimal("30"), 15.0, 2.0, 1, 1.0)
    assert purchase(jan(9)) == (2, 1, Decimal("30"), 15.0, 2.0, 1, 1.0)
    # (Jan 8, Jan 10]: nothing.
    assert purchase(jan(10)) == (0, 0, Decimal("0"), None, None, 0, None)


def test_repeat_buyers_with_several_orders_on_one_day(warehouse):
    rows = [
        ("m", jan(2), 3, Decimal("30.00"), 0),  # 3 orders on one day: repeat buyer on their own
        ("s", jan(2), 1, Decimal("10.00"), 0),
        ("t", jan(1), 1, Decimal("5.00"), 0),  # 1 order on two different days
        ("t", jan(3), 1, Decimal("5.00"), 0),
    ]
    load_activity(warehouse, rows)
    refresh_metrics(warehouse, jan(1), jan(4), [30], [1, 2, 3], tables=["purchase_daily"])
    pur = read_table(warehouse, "purchase_daily")

    def purchase(d, p):
        r = row(pur, as_of_date=d, period_days=p)
        return (r["orders"], r["buyers"], r["revenue"], r["repeat_buyers"], r["repeat_purchase_rate"],
                r["purchase_frequency"])

    # P = 1, D = Jan 2: m (3) and s (1) -> 4 orders, 2 buyers, m repeats.
    assert purchase(jan(2), 1) == (4, 2, Decimal("40"), 1, 0.5, 2.0)
    # P = 1, D = Jan 3: t alone with one order.
    assert purchase(jan(3), 1) == (1, 1, Decimal("5"), 0, 0.0, 1.0)
    # P = 2, D = Jan 3 -> (Jan 1, Jan 3]: m 3, s 1, t 1 (Jan 1 is outside) -> only m repeats.
    r = purchase(jan(3), 2)
    assert r[:4] == (5, 3, Decimal("45"), 1) and r[4] == pytest.approx(1 / 3, abs=1e-9)
    # P = 3, D = Jan 3 -> (Dec 31, Jan 3]: t now has 2 orders too.
    r = purchase(jan(3), 3)
    assert r[:4] == (6, 3, Decimal("50"), 2) and r[4] == pytest.approx(2 / 3, abs=1e-9) and r[5] == 2.0
    # P = 3, D = Jan 4 -> (Jan 1, Jan 4]: t's Jan 1 order dropped out again.
    assert purchase(jan(4), 3)[:4] == (5, 3, Decimal("45"), 1)
    aov = row(pur, as_of_date=jan(3), period_days=3)["average_order_value"]
    assert aov == pytest.approx(50 / 6, abs=1e-9)


# =========================================================================================
# (b) the worked examples of SPEC section 5, as real data
# =========================================================================================


def test_spec_example_reactivation_rate(warehouse):
    """1,000 customers inactive at the start of the period, 200 of them came back -> 0.20."""
    n, p, d = 30, 30, date(2025, 3, 31)  # S = Mar 1
    rows = []
    for i in range(1000):  # active Jan 1 only: 59 days inactive on Mar 1
        rows.append((f"lapsed{i:04d}", jan(1), 1, Decimal("10.00"), 0))
        if i < 200:  # 200 come back on Mar 15 with a $25 order
            rows.append((f"lapsed{i:04d}", date(2025, 3, 15), 1, Decimal("25.00"), 1))
    for i in range(300):  # in the active base on Mar 1 (9 days since Feb 20): not in the denominator
        rows.append((f"base{i:03d}", date(2025, 2, 20), 1, Decimal("7.00"), 0))
        rows.append((f"base{i:03d}", date(2025, 3, 20), 1, Decimal("7.00"), 0))
    load_activity(warehouse, rows)
    refresh_metrics(warehouse, jan(1), d, [n], [p], tables=["lifecycle_daily", "reactivation_daily"])
    r = row(read_table(warehouse, "reactivation_daily"), as_of_date=d, inactivity_days=n, period_days=p)
    assert (r["inactive_at_start"], r["reactivated"]) == (1000, 200)
    assert r["reactivation_rate"] == pytest.approx(0.20, abs=1e-12)
    assert r["reactivated_revenue"] == Decimal("5000")  # 200 x $25, the base customers' $7 not included
    lifecycle = read_table(warehouse, "lifecycle_daily")
    assert row(lifecycle, as_of_date=jan(31), inactivity_days=n)["dormant_customers"] == 1000
    mar15 = row(lifecycle, as_of_date=date(2025, 3, 15), inactivity_days=n)
    # 1,000 went dormant on Jan 31, 200 of them came back on Mar 15; the base customers are 23 days in.
    assert mar15["reactivated_customers"] == 200 and mar15["inactive_customers"] == 800


@pytest.mark.parametrize(
    ("at_start", "churned", "n", "p", "churn_rate"),
    [(100, 10, 30, 30, 0.10), (500, 20, 7, 7, 0.04), (1000, 50, 60, 90, 0.05)],
)
def test_spec_examples_churn_rate(warehouse, at_start, churned, n, p, churn_rate):
    """100 at the start, 10 churned -> 0.10; 500 and 20 -> 0.04; 1,000 and 50 -> 0.05 / 0.95."""
    d = date(2025, 6, 30)
    s = d - timedelta(days=p)
    rows = []
    for i in range(at_start):
        # active the day before S: 1 day inactive at S (< N) -> in the base at S
        rows.append((f"c{i:04d}", s - timedelta(days=1), 1, Decimal("20.00"), 0))
        if i >= churned:  # the retained ones are active again on D; the others P + 1 >= N days inactive
            rows.append((f"c{i:04d}", d, 0, Decimal("0"), 1))
    for i in range(40):  # inactive at S (N + 1 days) and back on D: not part of customers_at_start
        rows.append((f"old{i:02d}", s - timedelta(days=n + 1), 1, Decimal("5.00"), 0))
        rows.append((f"old{i:02d}", d, 1, Decimal("5.00"), 0))
    load_activity(warehouse, rows)
    refresh_metrics(warehouse, d, d, [n], [p], tables=["retention_daily"])
    r = row(read_table(warehouse, "retention_daily"), as_of_date=d, inactivity_days=n, period_days=p)
    assert (r["customers_at_start"], r["churned"], r["retained"]) == (at_start, churned, at_start - churned)
    assert r["churn_rate"] == pytest.approx(churn_rate, abs=1e-12)
    assert r["retention_rate"] == pytest.approx(1 - churn_rate, abs=1e-12)
    if at_start == 1000:
        assert r["retention_rate"] == pytest.approx(0.95, abs=1e-12)


# =========================================================================================
# (c) boundary cases
# =========================================================================================


def test_gap_of_exactly_n_days_is_returning_and_n_plus_1_is_reactivated(warehouse):
    # x: Jan 1 and Jan 6 (5 days apart), y: Jan 1 and Jan 7 (6 days apart).
    rows = [("x", jan(1), 0, 0, 1), ("x", jan(6), 0, 0, 1), ("y", jan(1), 0, 0, 1), ("y", jan(7), 0, 0, 1)]
    load_activity(warehouse, rows)
    refresh_metrics(warehouse, jan(1), jan(8), [5, 6], [1], tables=["lifecycle_daily", "reactivation_daily"])
    lifecycle = read_table(warehouse, "lifecycle_daily")
    # N = 5. Jan 6: x returns after exactly N days -> returning; y's last active day Jan 1 =
    # Jan 6 - 5 -> y turns dormant (inactive), x does not (x is active on Jan 6).
    # Jan 7: y returns after 6 = N + 1 days; it was inactive at the end of Jan 6 -> reactivated.
    #              day     new ret react dorm active inactive
    assert lifecycle_tuples(lifecycle, 5) == [
        (jan(1), 2, 0, 0, 0, 2, 0),
        (jan(2), 0, 0, 0, 0, 2, 0),
        (jan(3), 0, 0, 0, 0, 2, 0),
        (jan(4), 0, 0, 0, 0, 2, 0),
        (jan(5), 0, 0, 0, 0, 2, 0),
        (jan(6), 0, 1, 0, 1, 1, 1),
        (jan(7), 0, 0, 1, 0, 2, 0),
        (jan(8), 0, 0, 0, 0, 2, 0),
    ]
    # N = 6: both gaps are <= N -> both returning, nobody ever dormant.
    assert lifecycle_tuples(lifecycle, 6)[5:7] == [(jan(6), 0, 1, 0, 0, 2, 0), (jan(7), 0, 1, 0, 0, 2, 0)]
    rea = read_table(warehouse, "reactivation_daily")
    # P = 1, D = Jan 7: S = Jan 6, y inactive at S (5 days >= 5) and active on Jan 7.
    r = row(rea, as_of_date=jan(7), inactivity_days=5, period_days=1)
    assert (r["inactive_at_start"], r["reactivated"], r["reactivation_rate"]) == (1, 1, 1.0)
    r = row(rea, as_of_date=jan(7), inactivity_days=6, period_days=1)
    assert (r["inactive_at_start"], r["reactivated"], r["reactivation_rate"]) == (0, 0, None)


def test_dormant_exactly_n_days_after_the_last_active_day(warehouse):
    # z: active Jan 1 only; w: active Jan 3 only. N = 5: z dormant on Jan 6, w on Jan 8.
    load_activity(warehouse, [("z", jan(1), 1, Decimal("1"), 0), ("w", jan(3), 0, 0, 2)])
    refresh_metrics(warehouse, jan(1), jan(10), [5], [1], tables=["lifecycle_daily"])
    got = {t[0]: t[4:] for t in lifecycle_tuples(read_table(warehouse, "lifecycle_daily"), 5)}
    #                     dormant active inactive
    assert got == {
        jan(1): (0, 1, 0),
        jan(2): (0, 1, 0),
        jan(3): (0, 2, 0),
        jan(4): (0, 2, 0),
        jan(5): (0, 2, 0),  # z: 4 days inactive, still in the base
        jan(6): (1, 1, 1),  # z: 5 days = N -> dormant and inactive
        jan(7): (0, 1, 1),  # z stays inactive, is not dormant again
        jan(8): (1, 0, 2),  # w: 5 days
        jan(9): (0, 0, 2),
        jan(10): (0, 0, 2),
    }


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            # r: Jan 1, back Jan 10 ($40) and Jan 11 ($2). N = 5, P = 3: inactive Jan 6 .. Jan 9.
            [("r", jan(1), 0, 0, 1), ("r", jan(10), 1, Decimal("40"), 0), ("r", jan(11), 1, Decimal("2"), 0)],
            {
                jan(8): (0, 0, None, 0),  # S = Jan 5: 4 days inactive, not yet inactive
                jan(9): (1, 0, 0.0, 0),  # S = Jan 6: inactive (5 days), nothing in (Jan 6, Jan 9]
                jan(10): (1, 1, 1.0, 40),  # S = Jan 7: back on Jan 10
                jan(11): (1, 1, 1.0, 42),  # S = Jan 8: all revenue in (S, D] counts
                jan(12): (1, 1, 1.0, 42),  # S = Jan 9: last D whose start lies in the inactive stretch
                jan(13): (0, 0, None, 0),  # S = Jan 10: active on S itself, so not inactive at the start
            },
            id="late-return",
        ),
        pytest.param(
            # q: Jan 1, back Jan 7 ($5). N = 5, P = 3: inactive on Jan 6 only.
            [("q", jan(1), 0, 0, 1), ("q", jan(7), 1, Decimal("5"), 0)],
            {
                jan(7): (0, 0, None, 0),  # S = Jan 4: 3 days
                jan(8): (0, 0, None, 0),  # S = Jan 5: 4 days
                jan(9): (1, 1, 1.0, 5),  # S = Jan 6 = D - P: inactive exactly at the start
                jan(10): (0, 0, None, 0),  # S = Jan 7: active on S
            },
            id="return-one-day-after-turning-inactive",
        ),
    ],
)
def test_reactivation_period_start_boundaries(warehouse, rows, expected):
    load_activity(warehouse, rows)
    refresh_metrics(warehouse, jan(1), jan(14), [5], [3], tables=["reactivation_daily"])
    rea = read_table(warehouse, "reactivation_daily")
    for d, (at_start, back, rate, revenue) in expected.items():
        r = row(rea, as_of_date=d, inactivity_days=5, period_days=3)
        assert (r["inactive_at_start"], r["reactivated"], r["reactivation_rate"], r["reactivated_revenue"]) == (
            at_start, back, rate, Decimal(revenue)), d


@pytest.mark.parametrize(
    ("rows", "n", "p", "expected"),
    [
        pytest.param(
            # u: Jan 1 only. N = 5, P = 3: in the base Jan 1 .. Jan 5, inactive from Jan 6.
            [("u", jan(1), 0, 0, 1)], 5, 3,
            {
                jan(3): (0, 0, None),  # S = Dec 31: not seen yet
                jan(4): (1, 0, 0.0),  # S = Jan 1: in base; Jan 4 only 3 days inactive
                jan(5): (1, 0, 0.0),  # 4 days on D
                jan(6): (1, 1, 1.0),  # 5 days on D = N -> churned
                jan(8): (1, 1, 1.0),  # S = Jan 5: still in the base at S (4 days)
                jan(9): (0, 0, None),  # S = Jan 6: already inactive at the start
            },
            id="single-visit",
        ),
        pytest.param(
            # v: Jan 1 and Jan 10, N = 3, P = 12 > N: base Jan 1-3 and Jan 10-12, inactive Jan 4-9, 13-.
            [("v", jan(1), 0, 0, 1), ("v", jan(10), 0, 0, 1)], 3, 12,
            {
                jan(12): (0, 0, None),  # S = Dec 31
                jan(13): (1, 1, 1.0),  # S = Jan 1 (first base stretch), D in the second inactive stretch
                jan(15): (1, 1, 1.0),  # S = Jan 3: last day of the first base stretch
                jan(16): (0, 0, None),  # S = Jan 4: inactive at the start
                jan(21): (0, 0, None),  # S = Jan 9: inactive at the start
                jan(22): (1, 1, 1.0),  # S = Jan 10: second base stretch
                jan(24): (1, 1, 1.0),  # S = Jan 12
                jan(25): (0, 0, None),  # S = Jan 13
            },
            id="period-longer-than-window",
        ),
    ],
)
def test_retention_period_start_boundaries(warehouse, rows, n, p, expected):
    load_activity(warehouse, rows)
    refresh_metrics(warehouse, jan(1), jan(25), [n], [p], tables=["retention_daily"])
    ret = read_table(warehouse, "retention_daily")
    for d, (at_start, churned, churn_rate) in expected.items():
        r = row(ret, as_of_date=d, inactivity_days=n, period_days=p)
        retention = None if churn_rate is None else 1 - churn_rate
        assert (r["customers_at_start"], r["churned"], r["retained"], r["churn_rate"], r["retention_rate"]) == (
            at_start, churned, at_start - churned, churn_rate, retention), d


def test_empty_history_gives_zero_rows_with_null_rates(warehouse):
    load_activity(warehouse, [])
    refresh_metrics(warehouse, jan(1), jan(5), [3, 30], [1, 7])
    m = read_metrics(warehouse)
    assert len(m["lifecycle_daily"]) == 5 * 2
    assert len(m["reactivation_daily"]) == len(m["retention_daily"]) == 5 * 2 * 2
    assert len(m["purchase_daily"]) == 5 * 2
    assert (m["lifecycle_daily"].drop(columns=["as_of_date", "inactivity_days"]) == 0).all().all()
    rea = m["reactivation_daily"]
    assert (rea[["inactive_at_start", "reactivated"]] == 0).all().all() and rea["reactivation_rate"].isna().all()
    assert (rea["reactivated_revenue"] == 0).all()
    ret = m["retention_daily"]
    assert (ret[["customers_at_start", "retained", "churned"]] == 0).all().all()
    assert ret["retention_rate"].isna().all() and ret["churn_rate"].isna().all()
    pur = m["purchase_daily"]
    assert (pur[["orders", "buyers", "repeat_buyers"]] == 0).all().all() and (pur["revenue"] == 0).all()
    assert pur[["average_order_value", "purchase_frequency", "repeat_purchase_rate"]].isna().all().all()


def test_days_without_activity_still_get_one_row_per_window(warehouse):
    # One customer active Dec 31, 2024 only; the range Mar 1 .. Mar 3 has no activity at all.
    # On every S (Jan 30 at the earliest) the customer is >= 30 days inactive.
    load_activity(warehouse, [("a", date(2024, 12, 31), 1, Decimal("9.99"), 0)])
    refresh_metrics(warehouse, date(2025, 3, 1), date(2025, 3, 3), [7, 30], [1, 7, 30])
    m = read_metrics(warehouse)
    assert sorted(set(m["lifecycle_daily"]["as_of_date"])) == dates(date(2025, 3, 1), date(2025, 3, 3))
    assert len(m["lifecycle_daily"]) == 3 * 2 and len(m["purchase_daily"]) == 3 * 3
    assert len(m["reactivation_daily"]) == len(m["retention_daily"]) == 3 * 2 * 3
    lc = m["lifecycle_daily"]
    assert (lc["inactive_customers"] == 1).all() and (lc["active_customers"] == 0).all()
    # The customer is inactive at every start: denominator 1, nobody back -> rate 0.0, not NULL.
    rea = m["reactivation_daily"]
    assert (rea["inactive_at_start"] == 1).all() and (rea["reactivation_rate"] == 0.0).all()
    # Nobody in the base at any start -> rates NULL.
    ret = m["retention_daily"]
    assert (ret["customers_at_start"] == 0).all() and ret["churn_rate"].isna().all()
    pur = m["purchase_daily"]
    assert (pur["orders"] == 0).all() and pur["average_order_value"].isna().all()


# --- customer_daily_activity and customers from raw rows ----------------------------------


def _order(oid, customer, day, amount, status):
    return {"order_id": oid, "customer_id": customer, "ordered_at": datetime.combine(day, datetime.min.time()) + timedelta(hours=12),
            "amount": Decimal(amount), "currency": "USD", "status": status, "channel": "web",
            "partition_date": day, "source_file": f"orders/dt={day}/part.csv"}


def _event(eid, customer, day, event_type):
    return {"event_id": eid, "customer_id": customer, "occurred_at": datetime.combine(day, datetime.min.time()) + timedelta(hours=9),
            "event_type": event_type, "channel": "app", "campaign_id": None,
            "partition_date": day, "source_file": f"events/dt={day}/part.jsonl"}


RAW_ORDERS = [
    _order("o1", "alice", jan(1), "10.00", "completed"),
    _order("o2", "alice", jan(1), "99.00", "cancelled"),
    _order("o3", "alice", jan(1), "50.00", "refunded"),
    _order("o4", "alice", jan(3), "20.50", "completed"),
    _order("o5", "alice", jan(3), "4.50", "completed"),
    _order("o6", "bob", jan(2), "30.00", "cancelled"),
    _order("o7", "carol", jan(2), "15.00", "refunded"),
    _order("o8", "dave", jan(4), "0.00", "completed"),  # a free order is still an order
    _order("o9", "erin", jan(10), "100.00", "completed"),  # outside the refreshed range
]
RAW_EVENTS = [
    _event("e1", "bob", jan(2), "email_sent"),
    _event("e2", "bob", jan(2), "push_sent"),
    _event("e3", "carol", jan(2), "page_view"),
    _event("e4", "carol", jan(2), "login"),
    _event("e5", "alice", jan(3), "sms_sent"),
    _event("e6", "alice", jan(3), "page_view"),
    _event("e7", "frank", jan(4), "email_delivered"),
    _event("e8", "bob", jan(5), "app_open"),
]


def _load_raw(wh, orders, events):
    with wh.begin() as conn:
        conn.execute(wh.table("raw_orders").insert(), orders)
        conn.execute(wh.table("raw_events").insert(), events)


def test_activity_counts_only_completed_orders_and_non_passive_events(warehouse):
    _load_raw(warehouse, RAW_ORDERS, RAW_EVENTS)
    for _ in range(2):  # idempotent
        with warehouse.begin() as conn:
            metrics.refresh_customer_daily_activity(conn, warehouse.schema_name, jan(1), jan(5), DEFAULT_PASSIVE_EVENT_TYPES)
    activity = read_table(warehouse, "customer_daily_activity")
    # alice Jan 1: only the completed $10 (cancelled $99 and refunded $50 are not orders).
    # bob Jan 2: only a cancelled order and passive events -> not active; Jan 5 app_open -> active.
    # carol Jan 2: refunded order does not count, 2 real events do. alice Jan 3: 2 completed
    # orders, sms_sent is passive. dave: a completed $0 order. frank: passive only. erin: not in range.
    expected = [
        ("alice", jan(1), 1, Decimal("10.0000"), 0),
        ("alice", jan(3), 2, Decimal("25.0000"), 1),
        ("bob", jan(5), 0, Decimal("0.0000"), 1),
        ("carol", jan(2), 0, Decimal("0.0000"), 2),
        ("dave", jan(4), 1, Decimal("0.0000"), 0),
    ]
    assert [tuple(r) for r in activity.itertuples(index=False)] == expected

    with warehouse.begin() as conn:
        metrics.refresh_customers(conn, warehouse.schema_name)
        metrics.refresh_customers(conn, warehouse.schema_name)
    customers = read_table(warehouse, "customers")
    assert [tuple(r) for r in customers.itertuples(index=False)] == [
        ("alice", jan(1), jan(3), jan(1), jan(3), 3, Decimal("35.0000")),
        ("bob", jan(5), jan(5), None, None, 0, Decimal("0.0000")),
        ("carol", jan(2), jan(2), None, None, 0, Decimal("0.0000")),
        ("dave", jan(4), jan(4), jan(4), jan(4), 1, Decimal("0.0000")),
    ]

    refresh_metrics(warehouse, jan(1), jan(5), [30], [1, 7], tables=["purchase_daily"])
    pur = read_table(warehouse, "purchase_daily")
    r = row(pur, as_of_date=jan(1), period_days=1)
    assert (r["orders"], r["revenue"]) == (1, Decimal("10"))  # not 10 + 99 + 50
    r = row(pur, as_of_date=jan(5), period_days=7)
    # alice 3 orders $35, dave 1 order $0 -> 4 orders, 2 buyers, 1 repeat buyer.
    assert (r["orders"], r["buyers"], r["revenue"], r["repeat_buyers"]) == (4, 2, Decimal("35"), 1)
    assert (r["average_order_value"], r["purchase_frequency"], r["repeat_purchase_rate"]) == (8.75, 2.0, 0.5)

    # With no passive event types every event is activity; a range refresh only touches its days.
    with warehouse.begin() as conn:
        metrics.refresh_customer_daily_activity(conn, warehouse.schema_name, jan(2), jan(4), [])
    activity = read_table(warehouse, "customer_daily_activity")
    assert [tuple(r) for r in activity.itertuples(index=False)] == [
        ("alice", jan(1), 1, Decimal("10.0000"), 0),
        ("alice", jan(3), 2, Decimal("25.0000"), 2),
        ("bob", jan(2), 0, Decimal("0.0000"), 2),
        ("bob", jan(5), 0, Decimal("0.0000"), 1),
        ("carol", jan(2), 0, Decimal("0.0000"), 2),
        ("dave", jan(4), 1, Decimal("0.0000"), 0),
        ("frank", jan(4), 0, Decimal("0.0000"), 1),
    ]


# =========================================================================================
# (d) idempotence and range splitting, (f) long periods: against the reference
# =========================================================================================


def test_rerun_and_day_by_day_equal_one_call(warehouse):
    rows = random_history(seed=7, customers=25, first=date(2025, 1, 1), days=150)
    n, p = [5, 30], [1, 7, 30]
    start, end = date(2025, 3, 1), date(2025, 4, 15)
    load_activity(warehouse, rows)

    refresh_metrics(warehouse, start, end, n, p)
    once = read_metrics(warehouse)
    assert_metrics_equal(once, reference_frames(rows, start, end, n, p))
    assert_lifecycle_invariants(once["lifecycle_daily"])

    refresh_metrics(warehouse, start, end, n, p)  # the same range again
    assert_metrics_equal(read_metrics(warehouse), once)
    refresh_metrics(warehouse, date(2025, 3, 10), date(2025, 3, 20), n, p)  # a part of it again
    assert_metrics_equal(read_metrics(warehouse), once)

    clear_metrics(warehouse)
    for d in dates(start, end):  # day by day, one transaction per day
        refresh_metrics(warehouse, d, d, n, p)
    assert_metrics_equal(read_metrics(warehouse), once)


@pytest.mark.parametrize("n", [[7], [7, 30]])
def test_periods_longer_than_the_window_against_reference(warehouse, n):
    """P > N, including P = 365 as clv_daily will use it, over two years of history."""
    rows = random_history(seed=11, customers=10, first=date(2024, 1, 1), days=560, density=0.35)
    p = [1, 30, 365]
    start, end = date(2025, 5, 20), date(2025, 6, 30)
    load_activity(warehouse, rows)
    refresh_metrics(warehouse, start, end, n, p)
    actual = read_metrics(warehouse)
    assert_metrics_equal(actual, reference_frames(rows, start, end, n, p))
    # the history really exercises P > N: people churned and came back within the year
    ret = actual["retention_daily"]
    assert (ret[(ret["period_days"] == 365)]["churned"] > 0).any()
    rea = actual["reactivation_daily"]
    assert (rea[(rea["period_days"] == 365)]["reactivated"] > 0).any()


# =========================================================================================
# (e) DuckDB and PostgreSQL agree, from raw rows to every metric table
# =========================================================================================


def _random_raw(seed: int, customers: int, first: date, days: int):
    rng = random.Random(seed)
    orders, events = [], []
    for c in range(customers):
        d = rng.randrange(days)
        while d < days:
            day = first + timedelta(days=d)
            for _ in range(rng.choice([0, 1, 1, 2, 3])):
                status = rng.choice(["completed"] * 6 + ["cancelled", "refunded"])
                amount = f"{rng.randrange(0, 30000) / 100:.2f}"
                orders.append(_order(f"o{len(orders)}", f"c{c:03d}", day, amount, status))
            for _ in range(rng.choice([0, 1, 2])):
                kind = rng.choice(["page_view", "login", "email_sent", "push_sent", "sms_sent", "email_delivered"])
                events.append(_event(f"e{len(events)}", f"c{c:03d}", day, kind))
            d += rng.randint(1, 5) if rng.random() < 0.8 else rng.randint(6, 60)
    return orders, events


@pytest.mark.postgres
def test_duckdb_and_postgres_give_identical_tables(duckdb_warehouse, postgres_warehouse):
    orders, events = _random_raw(seed=3, customers=40, first=date(2024, 11, 1), days=240)
    first, last = date(2024, 11, 1), date(2025, 6, 28)
    n, p = [3, 7, 30], [1, 7, 30, 365]
    start, end = date(2025, 2, 1), last
    tables = ["customer_daily_activity", "customers", *METRIC_TABLES]
    results = {}
    for wh in (duckdb_warehouse, postgres_warehouse):
        _load_raw(wh, orders, events)
        with wh.begin() as conn:
            metrics.refresh_customer_daily_activity(conn, wh.schema_name, first, last, DEFAULT_PASSIVE_EVENT_TYPES)
            metrics.refresh_customers(conn, wh.schema_name)
        refresh_metrics(wh, start, end, n, p)
        results[wh.url.split(":")[0]] = {t: read_table(wh, t) for t in tables}
    duck, pg = results["duckdb"], results["postgresql+psycopg"]
    for table in tables:
        assert len(duck[table]) > 0, table
        assert_frames_equal(pg[table], duck[table], table, tolerance=1e-9)
        pd.testing.assert_frame_equal(pg[table], duck[table], check_exact=False, rtol=0, atol=1e-9)
    # and both equal the reference computed from the activity rows
    activity = [tuple(r) for r in duck["customer_daily_activity"].itertuples(index=False)]
    assert_metrics_equal({t: duck[t] for t in METRIC_TABLES}, reference_frames(activity, start, end, n, p))
