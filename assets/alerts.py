"""Metric alerts as Dagster asset checks: WARN, never blocking, one check per watched series.

Each check reads a small SQL result (the days the run wrote plus the 28 days before them) and
asks rekindle.alerts whether a day is far from its own trailing median (median +/- 4 x 1.4826 x
MAD, with floors). They are their own steps (`@asset_check`), so the daily job runs each one
right after its asset materializes, and a failed one only warns:

- `churn_rate_alerts` on retention_daily: churn rate of the primary N, each period P;
- `reactivation_rate_alerts` on reactivation_daily: reactivation rate of the primary N, each P;
- `active_base_alerts` on lifecycle_daily: active customers of the primary N;
- `engagement_alerts` on customer_daily_activity: events per active customer.

The days checked are the run's partitions (its range tags); a check executed alone, from the
UI, checks the latest day of its table.
"""


from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    MetadataValue,
    asset_check,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)

from assets.policies import WAREHOUSE_RETRY_POLICY, warehouse_pool
from rekindle import alerts
from rekindle.settings import Settings
from resources.warehouse import WarehouseResource

MAX_ALERTS_IN_METADATA = 50


@dataclass(frozen=True)
class WatchedSeries:
    check: str
    asset: str
    date_column: str  # of the asset's table: the days checked
    watches: str  # what leaves its band, for the description: "a churn rate (N=30, each period P)"
    # one row per day and series: `day`, `series` (e.g. the period P; 0 for a single series),
    # `value`, for :inactivity_days and the days :first_day .. :last_day
    sql: str
    rule: Callable[[int], alerts.AlertRule]  # the series key -> how it is judged and named
    # days from the first active day before a value means anything (settings, series key)
    warm_up_days: Callable[[Settings, int], int]

    @property
    def description(self) -> str:
        """The check's description; every series of a check has the same thresholds."""
        return f"WARN when {self.watches} leaves its {alerts.describe_band(self.rule(0))}."


def _watched(settings: Settings) -> list[WatchedSeries]:
    n = settings.primary_inactivity_days
    return [
        WatchedSeries(
            "churn_rate_alerts", "retention_daily", "as_of_date",
            f"a churn rate (N={n}, each period P)",
            """
            -- churn rate of the primary N, one series per period P
            SELECT as_of_date AS day, period_days AS series, churn_rate AS value
            FROM {retention_daily}
            WHERE inactivity_days = :inactivity_days AND as_of_date BETWEEN :first_day AND :last_day
            """,
            lambda p: alerts.rate_rule(f"churn rate {p}d"),
            # nobody counts as churned before N days of data; the period's window fills P days later
            lambda s, p: s.primary_inactivity_days + p,
        ),
        WatchedSeries(
            "reactivation_rate_alerts", "reactivation_daily", "as_of_date",
            f"a reactivation rate (N={n}, each period P)",
            """
            -- reactivation rate of the primary N, one series per period P
            SELECT as_of_date AS day, period_days AS series, reactivation_rate AS value
            FROM {reactivation_daily}
            WHERE inactivity_days = :inactivity_days AND as_of_date BETWEEN :first_day AND :last_day
            """,
            lambda p: alerts.rate_rule(f"reactivation rate {p}d"),
            lambda s, p: s.primary_inactivity_days + p,
        ),
        WatchedSeries(
            "active_base_alerts", "lifecycle_daily", "as_of_date",
            f"the active base (customers active in the last N={n} days)",
            """
            -- the active base of the primary N
            SELECT as_of_date AS day, 0 AS series, active_customers AS value
            FROM {lifecycle_daily}
            WHERE inactivity_days = :inactivity_days AND as_of_date BETWEEN :first_day AND :last_day
            """,
            lambda _: alerts.active_base_rule(f"active customers (N={n})"),
            lambda s, _: s.primary_inactivity_days,  # the base holds N days of activity only after N days
        ),
        WatchedSeries(
            "engagement_alerts", "customer_daily_activity", "activity_date",
            "events per active customer (non-passive events / customers active that day)",
            """
            -- events per active customer: the day's non-passive events over the customers active that day
            SELECT activity_date AS day, 0 AS series,
                   CAST(SUM(events) AS DOUBLE PRECISION) / COUNT(*) AS value
            FROM {customer_daily_activity}
            WHERE activity_date BETWEEN :first_day AND :last_day
            GROUP BY activity_date
            """,
            lambda _: alerts.engagement_rule("events per active customer"),
            lambda s, _: 0,
        ),
    ]


def build_alert_checks(settings: Settings) -> list[AssetChecksDefinition]:
    return [_alert_check(watched, settings) for watched in _watched(settings)]


