"""The daily partitioning every dated asset shares, helpers to read a run's date range, and how
each partition of a multi-day run gets its own numbers."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from dagster import AssetExecutionContext, DailyPartitionsDefinition, MetadataValue


def daily_partitions(start_date: date) -> DailyPartitionsDefinition:
    # UTC days, the last one being yesterday: a day is only a partition once it is over.
    return DailyPartitionsDefinition(start_date=start_date.isoformat(), timezone="UTC")


def partition_dates(context: AssetExecutionContext) -> tuple[date, date]:
    """First and last day (inclusive) of the partitions this run materializes."""
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def record_partition_metadata(
    context: AssetExecutionContext, per_day: Mapping[date, Mapping[str, Any]], run: Mapping[str, Any]
) -> None:
    """Give each day of the run its own metadata: `per_day[day]`, then `run` (what the run as a
    whole did, the same on every day).

    A step over a range of partitions (single-run backfill) records one materialization per
    partition. Dagster 1.13 builds each from the step's MaterializeResult metadata, which every
    partition gets alike, overlaid with what `context.add_asset_metadata(..., partition_key=day)`
    added for that partition (dagster/_core/execution/plan/execute_step.py,
    _get_output_asset_events). So the step returns no metadata of its own and every partition
    gets its numbers here: one event per partition, no extra materializations, and the Plots tab
    draws them by partition (it reads each partition's latest materialization, not observations).
    """
    for day, metadata in per_day.items():
        context.add_asset_metadata({**metadata, **run}, partition_key=day.isoformat())


def range_metadata(start: date, end: date, **totals: Any) -> dict[str, MetadataValue]:
    """What the run did over its whole range, as one JSON entry named `run_range`, so nobody
    takes it for the day's numbers (and the Plots tab, which draws numbers only, leaves it out)."""
    days = (end - start).days + 1
    return {"run_range": MetadataValue.json({"first_day": str(start), "last_day": str(end), "days": days, **totals})}
