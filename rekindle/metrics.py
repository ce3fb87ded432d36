"""Core activity tables and daily metrics of SPEC section 5, as SQL run in the warehouse.

How the daily series stay linear in the number of activity rows (never rows x days):
every customer's history is cut into spans between consecutive active days. A span
(a, next) says: last_active = a for every day in [a, next - 1]. From spans we emit *events*
(+1 on the day a state starts, -1 on the day after it ends), sum them per day, and a
running SUM over the calendar turns them into the value on each day (`sql.running_totals`).
Each activity row yields a constant number of events per window, and the calendar is
days x windows.

A range's values depend on the history before it only through each customer's last active day
before the range's horizon (the range start, less the longest period P), so `active_days` folds
the days before the horizon into that one: a daily run sorts the days since the horizon, not
the history.

Every `refresh_*` function is one INSERT ... SELECT that replaces the target rows for
[start, end] inside the caller's transaction (`sql.replace_rows`), so re-running any range
gives the same rows. The `_add_*` functions add the named CTEs of one part of a query,
after the CTEs they read (which they add themselves).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection

from rekindle.sources import COMPLETED
from rekindle.sql import (
    Query,
    add_days,
    calendar,
    days_between,
    ratio,
    replace_rows,
    running_totals,
    schema_prefix,
)

CLV_PERIOD_DAYS = 365
DAY_AFTER_END = add_days("CAST(:end AS DATE)", 1)


def earliest_activity_day(conn: Connection, schema: str) -> date | None:
    """The first day in customer_daily_activity, None when it is empty."""
    s = schema_prefix(conn, schema)
    return conn.execute(text(f"SELECT MIN(activity_date) FROM {s}.customer_daily_activity")).scalar()


def latest_activity_day(conn: Connection, schema: str) -> date | None:
    """The latest day in customer_daily_activity (what snapshots are as of), None when it is empty."""
    s = schema_prefix(conn, schema)
    return conn.execute(text(f"SELECT MAX(activity_date) FROM {s}.customer_daily_activity")).scalar()


def _first_day(conn: Connection, schema: str, start: date, lookback_days: int) -> date:
    """Running sums must start at or before the first active day ever, and cover S = D - P."""
    earliest = earliest_activity_day(conn, schema)
    first = start - timedelta(days=lookback_days)
    return min(first, earliest) if earliest is not None else first


def _range_params(conn: Connection, schema: str, start: date, end: date, lookback_days: int) -> dict:
    """The days written, [start, end]; the first day of the running sums; and the horizon, the
    first day whose state the range reads (S = D - P for the longest P), before which
    `active_days` keeps only each customer's last active day."""
    return {"start": start, "end": end, "first_day": _first_day(conn, schema, start, lookback_days),
            "horizon": start - timedelta(days=lookback_days)}


# --- shared parts ------------------------------------------------------------------------


def _add_windows(query: Query, inactivity_days: Sequence[int]) -> None:
    query.add_values("windows", "the inactivity windows N", [{"inactivity_days": int(n)} for n in inactivity_days])


def _add_periods(query: Query, period_days: Sequence[int]) -> None:
    query.add_values("periods", "the periods P", [{"period_days": int(p)} for p in period_days])


def _add_calendar(query: Query) -> None:
    query.add("calendar", "every day from :first_day (where the running sums start) to :end",
              calendar("CAST(:first_day AS DATE)", "CAST(:end AS DATE)"))


def _add_active_days(query: Query, s: str) -> None:
    """Adds `active_days`: the active days up to :end, those before :horizon folded into each
    customer's last one. Every state from :horizon on (in the base or not, seen or not, the gap
    before an active day, dormant N days after one) depends on the days before it only through
    that last one, so the metrics of days from :horizon on are those of the whole history,
    while a daily run sorts the days since :horizon, not the history."""
    query.add("active_days", "each active day up to :end with the customer's previous and next active day (next: "
              "the day after :end when there is none, which only moves events past the range); before :horizon "
              "only each customer's last one", f"""
        SELECT customer_id, activity_date, revenue,
               LAG(activity_date) OVER by_customer AS previous_active_date,
               COALESCE(LEAD(activity_date) OVER by_customer, {DAY_AFTER_END}) AS next_active_date
        FROM (
            SELECT customer_id, activity_date, revenue
            FROM {s}.customer_daily_activity
            WHERE activity_date BETWEEN CAST(:horizon AS DATE) AND CAST(:end AS DATE)
            UNION ALL
            SELECT activity.customer_id, activity.activity_date, activity.revenue
            FROM {s}.customer_daily_activity AS activity
            JOIN (
                SELECT customer_id, MAX(activity_date) AS activity_date
                FROM {s}.customer_daily_activity
                WHERE activity_date < CAST(:horizon AS DATE)
                GROUP BY customer_id
            ) AS last_before ON last_before.customer_id = activity.customer_id
                            AND last_before.activity_date = activity.activity_date
        ) AS kept_days
        WINDOW by_customer AS (PARTITION BY customer_id ORDER BY activity_date)
    """)


