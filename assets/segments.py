"""Segments layer: whom to win back. Daily inactive segments, and as of the latest loaded day
the win-back list and the per-customer BG/NBD predictions that rank it."""

from datetime import date

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    MaterializeResult,
)

from assets.checks import table_check_result, table_check_specs
from assets.partitions import partition_dates, range_metadata, record_partition_metadata
from assets.policies import DAILY_METRIC_FRESHNESS, warehouse_asset
from rekindle import headlines, metrics, predict, segments
from rekindle.settings import Settings
from resources.warehouse import WarehouseResource


def latest_activity_day(warehouse: WarehouseResource) -> date | None:
    """Snapshots are as of the latest day with loaded activity."""
    with warehouse.begin() as conn:
        return metrics.latest_activity_day(conn, warehouse.schema_name)


def build_segment_assets(settings: Settings, partitions: DailyPartitionsDefinition) -> list[AssetsDefinition]:
    kind = settings.warehouse_kind

    @warehouse_asset(
        settings,
        group_name="segments",
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        deps=["customer_daily_activity"],
        kinds={"sql", kind},
        check_specs=table_check_specs("inactive_segments"),
        freshness_policy=DAILY_METRIC_FRESHNESS,
        description="Per day and N: inactive customers by inactivity bucket ([N,2N), [2N,4N), 4N+) and RFM "
        "segment, with their lifetime revenue. Which groups of lapsed customers are worth winning back.",
    )
    def inactive_segments(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        start, end = partition_dates(context)
        with warehouse.begin() as conn:
            rows = segments.refresh_inactive_segments(conn, warehouse.schema_name, start, end, settings.inactivity_days)
            per_day = headlines.daily_headlines(
                conn, warehouse.schema_name, "inactive_segments", start, end, settings.inactivity_days,
                settings.period_days,
            )
        # each day its own row count and totals
        record_partition_metadata(context, per_day, range_metadata(start, end, rows_written=rows))
        check = table_check_result(warehouse, "inactive_segments", settings.quality_docs_dir, start, end)
        return MaterializeResult(check_results=[check])

    @warehouse_asset(
        settings,
        group_name="segments",
        deps=["customer_daily_activity"],
        kinds={"python", "scipy", kind},
        check_specs=table_check_specs("customer_predictions"),
        description="Per customer with an order, as of the latest day: the BG/NBD model's probability that "
        "the customer is still 'alive' and their expected purchases in the next 90 days.",
    )
    def customer_predictions(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        as_of = latest_activity_day(warehouse)
        metadata = {"dagster/row_count": 0}
        if as_of is not None:
            with warehouse.begin() as conn:
                rows, params = predict.refresh_customer_predictions(conn, warehouse.schema_name, as_of)
            metadata = {
                "dagster/row_count": rows,
                "as_of_date": str(as_of),
                "bgnbd_params_days": {k: None if v != v else round(float(v), 6) for k, v in params.items()},
            }
        check = table_check_result(warehouse, "customer_predictions", settings.quality_docs_dir)
        return MaterializeResult(metadata=metadata, check_results=[check])

    @warehouse_asset(
        settings,
        group_name="segments",
        deps=["customer_daily_activity", customer_predictions],
        kinds={"sql", kind},
        check_specs=table_check_specs("inactive_customers"),
        description="The win-back list: every customer inactive for N+ days (primary N) as of the latest day, "
        "with last active day, bucket, lifetime orders and revenue, RFM segment, p_alive and expected purchases. "
        "Export it with `rekindle export inactive-customers`.",
    )
    def inactive_customers(warehouse: WarehouseResource) -> MaterializeResult:
        as_of = latest_activity_day(warehouse)
        metadata = {"dagster/row_count": 0}
        if as_of is not None:
            with warehouse.begin() as conn:
                rows = segments.refresh_inactive_customers(
                    conn, warehouse.schema_name, as_of, settings.primary_inactivity_days
                )
            metadata = {"dagster/row_count": rows, "as_of_date": str(as_of)}
        check = table_check_result(warehouse, "inactive_customers", settings.quality_docs_dir)
        return MaterializeResult(metadata=metadata, check_results=[check])

    return [inactive_segments, customer_predictions, inactive_customers]
