"""campaign_performance and nps_daily (rekindle.campaigns): hand-computed cases, the SPEC
examples (ROI 1.00, NPS 20), window boundaries, and DuckDB/PostgreSQL agreement."""

from __future__ import annotations

import math
import random
from datetime import date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

from rekindle.campaigns import refresh_campaign_performance
from rekindle.nps import refresh_nps_daily

N, W = 30, 14
PERFORMANCE = ["campaign_id", "channel", "group", "customers_targeted", "inactive_targeted", "reactivated",
               "reactivation_rate", "attributed_revenue", "cost", "roi", "lift", "lift_ci_low", "lift_ci_high"]
NPS = ["as_of_date", "period_days", "responses", "promoters", "passives", "detractors", "nps"]


def replace(wh, table: str, frame: pd.DataFrame) -> None:
    with wh.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {wh.qualified(table)}"))
        wh.bulk_insert(conn, table, frame)


def load_activity(wh, rows) -> None:
    """rows: (customer, day, orders, revenue); events = 1 on order-less days."""
    replace(wh, "customer_daily_activity", pd.DataFrame(
        [(c, d, o, Decimal(str(r)), 0 if o else 1) for c, d, o, r in rows],
        columns=["customer_id", "activity_date", "orders", "revenue", "events"]))


def load_touches(wh, rows) -> None:
    """rows: (customer, campaign, channel, sent_at, group, cost)."""
    replace(wh, "raw_campaign_touches", pd.DataFrame(
        [(f"t{i}", c, k, ch, at, g, Decimal(str(cost)), at.date(), "touches.csv")
         for i, (c, k, ch, at, g, cost) in enumerate(rows)],
        columns=["touch_id", "customer_id", "campaign_id", "channel", "sent_at", "group", "cost",
                 "partition_date", "source_file"]))


def load_surveys(wh, rows) -> None:
    """rows: (customer, response day, nps score)."""
    replace(wh, "raw_surveys", pd.DataFrame(
        [(f"r{i}", c, datetime.combine(d, datetime.min.time()) + timedelta(hours=12), s, None, d, "surveys.csv")
         for i, (c, d, s) in enumerate(rows)],
        columns=["response_id", "customer_id", "responded_at", "nps_score", "csat_score", "partition_date",
                 "source_file"]))


def performance(wh) -> dict[tuple, dict]:
    """(campaign_id, group) -> row."""
    with wh.begin() as conn:
        refresh_campaign_performance(conn, wh.schema_name, N, W)
    columns = ", ".join(f'"{c}"' for c in PERFORMANCE)
    frame = wh.read_frame(f"SELECT {columns} FROM {wh.qualified('campaign_performance')}")
    rows = [{k: (None if pd.isna(v) else v) for k, v in zip(PERFORMANCE, r)} for r in frame.itertuples(index=False)]
    return {(r["campaign_id"], r["group"]): r for r in rows}


def nps(wh, start: date, end: date, periods: list[int]) -> dict[tuple, tuple]:
    """Refresh [start, end]; then the whole table as (as_of_date, period_days) -> (responses,
    promoters, passives, detractors, nps)."""
    with wh.begin() as conn:
        refresh_nps_daily(conn, wh.schema_name, start, end, periods)
    frame = wh.read_frame(f"SELECT {', '.join(NPS)} FROM {wh.qualified('nps_daily')}")
    return {(r[0], r[1]): tuple(None if pd.isna(v) else v for v in r[2:]) for r in frame.itertuples(index=False)}


def mar(d: int, hour: int = 9) -> datetime:
    return datetime(2025, 3, d, hour)


# =========================================================================================
# campaign_performance
# =========================================================================================