def _add_lifecycle(query: Query, s: str, inactivity_days: Sequence[int]) -> None:
    """Adds `lifecycle`: per day from :first_day to :end and N, the day's new, returning,
    reactivated and dormant customers and the active base and inactive count at its end; exact
    from :horizon on (see _add_active_days)."""
    _add_windows(query, inactivity_days)
    _add_calendar(query)
    _add_active_days(query, s)
    gap = days_between("active_days.previous_active_date", "active_days.activity_date")
    query.add("lifecycle_events", "per active day and N: new (first active day), returning (back within N days) "
              "or reactivated (back after more than N days); dormant N days after an active day not followed within "
              "N days", f"""
        SELECT active_days.activity_date AS day, windows.inactivity_days,
               CASE WHEN active_days.previous_active_date IS NULL THEN 1 ELSE 0 END AS new_customers,
               CASE WHEN {gap} <= windows.inactivity_days THEN 1 ELSE 0 END AS returning_customers,
               CASE WHEN {gap} > windows.inactivity_days THEN 1 ELSE 0 END AS reactivated_customers,
               0 AS dormant_customers
        FROM active_days CROSS JOIN windows
        UNION ALL
        SELECT {add_days('active_days.activity_date', 'windows.inactivity_days')}, windows.inactivity_days, 0, 0, 0, 1
        FROM active_days CROSS JOIN windows
        WHERE {days_between('active_days.activity_date', 'active_days.next_active_date')} > windows.inactivity_days
    """)
    query.add("calendar_windows", "every day of the calendar for every N",
              "SELECT calendar.day, windows.inactivity_days FROM calendar CROSS JOIN windows")
    running_totals(query, "lifecycle_totals", "lifecycle_events", "calendar_windows", ["inactivity_days"],
                   ["new_customers", "returning_customers", "reactivated_customers", "dormant_customers"])
    query.add("lifecycle", "per day and N: the day's counts, and the SPEC invariants summed from the first day: "
              "active += new + reactivated - dormant, inactive += dormant - reactivated", """
        SELECT day, inactivity_days, new_customers, returning_customers, reactivated_customers, dormant_customers,
               new_customers_to_date + reactivated_customers_to_date - dormant_customers_to_date AS active_customers,
               dormant_customers_to_date - reactivated_customers_to_date AS inactive_customers
        FROM lifecycle_totals
    """)


def _add_calendar_windows_periods(query: Query, period_days: Sequence[int]) -> None:
    _add_periods(query, period_days)
    query.add("calendar_windows_periods", "every day of the calendar for every N and P",
              "SELECT calendar_windows.day, calendar_windows.inactivity_days, periods.period_days\n"
              "FROM calendar_windows CROSS JOIN periods")


def _at_period_start(totals: str) -> str:
    """Join condition: the `period_start` lifecycle row of S = D - P for a row of `totals`."""
    return (f"period_start.inactivity_days = {totals}.inactivity_days "
            f"AND period_start.day = {add_days(f'{totals}.day', f'-{totals}.period_days')}")


