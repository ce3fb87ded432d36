"""Core layer: per-customer daily activity and the customer table, built in the warehouse."""

from datetime import date

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    DagsterEventType,
    AssetsDefinition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    MaterializeResult,
)

from assets.checks import table_check_result, table_check_specs
from assets.partitions import partition_dates, range_metadata, record_partition_metadata
from assets.policies import warehouse_asset
from rekindle import headlines, metrics
from rekindle.settings import Settings
from resources.warehouse import WarehouseResource

ACTIVITY_INPUTS = (AssetKey("raw_orders"), AssetKey("raw_events"))


def build_core_assets(settings: Settings, partitions: DailyPartitionsDefinition) -> list[AssetsDefinition]:
    @warehouse_asset(
        settings,
        group_name="core",
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        deps=list(ACTIVITY_INPUTS),
        kinds={"sql", settings.warehouse_kind},
        check_specs=table_check_specs("customer_daily_activity"),
        description="One row per customer and active day: completed orders, their revenue, non-passive events.",
    )
    def customer_daily_activity(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        start, end = partition_dates(context)
        other_days = _raw_days_changed_in_run(context, start, end)
        with warehouse.begin() as conn:
            rows = metrics.refresh_customer_daily_activity(
                conn, warehouse.schema_name, start, end, settings.passive_event_types
            )
            for day in other_days:
                metrics.refresh_customer_daily_activity(conn, warehouse.schema_name, day, day, settings.passive_event_types)
            per_day = headlines.daily_headlines(
                conn, warehouse.schema_name, "customer_daily_activity", start, end, settings.inactivity_days,
                settings.period_days, extra_days=other_days,
            )
        for day in other_days:
            # recorded on that day's partition, so the downstream sensor recomputes from there; with
            # the day's numbers, as this is now its latest materialization
            context.log_event(AssetMaterialization(
                asset_key=context.asset_key, partition=day.isoformat(),
                description="rebuilt: raw rows of this day moved (ids delivered on another day)",
                metadata=per_day.pop(day),
            ))
        # each day its own active customers, orders, revenue
        run = range_metadata(start, end, rows_written=rows, other_days_rebuilt=[str(d) for d in other_days])
        record_partition_metadata(context, per_day, run)
        check = table_check_result(
            warehouse, "customer_daily_activity", settings.quality_docs_dir, start, end, date_column="activity_date"
        )
        return MaterializeResult(check_results=[check])

    @warehouse_asset(
        settings,
        group_name="core",
        deps=[customer_daily_activity],
        kinds={"sql", settings.warehouse_kind},
        check_specs=table_check_specs("customers"),
        description="One row per customer ever active: first/last active and order days, lifetime orders and revenue.",
    )
    def customers(warehouse: WarehouseResource) -> MaterializeResult:
        with warehouse.begin() as conn:
            rows = metrics.refresh_customers(conn, warehouse.schema_name)
        check = table_check_result(warehouse, "customers", settings.quality_docs_dir)
        return MaterializeResult(metadata={"dagster/row_count": rows}, check_results=[check])

    return [customer_daily_activity, customers]


def _raw_days_changed_in_run(context: AssetExecutionContext, start: date, end: date) -> list[date]:
    """Days outside [start, end] whose raw orders or events this run changed (a late file moved
    a later day's duplicate id to quarantine, or restored one): their activity is stale too."""
    records = context.instance.get_records_for_run(
        context.run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION
    ).records
    days = {
        date.fromisoformat(event.partition)
        for event in (record.event_log_entry.dagster_event for record in records)
        if event.asset_key in ACTIVITY_INPUTS and event.partition
    }
    return sorted(day for day in days if not start <= day <= end)
