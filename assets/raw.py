"""Raw layer: each landing-zone source, validated row by row, loaded per daily partition.
Accepted rows go to raw_<source>, rejected rows to quarantine with a reason; both are
replaced for the partition in one transaction, so re-delivered files and re-runs are safe.
"""


from collections import Counter

import pandas as pd
from dagster import (
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
)

from assets.checks import raw_check_results, raw_check_specs
from assets.partitions import days_between, partition_dates
from assets.policies import warehouse_asset
from rekindle.landing import SOURCES
from rekindle.raw_validation import extract_partition
from rekindle.settings import Settings
from rekindle.tables import RAW_TABLE
from resources.warehouse import WarehouseResource

SOURCE_DESCRIPTIONS = {
    "orders": "Orders from landing orders/dt=YYYY-MM-DD/, typed and validated; rejects go to quarantine.",
    "events": "Engagement events from landing events/dt=YYYY-MM-DD/, typed and validated; rejects go to quarantine.",
    "campaign_touches": "Win-back campaign sends (optional source campaign_touches/); rejects go to quarantine.",
    "surveys": "NPS/CSAT survey responses (optional source surveys/); rejects go to quarantine.",
}


def build_raw_asset(source: str, settings: Settings, partitions: DailyPartitionsDefinition) -> AssetsDefinition:
    table = RAW_TABLE[source]

    @warehouse_asset(
        settings,
        name=table,
        group_name="raw",
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        description=SOURCE_DESCRIPTIONS[source],
        kinds={"pandas", "duckdb" if settings.is_duckdb else "postgres"},
        tags={"layer": "raw"},
        check_specs=raw_check_specs(table),
    )
    def raw_asset(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        start, end = partition_dates(context)
        read = loaded = quarantined = files = 0
        reasons: Counter[str] = Counter()
        per_day, accepted, rejected, checked_days = [], [], [], []
        for day in days_between(start, end):
            part = extract_partition(settings, source, day)
            # the contract: nothing is lost between the files and the warehouse
            if part.rows_read != len(part.accepted) + len(part.quarantined):
                raise RuntimeError(f"{source} {day}: rows read != rows loaded + rows quarantined")
            accepted.append(part.accepted)
            rejected.append(part.quarantined)
            checked_days.append((day, part.rows_read, part.quarantined))
            read += part.rows_read
            loaded += len(part.accepted)
            quarantined += len(part.quarantined)
            files += len(part.files)
            reasons.update(part.reasons)
            if part.rows_read:
                per_day.append((day, part.rows_read, len(part.accepted), len(part.quarantined)))
            context.log.info(
                f"{table} {day}: read {part.rows_read}, loaded {len(part.accepted)}, "
                f"quarantined {len(part.quarantined)} from {len(part.files)} file(s)"
            )
        accepted_rows = pd.concat(accepted, ignore_index=True)
        # the whole range in one transaction: all of it is replaced, or none of it
        with warehouse.begin() as conn:
            warehouse.replace_rows(conn, table, accepted_rows, date_column="partition_date", start=start, end=end)
            warehouse.replace_rows(
                conn, "quarantine", pd.concat(rejected, ignore_index=True),
                date_column="partition_date", start=start, end=end, match={"source": source},
            )
        checks = raw_check_results(
            source=source,
            table=table,
            warehouse=warehouse,
            accepted=accepted_rows,
            days=checked_days,
            currency=settings.currency,
            passive_event_types=settings.passive_event_types,
            max_reject_rate=settings.max_reject_rate,
            docs_dir=settings.quality_docs_dir,
        )
        for check in checks:
            if not check.passed:
                # blocking failures say what failed where; warnings are detailed in the check's metadata
                log = context.log.error if check.severity == AssetCheckSeverity.ERROR else context.log.info
                log(f"{table} check {check.check_name} failed:\n{check.description}")
        return MaterializeResult(
            check_results=checks,
            metadata={
                "rows_read": read,
                "rows_loaded": loaded,
                "rows_quarantined": quarantined,
                "dagster/row_count": loaded,
                "files": files,
                "quarantine_reasons": MetadataValue.json(dict(sorted(reasons.items()))),
                "reject_rate": round(quarantined / read, 6) if read else 0.0,
                "days": MetadataValue.md(_days_table(per_day)) if per_day else "no landing files in range",
            }
        )

    return raw_asset


def _days_table(rows: list[tuple]) -> str:
    lines = ["| day | read | loaded | quarantined |", "|---|---:|---:|---:|"]
    lines += [f"| {d} | {r} | {l} | {q} |" for d, r, l, q in rows[-60:]]
    return "\n".join(lines)


def build_raw_assets(settings: Settings, partitions: DailyPartitionsDefinition) -> list[AssetsDefinition]:
    return [build_raw_asset(source, settings, partitions) for source in SOURCES]
