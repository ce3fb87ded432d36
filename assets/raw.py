"""Raw layer: each landing-zone source, validated row by row, loaded per daily partition.
Accepted rows go to raw_<source>, rejected rows to quarantine with a reason; both are
replaced for the partition in one transaction, so re-delivered files and re-runs are safe.
The rules of SPEC 1.1 (kept, blocked and loaded days; ids across days) are in rekindle.raw_load.
"""


from collections import Counter
from datetime import date

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

from assets.checks import RawChecks, raw_check_specs
from assets.partitions import days_between, partition_dates, range_metadata, record_partition_metadata
from assets.policies import warehouse_asset
from rekindle.headlines import ROW_COUNT, RawDay, raw_day_counts
from rekindle.landing import LandingZoneError, check_landing_zone, landing_notices
from rekindle.raw_load import DUPLICATE_OTHER_DAY, RawLoad, load_days
from rekindle.settings import Settings
from rekindle.sources import SOURCES
from rekindle.sources import source as landing_source
from resources.warehouse import WarehouseResource


def build_raw_asset(source: str, settings: Settings, partitions: DailyPartitionsDefinition) -> AssetsDefinition:
    landing = landing_source(source)
    table = landing.table

    @warehouse_asset(
        settings,
        name=table,
        group_name="raw",
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        description=landing.description,
        kinds={"pandas", settings.warehouse_kind},
        tags={"layer": "raw"},
        check_specs=raw_check_specs(table),
    )
    def raw_asset(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        start, end = partition_dates(context)
        try:
            check_landing_zone(settings.landing_dir)
        except LandingZoneError as error:  # a failed mount must never load as "no files"
            raise Failure(description=str(error), allow_retries=False) from None
        checks = RawChecks(source=source, table=table, schema=warehouse.schema_name, currency=settings.currency,
                           passive_event_types=settings.passive_event_types)
        with warehouse.begin() as conn:  # the whole range in one transaction: all of it, or none
            # a chunk of days at a time, each validated as loaded: memory holds a chunk, not the range
            load = load_days(conn, warehouse, settings, source, days_between(start, end), checks.validate_chunk)
            # what each day now holds, counted in the warehouse (days of the run and days it changed)
            held = raw_day_counts(conn, warehouse.schema_name, source, table, start, end, extra_days=load.moved)
        if load.loaded:  # one line for the run: a log event per day costs a backfill seconds; each day's
            # own numbers are on its partition's metadata
            days = sorted(load.loaded)
            context.log.info(
                f"{table} {days[0]}..{days[-1]}: {len(days)} day(s) loaded from "
                f"{sum(len(p.files) for p in load.loaded.values())} file(s): read {load.rows_read}, "
                f"loaded {load.rows_loaded}, quarantined {load.rows_quarantined}"
            )
        for day, part in load.blocked.items():
            context.log.error(f"{table} {day}: not loaded, kept as it was: {'; '.join(part.blocking)}")
        if load.kept:
            context.log.info(f"{table}: {len(load.kept)} day(s) without landing files kept as they were")
        per_day = {day: _day_metadata(day, held[day], load) for day in held}
        for day, (demoted, restored) in load.moved.items():
            moved = {"rows_moved_to_quarantine": demoted, "rows_restored_from_quarantine": restored}
            if start <= day <= end:  # a kept or blocked day of this run: its one materialization says so
                per_day[day].update(moved)
                continue
            # another day's rows changed: say so on that partition, so everything downstream follows
            context.log_event(AssetMaterialization(
                asset_key=context.asset_key, partition=day.isoformat(),
                description=f"ids also delivered on another day ({DUPLICATE_OTHER_DAY})",
                metadata={**per_day.pop(day), **moved},
            ))
        notices = landing_notices(settings.landing_dir, source)
        checks = checks.results(
            warehouse,
            days=[(day, p.rows_read, p.quarantined) for day, p in sorted(load.loaded.items())],
            blocked=[(day, p.blocking) for day, p in sorted(load.blocked.items())],
            notices=[str(n) for n in notices],
            first_day=start,
            last_day=end,
            max_reject_rate=settings.max_reject_rate,
            docs_dir=settings.quality_docs_dir,
        )
        for check in checks:
            if not check.passed:
                # blocking failures say what failed where; warnings are detailed in the check's metadata
                log = context.log.error if check.severity == AssetCheckSeverity.ERROR else context.log.info
                log(f"{table} check {check.check_name} failed:\n{check.description}")
        reasons = Counter()
        for day in load.loaded:
            reasons.update(held[day].reasons)
        totals = {
            "days_loaded": len(load.loaded),
            "days_kept_without_files": len(load.kept),
            "days_blocked": {str(d): p.blocking for d, p in sorted(load.blocked.items())},
            "rows_read": load.rows_read,
            "rows_loaded": sum(held[day].rows_loaded for day in load.loaded),
            "rows_quarantined": sum(held[day].rows_quarantined for day in load.loaded),
            "files": sum(len(p.files) for p in load.loaded.values()),
            "quarantine_reasons": dict(sorted(reasons.items())),
            "other_days_changed": {str(d): m for d, m in load.moved.items()},
        }
        # each day its own rows read, loaded and quarantined; the loaded days' totals as `run_range`
        run = {**range_metadata(start, end, **totals), "landing_notices": MetadataValue.json([str(n) for n in notices])}
        record_partition_metadata(context, per_day, run)
        return MaterializeResult(check_results=checks)

    return raw_asset


def _day_metadata(day: date, held: RawDay, load: RawLoad) -> dict:
    """One raw partition's numbers: what the warehouse holds for the day after this run, and
    for a day loaded from its files, the rows read from them (= loaded + quarantined)."""
    part = load.loaded.get(day) or load.blocked.get(day)
    if day in load.loaded:
        status = f"loaded from {len(part.files)} file(s)"
    elif day in load.blocked:
        status = f"blocked, rows kept as they were: {'; '.join(part.blocking)}"
    elif day in load.kept:
        status = "kept: no landing files, rows as they were"
    else:
        status = "changed by another day's load (ids delivered on two days)"
    stored = held.rows_loaded + held.rows_quarantined
    return {
        ROW_COUNT: held.rows_loaded,
        **({"rows_read": part.rows_read} if day in load.loaded else {}),
        "rows_loaded": held.rows_loaded,
        "rows_quarantined": held.rows_quarantined,
        "reject_rate": round(held.rows_quarantined / stored, 6) if stored else 0.0,
        **({"files": len(part.files)} if part else {}),
        "day_status": status,
        "quarantine_reasons": MetadataValue.json(held.reasons),
    }


def build_raw_assets(settings: Settings, partitions: DailyPartitionsDefinition) -> list[AssetsDefinition]:
    return [build_raw_asset(source.name, settings, partitions) for source in SOURCES]
