"""Sensors: new or changed landing files start runs for their raw partitions; re-materialized
input partitions start one run for everything downstream that they left stale; runs whose process
is gone are marked failed, so they do not hold the run queue.

All are on by default (DefaultSensorStatus.RUNNING): with the daemon up (`dagster dev`), files
dropped into the landing zone reach the metrics without a click. Stop them in the UI if needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AssetsDefinition,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DailyPartitionsDefinition,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from pipelines.jobs import TRIGGER_TAG, range_tags
from pipelines.run_health import fail_dead_runs
from rekindle.landing import check_landing_zone, list_all_files
from rekindle.landing_changes import (
    already_loaded,
    changed_partitions,
    day_ranges,
    decode_cursor,
    encode_cursor,
    file_states,
    fingerprint,
    partition_of,
)
from rekindle.settings import Settings
from rekindle.sources import SOURCES
from rekindle.staleness import Change, stale_downstream

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

LANDING_SENSOR_NAME = "landing_zone_sensor"
DOWNSTREAM_SENSOR_NAME = "downstream_sensor"
DEAD_RUN_SENSOR_NAME = "dead_run_sensor"
RAW_KEYS = {source.name: AssetKey(source.table) for source in SOURCES}  # in the order of SOURCES
# Day d of the activity is computed from the raw orders and events of day d alone (day-local).
ACTIVITY = AssetKey("customer_daily_activity")
IN_PROGRESS = [
    DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]
# materialization records read per input asset and tick; a longer history takes a few ticks
PAGE = 2000


def build_landing_sensor(
    settings: Settings, job: UnresolvedAssetJobDefinition, partitions: DailyPartitionsDefinition,
    assets: Sequence[AssetsDefinition],
) -> SensorDefinition:
    activity_parents = AssetSelection.assets(ACTIVITY).upstream(depth=1, include_self=False).resolve(assets)

    @sensor(
        name=LANDING_SENSOR_NAME,
        job=job,
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description="Lists the landing zone and compares it with the last tick (path, size, modification "
        "time): each block of consecutive days with new, changed or removed files gets one run of their raw "
        "assets (and the customer activity). On its first tick, files loaded before (`rekindle run`) are not new.",
    )
    def landing_zone_sensor(context: SensorEvaluationContext) -> SensorResult:
        last_key = partitions.get_last_partition_key()
        last = date.fromisoformat(last_key) if last_key else settings.start_date - timedelta(days=1)

        def is_partition(path: str) -> bool:
            # a day that is not over yet stays out of the cursor, so its files are new once it is
            return settings.start_date <= partition_of(path)[1] <= last

        # a failed mount fails the tick (red in the UI) instead of looking like deleted files
        check_landing_zone(settings.landing_dir)
        files = [f for f in list_all_files(settings.landing_dir) if is_partition(f.relative_path)]
        current = file_states(files)
        previous = decode_cursor(context.cursor)
        if previous is None:
            previous = already_loaded(current, _loaded_at(context.instance))
        changed = changed_partitions(current, {p: s for p, s in previous.items() if is_partition(p)})
        # a day left without data files keeps its rows (SPEC 1.1): pruning starts no run
        delivered = {partition_of(f.relative_path) for f in files if f.is_data}
        changed = {part: paths for part, paths in changed.items() if part in delivered}
        cursor = encode_cursor(current)
        if not changed:
            return SensorResult(
                skip_reason=SkipReason(f"No new or changed files among {len(current)} in {settings.landing_dir}"),
                cursor=cursor,
            )
        requests = []
        for start, end in day_ranges(day for _, day in changed):
            block = {part: paths for part, paths in changed.items() if start <= part[1] <= end}
            sources = {source for source, _ in block}
            selection = [key for s, key in RAW_KEYS.items() if s in sources]
            if {RAW_KEYS[s] for s in sources} & activity_parents:
                selection.append(ACTIVITY)
            # same files in the same state, same key: a repeated tick cannot start the work twice
            files = fingerprint(current, [path for paths in block.values() for path in paths])
            days = str(start) if start == end else f"{start}..{end}"
            requests.append(_days_request(f"landing:{days}:{files}", selection, start, end, trigger="landing"))
        return SensorResult(run_requests=requests, cursor=cursor)

    return landing_zone_sensor


def _loaded_at(instance: DagsterInstance) -> dict[tuple[str, date], float]:
    """When each raw partition was last loaded: the start of the run that last materialized it.
    A file modified while that run was going counts as not loaded, to be safe."""
    loaded: dict[tuple[str, date], float] = {}
    for source, key in RAW_KEYS.items():
        latest = instance.get_latest_storage_id_by_partition(key, DagsterEventType.ASSET_MATERIALIZATION)
        if not latest:
            continue
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, storage_ids=list(latest.values())), limit=len(latest)
        ).records
        run_ids = sorted({record.run_id for record in records})
        started = {r.dagster_run.run_id: r.start_time for r in instance.get_run_records(RunsFilter(run_ids=run_ids))}
        for record in records:
            loaded[(source, date.fromisoformat(record.partition_key))] = started.get(record.run_id) or record.timestamp
    return loaded


def build_downstream_sensor(job: UnresolvedAssetJobDefinition, assets: Sequence[AssetsDefinition]) -> SensorDefinition:
    """Re-materialized input partitions (raw assets, customer activity) -> one run of every asset
    downstream that they left stale, for [earliest changed day, latest day]: see rekindle.staleness
    for why a changed day moves every later day of every metric."""
    inputs = {*RAW_KEYS.values(), ACTIVITY}
    descendants = {key: AssetSelection.assets(key).downstream(include_self=False).resolve(assets) for key in inputs}
    dated = {key for definition in assets if definition.partitions_def for key in definition.keys}

    @sensor(
        name=DOWNSTREAM_SENSOR_NAME,
        job=job,
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description="When raw or activity partitions are re-materialized by a run that did not rebuild "
        "everything downstream (a landing-zone run, an ad-hoc materialization), runs every dated metric from "
        "the earliest changed day through the latest day, and every snapshot, in one run.",
    )
    def downstream_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        instance = context.instance
        # let a burst of landing runs finish first: one downstream run instead of one per file
        landing = instance.get_run_records(RunsFilter(tags={TRIGGER_TAG: "landing"}, statuses=IN_PROGRESS), limit=1)
        if landing:
            return SkipReason(f"Waiting for landing-zone run {landing[0].dagster_run.run_id} to finish")

        records, bounds = [], []
        for key in inputs:
            result = instance.fetch_materializations(
                AssetRecordsFilter(asset_key=key, after_storage_id=int(context.cursor or 0)), limit=PAGE, ascending=True
            )
            records += result.records
            if result.has_more:  # this asset's records are complete only up to here
                bounds.append(result.records[-1].storage_id)
        if not records:
            return SkipReason("No input partition materialized since the last tick")
        # a run still going may yet rebuild what is downstream of it: decide once it is over
        run_ids = sorted({record.run_id for record in records})
        runs = {r.dagster_run.run_id: r.dagster_run for r in instance.get_run_records(RunsFilter(run_ids=run_ids))}
        going = sorted(
            (r for r in records if r.run_id in runs and not runs[r.run_id].is_finished), key=lambda r: r.storage_id
        )
        if going:
            bounds.append(going[0].storage_id - 1)
        bound = min(bounds, default=float("inf"))
        batch = sorted((r for r in records if r.storage_id <= bound), key=lambda r: r.storage_id)
        if not batch:
            return SkipReason(f"Waiting for run {going[0].run_id} to finish")

        touched = set().union(*(descendants[record.asset_key] for record in batch))
        work = stale_downstream(
            (Change(r.asset_key, date.fromisoformat(r.partition_key), r.storage_id) for r in batch),
            descendants,
            day_local={ACTIVITY},
            latest_by_day={key: _latest_by_day(instance, key) for key in touched & dated},
            latest_unpartitioned={key: _latest_storage_id(instance, key) for key in touched - dated},
        )
        cursor = str(batch[-1].storage_id)
        if not work.assets:
            return SensorResult(
                skip_reason=SkipReason(f"{len(batch)} input partition(s) materialized; nothing downstream is stale"),
                cursor=cursor,
            )
        selection = sorted(work.assets, key=lambda key: key.to_user_string())
        run_key = f"downstream:{batch[0].storage_id}-{batch[-1].storage_id}"
        if work.start is None:
            request = RunRequest(run_key=run_key, asset_selection=selection, tags={TRIGGER_TAG: "downstream"})
        else:
            request = _days_request(run_key, selection, work.start, work.end, trigger="downstream")
        return SensorResult(run_requests=[request], cursor=cursor)

    return downstream_sensor


def build_dead_run_sensor() -> SensorDefinition:
    """Runs of `rekindle run` execute in that command's process, out of reach of Dagster's run
    monitoring: this sensor is what notices, in the daemon, that such a process was killed."""

    @sensor(
        name=DEAD_RUN_SENSOR_NAME,
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description="Marks failed every unfinished run whose process on this host is gone (a `rekindle run` "
        "killed or crashed), so that it no longer holds the run queue's DuckDB slot. Starts no runs.",
    )
    def dead_run_sensor(context: SensorEvaluationContext) -> SkipReason:
        dead = fail_dead_runs(context.instance, reaper=DEAD_RUN_SENSOR_NAME)
        for run in dead:
            context.log.warning(str(run))
        if not dead:
            return SkipReason("Every unfinished run's process is alive")
        return SkipReason("; ".join(str(run) for run in dead))

    return dead_run_sensor


def _latest_by_day(instance: DagsterInstance, key: AssetKey) -> dict[date, int]:
    latest = instance.get_latest_storage_id_by_partition(key, DagsterEventType.ASSET_MATERIALIZATION)
    return {date.fromisoformat(day): storage_id for day, storage_id in latest.items()}


def _latest_storage_id(instance: DagsterInstance, key: AssetKey) -> int | None:
    records = instance.fetch_materializations(key, limit=1).records
    return records[0].storage_id if records else None


def _days_request(run_key: str, selection: list[AssetKey], start: date, end: date, trigger: str) -> RunRequest:
    """One run over the days [start, end]: a plain partition for one day, a range otherwise."""
    if start == end:
        return RunRequest(run_key=run_key, asset_selection=selection, partition_key=start.isoformat(),
                          tags={TRIGGER_TAG: trigger})
    return RunRequest(run_key=run_key, asset_selection=selection, tags={TRIGGER_TAG: trigger, **range_tags(start, end)})
