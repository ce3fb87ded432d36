"""Jobs: the whole graph for a range of days (what the CLI, the schedule, the sensors and backfills run)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from dagster import AssetSelection, define_asset_job
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from rekindle.settings import Settings

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

DAILY_JOB_NAME = "rekindle_daily"
# Which warehouse a run writes. The instance's run queue lets one `duckdb` run go at a time
# (.dagster_home/dagster.yaml); PostgreSQL runs go side by side.
WAREHOUSE_TAG = "rekindle/warehouse"
# What launched a run: `schedule`, `landing` (new or changed files), `downstream` (inputs re-materialized).
TRIGGER_TAG = "rekindle/trigger"


def build_daily_job(settings: Settings) -> UnresolvedAssetJobDefinition:
    return define_asset_job(
        DAILY_JOB_NAME,
        selection=AssetSelection.all(),
        tags={WAREHOUSE_TAG: settings.warehouse_dialect},
        description="Landing zone -> raw (validated) -> core activity -> daily metrics, for a range of days.",
    )


def range_tags(start: date, end: date) -> dict[str, str]:
    """Run tags that make one run materialize the days [start, end] (a single-run backfill)."""
    return {ASSET_PARTITION_RANGE_START_TAG: start.isoformat(), ASSET_PARTITION_RANGE_END_TAG: end.isoformat()}
