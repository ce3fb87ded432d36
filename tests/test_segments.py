"""inactive_segments, inactive_customers (rekindle.segments) and the CSV export: hand-computed
cases, bucket boundaries, RFM quintiles, a naive Python reference over a random history,
and DuckDB/PostgreSQL agreement."""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

from rekindle import segments
from rekindle.export import export_inactive_customers
from rekindle.segments import RFM_SEGMENTS, bucket_labels, rfm_segment

D = date(2025, 6, 30)
CUSTOMER_COLUMNS = ["customer_id", "last_active_date", "days_inactive", "inactivity_bucket", "lifetime_orders",
                    "lifetime_revenue", "rfm_segment"]


def ago(days: int) -> date:
    return D - timedelta(days=days)


def load_activity(wh, rows) -> None:
    """Replace customer_daily_activity by rows (customer, day, orders, revenue, events)."""
    frame = pd.DataFrame([(c, d, o, Decimal(str(r)), e) for c, d, o, r, e in rows],
                         columns=["customer_id", "activity_date", "orders", "revenue", "events"])
    with wh.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {wh.qualified('customer_daily_activity')}"))
        wh.bulk_insert(conn, "customer_daily_activity", frame)


def refresh(wh, start: date, end: date, ns: list[int]) -> None:
    with wh.begin() as conn:
        segments.refresh_inactive_segments(conn, wh.schema_name, start, end, ns)
        segments.refresh_inactive_customers(conn, wh.schema_name, end, ns[0])


def customers(wh) -> dict[str, tuple]:
    frame = wh.read_frame(f"SELECT {', '.join(CUSTOMER_COLUMNS)} FROM {wh.qualified('inactive_customers')}")
    return {r[0]: tuple(r[1:]) for r in frame.itertuples(index=False)}


def nonzero_segments(wh) -> list[tuple]:
    frame = wh.read_frame(
        f"SELECT as_of_date, inactivity_days, inactivity_bucket, rfm_segment, customers, lifetime_revenue "
        f"FROM {wh.qualified('inactive_segments')} WHERE customers > 0 "
        f"ORDER BY as_of_date, inactivity_days, inactivity_bucket, rfm_segment"
    )
    return [tuple(r) for r in frame.itertuples(index=False)]


# =========================================================================================
# segment map and buckets
# =========================================================================================


def test_segment_map_covers_every_score_and_fm_rounds_half_up():
    assert {rfm_segment(r, f, m) for r in range(1, 6) for f in range(1, 6) for m in range(1, 6)} | {"no_orders"} \
        == set(RFM_SEGMENTS)
    assert rfm_segment(5, 5, 5) == "champions"
    assert rfm_segment(1, 1, 1) == "lost"
    assert rfm_segment(1, 1, 2) == "hibernating"  # FM = (1 + 2) / 2 = 1.5 -> 2
    assert rfm_segment(3, 3, 2) == "need_attention"  # FM = 2.5 -> 3
    assert rfm_segment(2, 5, 5) == "cannot_lose_them"


def test_bucket_labels():
    assert bucket_labels(30) == ("30-59", "60-119", "120+")


# =========================================================================================
# hand-computed cases
# =========================================================================================


def test_bucket_boundaries_at_n_2n_4n(duckdb_warehouse):
    # N = 30, as of D. Each customer was last active `days` before D with one $10 order.
    days = {"d029": 29, "d030": 30, "d059": 59, "d060": 60, "d119": 119, "d120": 120}
    load_activity(duckdb_warehouse, [(c, ago(n), 1, 10, 0) for c, n in days.items()])
    refresh(duckdb_warehouse, D, D, [30])
    got = {c: (row[1], row[2]) for c, row in customers(duckdb_warehouse).items()}
    # 29 days: still in the base, not on the list.
    assert got == {"d030": (30, "30-59"), "d059": (59, "30-59"), "d060": (60, "60-119"),
                   "d119": (119, "60-119"), "d120": (120, "120+")}
    buckets = {}
    for _, _, bucket, _, n, _ in nonzero_segments(duckdb_warehouse):
        buckets[bucket] = buckets.get(bucket, 0) + n
    assert buckets == {"30-59": 2, "60-119": 2, "120+": 1}