# N = 30, W = 14. Campaign "spring" touches on Mar 1, so inactive at the end of Feb 28 means
# last active on or before Jan 29, and the attribution window is Mar 1 .. Mar 14.
ACTIVITY = [
    ("t1", date(2025, 1, 15), 1, 5),                               # inactive 44 days
    ("t1", date(2025, 3, 5), 1, 100), ("t1", date(2025, 3, 20), 1, 50),  # back; Mar 20 after the window
    ("t2", date(2025, 1, 30), 1, 5), ("t2", date(2025, 3, 2), 1, 70),    # 29 days: not inactive
    ("t3", date(2025, 1, 29), 1, 5), ("t3", date(2025, 3, 14), 1, 40),   # exactly 30 days; back on t + W - 1
    ("t4", date(2025, 1, 1), 1, 5), ("t4", date(2025, 3, 15), 1, 60),    # back on t + W: too late
    ("t6", date(2025, 1, 1), 0, 0), ("t6", date(2025, 3, 1), 1, 10),     # back on the touch day itself
    ("c1", date(2025, 1, 1), 1, 5), ("c1", date(2025, 3, 3), 1, 25),
    ("c2", date(2025, 1, 1), 1, 5),
    ("c3", date(2025, 1, 10), 0, 0),
    ("c4", date(2025, 1, 10), 1, 5),
    ("s1", date(2024, 12, 1), 1, 5), ("s1", date(2025, 2, 5), 1, 20000),
]
TOUCHES = [
    *[(c, "spring", "email", mar(1, 23), "treatment", 2) for c in ("t1", "t2", "t3", "t4")],
    ("t5", "spring", "sms", mar(1), "treatment", 2),                   # never seen: targeted only
    ("t6", "spring", "sms", mar(1), "treatment", 1),
    ("t6", "spring", "sms", mar(10), "treatment", 1),                   # second touch: counted once
    *[(c, "spring", "email", mar(1), "control", 0) for c in ("c1", "c2", "c3", "c4")],
    ("s1", "solo", "push", datetime(2025, 2, 1, 8), "treatment", 10_000),
    ("x1", "tie", "sms", mar(2), "treatment", 0),
    ("x2", "tie", "email", mar(2), "treatment", 0),
    ("x3", "tie", None, mar(2), "treatment", 0),
]


def test_hand_computed_campaign_performance(duckdb_warehouse):
    load_activity(duckdb_warehouse, ACTIVITY)
    load_touches(duckdb_warehouse, TOUCHES)
    got = performance(duckdb_warehouse)
    assert set(got) == {("spring", "treatment"), ("spring", "control"), ("solo", "treatment"), ("tie", "treatment")}

    # spring treatment: t1..t6 targeted (t6 once); inactive t1, t3, t4, t6; back in the
    # window t1 ($100), t3 ($40), t6 ($10). cost: 5 x $2 + 2 x $1 = $12. email 4 touches, sms 3.
    t = got[("spring", "treatment")]
    assert (t["channel"], t["customers_targeted"], t["inactive_targeted"], t["reactivated"]) == ("email", 6, 4, 3)
    assert (t["reactivation_rate"], t["attributed_revenue"], t["cost"]) == (0.75, Decimal("150"), Decimal("12"))
    assert t["roi"] == pytest.approx((150 - 12) / 12)
    # control: 4 inactive, c1 back ($25) -> 0.25; cost 0 -> roi NULL; lift only on treatment.
    c = got[("spring", "control")]
    assert (c["channel"], c["customers_targeted"], c["inactive_targeted"], c["reactivated"]) == ("email", 4, 4, 1)
    assert (c["reactivation_rate"], c["attributed_revenue"], c["cost"], c["roi"]) == (0.25, Decimal("25"), 0, None)
    assert (c["lift"], c["lift_ci_low"], c["lift_ci_high"]) == (None, None, None)
    # lift 0.75 - 0.25 = 0.5, standard error sqrt(.75 * .25 / 4 + .25 * .75 / 4) = 0.30619
    se = math.sqrt(0.75 * 0.25 / 4 + 0.25 * 0.75 / 4)
    assert t["lift"] == pytest.approx(0.5)
    assert (t["lift_ci_low"], t["lift_ci_high"]) == (pytest.approx(0.5 - 1.96 * se), pytest.approx(0.5 + 1.96 * se))
    assert t["lift_ci_low"] == pytest.approx(-0.100125, abs=1e-6)

    # SPEC example: cost 10,000, attributed revenue 20,000 -> roi 1.00; no control -> lift NULL.
    s = got[("solo", "treatment")]
    assert (s["inactive_targeted"], s["reactivated"], s["attributed_revenue"], s["cost"]) == (
        1, 1, Decimal("20000"), Decimal("10000"))
    assert s["roi"] == 1.0
    assert (s["lift"], s["lift_ci_low"], s["lift_ci_high"]) == (None, None, None)

    # channel tie (1 sms, 1 email, 1 unknown) -> by name; nobody seen -> rate NULL, cost 0 -> roi NULL.
    x = got[("tie", "treatment")]
    assert (x["channel"], x["customers_targeted"], x["inactive_targeted"], x["reactivation_rate"], x["roi"]) == (
        "email", 3, 0, None, None)


def test_first_touch_decides_inactivity_and_window(duckdb_warehouse):
    # Touched Mar 1 and Mar 20. At the first touch the customer is 30 days inactive and comes
    # back Mar 16 (after Mar 14): not reactivated, although Mar 16 is within 14 days of Mar 20
    # (where the customer would not even count as inactive).
    load_activity(duckdb_warehouse, [("a", date(2025, 1, 29), 1, 5), ("a", date(2025, 3, 16), 1, 9)])
    load_touches(duckdb_warehouse, [("a", "k", "email", mar(1), "treatment", 1),
                                    ("a", "k", "email", mar(20), "treatment", 1)])
    r = performance(duckdb_warehouse)[("k", "treatment")]
    assert (r["customers_targeted"], r["inactive_targeted"], r["reactivated"], r["attributed_revenue"], r["cost"]) == (
        1, 1, 0, Decimal("0"), Decimal("2"))
    assert r["roi"] == -1.0


