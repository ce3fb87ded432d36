"""`rekindle status`: where things stand, without running anything.

The latest metrics (the table `rekindle run` ends with), the latest materialized day of every
asset, the checks whose latest evaluation failed, and the quarantined rows of the last 7 days by
source and reason. It reads the Dagster instance in DAGSTER_HOME and the warehouse, read-only:
DuckDB opened with access_mode=read_only, PostgreSQL in read-only transactions.

DuckDB lets no one open a file that a process is writing, not even to read: while a run writes the
warehouse, the metrics and the quarantine cannot be shown, and the command says which process holds
the file. Exit status: 0; 1 when the warehouse cannot be read right now (locked or unreachable);
2 when there is no instance or no warehouse yet.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

from rekindle.settings import Settings

QUARANTINE_DAYS = 7
_HINT = "run `rekindle run` (or `make run`) first"


def command_status(args: argparse.Namespace, settings: Settings) -> int:
    from pipelines.cli import _open_instance

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(".dagster_home").resolve())))
    if not (home / "dagster.yaml").is_file():
        print(f"rekindle: no Dagster instance in {home} (DAGSTER_HOME): {_HINT}", file=sys.stderr)
        return 2
    missing = _missing_duckdb_file(settings)
    if missing is not None:
        print(f"rekindle: no warehouse yet: {missing} does not exist; {_HINT}", file=sys.stderr)
        return 2
    warehouse = read_only_warehouse(settings)
    try:
        with _open_instance(home) as instance:
            if not instance.get_runs_count():
                print(f"rekindle: no runs on the Dagster instance in {home} yet: {_HINT}", file=sys.stderr)
                return 2
            print(f"Rekindle status: instance {home}, warehouse {settings.warehouse_url_for_display} "
                  f"(schema {settings.schema})")
            unreadable = warehouse_problem(warehouse, instance)
            if unreadable is None and not _has_tables(warehouse):
                print(f"rekindle: no Rekindle tables in schema {settings.schema} yet: {_HINT}", file=sys.stderr)
                return 2
            if unreadable is None:
                _print_metrics(warehouse, settings)
            else:
                print(f"\nLatest metrics: not shown. {unreadable}")
            from pipelines.definitions import build_definitions

            asset_graph = build_definitions(settings).resolve_asset_graph()
            print_latest_run(instance)
            print_assets(instance, asset_graph, settings)
            print_failed_checks(instance, asset_graph)
            if unreadable is None:
                print_quarantine(warehouse, _yesterday())
            else:
                print("\nQuarantine: not shown (see above).")
    finally:
        warehouse.dispose()
    return 0 if unreadable is None else 1


# --- warehouse -----------------------------------------------------------------------------


def read_only_warehouse(settings: Settings):
    """The warehouse resource on a read-only connection that fails at once on a locked file."""
    from resources.warehouse import WarehouseResource

    url = sa.engine.make_url(settings.warehouse_url)
    if settings.is_duckdb:
        url = url.update_query_dict({"access_mode": "read_only"})
    else:  # every transaction of the session is read-only: a typo in a query cannot write
        url = url.update_query_dict({"options": "-c default_transaction_read_only=on"})
    return WarehouseResource(
        url=url.render_as_string(hide_password=False), schema_name=settings.schema, lock_timeout_seconds=0
    )


def _missing_duckdb_file(settings: Settings) -> Path | None:
    if not settings.is_duckdb:
        return None
    path = Path(sa.engine.make_url(settings.warehouse_url).database or "")
    return None if path.is_file() else path


def warehouse_problem(warehouse, instance) -> str | None:
    """None when the warehouse answers, otherwise why it cannot be read now."""
    from resources.warehouse import is_duckdb_lock_conflict

    try:
        warehouse.scalar("SELECT 1")
        return None
    except Exception as error:
        cause = error.__cause__ or getattr(error, "orig", None) or error
        if is_duckdb_lock_conflict(cause):
            return (
                f"The DuckDB warehouse is open for writing by {_lock_holder(str(cause), instance)}; DuckDB lets "
                "no other process read it meanwhile. Try again when that run has finished."
            )
        return f"The warehouse cannot be read: {str(cause).strip().splitlines()[0]}"


def _lock_holder(message: str, instance) -> str:
    """The process named in DuckDB's lock error, and the unfinished run it executes, if one of ours."""
    from dagster import RunsFilter

    from pipelines.run_health import PID_TAG, UNFINISHED

    match = re.search(r"PID (\d+)", message)
    if match is None:
        return "another process"
    pid = match.group(1)
    runs = instance.get_run_records(RunsFilter(statuses=UNFINISHED, tags={PID_TAG: pid}), limit=1)
    if runs:
        return f"process {pid}, which executes run {runs[0].dagster_run.run_id} ({runs[0].dagster_run.status.value})"
    return f"process {pid} (a run or another program)"