def _add_retention(query: Query, s: str, inactivity_days: Sequence[int], period_days: Sequence[int], name: str) -> None:
    """Adds `name`: the retention_daily rows of [:start, :end].

    For period (S, D], S = D - P: the customers in the active base at the end of S, how many are
    inactive at D. A customer churned for D when D lies in one of their inactive stretches and S
    in one of their in-base stretches (the one just before, or an earlier one when P > N).
    Needs :horizon <= :start - max P: with the days before it folded, a streak that began earlier
    starts at the last of them, which is still at or before every S in the stretch's base."""
    _add_lifecycle(query, s, inactivity_days)
    _add_calendar_windows_periods(query, period_days)
    query.add("streaks", "per active day and N: the first day of the customer's streak of active days at most N "
              "days apart that it belongs to", f"""
        SELECT active_days.customer_id, active_days.activity_date, active_days.next_active_date,
               windows.inactivity_days,
               MAX(CASE WHEN active_days.previous_active_date IS NULL
                          OR {days_between('active_days.previous_active_date', 'active_days.activity_date')}
                             > windows.inactivity_days
                        THEN active_days.activity_date END)
                   OVER (PARTITION BY active_days.customer_id, windows.inactivity_days
                         ORDER BY active_days.activity_date ROWS UNBOUNDED PRECEDING) AS streak_start
        FROM active_days CROSS JOIN windows
    """)
    query.add("inactive_stretches", "every stretch of inactivity [inactive_from, inactive_to] up to :end, with the "
              "in-base stretch [base_from, base_to] just before it", f"""
        SELECT customer_id, inactivity_days, streak_start AS base_from,
               {add_days('activity_date', 'inactivity_days - 1')} AS base_to,
               {add_days('activity_date', 'inactivity_days')} AS inactive_from,
               {add_days('next_active_date', -1)} AS inactive_to
        FROM streaks
        WHERE {days_between('activity_date', 'next_active_date')} > inactivity_days
    """)
    base_from = add_days("in_base.base_from", "periods.period_days")
    base_to = add_days("in_base.base_to", "periods.period_days")
    query.add("churn_spans", "per inactive stretch, earlier in-base stretch and P: the days D churned for, D in "
              "the inactive stretch and D - P in the in-base one", f"""
        SELECT inactive.inactivity_days, periods.period_days,
               GREATEST(inactive.inactive_from, {base_from}) AS first_day,
               LEAST(inactive.inactive_to, {base_to}) AS last_day
        FROM inactive_stretches AS inactive
        JOIN inactive_stretches AS in_base
          ON in_base.customer_id = inactive.customer_id AND in_base.inactivity_days = inactive.inactivity_days
         AND in_base.inactive_from <= inactive.inactive_from
        CROSS JOIN periods
        WHERE {base_from} <= inactive.inactive_to AND {base_to} >= inactive.inactive_from
    """)
    query.add("churn_events", "each churn span as +1 on its first day and -1 the day after its last", f"""
        SELECT first_day AS day, inactivity_days, period_days, 1 AS churned FROM churn_spans
        UNION ALL
        SELECT {add_days('last_day', 1)}, inactivity_days, period_days, -1 FROM churn_spans
    """)
    running_totals(query, "churn_totals", "churn_events", "calendar_windows_periods",
                   ["inactivity_days", "period_days"], ["churned"])
    churn_rate = ratio("churn_totals.churned_to_date", "COALESCE(period_start.active_customers, 0)")
    query.add(name, "per day in [:start, :end], N and P: the active base at the period start, retained, churned",
              f"""
        SELECT churn_totals.day AS as_of_date, churn_totals.inactivity_days, churn_totals.period_days,
               COALESCE(period_start.active_customers, 0) AS customers_at_start,
               COALESCE(period_start.active_customers, 0) - churn_totals.churned_to_date AS retained,
               churn_totals.churned_to_date AS churned,
               1 - {churn_rate} AS retention_rate,
               {churn_rate} AS churn_rate
        FROM churn_totals
        LEFT JOIN lifecycle AS period_start ON {_at_period_start('churn_totals')}
        WHERE churn_totals.day BETWEEN CAST(:start AS DATE) AND CAST(:end AS DATE)
    """)


