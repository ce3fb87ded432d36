"""Shared by the end-to-end tests: materialize a range of days on a real instance, read every
warehouse table, and compare two warehouses table by table."""

from datetime import date

import pandas as pd
from dagster import DagsterInstance

from pipelines.definitions import build_definitions
from pipelines.jobs import DAILY_JOB_NAME, range_tags
from rekindle.settings import Settings
from resources.warehouse import WarehouseResource

COMPARED_TABLES = {
    "raw_orders": ["order_id"],
    "raw_events": ["event_id"],
    "quarantine": ["source", "partition_date", "source_file", "reason", "record"],
    "customer_daily_activity": ["customer_id", "activity_date"],
    "customers": ["customer_id"],
    "lifecycle_daily": ["as_of_date", "inactivity_days"],
    "reactivation_daily": ["as_of_date", "inactivity_days", "period_days"],
    "retention_daily": ["as_of_date", "inactivity_days", "period_days"],
    "purchase_daily": ["as_of_date", "period_days"],
    "raw_campaign_touches": ["touch_id"],
    "raw_surveys": ["response_id"],
    "clv_daily": ["as_of_date", "inactivity_days"],
    "nps_daily": ["as_of_date", "period_days"],
    "cohort_retention": ["cohort_month", "months_since_first"],
    "inactive_segments": ["as_of_date", "inactivity_days", "inactivity_bucket", "rfm_segment"],
    "inactive_customers": ["customer_id"],
    "customer_predictions": ["customer_id"],
    "campaign_performance": ["campaign_id", "group"],
}
# fitted by numerical optimization: equal to optimizer tolerance, not to the last bit
MODEL_COLUMNS = {"p_alive", "expected_purchases_90d"}


def materialize(settings: Settings, instance: DagsterInstance, start: date, end: date):
    """What `rekindle run` does: every asset for the days [start, end], one run."""
    job = build_definitions(settings).resolve_job_def(DAILY_JOB_NAME)
    result = job.execute_in_process(instance=instance, tags=range_tags(start, end))
    assert result.success
    return result


def read_tables(settings: Settings) -> dict[str, pd.DataFrame]:
    warehouse = WarehouseResource(url=settings.warehouse_url, schema_name=settings.schema)
    try:
        frames = {}
        for table, keys in COMPARED_TABLES.items():
            # the defined column order: Spark keeps a partition column last
            columns = ", ".join(warehouse.engine.dialect.identifier_preparer.quote(c.name)
                                for c in warehouse.table(table).columns)
            frame = warehouse.read_frame(f"SELECT {columns} FROM {warehouse.qualified(table)}")
            frames[table] = frame.sort_values(keys).reset_index(drop=True)
        return frames
    finally:
        warehouse.dispose()


def assert_same_tables(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    for table in COMPARED_TABLES:
        a, b = left[table], right[table]
        assert list(a.columns) == list(b.columns), table
        assert len(a) == len(b), f"{table}: {len(a)} rows vs {len(b)}"
        for column in a.columns:
            x, y = a[column], b[column]
            if pd.api.types.is_numeric_dtype(x) or x.map(lambda v: hasattr(v, "as_tuple")).any():
                tolerance = 1e-6 if column in MODEL_COLUMNS else 1e-9
                pd.testing.assert_series_equal(
                    x.astype("float64"), y.astype("float64"), check_names=False, rtol=tolerance, atol=tolerance,
                    obj=f"{table}.{column}",
                )
            else:
                pd.testing.assert_series_equal(
                    x.astype(str), y.astype(str), check_names=False, obj=f"{table}.{column}"
                )
