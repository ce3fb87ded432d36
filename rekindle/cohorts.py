"""cohort_retention of SPEC section 5: monthly retention of first-activity cohorts.

cohort_month is the first day of the calendar month of a customer's first active day;
months_since_first = k counts calendar months from it (0 = the cohort month). Every cohort
gets a row for every k up to the month of `through`, also when nobody was active. Months are
numbered YEAR * 12 + MONTH (`sql.month_number`), so they subtract like numbers. Cost: one pass
over the activity rows (grouped per customer and month) plus a cohorts x months grid.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.engine import Connection

from rekindle.metrics import earliest_activity_day
from rekindle.sql import (
    Query,
    first_of_month,
    integer_series,
    month_number,
    ratio,
    replace_rows,
    schema_prefix,
)


def refresh_cohort_retention(conn: Connection, schema: str, through: date) -> int:
    """Rebuild the whole table from customer_daily_activity up to `through` (a snapshot)."""
    s = schema_prefix(conn, schema)
    earliest = earliest_activity_day(conn, schema)
    # the most months any cohort can be followed (none before the first activity or after `through`)
    max_months = (through.year * 12 + through.month) - (earliest.year * 12 + earliest.month) if earliest else -1
    query = Query(["cohort_month", "months_since_first", "cohort_size", "active_customers", "retention_rate",
                   "revenue"], {"through": through, "max_months": max_months})
    query.add("customer_months", "per customer and month up to :through: the first active day in it and the "
              "revenue", f"""
        SELECT customer_id, {month_number('activity_date')} AS month_number,
               MIN(activity_date) AS first_active_date, SUM(revenue) AS revenue
        FROM {s}.customer_daily_activity
        WHERE activity_date <= CAST(:through AS DATE)
        GROUP BY customer_id, {month_number('activity_date')}
    """)
    query.add("members", "each customer's cohort: the month of their first active day", """
        SELECT customer_id, MIN(month_number) AS cohort_number, MIN(first_active_date) AS first_active_date
        FROM customer_months
        GROUP BY customer_id
    """)
    query.add("cohorts", "per cohort: its month's first day and its size", f"""
        SELECT cohort_number, {first_of_month('MIN(first_active_date)')} AS cohort_month, COUNT(*) AS cohort_size
        FROM members
        GROUP BY cohort_number
    """)
    query.add("cohort_activity", "per cohort and months since its first month: active members and their revenue", """
        SELECT members.cohort_number, customer_months.month_number - members.cohort_number AS months_since_first,
               COUNT(*) AS active_customers, SUM(customer_months.revenue) AS revenue
        FROM customer_months
        JOIN members ON members.customer_id = customer_months.customer_id
        GROUP BY members.cohort_number, customer_months.month_number - members.cohort_number
    """)
    query.add("final", "per cohort and month from its first to the month of :through: size, active members, "
              "retention rate and revenue", f"""
        SELECT cohorts.cohort_month, month_offsets.months_since_first, cohorts.cohort_size,
               COALESCE(cohort_activity.active_customers, 0) AS active_customers,
               {ratio('COALESCE(cohort_activity.active_customers, 0)', 'cohorts.cohort_size')} AS retention_rate,
               COALESCE(cohort_activity.revenue, 0) AS revenue
        FROM cohorts
        JOIN {integer_series('CAST(:max_months AS INTEGER)', 'month_offsets', 'months_since_first')}
          ON cohorts.cohort_number + month_offsets.months_since_first <= {month_number('CAST(:through AS DATE)')}
        LEFT JOIN cohort_activity
               ON cohort_activity.cohort_number = cohorts.cohort_number
              AND cohort_activity.months_since_first = month_offsets.months_since_first
    """)
    return replace_rows(conn, f"{s}.cohort_retention", query)
