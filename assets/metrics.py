"""Metrics layer: the daily metric tables of SPEC section 5, one SQL statement each.

A run over a range of days computes the whole range in one pass (single-run backfills), then
validates what it wrote with the table's contract check (blocking).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    MaterializeResult,
)
from sqlalchemy.engine import Connection

from assets.checks import table_check_result, table_check_specs
from assets.partitions import partition_dates, range_metadata, record_partition_metadata
from assets.policies import DAILY_METRIC_FRESHNESS, warehouse_asset
from rekindle import cohorts, headlines, metrics, nps
from rekindle.settings import Settings
from resources.warehouse import WarehouseResource

MetricRefresh = Callable[[Connection, str, date, date, Settings], int]


@dataclass(frozen=True)
class DailyMetric:
    description: str
    refresh: MetricRefresh
    deps: tuple[str, ...] = ("customer_daily_activity",)


DAILY_METRICS: dict[str, DailyMetric] = {
    "lifecycle_daily": DailyMetric(
        "Per day and inactivity window N: new, returning, reactivated and dormant customers; active base and inactive count.",
        lambda conn, schema, start, end, s: metrics.refresh_lifecycle_daily(conn, schema, start, end, s.inactivity_days),
    ),
    "reactivation_daily": DailyMetric(
        "Per day, N and period P: customers inactive at the period start, how many came back, the rate and their revenue.",
        lambda conn, schema, start, end, s: metrics.refresh_reactivation_daily(
            conn, schema, start, end, s.inactivity_days, s.period_days
        ),
    ),
    "retention_daily": DailyMetric(
        "Per day, N and period P: active base at the period start, how many were retained or churned, and the rates.",
        lambda conn, schema, start, end, s: metrics.refresh_retention_daily(
            conn, schema, start, end, s.inactivity_days, s.period_days
        ),
    ),
    "purchase_daily": DailyMetric(
        "Per day and period P: orders, buyers, revenue, average order value, purchase frequency, repeat purchase rate.",
        lambda conn, schema, start, end, s: metrics.refresh_purchase_daily(conn, schema, start, end, s.period_days),
    ),
    "clv_daily": DailyMetric(
        "Per day and N: customer lifetime value = average order value x purchases per year x expected lifespan "
        "(1 / annual churn rate), all over the trailing 365 days, every component visible.",
        lambda conn, schema, start, end, s: metrics.refresh_clv_daily(conn, schema, start, end, s.inactivity_days),
    ),
    "nps_daily": DailyMetric(
        "Per day and period P: survey responses, promoters (9-10), passives (7-8), detractors (0-6) and NPS.",
        lambda conn, schema, start, end, s: nps.refresh_nps_daily(conn, schema, start, end, s.period_days),
        deps=("raw_surveys",),
    ),
}


def build_daily_metric_asset(
    name: str, metric: DailyMetric, settings: Settings, partitions: DailyPartitionsDefinition
) -> AssetsDefinition:
    @warehouse_asset(
        settings,
        name=name,
        group_name="metrics",
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        deps=list(metric.deps),
        kinds={"sql", settings.warehouse_kind},
        check_specs=table_check_specs(name),
        freshness_policy=DAILY_METRIC_FRESHNESS,
        description=metric.description,
    )
    def metric_asset(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        start, end = partition_dates(context)
        with warehouse.begin() as conn:
            rows = metric.refresh(conn, warehouse.schema_name, start, end, settings)
            per_day = headlines.daily_headlines(
                conn, warehouse.schema_name, name, start, end, settings.inactivity_days, settings.period_days
            )
        # each day its own row count and headline numbers
        record_partition_metadata(context, per_day, range_metadata(start, end, rows_written=rows))
        check = table_check_result(warehouse, name, settings.quality_docs_dir, start, end)
        return MaterializeResult(check_results=[check])

    return metric_asset


def build_metric_assets(settings: Settings, partitions: DailyPartitionsDefinition) -> list[AssetsDefinition]:
    @warehouse_asset(
        settings,
        group_name="metrics",
        deps=["customer_daily_activity"],
        kinds={"sql", settings.warehouse_kind},
        check_specs=table_check_specs("cohort_retention"),
        description="Monthly acquisition cohorts (month of first activity): how many are active and what they "
        "spend in each later month. Rebuilt whole, so late data corrects old cohorts too.",
    )
    def cohort_retention(warehouse: WarehouseResource) -> MaterializeResult:
        with warehouse.begin() as conn:
            through = metrics.latest_activity_day(conn, warehouse.schema_name)
        rows = 0
        if through is not None:
            with warehouse.begin() as conn:
                rows = cohorts.refresh_cohort_retention(conn, warehouse.schema_name, through)
        check = table_check_result(warehouse, "cohort_retention", settings.quality_docs_dir)
        return MaterializeResult(metadata={"dagster/row_count": rows, "through": str(through)}, check_results=[check])

    return [
        *(build_daily_metric_asset(name, metric, settings, partitions) for name, metric in DAILY_METRICS.items()),
        cohort_retention,
    ]