def _has_tables(warehouse) -> bool:
    return sa.inspect(warehouse.engine).has_table("lifecycle_daily", schema=warehouse.schema_name)


def _print_metrics(warehouse, settings: Settings) -> None:
    from pipelines.summary import print_summary

    s = warehouse.qualified
    as_of = warehouse.scalar(f"SELECT MAX(as_of_date) FROM {s('lifecycle_daily')}")
    if as_of is None:
        print("\nLatest metrics: none yet (lifecycle_daily is empty).")
        return
    print_summary(warehouse, settings, as_of if isinstance(as_of, date) else date.fromisoformat(str(as_of)))


def print_quarantine(warehouse, end: date, days: int = QUARANTINE_DAYS) -> None:
    start = end - timedelta(days=days - 1)
    frame = warehouse.read_frame(
        f"""SELECT source, reason, COUNT(*) AS quarantined_rows
            FROM {warehouse.qualified('quarantine')}
            WHERE partition_date BETWEEN :start_date AND :end_date
            GROUP BY source, reason
            ORDER BY source, quarantined_rows DESC, reason""",
        {"start_date": start, "end_date": end},
    )
    if frame.empty:
        print(f"\nQuarantine, last {days} days ({start} .. {end}): no rows")
        return
    print(f"\nQuarantine, last {days} days ({start} .. {end}): {int(frame.quarantined_rows.sum()):,} rows")
    for source, rows in frame.groupby("source", sort=False):
        reasons = ", ".join(f"{r.reason} {int(r.quarantined_rows):,}" for r in rows.itertuples())
        print(f"  {source:<17} {int(rows.quarantined_rows.sum()):>8,}   {reasons}")


# --- instance ------------------------------------------------------------------------------


def print_latest_run(instance) -> None:
    from dagster import RunsFilter
    from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES

    [latest] = instance.get_run_records(limit=1)
    run = latest.dagster_run
    ended = f", ended {_when(latest.end_time)}" if latest.end_time else ""
    print(f"\nLatest run {run.run_id} ({run.job_name}): {run.status.value}{ended}")
    unfinished = instance.get_runs_count(RunsFilter(statuses=IN_PROGRESS_RUN_STATUSES))
    if unfinished:
        print(f"  {unfinished} run(s) queued or in progress")


def print_assets(instance, asset_graph, settings: Settings) -> None:
    """Per asset: the latest materialized day and how many of the partitions are filled (what the
    UI's partition bar shows), and when it was last materialized."""
    print(f"\nAssets: latest materialized day, days materialized of those since {settings.start_date}, "
          "last materialization")
    for key in sorted(asset_graph.materializable_asset_keys, key=lambda k: k.to_user_string()):
        latest = instance.get_latest_materialization_event(key)
        name = key.to_user_string()
        if latest is None:
            print(f"  {name:<26} never materialized")
            continue
        partitions_def = asset_graph.get(key).partitions_def
        day, filled = "-", ""
        if partitions_def is not None:
            materialized = instance.get_materialized_partitions(key)
            day = max(materialized) if materialized else "-"
            filled = f"{len(materialized)}/{len(partitions_def.get_partition_keys())}"
        print(f"  {name:<26} {day:<10} {filled:>9}   {_when(latest.timestamp)}")


def print_failed_checks(instance, asset_graph) -> None:
    """Every check whose latest completed evaluation did not pass, with one line on why."""
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

    completed = {AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED}
    failed, never = [], 0
    keys = sorted(asset_graph.asset_check_keys, key=lambda k: (k.asset_key.to_user_string(), k.name))
    for key in keys:
        history = instance.event_log_storage.get_asset_check_execution_history(key, limit=1, status=completed)
        if not history:
            never += 1
        elif history[0].status == AssetCheckExecutionRecordStatus.FAILED:
            failed.append((key, history[0]))
    evaluated = len(keys) - never
    never_note = f"; {never} never evaluated" if never else ""
    if not failed:
        print(f"\nFailed checks: none (the latest evaluation of each of {evaluated} checks passed{never_note})")
        return
    print(f"\nFailed checks: {len(failed)} of {evaluated} (latest evaluation of each{never_note})")
    for key, record in failed:
        evaluation = record.event.dagster_event.event_specific_data if record.event else None
        severity = evaluation.severity.value if evaluation is not None else "?"
        why = evaluation.description if evaluation is not None else None
        why = why or asset_graph.get_check_spec(key).description
        print(f"  ✗ {key.asset_key.to_user_string()}:{key.name} ({severity}, {_when(record.create_timestamp)}): "
              f"{one_line(why)}")


def one_line(text: str | None, limit: int = 160) -> str:
    """The first line of `text`, cut to `limit` characters."""
    lines = (text or "").strip().splitlines()
    line = lines[0].strip() if lines else "no description"
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _yesterday() -> date:
    return datetime.now(timezone.utc).date() - timedelta(days=1)
