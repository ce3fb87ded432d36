"""The quarantine as an asset, so rejected rows are one click away in the UI: each day's partition
shows how many rows each source lost and why, and the Plots tab draws them over time."""

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
)

from assets.partitions import days_between, partition_dates
from assets.policies import warehouse_asset
from rekindle import quarantine as rejected
from rekindle.settings import Settings
from rekindle.sources import SOURCES
from resources.warehouse import WarehouseResource


def build_quarantine_asset(settings: Settings, partitions: DailyPartitionsDefinition) -> AssetsDefinition:
    source_names = [source.name for source in SOURCES]

    @warehouse_asset(
        settings,
        name="quarantine",
        group_name="raw",
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        deps=[source.table for source in SOURCES],
        kinds={"sql", settings.warehouse_kind},
        tags={"layer": "raw"},
        description="Every landing row the raw assets refused, with its reason: one row per rejected row "
        "(source, day, file, reason, the raw record). The raw assets write it, in the same transaction as the "
        "rows they load; this step only counts it (one SQL aggregate), so that each day shows its rejected rows "
        "per source and reason, and the query that lists them. When a raw asset's blocking contract check "
        "fails, the run stops before this step: the rows are in the table all the same, and the failed check "
        "names the reasons and files.",
    )
    def quarantine(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        start, end = partition_dates(context)
        with warehouse.begin() as conn:
            rows = rejected.rejected_rows(conn, warehouse.schema_name, start, end)
        per_day = rejected.day_summaries(rows, days_between(start, end), source_names)
        for day, summary in per_day.items():  # each partition its own numbers, also in a multi-day run
            rows_sql = (f"SELECT *\nFROM {warehouse.qualified('quarantine')}\n"
                        f"WHERE partition_date = DATE '{day}'\nORDER BY source, reason")
            context.add_asset_metadata(
                {**summary, "rows": MetadataValue.md(f"```sql\n{rows_sql}\n```")}, partition_key=day.isoformat()
            )
        total = sum(row.rows for row in rows)
        by_source = ", ".join(f"{s} {sum(r.rows for r in rows if r.source == s)}" for s in source_names)
        context.log.info(f"quarantine {start}..{end}: {total} rejected rows ({by_source})")
        # copied onto every partition of the run: the range, labelled as such
        days = {"first_day": str(start), "last_day": str(end), "days": len(per_day), "rejected_rows": total}
        return MaterializeResult(metadata={"run_range": MetadataValue.json(days)})

    return quarantine