def _alert_check(watched: WatchedSeries, settings: Settings) -> AssetChecksDefinition:
    @asset_check(
        asset=watched.asset,
        name=watched.check,
        description=watched.description,
        blocking=False,
        retry_policy=WAREHOUSE_RETRY_POLICY,
        pool=warehouse_pool(settings),  # reads the DuckDB file: one process at a time
    )
    def alert_check(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
        table = warehouse.qualified(watched.asset)
        checked = _checked_days(context, warehouse, table, watched.date_column)
        if checked is None:
            return AssetCheckResult(passed=True, severity=AssetCheckSeverity.WARN, description="no day to check yet")
        start, end = checked
        frame = warehouse.read_frame(
            watched.sql.format(**{watched.asset: table}),
            {"inactivity_days": settings.primary_inactivity_days,
             "first_day": start - timedelta(days=alerts.BASELINE_DAYS), "last_day": end},
        )
        first_active = _first_active_day(warehouse)
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        judged = []
        for key, rows in frame.groupby("series", sort=True):
            rule = watched.rule(int(key))
            values = {_as_date(d): (None if pd.isna(v) else float(v)) for d, v in zip(rows["day"], rows["value"])}
            valid_from = (
                None if first_active is None
                else first_active + timedelta(days=watched.warm_up_days(settings, int(key)))
            )
            judged.append((rule, alerts.judge_series(values, days, rule, valid_from=valid_from)))
        result = _result(watched, judged, start, end)
        if not result.passed:  # `rekindle run` prints warnings under the step: the one line is seen
            context.log.warning(f"{watched.check}: {result.description}")
        return result

    return alert_check


def _result(
    watched: WatchedSeries, judged: list[tuple[alerts.AlertRule, list[alerts.DayVerdict]]], start: date, end: date
) -> AssetCheckResult:
    alerting = [
        {"series": rule.label, "direction": v.direction, **v.to_metadata()}
        for rule, verdicts in judged for v in verdicts if v.alert
    ]
    metadata = {
        "days_checked": f"{start} .. {end}",
        "alerts": len(alerting),
        "alert_days": MetadataValue.json(alerting[:MAX_ALERTS_IN_METADATA]),
        "method": (
            f"median and MAD of the trailing {alerts.BASELINE_DAYS} days (at least {alerts.MIN_HISTORY_DAYS} "
            f"values); alert when |value - median| > max(k x {alerts.MAD_TO_SIGMA} x MAD, floors)"
        ),
        "thresholds": MetadataValue.json({
            rule.label: {"k": rule.k, "min_change": rule.min_change, "min_relative_change": rule.min_relative_change}
            for rule, _ in judged
        }),
    }
    for rule, verdicts in judged:  # the last judged day of each series, as numbers the UI can plot
        latest = next((v for v in reversed(verdicts) if v.judged), None)
        if latest is not None:
            slug = rule.label.replace(" ", "_").replace("(", "").replace(")", "").replace("=", "")
            metadata[slug] = latest.value
            metadata[f"{slug}_median"] = latest.median
            metadata[f"{slug}_band"] = latest.tolerance
    return AssetCheckResult(
        passed=not alerting,
        severity=AssetCheckSeverity.WARN,
        description=alerts.summarize_all(judged) if judged else "no values in the checked days",
        metadata=metadata,
    )


def _checked_days(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource, table: str, date_column: str
) -> tuple[date, date] | None:
    """The days the run materializes (its partition range or partition), else the table's latest day."""
    tags = context.run.tags
    if ASSET_PARTITION_RANGE_START_TAG in tags and ASSET_PARTITION_RANGE_END_TAG in tags:
        return date.fromisoformat(tags[ASSET_PARTITION_RANGE_START_TAG]), date.fromisoformat(
            tags[ASSET_PARTITION_RANGE_END_TAG]
        )
    if PARTITION_NAME_TAG in tags:
        day = date.fromisoformat(tags[PARTITION_NAME_TAG])
        return day, day
    latest = warehouse.scalar(f"SELECT MAX({date_column}) FROM {table}")
    return None if latest is None else (_as_date(latest), _as_date(latest))


def _first_active_day(warehouse: WarehouseResource) -> date | None:
    """The first day anyone was active: a series' warm-up counts from it (None: no data yet)."""
    first = warehouse.scalar(f"SELECT MIN(activity_date) FROM {warehouse.qualified('customer_daily_activity')}")
    return None if first is None else _as_date(first)


def _as_date(value) -> date:
    return value if isinstance(value, date) and not isinstance(value, pd.Timestamp) else pd.Timestamp(value).date()
