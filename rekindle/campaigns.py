"""campaign_performance of SPEC section 5, as SQL run in the warehouse.

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
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from rekindle.sql import Query, add_days, as_double, days_between, ratio, replace_rows, schema_prefix

Z_95 = 1.96
TREATMENT, CONTROL = "treatment", "control"


def refresh_campaign_performance(
    conn: Connection, schema: str, inactivity_days_primary: int, attribution_days: int
) -> int:
    """Rebuild campaign_performance whole from raw_campaign_touches and customer_daily_activity."""
    s = schema_prefix(conn, schema)
    query = Query(
        ["campaign_id", "channel", '"group"', "customers_targeted", "inactive_targeted", "reactivated",
         "reactivation_rate", "attributed_revenue", "cost", "roi", "lift", "lift_ci_low", "lift_ci_high"],
        {"inactivity_days": int(inactivity_days_primary), "attribution_days": int(attribution_days),
         "z_95": Z_95, "treatment": TREATMENT, "control": CONTROL},
    )
    query.add("touches", "every touch, on the UTC day it was sent", f"""
        SELECT campaign_id, "group" AS campaign_group, customer_id, channel, cost, CAST(sent_at AS DATE) AS touch_date
        FROM {s}.raw_campaign_touches
    """)
    query.add("targets", "each customer once per campaign and group, at their first touch t", """
        SELECT campaign_id, campaign_group, customer_id, MIN(touch_date) AS first_touch_date
        FROM touches
        GROUP BY campaign_id, campaign_group, customer_id
    """)
    window_end = add_days("first_touch_date", "CAST(:attribution_days AS INTEGER) - 1")
    query.add("timeline", "the touched customers' active days (kind 1) with two markers per target: the start of t "
              "(kind 0, before that day's activity) and the end of t + W - 1 (kind 2, after it)", f"""
        SELECT customer_id, activity_date AS day, 1 AS kind, activity_date AS active_day, revenue,
               NULL AS campaign_id, NULL AS campaign_group, NULL AS first_touch_date
        FROM {s}.customer_daily_activity
        WHERE customer_id IN (SELECT customer_id FROM targets)
        UNION ALL
        SELECT customer_id, first_touch_date, 0, NULL, 0, campaign_id, campaign_group, first_touch_date
        FROM targets
        UNION ALL
        SELECT customer_id, {window_end}, 2, NULL, 0, campaign_id, campaign_group, first_touch_date
        FROM targets
    """)
    query.add("markers", "at each marker: the customer's last active day and cumulative revenue so far", """
        SELECT campaign_id, campaign_group, customer_id, first_touch_date, kind,
               MAX(active_day) OVER so_far AS last_active, SUM(revenue) OVER so_far AS cumulative_revenue
        FROM timeline
        WINDOW so_far AS (PARTITION BY customer_id ORDER BY day, kind ROWS UNBOUNDED PRECEDING)
    """)
    query.add("outcomes", "per target: the last active day before t and by t + W - 1, and the revenue in between", """
        SELECT campaign_id, campaign_group, customer_id, first_touch_date,
               MAX(CASE WHEN kind = 0 THEN last_active END) AS last_active_before,
               MAX(CASE WHEN kind = 2 THEN last_active END) AS last_active_in_window,
               SUM(CASE WHEN kind = 2 THEN cumulative_revenue ELSE -cumulative_revenue END) AS window_revenue
        FROM markers
        WHERE kind <> 1
        GROUP BY campaign_id, campaign_group, customer_id, first_touch_date
    """)
    # inactive at the end of t - 1: (t - 1) - last_active_before >= N
    inactive = f"{days_between('last_active_before', 'first_touch_date')} > CAST(:inactivity_days AS INTEGER)"
    query.add("flagged", "per target: inactive when touched, and reactivated (also active in the window)", f"""
        SELECT campaign_id, campaign_group, window_revenue,
               CASE WHEN {inactive} THEN 1 ELSE 0 END AS inactive,
               CASE WHEN {inactive} AND last_active_in_window >= first_touch_date THEN 1 ELSE 0 END AS reactivated
        FROM outcomes
    """)
    query.add("group_stats", "per campaign and group: targeted, inactive, reactivated, their revenue and the rate", f"""
        SELECT campaign_id, campaign_group, COUNT(*) AS targeted, SUM(inactive) AS inactive,
               SUM(reactivated) AS reactivated,
               SUM(CASE WHEN reactivated = 1 THEN window_revenue ELSE 0 END) AS revenue,
               {ratio('SUM(reactivated)', 'SUM(inactive)')} AS rate
        FROM flagged
        GROUP BY campaign_id, campaign_group
    """)
    query.add("costs", "per campaign and group: the cost of all its touches", """
        SELECT campaign_id, campaign_group, SUM(cost) AS cost
        FROM touches
        GROUP BY campaign_id, campaign_group
    """)
    query.add("channels", "per campaign and group: its channels, the most frequent first (pick = 1), ties by name", """
        SELECT campaign_id, campaign_group, channel,
               ROW_NUMBER() OVER (PARTITION BY campaign_id, campaign_group
                                  ORDER BY COUNT(*) DESC, channel COLLATE "C") AS pick
        FROM touches
        WHERE channel IS NOT NULL
        GROUP BY campaign_id, campaign_group, channel
    """)

    def lift_ci(sign: str) -> str:
        return (f"stats.rate - control.rate {sign} {as_double(':z_95')}"
                " * SQRT(stats.rate * (1 - stats.rate) / NULLIF(stats.inactive, 0)"
                " + control.rate * (1 - control.rate) / NULLIF(control.inactive, 0))")

    is_treatment = "stats.campaign_group = :treatment"
    query.add("final", "per campaign and group: the outcome, cost and ROI; on the treatment row the lift over "
              "control with its 95% interval", f"""
        SELECT stats.campaign_id, channels.channel, stats.campaign_group AS "group",
               stats.targeted AS customers_targeted, stats.inactive AS inactive_targeted,
               stats.reactivated, stats.rate AS reactivation_rate, stats.revenue AS attributed_revenue,
               costs.cost, {ratio('stats.revenue - costs.cost', 'costs.cost')} AS roi,
               CASE WHEN {is_treatment} THEN stats.rate - control.rate END AS lift,
               CASE WHEN {is_treatment} THEN {lift_ci('-')} END AS lift_ci_low,
               CASE WHEN {is_treatment} THEN {lift_ci('+')} END AS lift_ci_high
        FROM group_stats AS stats
        JOIN costs ON costs.campaign_id = stats.campaign_id AND costs.campaign_group = stats.campaign_group
        LEFT JOIN channels
               ON channels.campaign_id = stats.campaign_id AND channels.campaign_group = stats.campaign_group
              AND channels.pick = 1
        LEFT JOIN group_stats AS control
               ON control.campaign_id = stats.campaign_id AND control.campaign_group = :control
    """)
    return replace_rows(conn, f"{s}.campaign_performance", query)