# Population as of D = 2025-06-30 with N = 1, so that everybody is inactive and on the list.
# The trailing 365 days are 2024-07-01 .. 2025-06-30.
#   customer  last order   orders in window (F)  revenue in window (M)  lifetime
#   c1        Jun 29       1                     100                    1 / 100
#   c2        Jun 20       10 (one day)          1000                   10 / 1000
#   c3        May 1        5 (one day)           50                     5 / 50
#   c4        2025-01-01   3 (Jul 1, Dec 1, Jan 1: Jul 1 is the window's first day)  300   3 / 300
#   c5        2024-06-30   0 (one day too old)   0                      1 / 5000
#   c6        -- events only on Jun 1 --                                 0 / 0
# Scores, NTILE(5) over the 5 customers with orders, each value in its own quintile:
#   R by last order day: c5 1, c4 2, c3 3, c2 4, c1 5
#   F: c5 has F = 0 -> 1; c1 (1) 2, c4 (3) 3, c3 (5) 4, c2 (10) 5
#   M: c5 has M = 0 -> 1; c3 (50) 2, c1 (100) 3, c4 (300) 4, c2 (1000) 5
#   FM = round-half-up((F + M) / 2): c1 (2+3) 3, c2 5, c3 (4+2) 3, c4 (3+4) 4, c5 1
#   -> c1 R5 FM3 potential_loyalist, c2 R4 FM5 loyal, c3 R3 FM3 need_attention,
#      c4 R2 FM4 at_risk, c5 R1 FM1 lost, c6 no_orders.
RFM_POPULATION = [
    ("c1", date(2025, 6, 29), 1, 100, 0),
    ("c2", date(2025, 6, 20), 10, 1000, 0),
    ("c3", date(2025, 5, 1), 5, 50, 2),
    ("c4", date(2024, 7, 1), 1, 100, 0),
    ("c4", date(2024, 12, 1), 1, 100, 0),
    ("c4", date(2025, 1, 1), 1, 100, 0),
    ("c5", date(2024, 6, 30), 1, 5000, 0),
    ("c6", date(2025, 6, 1), 0, 0, 3),
]


def test_rfm_quintiles_on_a_hand_made_population(duckdb_warehouse):
    load_activity(duckdb_warehouse, RFM_POPULATION)
    refresh(duckdb_warehouse, D, D, [1])
    got = {c: (row[2], row[3], row[4], row[5]) for c, row in customers(duckdb_warehouse).items()}
    # N = 1: buckets 1-1, 2-3, 4+
    assert got == {
        "c1": ("1-1", 1, Decimal("100"), "potential_loyalist"),
        "c2": ("4+", 10, Decimal("1000"), "loyal"),
        "c3": ("4+", 5, Decimal("50"), "need_attention"),
        "c4": ("4+", 3, Decimal("300"), "at_risk"),
        "c5": ("4+", 1, Decimal("5000"), "lost"),
        "c6": ("4+", 0, Decimal("0"), "no_orders"),
    }


