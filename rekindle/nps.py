"""nps_daily of SPEC section 5, as SQL run in the warehouse.

Per day D and period P: the survey responses with partition_date (the response day) in
(D - P, D]. Every response counts, also a customer's second answer in the same period.
Daily counts become +events on the response day and -events P days later; a running sum over
the calendar gives each day's window (`sql.running_totals`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy.engine import Connection

from rekindle.sql import Query, add_days, calendar, ratio, replace_rows, running_totals, schema_prefix


def refresh_nps_daily(conn: Connection, schema: str, start: date, end: date, period_days: Sequence[int]) -> int:
    """Replace nps_daily for [start, end]: one row per day and period, zeros and NULL nps
    when nobody answered."""
    s = schema_prefix(conn, schema)
    # responses before `first_day` have left every window that ends in [start, end]
    first_day = start - timedelta(days=max(period_days) - 1)
    query = Query(["as_of_date", "period_days", "responses", "promoters", "passives", "detractors", "nps"],
                  {"start": start, "end": end, "first_day": first_day})
    query.add_values("periods", "the periods P", [{"period_days": int(p)} for p in period_days])
    query.add("calendar", "every day from :first_day (the earliest response any window in range counts) to :end",
              calendar("CAST(:first_day AS DATE)", "CAST(:end AS DATE)"))
    query.add("daily_responses", "per response day in [:first_day, :end]: responses, promoters (9-10), passives "
              "(7-8) and detractors (0-6)", f"""
        SELECT partition_date AS day, COUNT(*) AS responses,
               SUM(CASE WHEN nps_score >= 9 THEN 1 ELSE 0 END) AS promoters,
               SUM(CASE WHEN nps_score IN (7, 8) THEN 1 ELSE 0 END) AS passives,
               SUM(CASE WHEN nps_score <= 6 THEN 1 ELSE 0 END) AS detractors
        FROM {s}.raw_surveys
        WHERE partition_date BETWEEN CAST(:first_day AS DATE) AND CAST(:end AS DATE)
        GROUP BY partition_date
    """)
    query.add("response_events", "per response day and P: its counts on that day, taken off again P days later", f"""
        SELECT daily_responses.day, periods.period_days, daily_responses.responses, daily_responses.promoters,
               daily_responses.passives, daily_responses.detractors
        FROM daily_responses CROSS JOIN periods
        UNION ALL
        SELECT {add_days('daily_responses.day', 'periods.period_days')}, periods.period_days,
               -daily_responses.responses, -daily_responses.promoters, -daily_responses.passives,
               -daily_responses.detractors
        FROM daily_responses CROSS JOIN periods
    """)
    query.add("calendar_periods", "every day of the calendar for every P",
              "SELECT calendar.day, periods.period_days FROM calendar CROSS JOIN periods")
    running_totals(query, "response_totals", "response_events", "calendar_periods", ["period_days"],
                   ["responses", "promoters", "passives", "detractors"])
    query.add("final", "per day in [:start, :end] and P: the period's responses and NPS", f"""
        SELECT day AS as_of_date, period_days, responses_to_date AS responses, promoters_to_date AS promoters,
               passives_to_date AS passives, detractors_to_date AS detractors,
               100 * {ratio('promoters_to_date - detractors_to_date', 'responses_to_date')} AS nps
        FROM response_totals
        WHERE day BETWEEN CAST(:start AS DATE) AND CAST(:end AS DATE)
    """)
    return replace_rows(conn, f"{s}.nps_daily", query, date_column="as_of_date", start=start, end=end)
