"""Core layer: per-customer daily activity and the customer table, built in the warehouse."""

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    MaterializeResult,
)

from assets.checks import table_check_result, table_check_specs
from assets.partitions import partition_dates
from assets.policies import warehouse_asset
from rekindle import metrics
from rekindle.settings import Settings
from resources.warehouse import WarehouseResource


def build_core_assets(settings: Settings, partitions: DailyPartitionsDefinition) -> list[AssetsDefinition]:
    kind = "duckdb" if settings.is_duckdb else "postgres"

    @warehouse_asset(
        settings,
        group_name="core",
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        deps=["raw_orders", "raw_events"],
        kinds={"sql", kind},
        check_specs=table_check_specs("customer_daily_activity"),
        description="One row per customer and active day: completed orders, their revenue, non-passive events.",
    )
    def customer_daily_activity(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        start, end = partition_dates(context)
        with warehouse.begin() as conn:
            rows = metrics.refresh_customer_daily_activity(
                conn, warehouse.schema_name, start, end, settings.passive_event_types
            )
        check = table_check_result(
            warehouse, "customer_daily_activity", settings.quality_docs_dir, start, end, date_column="activity_date"
        )
        return MaterializeResult(
            metadata={"dagster/row_count": rows, "first_day": str(start), "last_day": str(end)}, check_results=[check]
        )

    @warehouse_asset(
        settings,
        group_name="core",
        deps=[customer_daily_activity],
        kinds={"sql", kind},
        check_specs=table_check_specs("customers"),
        description="One row per customer ever active: first/last active and order days, lifetime orders and revenue.",
    )
    def customers(warehouse: WarehouseResource) -> MaterializeResult:
        with warehouse.begin() as conn:
            rows = metrics.refresh_customers(conn, warehouse.schema_name)
        check = table_check_result(warehouse, "customers", settings.quality_docs_dir)
        return MaterializeResult(metadata={"dagster/row_count": rows}, check_results=[check])

    return [customer_daily_activity, customers]