def test_rfm_ties_are_broken_by_customer_id(duckdb_warehouse):
    # Ten identical customers (one $20 order yesterday): NTILE(5) over (value, customer_id)
    # gives pairs in id order the scores 1, 2, 3, 4, 5 on R, F and M alike.
    ids = [f"t{i}" for i in range(10)]
    load_activity(duckdb_warehouse, [(c, ago(1), 1, 20, 0) for c in ids])
    refresh(duckdb_warehouse, D, D, [1])
    got = {c: row[5] for c, row in customers(duckdb_warehouse).items()}
    expected_by_score = ["lost", "hibernating", "need_attention", "loyal", "champions"]
    assert got == {c: expected_by_score[i // 2] for i, c in enumerate(ids)}


def test_segments_over_a_range_by_hand(duckdb_warehouse):
    # N = 2. alice: order $10 Jan 1, events Jan 5. bob: order $40 Jan 2. carol: events Jan 3.
    rows = [("alice", date(2025, 1, 1), 1, 10, 0), ("alice", date(2025, 1, 5), 0, 0, 1),
            ("bob", date(2025, 1, 2), 1, 40, 0), ("carol", date(2025, 1, 3), 0, 0, 2)]
    load_activity(duckdb_warehouse, rows)
    refresh(duckdb_warehouse, date(2025, 1, 1), date(2025, 1, 8), [2])
    # RFM among alice and bob (2 customers -> scores 1 and 2): alice R1 F1 M1 = lost,
    # bob R2 F2 M2 = hibernating. Buckets for N = 2: 2-3, 4-7, 8+.
    # Jan 3: alice 2 days (2-3). Jan 4: alice 3, bob 2. Jan 5: alice active again, bob 3,
    # carol 2. Jan 6: bob 4 (4-7), carol 3. Jan 7: alice 2, bob 5, carol 4. Jan 8: alice 3,
    # bob 6, carol 5.
    j = lambda d: date(2025, 1, d)  # noqa: E731
    assert nonzero_segments(duckdb_warehouse) == [
        (j(3), 2, "2-3", "lost", 1, Decimal("10")),
        (j(4), 2, "2-3", "hibernating", 1, Decimal("40")),
        (j(4), 2, "2-3", "lost", 1, Decimal("10")),
        (j(5), 2, "2-3", "hibernating", 1, Decimal("40")),
        (j(5), 2, "2-3", "no_orders", 1, Decimal("0")),
        (j(6), 2, "2-3", "no_orders", 1, Decimal("0")),
        (j(6), 2, "4-7", "hibernating", 1, Decimal("40")),
        (j(7), 2, "2-3", "lost", 1, Decimal("10")),
        (j(7), 2, "4-7", "hibernating", 1, Decimal("40")),
        (j(7), 2, "4-7", "no_orders", 1, Decimal("0")),
        (j(8), 2, "2-3", "lost", 1, Decimal("10")),
        (j(8), 2, "4-7", "hibernating", 1, Decimal("40")),
        (j(8), 2, "4-7", "no_orders", 1, Decimal("0")),
    ]


def test_every_day_gets_the_full_grid_of_zero_rows(duckdb_warehouse):
    load_activity(duckdb_warehouse, [("a", date(2025, 1, 10), 1, 5, 0)])
    refresh(duckdb_warehouse, date(2025, 1, 1), date(2025, 1, 5), [30, 60])
    frame = duckdb_warehouse.read_frame(f"SELECT * FROM {duckdb_warehouse.qualified('inactive_segments')}")
    # 5 days x 2 windows x 3 buckets x 12 segments, all zero: nobody was seen yet.
    assert len(frame) == 5 * 2 * 3 * len(RFM_SEGMENTS)
    assert (frame["customers"] == 0).all() and (frame["lifetime_revenue"] == 0).all()
    assert set(frame["inactivity_bucket"]) == set(bucket_labels(30)) | set(bucket_labels(60))


def test_inactive_customers_is_a_snapshot(duckdb_warehouse):
    load_activity(duckdb_warehouse, [("a", ago(40), 1, 5, 0), ("b", ago(10), 1, 5, 0)])
    refresh(duckdb_warehouse, ago(5), ago(5), [30])
    refresh(duckdb_warehouse, D, D, [30])
    table = duckdb_warehouse.qualified("inactive_customers")
    frame = duckdb_warehouse.read_frame(f"SELECT as_of_date, customer_id FROM {table}")
    assert [tuple(r) for r in frame.itertuples(index=False)] == [(D, "a")]


# =========================================================================================
# the naive reference: every day, every customer, sorted in Python
# =========================================================================================


def bucket(gap: int, n: int) -> str:
    return bucket_labels(n)[2 if gap >= 4 * n else 1 if gap >= 2 * n else 0]


def ntile5(i: int, n: int) -> int:
    """NTILE(5) of the row at 0-based position i of n: the first n % 5 groups get one more row."""
    q, r = divmod(n, 5)
    big = r * (q + 1)
    return i // (q + 1) + 1 if i < big else r + (i - big) // q + 1


def reference_day(rows, day: date) -> dict[str, tuple]:
    """customer -> (last_active, lifetime_orders, lifetime_revenue, rfm_segment) as of `day`."""
    state: dict[str, dict] = {}
    for c, d, o, r, _ in rows:
        if d > day:
            continue
        s = state.setdefault(c, {"la": d, "lo": None, "n": 0, "rev": Decimal(0), "f": 0, "m": Decimal(0)})
        s["la"] = max(s["la"], d)
        s["n"] += o
        s["rev"] += Decimal(str(r))
        if o:
            s["lo"] = d if s["lo"] is None else max(s["lo"], d)
            if (day - d).days <= 364:
                s["f"] += o
                s["m"] += Decimal(str(r))
    buyers = [c for c, s in state.items() if s["lo"] is not None]

    def score(key, zero_is_one: bool) -> dict[str, int]:
        ordered = sorted(buyers, key=lambda c: (key(c), c))
        return {c: (1 if zero_is_one and key(c) == 0 else ntile5(i, len(ordered))) for i, c in enumerate(ordered)}

    r = score(lambda c: state[c]["lo"], False)
    f = score(lambda c: state[c]["f"], True)
    m = score(lambda c: state[c]["m"], True)
    return {
        c: (s["la"], s["n"], s["rev"], rfm_segment(r[c], f[c], m[c]) if c in r else "no_orders")
        for c, s in state.items()
    }


def random_rows(seed: int, n_customers: int, first: date, days: int) -> list[tuple]:
    rng = random.Random(seed)
    rows = []
    for i in range(n_customers):
        d = rng.randrange(days)
        while d < days:
            orders = rng.choice([0, 1, 1, 2, 3])
            revenue = Decimal(rng.randrange(0, 30)) * 5 if orders else 0  # coarse amounts: ties
            rows.append((f"c{i:02d}", first + timedelta(days=d), orders, revenue, 0 if orders else 1))
            d += rng.choice([1, 2, 5, 20, 60, 150])
    return rows


def test_range_equals_naive_reference_across_chunks_and_the_365_day_edge(duckdb_warehouse, monkeypatch):
    monkeypatch.setattr(segments, "CHUNK_DAYS", 7)  # several chunks, one of them partial
    rows = random_rows(3, 30, date(2024, 1, 1), 560)
    start, end, ns = date(2025, 3, 1), date(2025, 4, 2), [7, 40]
    load_activity(duckdb_warehouse, rows)
    refresh(duckdb_warehouse, start, end, ns)

    expected = []
    day = start
    while day <= end:
        ref = reference_day(rows, day)
        for n in ns:
            groups: dict[tuple, list] = {}
            for la, _, rev, seg in ref.values():
                gap = (day - la).days
                if gap >= n:
                    g = groups.setdefault((bucket(gap, n), seg), [0, Decimal(0)])
                    g[0] += 1
                    g[1] += rev
            expected += [(day, n, b, s, c, r) for (b, s), (c, r) in groups.items()]
        day += timedelta(days=1)
    assert nonzero_segments(duckdb_warehouse) == sorted(expected)

    gaps = {c: ((end - la).days, state) for c, (la, *state) in reference_day(rows, end).items()}
    assert customers(duckdb_warehouse) == {
        c: (end - timedelta(days=gap), gap, bucket(gap, ns[0]), *state)
        for c, (gap, state) in gaps.items() if gap >= ns[0]
    }


def test_rerun_and_day_by_day_equal_one_call(duckdb_warehouse):
    rows = random_rows(5, 20, date(2024, 6, 1), 330)
    load_activity(duckdb_warehouse, rows)
    start, end = date(2025, 3, 1), date(2025, 3, 12)
    refresh(duckdb_warehouse, start, end, [10])
    once = nonzero_segments(duckdb_warehouse)
    refresh(duckdb_warehouse, start, end, [10])
    assert nonzero_segments(duckdb_warehouse) == once
    day = start
    while day <= end:
        refresh(duckdb_warehouse, day, day, [10])
        day += timedelta(days=1)
    assert nonzero_segments(duckdb_warehouse) == once


# =========================================================================================
# export and DuckDB / PostgreSQL agreement
# =========================================================================================


def test_export_inactive_customers_csv(duckdb_warehouse, tmp_path):
    load_activity(duckdb_warehouse, RFM_POPULATION)
    refresh(duckdb_warehouse, D, D, [1])
    path = tmp_path / "out" / "winback.csv"
    with duckdb_warehouse.engine.connect() as conn:
        assert export_inactive_customers(conn, duckdb_warehouse.schema_name, path) == 6
    with path.open(newline="") as f:
        lines = list(csv.reader(f))
    assert lines[0] == ["as_of_date", *CUSTOMER_COLUMNS, "p_alive", "expected_purchases_90d"]
    # most valuable first: c5 5000, c2 1000, c4 300, c1 100, c3 50, c6 0
    assert [line[1] for line in lines[1:]] == ["c5", "c2", "c4", "c1", "c3", "c6"]
    # no predictions were computed here: the model columns are empty, not made up
    assert lines[1] == ["2025-06-30", "c5", "2024-06-30", "365", "4+", "1", "5000.0000", "lost", "", ""]


@pytest.mark.postgres
def test_duckdb_and_postgres_give_identical_segments(duckdb_warehouse, postgres_warehouse):
    # mixed-case ids: byte order ("B" < "a") must decide ties on both engines
    rows = [(c.upper() if i % 3 == 0 else c, d, o, r, e)
            for i, (c, d, o, r, e) in enumerate(random_rows(11, 40, date(2024, 3, 1), 420))]
    results = []
    for wh in (duckdb_warehouse, postgres_warehouse):
        load_activity(wh, rows)
        refresh(wh, date(2025, 2, 1), date(2025, 4, 15), [14, 30])
        full = wh.read_frame(f"SELECT * FROM {wh.qualified('inactive_segments')} "
                             "ORDER BY as_of_date, inactivity_days, inactivity_bucket, rfm_segment")
        winback = wh.read_frame(f"SELECT * FROM {wh.qualified('inactive_customers')} ORDER BY customer_id")
        results.append(([tuple(r) for r in full.itertuples(index=False)],
                        sorted(tuple(r) for r in winback.itertuples(index=False))))
    (duck_full, duck_list), (pg_full, pg_list) = results
    assert len(duck_full) == 74 * 2 * 3 * len(RFM_SEGMENTS) and duck_full == pg_full
    assert duck_list and duck_list == pg_list
