"""Core activity tables and daily metrics of SPEC section 5, as SQL run in the warehouse.

How the daily series stay linear in the number of activity rows (never rows x days):
every customer's history is cut into spans between consecutive active days. A span
(a, next) says: last_active = a for every day in [a, next - 1]. From spans we emit *deltas*
(+1 on the day a state starts, -1 on the day after it ends), sum them per day, and a
running SUM over the calendar turns them into the value on each day. Each activity row
yields a constant number of deltas per window, and the calendar is days x windows.

Every `refresh_*` function deletes the target rows for [start, end] and inserts them again
inside the caller's transaction, so re-running any range gives the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from rekindle.sql import add_days, calendar_cte, count_rows, earliest_activity, int_values, ratio, schema_prefix

END_PLUS_1 = add_days("CAST(:end AS DATE)", 1)


def _spans_ctes(s: str) -> str:
    """act: active days up to :end. spans: each active day with the previous and next one
    (next = the day after :end when there is none, which only ever moves deltas past the range)."""
    return f"""
    act AS (
        SELECT customer_id, activity_date AS d, orders, revenue
        FROM {s}.customer_daily_activity
        WHERE activity_date <= CAST(:end AS DATE)
    ),
    spans AS (
        SELECT customer_id, d, orders, revenue,
               LAG(d) OVER (PARTITION BY customer_id ORDER BY d) AS prev_d,
               COALESCE(LEAD(d) OVER (PARTITION BY customer_id ORDER BY d), {END_PLUS_1}) AS next_d
        FROM act
    )"""


def _lifecycle_ctes(inactivity_days: Sequence[int], first: date, end: date) -> str:
    """lifecycle: one row per (day, n) for every day in [first, end] with the day's counts
    and the running active/inactive totals. Needs the `spans` CTE."""
    return f"""
    day_counts AS (
        SELECT day, n, SUM(new_c) AS new_c, SUM(returning_c) AS returning_c,
               SUM(reactivated_c) AS reactivated_c, SUM(dormant_c) AS dormant_c
        FROM (
            SELECT s.d AS day, w.n,
                   CASE WHEN s.prev_d IS NULL THEN 1 ELSE 0 END AS new_c,
                   CASE WHEN s.d - s.prev_d <= w.n THEN 1 ELSE 0 END AS returning_c,
                   CASE WHEN s.d - s.prev_d > w.n THEN 1 ELSE 0 END AS reactivated_c,
                   0 AS dormant_c
            FROM spans s CROSS JOIN {int_values('w', 'n', inactivity_days)}
            UNION ALL
            -- a customer turns dormant N days after an active day not followed within N days
            SELECT {add_days('s.d', 'w.n')}, w.n, 0, 0, 0, 1
            FROM spans s CROSS JOIN {int_values('w', 'n', inactivity_days)}
            WHERE s.next_d - s.d > w.n
        ) x
        GROUP BY day, n
    ),
    {calendar_cte('lifecycle_calendar', first, end)},
    lifecycle AS (
        SELECT c.day, w.n,
               COALESCE(dc.new_c, 0) AS new_c,
               COALESCE(dc.returning_c, 0) AS returning_c,
               COALESCE(dc.reactivated_c, 0) AS reactivated_c,
               COALESCE(dc.dormant_c, 0) AS dormant_c,
               -- the SPEC invariants, summed from the first day: active += new + reactivated - dormant
               SUM(COALESCE(dc.new_c, 0) + COALESCE(dc.reactivated_c, 0) - COALESCE(dc.dormant_c, 0))
                   OVER (PARTITION BY w.n ORDER BY c.day ROWS UNBOUNDED PRECEDING) AS active_c,
               SUM(COALESCE(dc.dormant_c, 0) - COALESCE(dc.reactivated_c, 0))
                   OVER (PARTITION BY w.n ORDER BY c.day ROWS UNBOUNDED PRECEDING) AS inactive_c
        FROM lifecycle_calendar c
        CROSS JOIN {int_values('w', 'n', inactivity_days)}
        LEFT JOIN day_counts dc ON dc.day = c.day AND dc.n = w.n
    )"""


def _first_day(conn: Connection, s: str, start: date, lookback_days: int) -> date:
    """Running sums must start at or before the first active day ever, and cover S = D - P."""
    earliest = earliest_activity(conn, s)
    first = start - timedelta(days=lookback_days)
    return min(first, earliest) if earliest is not None else first


def _replace(conn: Connection, s: str, table: str, start: date, end: date, insert_sql: str, params: dict) -> int:
    """Rewrite the days [start, end] of `table`; returns the rows it now holds for them."""
    conn.execute(
        text(f"DELETE FROM {s}.{table} WHERE as_of_date BETWEEN CAST(:start AS DATE) AND CAST(:end AS DATE)"),
        {"start": start, "end": end},
    )
    conn.execute(text(insert_sql), {"start": start, "end": end, **params})
    return count_rows(conn, f"{s}.{table}", "as_of_date", start, end)


# --- core layer --------------------------------------------------------------------------


def refresh_customer_daily_activity(
    conn: Connection, schema: str, start: date, end: date, passive_event_types: Sequence[str]
) -> int:
    """customer x active day for [start, end]: completed orders and revenue, non-passive events.
    A day with only cancelled/refunded orders or passive events is not an active day."""
    s = schema_prefix(conn, schema)
    conn.execute(
        text(f"DELETE FROM {s}.customer_daily_activity WHERE activity_date BETWEEN CAST(:start AS DATE) AND CAST(:end AS DATE)"),
        {"start": start, "end": end},
    )
    passive = list(passive_event_types)
    # An empty IN list is not valid SQL everywhere; without passive types every event counts.
    passive_filter = "event_type NOT IN :passive AND " if passive else ""
    insert = text(f"""
        INSERT INTO {s}.customer_daily_activity (customer_id, activity_date, orders, revenue, events)
        SELECT customer_id, activity_date, SUM(orders), SUM(revenue), SUM(events)
        FROM (
            SELECT customer_id, partition_date AS activity_date, COUNT(*) AS orders,
                   SUM(amount) AS revenue, 0 AS events
            FROM {s}.raw_orders
            WHERE status = 'completed' AND partition_date BETWEEN CAST(:start AS DATE) AND CAST(:end AS DATE)
            GROUP BY customer_id, partition_date
            UNION ALL
            SELECT customer_id, partition_date, 0, 0, COUNT(*)
            FROM {s}.raw_events
            WHERE {passive_filter}partition_date BETWEEN CAST(:start AS DATE) AND CAST(:end AS DATE)
            GROUP BY customer_id, partition_date
        ) x
        GROUP BY customer_id, activity_date
    """)
    params = {"start": start, "end": end}
    if passive:
        insert = insert.bindparams(bindparam("passive", expanding=True))
        params["passive"] = passive
    conn.execute(insert, params)
    return count_rows(conn, f"{s}.customer_daily_activity", "activity_date", start, end)


def refresh_customers(conn: Connection, schema: str) -> int:
    """One row per customer ever seen, rebuilt whole from customer_daily_activity."""
    s = schema_prefix(conn, schema)
    conn.execute(text(f"DELETE FROM {s}.customers"))
    conn.execute(text(f"""
        INSERT INTO {s}.customers (customer_id, first_active_date, last_active_date, first_order_date,
                                   last_order_date, lifetime_orders, lifetime_revenue)
        SELECT customer_id, MIN(activity_date), MAX(activity_date),
               MIN(CASE WHEN orders > 0 THEN activity_date END),
               MAX(CASE WHEN orders > 0 THEN activity_date END),
               SUM(orders), SUM(revenue)
        FROM {s}.customer_daily_activity
        GROUP BY customer_id
    """))
    return count_rows(conn, f"{s}.customers")


# --- metrics layer -----------------------------------------------------------------------


def refresh_lifecycle_daily(
    conn: Connection, schema: str, start: date, end: date, inactivity_days: Sequence[int]
) -> int:
    s = schema_prefix(conn, schema)
    first = _first_day(conn, s, start, 0)
    sql = f"""
        INSERT INTO {s}.lifecycle_daily (as_of_date, inactivity_days, new_customers, returning_customers,
            reactivated_customers, dormant_customers, active_customers, inactive_customers)
        WITH {_spans_ctes(s)}, {_lifecycle_ctes(inactivity_days, first, end)}
        SELECT day, n, new_c, returning_c, reactivated_c, dormant_c, active_c, inactive_c
        FROM lifecycle
        WHERE day BETWEEN CAST(:start AS DATE) AND CAST(:end AS DATE)
    """
    return _replace(conn, s, "lifecycle_daily", start, end, sql, {})


def refresh_reactivation_daily(
    conn: Connection,
    schema: str,
    start: date,
    end: date,
    inactivity_days: Sequence[int],
    period_days: Sequence[int],
) -> int:
    """For period (S, D], S = D - P: customers inactive at the end of S, how many came back.

    A gap (a, next) with next - a > N is an inactive stretch [a + N, next - 1]. Its customer
    counts as reactivated for D when S lies in the stretch and next <= D, i.e. for
    D in [max(a + N + P, next), next + P - 1]. Their revenue on an active day x >= next counts
    for D in [max(x, a + N + P), next + P - 1] (x must also lie in (S, D]).
    """
    s = schema_prefix(conn, schema)
    first = _first_day(conn, s, start, max(period_days))
    periods = int_values("p", "p", period_days)
    sql = f"""
        INSERT INTO {s}.reactivation_daily (as_of_date, inactivity_days, period_days, inactive_at_start,
            reactivated, reactivation_rate, reactivated_revenue)
        WITH {_spans_ctes(s)}, {_lifecycle_ctes(inactivity_days, first, end)},
        gaps AS (
            SELECT s.customer_id, s.d AS a, s.next_d, w.n
            FROM spans s CROSS JOIN {int_values('w', 'n', inactivity_days)}
            WHERE s.next_d - s.d > w.n AND s.next_d <= CAST(:end AS DATE)
        ),
        deltas AS (
            SELECT GREATEST({add_days('g.a', 'g.n + p.p')}, g.next_d) AS day, g.n, p.p, 1 AS d_count, 0 AS d_revenue
            FROM gaps g CROSS JOIN {periods}
            UNION ALL
            SELECT {add_days('g.next_d', 'p.p')}, g.n, p.p, -1, 0
            FROM gaps g CROSS JOIN {periods}
            UNION ALL
            SELECT GREATEST(x.d, {add_days('g.a', 'g.n + p.p')}), g.n, p.p, 0, x.revenue
            FROM gaps g CROSS JOIN {periods}
            JOIN act x ON x.customer_id = g.customer_id AND x.revenue > 0
                      AND x.d >= g.next_d AND x.d < {add_days('g.next_d', 'p.p')}
            UNION ALL
            SELECT {add_days('g.next_d', 'p.p')}, g.n, p.p, 0, -x.revenue
            FROM gaps g CROSS JOIN {periods}
            JOIN act x ON x.customer_id = g.customer_id AND x.revenue > 0
                      AND x.d >= g.next_d AND x.d < {add_days('g.next_d', 'p.p')}
        ),
        day_deltas AS (
            SELECT day, n, p, SUM(d_count) AS d_count, SUM(d_revenue) AS d_revenue
            FROM deltas GROUP BY day, n, p
        ),
        running AS (
            SELECT l.day, l.n, p.p,
                   SUM(COALESCE(dd.d_count, 0)) OVER w AS reactivated,
                   SUM(COALESCE(dd.d_revenue, 0)) OVER w AS revenue
            FROM lifecycle l CROSS JOIN {periods}
            LEFT JOIN day_deltas dd ON dd.day = l.day AND dd.n = l.n AND dd.p = p.p
            WINDOW w AS (PARTITION BY l.n, p.p ORDER BY l.day ROWS UNBOUNDED PRECEDING)
        )
        SELECT r.day, r.n, r.p, COALESCE(st.inactive_c, 0), r.reactivated,
               {ratio('r.reactivated', 'COALESCE(st.inactive_c, 0)')}, r.revenue
        FROM running r
        LEFT JOIN lifecycle st ON st.n = r.n AND st.day = {add_days('r.day', '-r.p')}
        WHERE r.day BETWEEN CAST(:start AS DATE) AND CAST(:end AS DATE)
    """
    return _replace(conn, s, "reactivation_daily", start, end, sql, {})


def _inactive_periods_cte(inactivity_days: Sequence[int]) -> str:
    """periods: for every stretch of inactivity [inactive_from, inactive_to] (to <= :end), the
    in-base stretch [base_from, base_to] just before it. Needs the `spans` CTE."""
    return f"""
    periods AS (
        SELECT customer_id, n, streak_start AS base_from, {add_days('d', 'n - 1')} AS base_to,
               {add_days('d', 'n')} AS inactive_from, {add_days('next_d', -1)} AS inactive_to
        FROM (
            SELECT s.customer_id, s.d, s.next_d, w.n,
                   MAX(CASE WHEN s.prev_d IS NULL OR s.d - s.prev_d > w.n THEN s.d END)
                       OVER (PARTITION BY s.customer_id, w.n ORDER BY s.d ROWS UNBOUNDED PRECEDING) AS streak_start
            FROM spans s CROSS JOIN {int_values('w', 'n', inactivity_days)}
        ) z
        WHERE next_d - d > n
    )"""


def refresh_retention_daily(
    conn: Connection,
    schema: str,
    start: date,
    end: date,
    inactivity_days: Sequence[int],
    period_days: Sequence[int],
) -> int:
    """For period (S, D]: customers in the active base at the end of S, how many are inactive at D.

    A customer churned for D when D lies in one of their inactive stretches and S = D - P in
    one of their in-base stretches (the one just before, or an earlier one when P > N).
    """
    s = schema_prefix(conn, schema)
    first = _first_day(conn, s, start, max(period_days))
    sql = f"""
        INSERT INTO {s}.retention_daily (as_of_date, inactivity_days, period_days, customers_at_start,
            retained, churned, retention_rate, churn_rate)
        {_retention_select(s, inactivity_days, period_days, first, end)}
    """
    return _replace(conn, s, "retention_daily", start, end, sql, {})


def _retention_select(s: str, inactivity_days: Sequence[int], period_days: Sequence[int], first: date, end: date) -> str:
    periods = int_values("p", "p", period_days)
    return f"""
        WITH {_spans_ctes(s)}, {_lifecycle_ctes(inactivity_days, first, end)},
        {_inactive_periods_cte(inactivity_days)},
        churn_spans AS (
            SELECT i.n, p.p,
                   GREATEST(i.inactive_from, {add_days('b.base_from', 'p.p')}) AS first_day,
                   LEAST(i.inactive_to, {add_days('b.base_to', 'p.p')}) AS last_day
            FROM periods i
            JOIN periods b ON b.customer_id = i.customer_id AND b.n = i.n AND b.inactive_from <= i.inactive_from
            CROSS JOIN {periods}
            WHERE {add_days('b.base_from', 'p.p')} <= i.inactive_to AND {add_days('b.base_to', 'p.p')} >= i.inactive_from
        ),
        day_deltas AS (
            SELECT day, n, p, SUM(d_count) AS d_count FROM (
                SELECT first_day AS day, n, p, 1 AS d_count FROM churn_spans
                UNION ALL
                SELECT {add_days('last_day', 1)}, n, p, -1 FROM churn_spans
            ) x GROUP BY day, n, p
        ),
        running AS (
            SELECT l.day, l.n, p.p,
                   SUM(COALESCE(dd.d_count, 0)) OVER (PARTITION BY l.n, p.p ORDER BY l.day ROWS UNBOUNDED PRECEDING) AS churned
            FROM lifecycle l CROSS JOIN {periods}
            LEFT JOIN day_deltas dd ON dd.day = l.day AND dd.n = l.n AND dd.p = p.p
        )
        SELECT r.day AS as_of_date, r.n AS inactivity_days, r.p AS period_days,
               COALESCE(st.active_c, 0) AS customers_at_start, COALESCE(st.active_c, 0) - r.churned AS retained,
               r.churned AS churned, 1 - {ratio('r.churned', 'COALESCE(st.active_c, 0)')} AS retention_rate,
               {ratio('r.churned', 'COALESCE(st.active_c, 0)')} AS churn_rate
        FROM running r
        LEFT JOIN lifecycle st ON st.n = r.n AND st.day = {add_days('r.day', '-r.p')}
        WHERE r.day BETWEEN CAST(:start AS DATE) AND CAST(:end AS DATE)
    """


def refresh_purchase_daily(
    conn: Connection, schema: str, start: date, end: date, period_days: Sequence[int]
) -> int:
    """Orders, buyers, revenue and repeat buyers over the P days (D - P, D].

    For an order day x (k orders) with the customer's previous/next order days, the customer
    is a buyer for D in [x, min(next, x + P) - 1], the D for which x is their latest order day
    in the period; they are a repeat buyer on those D when k >= 2, or while prev is still in
    the period (D < prev + P).
    """
    s = schema_prefix(conn, schema)
    first = _first_day(conn, s, start, 0)
    sql = f"""
        INSERT INTO {s}.purchase_daily (as_of_date, period_days, orders, buyers, revenue,
            average_order_value, purchase_frequency, repeat_buyers, repeat_purchase_rate)
        {_purchase_select(s, period_days, first, end)}
    """
    return _replace(conn, s, "purchase_daily", start, end, sql, {})


def _purchase_select(s: str, period_days: Sequence[int], first: date, end: date) -> str:
    periods = int_values("p", "p", period_days)
    return f"""
        WITH act AS (
            SELECT customer_id, activity_date AS d, orders, revenue
            FROM {s}.customer_daily_activity
            WHERE orders > 0 AND activity_date <= CAST(:end AS DATE)
        ),
        order_days AS (
            SELECT customer_id, d, orders AS k, revenue AS v,
                   LAG(d) OVER (PARTITION BY customer_id ORDER BY d) AS prev_d,
                   COALESCE(LEAD(d) OVER (PARTITION BY customer_id ORDER BY d), {END_PLUS_1}) AS next_d
            FROM act
        ),
        deltas AS (
            SELECT o.d AS day, p.p, o.k AS d_orders, o.v AS d_revenue, 1 AS d_buyers,
                   CASE WHEN o.k >= 2 OR o.d - o.prev_d < p.p THEN 1 ELSE 0 END AS d_repeat
            FROM order_days o CROSS JOIN {periods}
            UNION ALL
            SELECT {add_days('o.d', 'p.p')}, p.p, -o.k, -o.v, 0, 0
            FROM order_days o CROSS JOIN {periods}
            UNION ALL
            SELECT LEAST(o.next_d, {add_days('o.d', 'p.p')}), p.p, 0, 0, -1, 0
            FROM order_days o CROSS JOIN {periods}
            UNION ALL
            SELECT CASE WHEN o.k >= 2 THEN LEAST(o.next_d, {add_days('o.d', 'p.p')})
                        ELSE LEAST(o.next_d, {add_days('o.prev_d', 'p.p')}) END, p.p, 0, 0, 0, -1
            FROM order_days o CROSS JOIN {periods}
            WHERE o.k >= 2 OR o.d - o.prev_d < p.p
        ),
        day_deltas AS (
            SELECT day, p, SUM(d_orders) AS d_orders, SUM(d_revenue) AS d_revenue,
                   SUM(d_buyers) AS d_buyers, SUM(d_repeat) AS d_repeat
            FROM deltas GROUP BY day, p
        ),
        {calendar_cte('purchase_calendar', first, end)},
        running AS (
            SELECT c.day, p.p,
                   SUM(COALESCE(dd.d_orders, 0)) OVER w AS orders,
                   SUM(COALESCE(dd.d_buyers, 0)) OVER w AS buyers,
                   SUM(COALESCE(dd.d_revenue, 0)) OVER w AS revenue,
                   SUM(COALESCE(dd.d_repeat, 0)) OVER w AS repeat_buyers
            FROM purchase_calendar c CROSS JOIN {periods}
            LEFT JOIN day_deltas dd ON dd.day = c.day AND dd.p = p.p
            WINDOW w AS (PARTITION BY p.p ORDER BY c.day ROWS UNBOUNDED PRECEDING)
        )
        SELECT day AS as_of_date, p AS period_days, orders, buyers, revenue,
               {ratio('revenue', 'orders')} AS average_order_value, {ratio('orders', 'buyers')} AS purchase_frequency,
               repeat_buyers, {ratio('repeat_buyers', 'buyers')} AS repeat_purchase_rate
        FROM running
        WHERE day BETWEEN CAST(:start AS DATE) AND CAST(:end AS DATE)
    """


CLV_PERIOD_DAYS = 365


def refresh_clv_daily(conn: Connection, schema: str, start: date, end: date, inactivity_days: Sequence[int]) -> int:
    """CLV = average order value x purchases per year x expected lifespan, over the trailing
    365 days: AOV and purchase frequency as purchase_daily with P = 365, annual churn as
    retention_daily's churn rate with P = 365, lifespan = 1 / annual churn (NULL when churn is 0)."""
    s = schema_prefix(conn, schema)
    first = _first_day(conn, s, start, CLV_PERIOD_DAYS)
    sql = f"""
        INSERT INTO {s}.clv_daily (as_of_date, inactivity_days, average_order_value, purchases_per_year,
            annual_churn_rate, expected_lifespan_years, clv)
        WITH yearly_retention AS ({_retention_select(s, inactivity_days, (CLV_PERIOD_DAYS,), first, end)}),
        yearly_purchases AS ({_purchase_select(s, (CLV_PERIOD_DAYS,), first, end)})
        SELECT r.as_of_date, r.inactivity_days, p.average_order_value, p.purchase_frequency, r.churn_rate,
               1 / NULLIF(r.churn_rate, 0),
               p.average_order_value * p.purchase_frequency / NULLIF(r.churn_rate, 0)
        FROM yearly_retention r
        JOIN yearly_purchases p ON p.as_of_date = r.as_of_date
    """
    return _replace(conn, s, "clv_daily", start, end, sql, {})