def _add_purchases(query: Query, s: str, period_days: Sequence[int], name: str) -> None:
    """Adds `name`: the purchase_daily rows of [:start, :end].

    Orders, buyers, revenue and repeat buyers over the P days (D - P, D]. For an order day x
    with the customer's previous/next order days, the customer is a buyer for D in
    [x, min(next, x + P) - 1], the D for which x is their latest order day in the period; they
    are a repeat buyer on those D when they ordered twice on x, or while the previous order day
    is still in the period (D < previous + P)."""
    _add_periods(query, period_days)
    _add_calendar(query)
    query.add("order_days", "each day with orders up to :end with the customer's previous and next order day "
              "(next: the day after :end when there is none)", f"""
        SELECT customer_id, activity_date, orders, revenue,
               LAG(activity_date) OVER by_customer AS previous_order_date,
               COALESCE(LEAD(activity_date) OVER by_customer, {DAY_AFTER_END}) AS next_order_date
        FROM {s}.customer_daily_activity
        WHERE orders > 0 AND activity_date <= CAST(:end AS DATE)
        WINDOW by_customer AS (PARTITION BY customer_id ORDER BY activity_date)
    """)
    period_end = add_days("order_days.activity_date", "periods.period_days")
    recent_previous = (f"{days_between('order_days.previous_order_date', 'order_days.activity_date')}"
                       " < periods.period_days")
    query.add("purchase_events", "per order day and P: its orders and revenue for [x, x + P - 1], a buyer for "
              "[x, min(next, x + P) - 1], a repeat buyer while they ordered twice on x or the previous order day "
              "is in the period", f"""
        SELECT order_days.activity_date AS day, periods.period_days, order_days.orders, order_days.revenue,
               1 AS buyers,
               CASE WHEN order_days.orders >= 2 OR {recent_previous} THEN 1 ELSE 0 END AS repeat_buyers
        FROM order_days CROSS JOIN periods
        UNION ALL
        SELECT {period_end}, periods.period_days, -order_days.orders, -order_days.revenue, 0, 0
        FROM order_days CROSS JOIN periods
        UNION ALL
        SELECT LEAST(order_days.next_order_date, {period_end}), periods.period_days, 0, 0, -1, 0
        FROM order_days CROSS JOIN periods
        UNION ALL
        SELECT CASE WHEN order_days.orders >= 2 THEN LEAST(order_days.next_order_date, {period_end})
                    ELSE LEAST(order_days.next_order_date,
                               {add_days('order_days.previous_order_date', 'periods.period_days')}) END,
               periods.period_days, 0, 0, 0, -1
        FROM order_days CROSS JOIN periods
        WHERE order_days.orders >= 2 OR {recent_previous}
    """)
    query.add("calendar_periods", "every day of the calendar for every P",
              "SELECT calendar.day, periods.period_days FROM calendar CROSS JOIN periods")
    running_totals(query, "purchase_totals", "purchase_events", "calendar_periods", ["period_days"],
                   ["orders", "revenue", "buyers", "repeat_buyers"])
    query.add(name, "per day in [:start, :end] and P: the period's purchases", f"""
        SELECT day AS as_of_date, period_days, orders_to_date AS orders, buyers_to_date AS buyers,
               revenue_to_date AS revenue,
               {ratio('revenue_to_date', 'orders_to_date')} AS average_order_value,
               {ratio('orders_to_date', 'buyers_to_date')} AS purchase_frequency,
               repeat_buyers_to_date AS repeat_buyers,
               {ratio('repeat_buyers_to_date', 'buyers_to_date')} AS repeat_purchase_rate
        FROM purchase_totals
        WHERE day BETWEEN CAST(:start AS DATE) AND CAST(:end AS DATE)
    """)


# --- core layer --------------------------------------------------------------------------


def refresh_customer_daily_activity(
    conn: Connection, schema: str, start: date, end: date, passive_event_types: Sequence[str]
) -> int:
    """customer x active day for [start, end]: completed orders and revenue, non-passive events.
    A day with only cancelled/refunded orders or passive events is not an active day."""
    s = schema_prefix(conn, schema)
    passive = list(passive_event_types)
    query = Query(["customer_id", "activity_date", "orders", "revenue", "events"],
                  {"start": start, "end": end, "completed": COMPLETED})
    query.add("order_activity", "per customer and day in [:start, :end]: completed orders and their revenue", f"""
        SELECT customer_id, partition_date AS activity_date, COUNT(*) AS orders, SUM(amount) AS revenue, 0 AS events
        FROM {s}.raw_orders
        WHERE status = :completed AND partition_date BETWEEN CAST(:start AS DATE) AND CAST(:end AS DATE)
        GROUP BY customer_id, partition_date
    """)
    # An empty IN list is not valid SQL everywhere; without passive types every event counts.
    passive_filter = "event_type NOT IN :passive_event_types AND " if passive else ""
    query.add("event_activity", "per customer and day in [:start, :end]: events that are not passive", f"""
        SELECT customer_id, partition_date AS activity_date, 0 AS orders, 0 AS revenue, COUNT(*) AS events
        FROM {s}.raw_events
        WHERE {passive_filter}partition_date BETWEEN CAST(:start AS DATE) AND CAST(:end AS DATE)
        GROUP BY customer_id, partition_date
    """, {"passive_event_types": passive} if passive else None)
    query.add("final", "one row per customer and active day", """
        SELECT customer_id, activity_date, SUM(orders) AS orders, SUM(revenue) AS revenue, SUM(events) AS events
        FROM (
            SELECT customer_id, activity_date, orders, revenue, events FROM order_activity
            UNION ALL
            SELECT customer_id, activity_date, orders, revenue, events FROM event_activity
        ) AS activity
        GROUP BY customer_id, activity_date
    """)
    return replace_rows(conn, f"{s}.customer_daily_activity", query, date_column="activity_date", start=start, end=end)


