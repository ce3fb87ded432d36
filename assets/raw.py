"""Raw layer: each landing-zone source, validated row by row, loaded per daily partition.
Accepted rows go to raw_<source>, rejected rows to quarantine with a reason; both are
replaced for the partition in one transaction, so re-delivered files and re-runs are safe.
The rules of SPEC 1.1 (kept, blocked and loaded days; ids across days) are in rekindle.raw_load.
"""


from collections import Counter

import pandas as pd
from dagster import (
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetMaterialization,
    AssetsDefinition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
)

from assets.checks import raw_check_results, raw_check_specs
from assets.partitions import days_between, partition_dates
from assets.policies import warehouse_asset
from rekindle.landing import SOURCES, LandingZoneError, check_landing_zone, landing_notices
from rekindle.raw_load import DUPLICATE_OTHER_DAY, extract_days, write_raw_load
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
        try:
            check_landing_zone(settings.landing_dir)
        except LandingZoneError as error:  # a failed mount must never load as "no files"
            raise Failure(description=str(error), allow_retries=False) from None
        load = extract_days(settings, source, days_between(start, end))
        with warehouse.begin() as conn:  # the whole range in one transaction: all of it, or none
            write_raw_load(conn, warehouse, load, settings.currency)
        for day, part in load.loaded.items():
            context.log.info(
                f"{table} {day}: read {part.rows_read}, loaded {len(part.accepted)}, "
                f"quarantined {len(part.quarantined)} from {len(part.files)} file(s)"
            )
        for day, part in load.blocked.items():
            context.log.error(f"{table} {day}: not loaded, kept as it was: {'; '.join(part.blocking)}")
        if load.kept:
            context.log.info(f"{table}: {len(load.kept)} day(s) without landing files kept as they were")
        for day, (demoted, restored) in load.moved.items():
            # another day's rows changed: say so on that partition, so everything downstream follows
            context.log_event(AssetMaterialization(
                asset_key=context.asset_key, partition=day.isoformat(),
                description=f"ids also delivered on another day ({DUPLICATE_OTHER_DAY})",
                metadata={"rows_moved_to_quarantine": demoted, "rows_restored_from_quarantine": restored},
            ))
        notices = landing_notices(settings.landing_dir, source)
        checks = raw_check_results(
            source=source,
            table=table,
            warehouse=warehouse,
            accepted=pd.concat([pd.DataFrame(), *(p.accepted for p in load.loaded.values())], ignore_index=True),
            days=[(day, p.rows_read, p.quarantined) for day, p in sorted(load.loaded.items())],
            blocked=[(day, p.blocking) for day, p in sorted(load.blocked.items())],
            notices=[str(n) for n in notices],
            first_day=start,
            last_day=end,
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
        reasons = Counter()
        for part in load.loaded.values():
            reasons.update(part.reasons)
        per_day = [(d, p.rows_read, len(p.accepted), len(p.quarantined)) for d, p in sorted(load.loaded.items())]
        read, quarantined = load.rows_read, load.rows_quarantined
        return MaterializeResult(
            check_results=checks,
            metadata={
                "rows_read": read,
                "rows_loaded": load.rows_loaded,
                "rows_quarantined": quarantined,
                "dagster/row_count": load.rows_loaded,
                "files": sum(len(p.files) for p in load.loaded.values()),
                "days_loaded": len(load.loaded),
                "days_kept_without_files": len(load.kept),
                "days_blocked": MetadataValue.json({str(d): p.blocking for d, p in sorted(load.blocked.items())}),
                "other_days_changed": MetadataValue.json({str(d): m for d, m in load.moved.items()}),
                "quarantine_reasons": MetadataValue.json(dict(sorted(reasons.items()))),
                "reject_rate": round(quarantined / read, 6) if read else 0.0,
                "landing_notices": MetadataValue.json([str(n) for n in notices]),
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
