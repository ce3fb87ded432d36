"""clv_daily: SPEC section 5's worked examples, built as real activity histories.

With N = 30 and D = day 400, the trailing year is (S, D] with S = day 35 (D - 365).
"""

import pytest

from metric_harness import day, load_activity, read_table, row
from rekindle import metrics

D = day(400)
S_DAY = 35  # S = D - 365


def refresh(wh, inactivity_days=(30,)):
    with wh.begin() as conn:
        metrics.refresh_clv_daily(conn, wh.schema_name, D, D, inactivity_days)
    return read_table(wh, "clv_daily")


def test_50_dollars_24_a_year_1_year_is_1200(warehouse):
    # One customer: in the base at S (an event on S itself, not an order: S is outside (S, D]),
    # then 24 orders of $50 inside the year, the last 31+ days before D, so they have churned at D.
    history = [("c1", day(S_DAY), 0, 0, 1)]
    history += [("c1", day(S_DAY + 10 * i), 1, 50, 0) for i in range(1, 25)]  # days 45..275
    load_activity(warehouse, history)
    clv = row(refresh(warehouse), as_of_date=D, inactivity_days=30)
    assert clv["average_order_value"] == pytest.approx(50)
    assert clv["purchases_per_year"] == pytest.approx(24)
    assert clv["annual_churn_rate"] == pytest.approx(1.0)
    assert clv["expected_lifespan_years"] == pytest.approx(1.0)
    assert clv["clv"] == pytest.approx(1200)


def test_50_dollars_3_a_year_5_years_is_750(warehouse):
    # Five customers in the base at S, each buying 3 x $50 in the year; c1 stops early and has
    # churned at D (1 of 5: annual churn 0.2, lifespan 5 years), the others bought recently.
    history = []
    for c in range(1, 6):
        history.append((f"c{c}", day(S_DAY), 0, 0, 1))
        last = 100 if c == 1 else 395
        history += [(f"c{c}", day(d), 1, 50, 0) for d in (60, 80, last)]
    load_activity(warehouse, history)
    clv = row(refresh(warehouse), as_of_date=D, inactivity_days=30)
    assert clv["average_order_value"] == pytest.approx(50)
    assert clv["purchases_per_year"] == pytest.approx(3)
    assert clv["annual_churn_rate"] == pytest.approx(0.2)
    assert clv["expected_lifespan_years"] == pytest.approx(5)
    assert clv["clv"] == pytest.approx(750)


def test_no_churn_means_no_lifespan_and_no_clv(warehouse):
    # nobody churned: lifespan 1/0 is unknown, so it and CLV are NULL rather than infinite
    load_activity(warehouse, [("c1", day(S_DAY), 0, 0, 1), ("c1", day(390), 2, 30, 0)])
    clv = row(refresh(warehouse, (30, 60)), as_of_date=D, inactivity_days=60)
    assert clv["annual_churn_rate"] == 0
    assert clv["expected_lifespan_years"] is None
    assert clv["clv"] is None
    assert clv["average_order_value"] == pytest.approx(15)
    assert clv["purchases_per_year"] == pytest.approx(2)