def refresh_customers(conn: Connection, schema: str) -> int:
    """One row per customer ever seen, rebuilt whole from customer_daily_activity."""
    s = schema_prefix(conn, schema)
    query = Query(["customer_id", "first_active_date", "last_active_date", "first_order_date", "last_order_date",
                   "lifetime_orders", "lifetime_revenue"])
    query.add("final", "one row per customer ever active: first/last active and order days, lifetime orders and "
              "revenue", f"""
        SELECT customer_id, MIN(activity_date) AS first_active_date, MAX(activity_date) AS last_active_date,
               MIN(CASE WHEN orders > 0 THEN activity_date END) AS first_order_date,
               MAX(CASE WHEN orders > 0 THEN activity_date END) AS last_order_date,
               SUM(orders) AS lifetime_orders, SUM(revenue) AS lifetime_revenue
        FROM {s}.customer_daily_activity
        GROUP BY customer_id
    """)
    return replace_rows(conn, f"{s}.customers", query)


# --- metrics layer -----------------------------------------------------------------------


def refresh_lifecycle_daily(
    conn: Connection, schema: str, start: date, end: date, inactivity_days: Sequence[int]
) -> int:
    s = schema_prefix(conn, schema)
    query = Query(["as_of_date", "inactivity_days", "new_customers", "returning_customers", "reactivated_customers",
                   "dormant_customers", "active_customers", "inactive_customers"],
                  _range_params(conn, schema, start, end, 0))
    _add_lifecycle(query, s, inactivity_days)
    query.add("final", "the lifecycle rows of [:start, :end]", """
        SELECT day AS as_of_date, inactivity_days, new_customers, returning_customers, reactivated_customers,
               dormant_customers, active_customers, inactive_customers
        FROM lifecycle
        WHERE day BETWEEN CAST(:start AS DATE) AND CAST(:end AS DATE)
    """)
    return replace_rows(conn, f"{s}.lifecycle_daily", query, date_column="as_of_date", start=start, end=end)


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
    query = Query(["as_of_date", "inactivity_days", "period_days", "inactive_at_start", "reactivated",
                   "reactivation_rate", "reactivated_revenue"],
                  _range_params(conn, schema, start, end, max(period_days)))
    _add_lifecycle(query, s, inactivity_days)
    _add_calendar_windows_periods(query, period_days)
    query.add("comebacks", "per N, every inactive stretch that ended by :end: the last active day before it and "
              "the day the customer came back", f"""
        SELECT active_days.customer_id, active_days.activity_date AS last_active_date,
               active_days.next_active_date AS return_date, windows.inactivity_days
        FROM active_days CROSS JOIN windows
        WHERE {days_between('active_days.activity_date', 'active_days.next_active_date')} > windows.inactivity_days
          AND active_days.next_active_date <= CAST(:end AS DATE)
    """)
    first_counted = add_days("comebacks.last_active_date", "comebacks.inactivity_days + periods.period_days")
    last_counted = add_days("comebacks.return_date", "periods.period_days")
    revenue_days = (f"revenue_days.customer_id = comebacks.customer_id AND revenue_days.revenue > 0\n"
                    f"{' ' * 8}   AND revenue_days.activity_date >= comebacks.return_date\n"
                    f"{' ' * 8}   AND revenue_days.activity_date < {last_counted}")
    query.add("reactivation_events", "per comeback and P: reactivated for D in [max(a + N + P, next), next + P - 1]; "
              "the revenue of an active day x >= next for D in [max(x, a + N + P), next + P - 1]", f"""
        SELECT GREATEST({first_counted}, comebacks.return_date) AS day, comebacks.inactivity_days,
               periods.period_days, 1 AS reactivated, 0 AS reactivated_revenue
        FROM comebacks CROSS JOIN periods
        UNION ALL
        SELECT {last_counted}, comebacks.inactivity_days, periods.period_days, -1, 0
        FROM comebacks CROSS JOIN periods
        UNION ALL
        SELECT GREATEST(revenue_days.activity_date, {first_counted}), comebacks.inactivity_days,
               periods.period_days, 0, revenue_days.revenue
        FROM comebacks CROSS JOIN periods
        JOIN active_days AS revenue_days ON {revenue_days}
        UNION ALL
        SELECT {last_counted}, comebacks.inactivity_days, periods.period_days, 0, -revenue_days.revenue
        FROM comebacks CROSS JOIN periods
        JOIN active_days AS revenue_days ON {revenue_days}
    """)
    running_totals(query, "reactivation_totals", "reactivation_events", "calendar_windows_periods",
                   ["inactivity_days", "period_days"], ["reactivated", "reactivated_revenue"])
    inactive_at_start = "COALESCE(period_start.inactive_customers, 0)"
    query.add("final", "per day in [:start, :end], N and P: inactive at the period start, reactivated since, "
              "and their revenue", f"""
        SELECT reactivation_totals.day AS as_of_date, reactivation_totals.inactivity_days,
               reactivation_totals.period_days,
               {inactive_at_start} AS inactive_at_start,
               reactivation_totals.reactivated_to_date AS reactivated,
               {ratio('reactivation_totals.reactivated_to_date', inactive_at_start)} AS reactivation_rate,
               reactivation_totals.reactivated_revenue_to_date AS reactivated_revenue
        FROM reactivation_totals
        LEFT JOIN lifecycle AS period_start ON {_at_period_start('reactivation_totals')}
        WHERE reactivation_totals.day BETWEEN CAST(:start AS DATE) AND CAST(:end AS DATE)
    """)
    return replace_rows(conn, f"{s}.reactivation_daily", query, date_column="as_of_date", start=start, end=end)


