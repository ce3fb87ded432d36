"""The code location: `dagster dev -w workspace.yaml` loads `defs` from here."""

from __future__ import annotations

import os
import warnings

from dagster import BetaWarning, Definitions, EnvVar, in_process_executor, multi_or_in_process_executor

from assets.alerts import build_alert_checks
from assets.campaigns import build_campaign_assets
from assets.core import build_core_assets
from assets.metrics import build_metric_assets
from assets.partitions import daily_partitions
from assets.quarantine import build_quarantine_asset
from assets.raw import build_raw_assets
from assets.report import build_report_assets
from assets.segments import build_segment_assets
from pipelines.jobs import build_daily_job
from pipelines.progress import progress_logger
from pipelines.schedules import build_daily_schedule
from pipelines.sensors import build_dead_run_sensor, build_downstream_sensor, build_landing_sensor
from rekindle.settings import WAREHOUSE_URL_VARIABLE, Settings, normalize_warehouse_url
from resources.warehouse import WarehouseResource


# Single-run backfills (BackfillPolicy) are a deliberate design choice, still labelled beta
# in Dagster 1.13; the warning would repeat once per asset at every code-location load.
warnings.filterwarnings("ignore", category=BetaWarning)


def warehouse_url_config(settings: Settings) -> str | EnvVar:
    """The warehouse URL as resource config. Dagster shows resource config in the UI and stores it
    with every run, so a URL read from the environment (it may hold a password) is passed as
    EnvVar: Dagster keeps the variable's name and reads the value only when a run starts."""
    from_environment = os.environ.get(WAREHOUSE_URL_VARIABLE, "")
    if from_environment.strip() and normalize_warehouse_url(from_environment) == settings.warehouse_url:
        return EnvVar(WAREHOUSE_URL_VARIABLE)
    return settings.warehouse_url


def build_definitions(settings: Settings) -> Definitions:
    partitions = daily_partitions(settings.start_date)
    assets = [
        *build_raw_assets(settings, partitions),
        build_quarantine_asset(settings, partitions),
        *build_core_assets(settings, partitions),
        *build_metric_assets(settings, partitions),
        *build_segment_assets(settings, partitions),
        *build_campaign_assets(settings),
        *build_report_assets(settings),
    ]
    daily_job = build_daily_job(settings)
    return Definitions(
        assets=assets,
        asset_checks=build_alert_checks(settings),  # metric alerts (WARN), run after their assets
        jobs=[daily_job],
        schedules=[build_daily_schedule(settings, daily_job)],
        sensors=[
            build_landing_sensor(settings, daily_job, partitions, assets),
            build_downstream_sensor(daily_job, assets),
            build_dead_run_sensor(),
        ],
        resources={"warehouse": WarehouseResource(url=warehouse_url_config(settings), schema_name=settings.schema)},
        loggers={"rekindle_progress": progress_logger},
        # DuckDB takes one writing process at a time: steps of a run go one after another. On
        # PostgreSQL steps run in their own processes, unless the run config asks for in_process
        # (`rekindle run` does, see pipelines/submission.py).
        executor=in_process_executor if settings.is_duckdb else multi_or_in_process_executor,
    )


defs = build_definitions(Settings.from_env())
