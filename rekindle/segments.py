"""Inactive-customer segments of SPEC section 5: inactivity buckets x RFM segments.

RFM as of day D, over the customers with at least one completed order up to D:
  R = D - last order day (lower is better), F = orders in the trailing 365 days D-364..D,
  M = their revenue.
Each is scored 1..5 by quintile: NTILE(5) over the customers ordered by the value (for R by
the last order day, so 5 = most recent), ties broken by customer_id in byte order
(COLLATE "C") so DuckDB and PostgreSQL agree; equal values may therefore straddle a quintile
boundary. F = 0 or M = 0 (all orders older than 365 days, or free) always scores 1, also
when zeros fill more than the lowest quintile. FM = the mean of the F and M scores, rounded
half up. Customers without a completed order up to D (events only) are `no_orders`.

The segment map is the widely used 5 x 5 R/F segment grid (hibernating, at_risk,
cannot_lose_them, about_to_sleep, need_attention, loyal, promising, new_customers,
potential_loyalist, champions), read with FM in place of F so that monetary value counts,
and with `lost` split off its lowest corner (the SQL joins it on R and on F + M, as
2 FM - 1 <= F + M <= 2 FM is FM = (F + M) / 2 rounded half up):

    R \\ FM | 1               | 2                  | 3                  | 4         | 5
    -------+-----------------+--------------------+--------------------+-----------+-----------------
      5    | new_customers   | potential_loyalist | potential_loyalist | champions | champions
      4    | promising       | potential_loyalist | potential_loyalist | loyal     | loyal
      3    | about_to_sleep  | about_to_sleep     | need_attention     | loyal     | loyal
      2    | hibernating     | hibernating        | at_risk            | at_risk   | cannot_lose_them
      1    | lost            | hibernating        | at_risk            | at_risk   | cannot_lose_them

Cost. A quintile is a rank among all ordering customers and everybody's recency moves every
day, so RFM for every day of a range is inherently customers x days (there is no delta
formulation for ranks) plus three sorts of that panel per day. Everything before the ranks
stays linear: each customer's state (last active and order day, trailing and lifetime sums)
is computed on its *change days* only (the range start, active days, days an order leaves
the trailing year) and then repeated over the days until the next change, an output-sized
expansion with no range join. So the daily run (one day) costs O(activity rows + customers)
and a backfill O(activity rows + customers x days). The daily run is what the dashboards
need and is cheap; a long backfill is computed in chunks of CHUNK_DAYS days (one statement
each, same transaction) so the warehouse never holds more than customers x CHUNK_DAYS panel
rows at once. Measured (20k customers, 145k activity rows, 3 windows, 2 cores): one day
0.06 s on DuckDB / 0.5 s on PostgreSQL; a 180-day backfill 1.2 s / 8-10 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy.engine import Connection

from rekindle.sql import (
    Query,
    add_days,
    calendar,
    days_between,
    integer_series,
    replace_rows,
    schema_prefix,
    type_name,
)
from rekindle.tables import MONEY

CHUNK_DAYS = 92
TRAILING_DAYS = 365  # F and M count the orders of the days D-364..D

NO_ORDERS = "no_orders"
# RFM_GRID[r][fm - 1]: the segment of R score r and FM score fm (the table above).
RFM_GRID: dict[int, tuple[str, str, str, str, str]] = {
    5: ("new_customers", "potential_loyalist", "potential_loyalist", "champions", "champions"),
    4: ("promising", "potential_loyalist", "potential_loyalist", "loyal", "loyal"),
    3: ("about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"),
    2: ("hibernating", "hibernating", "at_risk", "at_risk", "cannot_lose_them"),
    1: ("lost", "hibernating", "at_risk", "at_risk", "cannot_lose_them"),
}
RFM_SEGMENTS: tuple[str, ...] = tuple(sorted({s for row in RFM_GRID.values() for s in row})) + (NO_ORDERS,)


def rfm_segment(r: int, f: int, m: int) -> str:
    """The segment of the scores (r, f, m), each 1..5."""
    return RFM_GRID[r][(f + m + 1) // 2 - 1]


def bucket_labels(n: int) -> tuple[str, str, str]:
    """Labels of the bands [N, 2N), [2N, 4N), [4N, inf), e.g. 30-59, 60-119, 120+ for N = 30."""
    return f"{n}-{2 * n - 1}", f"{2 * n}-{4 * n - 1}", f"{4 * n}+"


def _add_windows_and_buckets(query: Query, inactivity_days: Sequence[int]) -> None:
    query.add_values("windows", "the inactivity windows N", [{"inactivity_days": int(n)} for n in inactivity_days])
    query.add_values("buckets", "per N, the inactivity bands 0, 1, 2 = [N, 2N), [2N, 4N), 4N+ and their labels", [
        {"inactivity_days": int(n), "band": band, "label": label}
        for n in inactivity_days for band, label in enumerate(bucket_labels(int(n)))
    ])


def _add_rfm(query: Query, s: str, money: str, single_day: bool) -> None:
    """Adds `people` (customer_id, customer_number) and `rfm`: per customer seen by D and day D
    in [:start, :end], the last active day, lifetime orders and revenue, and the RFM segment as of D."""
    query.add_values("rfm_segment_grid", "the segment of each R and FM score (RFM_GRID, rekindle/segments.py)", [
        {"r_score": r, "fm_score": fm, "segment": RFM_GRID[r][fm - 1]} for r in range(1, 6) for fm in range(1, 6)
    ])
    query.add("people", "the customers seen by :end, numbered in byte order of customer_id: the quintiles' "
              "tie-breaker, and a cheap integer key for the big sorts below", f"""
        SELECT customer_id, ROW_NUMBER() OVER (ORDER BY customer_id COLLATE "C") AS customer_number
        FROM (
            SELECT DISTINCT customer_id FROM {s}.customer_daily_activity WHERE activity_date <= CAST(:end AS DATE)
        ) AS seen
    """)
    query.add("numbered_activity", "the active days up to :end, by customer number", f"""
        SELECT people.customer_number, activity.activity_date, activity.orders, activity.revenue
        FROM {s}.customer_daily_activity AS activity
        JOIN people ON people.customer_id = activity.customer_id
        WHERE activity.activity_date <= CAST(:end AS DATE)
    """)
    trailing_start = add_days("CAST(:start AS DATE)", "-CAST(:trailing_days AS INTEGER)")
    leaves_trailing = add_days("activity_date", ":trailing_days")
    query.add("changes", "the days in the range on which a customer's state changes, with the change: everything "
              "before the range folds into one change on :start; then active days; then the days orders leave the "
              "trailing :trailing_days days", f"""
        SELECT customer_number, day, MAX(active_day) AS active_day, MAX(order_day) AS order_day,
               SUM(orders) AS orders, SUM(revenue) AS revenue,
               SUM(trailing_orders) AS trailing_orders, SUM(trailing_revenue) AS trailing_revenue
        FROM (
            SELECT customer_number, CAST(:start AS DATE) AS day, activity_date AS active_day,
                   CASE WHEN orders > 0 THEN activity_date END AS order_day, orders, revenue,
                   CASE WHEN activity_date >= {trailing_start} THEN orders ELSE 0 END AS trailing_orders,
                   CASE WHEN activity_date >= {trailing_start} THEN revenue ELSE 0 END AS trailing_revenue
            FROM numbered_activity
            WHERE activity_date < CAST(:start AS DATE)
            UNION ALL
            SELECT customer_number, activity_date, activity_date, CASE WHEN orders > 0 THEN activity_date END,
                   orders, revenue, orders, revenue
            FROM numbered_activity
            WHERE activity_date >= CAST(:start AS DATE)
            UNION ALL
            SELECT customer_number, {leaves_trailing}, NULL, NULL, 0, 0, -orders, -revenue
            FROM numbered_activity
            WHERE orders > 0 AND {leaves_trailing} BETWEEN CAST(:start AS DATE) AND CAST(:end AS DATE)
        ) AS state_changes
        GROUP BY customer_number, day
    """, {"trailing_days": TRAILING_DAYS})
    day_after_end = add_days("CAST(:end AS DATE)", 1)
    next_change = f"COALESCE(LEAD(day) OVER (PARTITION BY customer_number ORDER BY day), {day_after_end})"
    query.add("states", "each customer's state from a change day up to the day before the next change", f"""
        SELECT customer_number, day, {days_between('day', next_change)} AS state_days,
               MAX(active_day) OVER so_far AS last_active, MAX(order_day) OVER so_far AS last_order,
               CAST(SUM(orders) OVER so_far AS BIGINT) AS lifetime_orders,
               CAST(SUM(revenue) OVER so_far AS {money}) AS lifetime_revenue,
               CAST(SUM(trailing_orders) OVER so_far AS BIGINT) AS trailing_orders,
               CAST(SUM(trailing_revenue) OVER so_far AS {money}) AS trailing_revenue
        FROM changes
        WINDOW so_far AS (PARTITION BY customer_number ORDER BY day ROWS UNBOUNDED PRECEDING)
    """)
    if single_day:
        # every state covers the one day; PostgreSQL also plans (and JITs) badly around the
        # 1000-row guess it makes for a generate_series with per-row bounds
        panel_day, expand = "states.day", "states"
    else:
        panel_day = f"{add_days('states.day', 'day_offsets.day_offset')} AS day"
        expand = f"states CROSS JOIN LATERAL {integer_series('states.state_days - 1', 'day_offsets', 'day_offset')}"
    query.add("panel", "customer x day: each state repeated over its days (output-sized, no range join)", f"""
        SELECT states.customer_number, {panel_day}, states.last_active, states.last_order, states.lifetime_orders,
               states.lifetime_revenue, states.trailing_orders, states.trailing_revenue
        FROM {expand}
    """)

    def quintile(value: str) -> str:
        return f"NTILE(5) OVER (PARTITION BY day, last_order IS NULL ORDER BY {value}, customer_number)"

    query.add("scored", "the R, F and M quintiles among the customers with an order (the others get no_orders); "
              "no orders or no revenue in the trailing days scores F or M 1", f"""
        SELECT customer_number, day, last_active, last_order, lifetime_orders, lifetime_revenue,
               {quintile('last_order')} AS r_score,
               CASE WHEN trailing_orders = 0 THEN 1 ELSE {quintile('trailing_orders')} END AS f_score,
               CASE WHEN trailing_revenue = 0 THEN 1 ELSE {quintile('trailing_revenue')} END AS m_score
        FROM panel
    """)
    query.add("rfm", "per customer and day: the RFM segment, FM = (F + M) / 2 rounded half up", """
        SELECT scored.customer_number, scored.day, scored.last_active, scored.lifetime_orders,
               scored.lifetime_revenue, COALESCE(rfm_segment_grid.segment, CAST(:no_orders AS VARCHAR)) AS rfm_segment
        FROM scored
        LEFT JOIN rfm_segment_grid
               ON scored.last_order IS NOT NULL AND rfm_segment_grid.r_score = scored.r_score
              AND scored.f_score + scored.m_score
                  BETWEEN 2 * rfm_segment_grid.fm_score - 1 AND 2 * rfm_segment_grid.fm_score
    """, {"no_orders": NO_ORDERS})
    gap = days_between("rfm.last_active", "rfm.day")
    query.add("inactive", "per customer, day and N they are inactive for (N+ days since the last active day): "
              "their band", f"""
        SELECT rfm.customer_number, rfm.day, windows.inactivity_days, rfm.last_active, {gap} AS days_inactive,
               CASE WHEN {gap} >= 4 * windows.inactivity_days THEN 2
                    WHEN {gap} >= 2 * windows.inactivity_days THEN 1 ELSE 0 END AS band,
               rfm.lifetime_orders, rfm.lifetime_revenue, rfm.rfm_segment
        FROM rfm CROSS JOIN windows
        WHERE {gap} >= windows.inactivity_days
    """)


def refresh_inactive_segments(
    conn: Connection, schema: str, start: date, end: date, inactivity_days: Sequence[int]
) -> int:
    """Per day D in [start, end], N, inactivity bucket and RFM segment: the inactive customers
    and their lifetime revenue up to D. Every (D, N, bucket, segment) gets a row, 0 when empty,
    so each day has the same rows for each N. One statement per chunk of CHUNK_DAYS days."""
    s = schema_prefix(conn, schema)
    rows = 0
    chunk_start = start
    while chunk_start <= end:
        chunk_end = min(end, chunk_start + timedelta(days=CHUNK_DAYS - 1))
        query = Query(["as_of_date", "inactivity_days", "inactivity_bucket", "rfm_segment", "customers",
                       "lifetime_revenue"], {"start": chunk_start, "end": chunk_end})
        _add_windows_and_buckets(query, inactivity_days)
        query.add_values("segments", "every RFM segment, and no_orders",
                         [{"rfm_segment": name} for name in RFM_SEGMENTS])
        query.add("calendar", "every day from :start to :end", calendar("CAST(:start AS DATE)", "CAST(:end AS DATE)"))
        _add_rfm(query, s, type_name(conn, MONEY), chunk_start == chunk_end)
        query.add("inactive_counts", "per day, N, band and segment: inactive customers and their lifetime revenue", """
            SELECT day, inactivity_days, band, rfm_segment, COUNT(*) AS customers,
                   SUM(lifetime_revenue) AS lifetime_revenue
            FROM inactive
            GROUP BY day, inactivity_days, band, rfm_segment
        """)
        query.add("final", "every day, N, bucket and segment, 0 when nobody is in it", """
            SELECT calendar.day AS as_of_date, buckets.inactivity_days, buckets.label AS inactivity_bucket,
                   segments.rfm_segment, COALESCE(inactive_counts.customers, 0) AS customers,
                   COALESCE(inactive_counts.lifetime_revenue, 0) AS lifetime_revenue
            FROM calendar CROSS JOIN buckets CROSS JOIN segments
            LEFT JOIN inactive_counts
                   ON inactive_counts.day = calendar.day AND inactive_counts.inactivity_days = buckets.inactivity_days
                  AND inactive_counts.band = buckets.band AND inactive_counts.rfm_segment = segments.rfm_segment
        """)
        rows += replace_rows(conn, f"{s}.inactive_segments", query, date_column="as_of_date",
                             start=chunk_start, end=chunk_end)
        chunk_start = chunk_end + timedelta(days=1)
    return rows


def refresh_inactive_customers(conn: Connection, schema: str, as_of: date, inactivity_days_primary: int) -> int:
    """The win-back list: every customer inactive at the end of `as_of` for the primary N, with
    the BG/NBD p_alive and expected purchases of customer_predictions (NULL for customers it
    does not hold). A snapshot: the whole table is replaced."""
    s = schema_prefix(conn, schema)
    query = Query(["as_of_date", "customer_id", "last_active_date", "days_inactive", "inactivity_bucket",
                   "lifetime_orders", "lifetime_revenue", "rfm_segment", "p_alive", "expected_purchases_90d"],
                  {"start": as_of, "end": as_of})
    _add_windows_and_buckets(query, [inactivity_days_primary])
    _add_rfm(query, s, type_name(conn, MONEY), single_day=True)
    query.add("final", "per customer inactive for N+ days on :end: their state and the model's predictions", f"""
        SELECT inactive.day AS as_of_date, people.customer_id, inactive.last_active AS last_active_date,
               inactive.days_inactive, buckets.label AS inactivity_bucket, inactive.lifetime_orders,
               inactive.lifetime_revenue, inactive.rfm_segment, predictions.p_alive,
               predictions.expected_purchases_90d
        FROM inactive
        JOIN people ON people.customer_number = inactive.customer_number
        JOIN buckets ON buckets.inactivity_days = inactive.inactivity_days AND buckets.band = inactive.band
        LEFT JOIN {s}.customer_predictions AS predictions ON predictions.customer_id = people.customer_id
    """)
    return replace_rows(conn, f"{s}.inactive_customers", query)
