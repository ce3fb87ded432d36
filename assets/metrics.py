"""Metrics layer: the daily metric tables of SPEC section 5, one SQL statement each.
A run over a range of days computes the whole range in one pass (single-run backfills).
"""


from collections.abc import Callable
from datetime import date

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    MaterializeResult,
    asset,
)
from sqlalchemy.engine import Connection

from assets.partitions import partition_dates
from rekindle import metrics
from rekindle.settings import Settings
from resources.warehouse import WarehouseResource

MetricRefresh = Callable[[Connection, str, date, date, Settings], int]

METRIC_TABLES: dict[str, tuple[str, MetricRefresh]] = {
    "lifecycle_daily": (
        "Per day and inactivity window N: new, returning, reactivated and dormant customers; active base and inactive count.",
        lambda conn, schema, start, end, s: metrics.refresh_lifecycle_daily(conn, schema, start, end, s.inactivity_days),
    ),
    "reactivation_daily": (
        "Per day, N and period P: customers inactive at the period start, how many came back, the rate and their revenue.",
        lambda conn, schema, start, end, s: metrics.refresh_reactivation_daily(
            conn, schema, start, end, s.inactivity_days, s.period_days
        ),
    ),
    "retention_daily": (
        "Per day, N and period P: active base at the period start, how many were retained or churned, and the rates.",
        lambda conn, schema, start, end, s: metrics.refresh_retention_daily(
            conn, schema, start, end, s.inactivity_days, s.period_days
        ),
    ),
    "purchase_daily": (
        "Per day and period P: orders, buyers, revenue, average order value, purchase frequency, repeat purchase rate.",
        lambda conn, schema, start, end, s: metrics.refresh_purchase_daily(conn, schema, start, end, s.period_days),
    ),
}


def build_metric_asset(
    name: str, description: str, refresh: MetricRefresh, settings: Settings, partitions: DailyPartitionsDefinition
) -> AssetsDefinition:
    @asset(
        name=name,
        group_name="metrics",
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        deps=["customer_daily_activity"],
        kinds={"sql", "duckdb" if settings.is_duckdb else "postgres"},
        description=description,
    )
    def metric_asset(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        start, end = partition_dates(context)
        with warehouse.begin() as conn:
            rows = refresh(conn, warehouse.schema_name, start, end, settings)
        return MaterializeResult(metadata={"dagster/row_count": rows, "first_day": str(start), "last_day": str(end)})

    return metric_asset


def build_metric_assets(settings: Settings, partitions: DailyPartitionsDefinition) -> list[AssetsDefinition]:
    return [
        build_metric_asset(name, description, refresh, settings, partitions)
        for name, (description, refresh) in METRIC_TABLES.items()
    ]
