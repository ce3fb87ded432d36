"""The daily schedule: yesterday's partition of every asset, raw through metrics, shortly after
midnight (REKINDLE_SCHEDULE_CRON in REKINDLE_SCHEDULE_TIMEZONE, default 00:30 UTC).

On by default (DefaultScheduleStatus.RUNNING): a scheduled pipeline should run once the daemon does.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from pipelines.jobs import TRIGGER_TAG
from rekindle.settings import Settings

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

SCHEDULE_NAME = "rekindle_daily_schedule"


def latest_complete_day(moment: datetime) -> date:
    """The last UTC day that is over at `moment`, whatever the schedule's time zone: partitions are UTC days."""
    return moment.astimezone(timezone.utc).date() - timedelta(days=1)


def build_daily_schedule(settings: Settings, job: UnresolvedAssetJobDefinition) -> ScheduleDefinition:
    @schedule(
        name=SCHEDULE_NAME,
        job=job,
        cron_schedule=settings.schedule_cron,
        execution_timezone=settings.schedule_timezone,
        default_status=DefaultScheduleStatus.RUNNING,
        description="Materializes yesterday's (UTC) partition of the raw assets and everything downstream.",
    )
    def rekindle_daily_schedule(context: ScheduleEvaluationContext) -> RunRequest | SkipReason:
        day = latest_complete_day(context.scheduled_execution_time or datetime.now(timezone.utc))
        if day < settings.start_date:
            return SkipReason(f"{day} is before REKINDLE_START_DATE {settings.start_date}")
        return RunRequest(run_key=f"schedule:{day}", partition_key=day.isoformat(), tags={TRIGGER_TAG: "schedule"})

    return rekindle_daily_schedule