# =========================================================================================
# nps_daily
# =========================================================================================

MAY10 = date(2025, 5, 10)
SURVEYS = [
    # May 10: 10 responses, 40% promoters (p1 answers twice, both count), 40% passives,
    # 20% detractors -> NPS 20 (the SPEC example).
    ("p1", MAY10, 9), ("p1", MAY10, 10), ("p3", MAY10, 9), ("p4", MAY10, 10),
    ("q1", MAY10, 7), ("q2", MAY10, 8), ("q3", MAY10, 7), ("q4", MAY10, 8),
    ("d1", MAY10, 0), ("d2", MAY10, 6),
    ("e1", date(2025, 5, 4), 10),  # = D - 6: inside (D - 7, D]
    ("e2", date(2025, 5, 3), 0),  # = D - 7: outside
]


def test_hand_computed_nps(duckdb_warehouse):
    load_surveys(duckdb_warehouse, SURVEYS)
    got = nps(duckdb_warehouse, date(2025, 5, 1), MAY10, [1, 7])
    assert len(got) == 10 * 2  # one row per day and period, also without responses
    assert got[(MAY10, 1)] == (10, 4, 4, 2, 20.0)
    # (May 3, May 10]: May 4's promoter joins, May 3's detractor does not: 100 * (5 - 2) / 11
    assert got[(MAY10, 7)][:4] == (11, 5, 4, 2)
    assert got[(MAY10, 7)][4] == pytest.approx(300 / 11)
    # (May 2, May 9]: one promoter, one detractor -> 0
    assert got[(date(2025, 5, 9), 7)] == (2, 1, 0, 1, 0.0)
    assert got[(date(2025, 5, 3), 1)] == (1, 0, 0, 1, -100.0)
    assert got[(date(2025, 5, 2), 1)] == (0, 0, 0, 0, None)  # nothing answered: NPS NULL


def test_nps_rerun_and_day_by_day_equal_one_call(duckdb_warehouse):
    load_surveys(duckdb_warehouse, SURVEYS)
    once = nps(duckdb_warehouse, date(2025, 5, 1), MAY10, [1, 7, 30])
    assert nps(duckdb_warehouse, date(2025, 5, 1), MAY10, [1, 7, 30]) == once
    for i in range(10):
        day = date(2025, 5, 1) + timedelta(days=i)
        table = nps(duckdb_warehouse, day, day, [1, 7, 30])
    assert table == once


# =========================================================================================
# DuckDB / PostgreSQL agreement
# =========================================================================================


def assert_same(a: dict[tuple, tuple], b: dict[tuple, tuple]) -> None:
    """Same keys and values; floats (rates, roi, lift, nps) up to rounding."""
    assert a.keys() == b.keys()
    for key in a:
        for x, y in zip(a[key], b[key], strict=True):
            assert (x == pytest.approx(y, rel=1e-12)) if isinstance(x, float) else x == y, (key, x, y)


@pytest.mark.postgres
def test_duckdb_and_postgres_give_identical_campaigns_and_nps(duckdb_warehouse, postgres_warehouse):
    rng = random.Random(8)
    customers = [f"C{i}" if i % 2 else f"c{i}" for i in range(80)]
    activity = [(c, date(2025, 1, 1) + timedelta(days=d), rng.choice([0, 1, 2]), rng.randrange(0, 5000) / 100)
                for c in customers for d in sorted(rng.sample(range(120), 5))]
    touches = [(rng.choice(customers), f"k{rng.randrange(4)}", rng.choice(["email", "sms", "push", None]),
                datetime(2025, 2, 1) + timedelta(hours=rng.randrange(24 * 40)), rng.choice(["treatment", "control"]),
                rng.choice([0, 0.5, 1.25])) for _ in range(300)]
    surveys = [(rng.choice(customers), date(2025, 1, 1) + timedelta(days=rng.randrange(60)), rng.randrange(11))
               for _ in range(200)]
    results = []
    for wh in (duckdb_warehouse, postgres_warehouse):
        load_activity(wh, activity)
        load_touches(wh, touches)
        load_surveys(wh, surveys)
        results.append((performance(wh), nps(wh, date(2025, 1, 10), date(2025, 3, 5), [1, 7, 30])))
    (duck_perf, duck_nps), (pg_perf, pg_nps) = results
    assert any(r["lift"] is not None for r in duck_perf.values())
    assert_same({k: tuple(r.values()) for k, r in duck_perf.items()}, {k: tuple(r.values()) for k, r in pg_perf.items()})
    assert_same(duck_nps, pg_nps)
