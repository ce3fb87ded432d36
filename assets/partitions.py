"""The daily partitioning every dated asset shares, and helpers to read a run's date range."""

from __future__ import annotations

from datetime import date, timedelta

from dagster import AssetExecutionContext, DailyPartitionsDefinition


def daily_partitions(start_date: date) -> DailyPartitionsDefinition:
    # UTC days, the last one being yesterday: a day is only a partition once it is over.
    return DailyPartitionsDefinition(start_date=start_date.isoformat(), timezone="UTC")


def partition_dates(context: AssetExecutionContext) -> tuple[date, date]:
    """First and last day (inclusive) of the partitions this run materializes."""
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]