def refresh_retention_daily(
    conn: Connection,
    schema: str,
    start: date,
    end: date,
    inactivity_days: Sequence[int],
    period_days: Sequence[int],
) -> int:
    """For period (S, D]: customers in the active base at the end of S, how many are inactive at D."""
    s = schema_prefix(conn, schema)
    query = Query(["as_of_date", "inactivity_days", "period_days", "customers_at_start", "retained", "churned",
                   "retention_rate", "churn_rate"],
                  _range_params(conn, schema, start, end, max(period_days)))
    _add_retention(query, s, inactivity_days, period_days, "final")
    return replace_rows(conn, f"{s}.retention_daily", query, date_column="as_of_date", start=start, end=end)


def refresh_purchase_daily(
    conn: Connection, schema: str, start: date, end: date, period_days: Sequence[int]
) -> int:
    """Orders, buyers, revenue and repeat buyers over the P days (D - P, D]."""
    s = schema_prefix(conn, schema)
    query = Query(["as_of_date", "period_days", "orders", "buyers", "revenue", "average_order_value",
                   "purchase_frequency", "repeat_buyers", "repeat_purchase_rate"],
                  _range_params(conn, schema, start, end, 0))
    _add_purchases(query, s, period_days, "final")
    return replace_rows(conn, f"{s}.purchase_daily", query, date_column="as_of_date", start=start, end=end)


def refresh_clv_daily(conn: Connection, schema: str, start: date, end: date, inactivity_days: Sequence[int]) -> int:
    """CLV = average order value x purchases per year x expected lifespan, over the trailing
    365 days: AOV and purchase frequency as purchase_daily with P = 365, annual churn as
    retention_daily's churn rate with P = 365, lifespan = 1 / annual churn (NULL when churn is 0)."""
    s = schema_prefix(conn, schema)
    query = Query(["as_of_date", "inactivity_days", "average_order_value", "purchases_per_year",
                   "annual_churn_rate", "expected_lifespan_years", "clv"],
                  _range_params(conn, schema, start, end, CLV_PERIOD_DAYS))
    _add_retention(query, s, inactivity_days, (CLV_PERIOD_DAYS,), "yearly_retention")
    _add_purchases(query, s, (CLV_PERIOD_DAYS,), "yearly_purchases")
    query.add("final", "per day in [:start, :end] and N: the CLV and its components", """
        SELECT yearly_retention.as_of_date, yearly_retention.inactivity_days,
               yearly_purchases.average_order_value,
               yearly_purchases.purchase_frequency AS purchases_per_year,
               yearly_retention.churn_rate AS annual_churn_rate,
               1 / NULLIF(yearly_retention.churn_rate, 0) AS expected_lifespan_years,
               yearly_purchases.average_order_value * yearly_purchases.purchase_frequency
                   / NULLIF(yearly_retention.churn_rate, 0) AS clv
        FROM yearly_retention
        JOIN yearly_purchases ON yearly_purchases.as_of_date = yearly_retention.as_of_date
    """)
    return replace_rows(conn, f"{s}.clv_daily", query, date_column="as_of_date", start=start, end=end)
