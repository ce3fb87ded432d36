"""campaign_performance and nps_daily of SPEC section 5, as SQL run in the warehouse.

campaign_performance (a snapshot, rebuilt whole) for inactivity window N and attribution
window W. A customer counts once per campaign and group, at their first touch t (the UTC
day of sent_at). They are inactive_targeted when inactive at the end of t - 1 (seen by then
and t - 1 - last active day >= N), reactivated when inactive_targeted and active on a day in
[t, t + W - 1]; attributed_revenue is the reactivated customers' revenue in that window.
cost sums all of the group's touches (repeated touches cost too). channel is the group's
most frequent channel, ties by name. lift, lift_ci_low and lift_ci_high sit on the
treatment row: treatment rate - control rate with the 95% normal-approximation (Wald)
interval lift +- 1.96 * sqrt(p1 (1 - p1) / n1 + p0 (1 - p0) / n0), n = inactive_targeted;
NULL without a control group or when either rate is NULL.

Cost: no per-touch scan of a customer's history. Each first touch puts two markers on its
customer's timeline of active days: one at the start of t and one at the end of t + W - 1.
One running window per customer then gives, at each marker, the last active day so far and
the cumulative revenue; the window's revenue is the difference. One sort of the touched
customers' activity rows plus the markers.

nps_daily per day D and period P: the responses with partition_date (the response day) in
(D - P, D]. Every response counts, also a customer's second answer in the same period.
Daily counts become +deltas on the response day and -deltas P days later; a running sum
over the calendar gives each day's window.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection

from rekindle.sql import add_days, calendar_cte, count_rows, int_values, ratio, schema_prefix

Z_95 = 1.96


def refresh_campaign_performance(
    conn: Connection, schema: str, inactivity_days_primary: int, attribution_days: int
) -> int:
    """Rebuild campaign_performance whole from raw_campaign_touches and customer_daily_activity."""
    s = schema_prefix(conn, schema)
    n, w = int(inactivity_days_primary), int(attribution_days)
    conn.execute(text(f"DELETE FROM {s}.campaign_performance"))

    def ci(sign: str) -> str:
        return (f"gs.rate - ctl.rate {sign} {Z_95} * SQRT(gs.rate * (1 - gs.rate) / NULLIF(gs.inactive, 0)"
                f" + ctl.rate * (1 - ctl.rate) / NULLIF(ctl.inactive, 0))")

    sql = f"""
        INSERT INTO {s}.campaign_performance (campaign_id, channel, "group", customers_targeted,
            inactive_targeted, reactivated, reactivation_rate, attributed_revenue, cost, roi, lift,
            lift_ci_low, lift_ci_high)
        WITH touches AS (
            SELECT campaign_id, "group" AS grp, customer_id, channel, cost, CAST(sent_at AS DATE) AS t
            FROM {s}.raw_campaign_touches
        ),
        targets AS (
            SELECT campaign_id, grp, customer_id, MIN(t) AS t
            FROM touches GROUP BY campaign_id, grp, customer_id
        ),
        -- kind orders a day's rows: 0 = start of t (before that day's activity), 1 = activity,
        -- 2 = end of t + W - 1 (after it)
        timeline AS (
            SELECT customer_id, activity_date AS day, 1 AS kind, activity_date AS active_day, revenue,
                   NULL AS campaign_id, NULL AS grp, NULL AS t
            FROM {s}.customer_daily_activity
            WHERE customer_id IN (SELECT customer_id FROM targets)
            UNION ALL
            SELECT customer_id, t, 0, NULL, 0, campaign_id, grp, t FROM targets
            UNION ALL
            SELECT customer_id, {add_days('t', w - 1)}, 2, NULL, 0, campaign_id, grp, t FROM targets
        ),
        marks AS (
            SELECT campaign_id, grp, customer_id, t, kind,
                   MAX(active_day) OVER c AS last_active, SUM(revenue) OVER c AS cum_revenue
            FROM timeline
            WINDOW c AS (PARTITION BY customer_id ORDER BY day, kind ROWS UNBOUNDED PRECEDING)
        ),
        outcomes AS (
            SELECT campaign_id, grp, customer_id, t,
                   MAX(CASE WHEN kind = 0 THEN last_active END) AS last_before,
                   MAX(CASE WHEN kind = 2 THEN last_active END) AS last_in_window,
                   SUM(CASE WHEN kind = 2 THEN cum_revenue ELSE -cum_revenue END) AS window_revenue
            FROM marks
            WHERE kind <> 1
            GROUP BY campaign_id, grp, customer_id, t
        ),
        flagged AS (
            SELECT campaign_id, grp, window_revenue,
                   -- inactive at the end of t - 1: (t - 1) - last_before >= N
                   CASE WHEN t - last_before > {n} THEN 1 ELSE 0 END AS inactive,
                   CASE WHEN t - last_before > {n} AND last_in_window >= t THEN 1 ELSE 0 END AS reactivated
            FROM outcomes
        ),
        group_stats AS (
            SELECT campaign_id, grp, COUNT(*) AS targeted, SUM(inactive) AS inactive,
                   SUM(reactivated) AS reactivated,
                   SUM(CASE WHEN reactivated = 1 THEN window_revenue ELSE 0 END) AS revenue,
                   {ratio('SUM(reactivated)', 'SUM(inactive)')} AS rate
            FROM flagged GROUP BY campaign_id, grp
        ),
        costs AS (
            SELECT campaign_id, grp, SUM(cost) AS cost FROM touches GROUP BY campaign_id, grp
        ),
        channels AS (
            SELECT campaign_id, grp, channel,
                   ROW_NUMBER() OVER (PARTITION BY campaign_id, grp
                                      ORDER BY COUNT(*) DESC, channel COLLATE "C") AS pick
            FROM touches WHERE channel IS NOT NULL
            GROUP BY campaign_id, grp, channel
        )
        SELECT gs.campaign_id, ch.channel, gs.grp, gs.targeted, gs.inactive, gs.reactivated, gs.rate, gs.revenue,
               co.cost, {ratio('gs.revenue - co.cost', 'co.cost')},
               CASE WHEN gs.grp = 'treatment' THEN gs.rate - ctl.rate END,
               CASE WHEN gs.grp = 'treatment' THEN {ci('-')} END,
               CASE WHEN gs.grp = 'treatment' THEN {ci('+')} END
        FROM group_stats gs
        JOIN costs co ON co.campaign_id = gs.campaign_id AND co.grp = gs.grp
        LEFT JOIN channels ch ON ch.campaign_id = gs.campaign_id AND ch.grp = gs.grp AND ch.pick = 1
        LEFT JOIN group_stats ctl ON ctl.campaign_id = gs.campaign_id AND ctl.grp = 'control'
    """
    conn.execute(text(sql))
    return count_rows(conn, f"{s}.campaign_performance")


def refresh_nps_daily(conn: Connection, schema: str, start: date, end: date, period_days: Sequence[int]) -> int:
    """Replace nps_daily for [start, end]: one row per day and period, zeros and NULL nps
    when nobody answered."""
    s = schema_prefix(conn, schema)
    # responses before `first` have left every window that ends in [start, end]
    first = start - timedelta(days=max(period_days) - 1)
    periods = int_values("p", "p", period_days)
    conn.execute(
        text(f"DELETE FROM {s}.nps_daily WHERE as_of_date BETWEEN CAST(:start AS DATE) AND CAST(:end AS DATE)"),
        {"start": start, "end": end},
    )
    sql = f"""
        INSERT INTO {s}.nps_daily (as_of_date, period_days, responses, promoters, passives, detractors, nps)
        WITH daily AS (
            SELECT partition_date AS day, COUNT(*) AS responses,
                   SUM(CASE WHEN nps_score >= 9 THEN 1 ELSE 0 END) AS promoters,
                   SUM(CASE WHEN nps_score IN (7, 8) THEN 1 ELSE 0 END) AS passives,
                   SUM(CASE WHEN nps_score <= 6 THEN 1 ELSE 0 END) AS detractors
            FROM {s}.raw_surveys
            WHERE partition_date BETWEEN CAST(:first AS DATE) AND CAST(:end AS DATE)
            GROUP BY partition_date
        ),
        deltas AS (
            SELECT day, p.p, responses, promoters, passives, detractors
            FROM daily CROSS JOIN {periods}
            UNION ALL
            SELECT {add_days('day', 'p.p')}, p.p, -responses, -promoters, -passives, -detractors
            FROM daily CROSS JOIN {periods}
        ),
        day_deltas AS (
            SELECT day, p, SUM(responses) AS responses, SUM(promoters) AS promoters,
                   SUM(passives) AS passives, SUM(detractors) AS detractors
            FROM deltas GROUP BY day, p
        ),
        {calendar_cte('nps_calendar', first, end)},
        running AS (
            SELECT c.day, p.p,
                   SUM(COALESCE(dd.responses, 0)) OVER r AS responses,
                   SUM(COALESCE(dd.promoters, 0)) OVER r AS promoters,
                   SUM(COALESCE(dd.passives, 0)) OVER r AS passives,
                   SUM(COALESCE(dd.detractors, 0)) OVER r AS detractors
            FROM nps_calendar c CROSS JOIN {periods}
            LEFT JOIN day_deltas dd ON dd.day = c.day AND dd.p = p.p
            WINDOW r AS (PARTITION BY p.p ORDER BY c.day ROWS UNBOUNDED PRECEDING)
        )
        SELECT day, p, responses, promoters, passives, detractors,
               100 * {ratio('promoters - detractors', 'responses')}
        FROM running
        WHERE day BETWEEN CAST(:start AS DATE) AND CAST(:end AS DATE)
    """
    conn.execute(text(sql), {"start": start, "end": end, "first": first})
    return count_rows(conn, f"{s}.nps_daily", "as_of_date", start, end)
