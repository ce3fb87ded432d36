"""cohort_retention of SPEC section 5: monthly retention of first-activity cohorts.

cohort_month is the first day of the calendar month of a customer's first active day;
months_since_first = k counts calendar months from it (0 = the cohort month). Every cohort
gets a row for every k up to the month of `through`, also when nobody was active. Month
arithmetic is portable: a month is numbered YEAR * 12 + MONTH, which DuckDB and PostgreSQL
both extract from a DATE. Cost: one pass over the activity rows (grouped per customer and
month) plus a cohorts x months grid.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import text
from sqlalchemy.engine import Connection

from rekindle.sql import count_rows, earliest_activity, ratio


def _month_number(expr: str) -> str:
    return f"(CAST(EXTRACT(YEAR FROM {expr}) AS INTEGER) * 12 + CAST(EXTRACT(MONTH FROM {expr}) AS INTEGER))"


def refresh_cohort_retention(conn: Connection, schema: str, through: date) -> int:
    """Rebuild the whole table from customer_daily_activity up to `through` (a snapshot)."""
    s = conn.dialect.identifier_preparer.quote_schema(schema)
    conn.execute(text(f"DELETE FROM {s}.cohort_retention"))
    earliest = earliest_activity(conn, s)
    if earliest is None or earliest > through:
        return 0
    through_month = through.year * 12 + through.month
    max_k = through_month - (earliest.year * 12 + earliest.month)
    sql = f"""
        INSERT INTO {s}.cohort_retention (cohort_month, months_since_first, cohort_size, active_customers,
            retention_rate, revenue)
        WITH member_months AS (
            SELECT customer_id, {_month_number('activity_date')} AS m,
                   MIN(activity_date) AS first_day, SUM(revenue) AS revenue
            FROM {s}.customer_daily_activity
            WHERE activity_date <= CAST(:through AS DATE)
            GROUP BY customer_id, {_month_number('activity_date')}
        ),
        members AS (
            SELECT customer_id, MIN(m) AS cohort, MIN(first_day) AS first_day
            FROM member_months GROUP BY customer_id
        ),
        cohorts AS (
            SELECT cohort, CAST(DATE_TRUNC('month', CAST(MIN(first_day) AS TIMESTAMP)) AS DATE) AS cohort_month,
                   COUNT(*) AS cohort_size
            FROM members GROUP BY cohort
        ),
        monthly AS (
            SELECT mb.cohort, mm.m - mb.cohort AS k, COUNT(*) AS active, SUM(mm.revenue) AS revenue
            FROM member_months mm JOIN members mb ON mb.customer_id = mm.customer_id
            GROUP BY mb.cohort, mm.m - mb.cohort
        )
        SELECT c.cohort_month, g.k, c.cohort_size, COALESCE(mo.active, 0),
               {ratio('COALESCE(mo.active, 0)', 'c.cohort_size')}, COALESCE(mo.revenue, 0)
        FROM cohorts c
        JOIN generate_series(0, {max_k}) AS g(k) ON c.cohort + g.k <= {through_month}
        LEFT JOIN monthly mo ON mo.cohort = c.cohort AND mo.k = g.k
    """
    conn.execute(text(sql), {"through": through})
    return count_rows(conn, f"{s}.cohort_retention")
