"""Jobs: the whole graph for a range of days (what the CLI, the schedule and backfills run)."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

DAILY_JOB_NAME = "rekindle_daily"

rekindle_daily_job = define_asset_job(
    DAILY_JOB_NAME,
    selection=AssetSelection.all(),
    description="Landing zone -> raw (validated) -> core activity -> daily metrics, for a range of days.",
)
