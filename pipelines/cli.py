"""The `rekindle` command line (SPEC section 3): `rekindle run`, `rekindle status`, `rekindle export`,
`rekindle generate`."""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from rekindle.settings import Settings, SettingsError


def _yesterday() -> date:
    return datetime.now(timezone.utc).date() - timedelta(days=1)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date as YYYY-MM-DD") from None


# What a new DAGSTER_HOME gets; the same as the project's .dagster_home/dagster.yaml (a test checks).
INSTANCE_CONFIG = """\
# The local Dagster instance used by `make run`, `make ui` and `rekindle run`.
telemetry:
  enabled: false
# Runs launched by the daemon (schedule, sensors, UI) wait in the run queue. DuckDB takes one
# writing process at a time, so one run at a time may write it: a run of the rekindle_daily job
# carries the tag rekindle/warehouse=duckdb, and every asset writing DuckDB is in the pool
# duckdb_warehouse (which catches ad-hoc materializations from the UI too). PostgreSQL runs are
# tagged rekindle/warehouse=postgresql and use no pool: they run side by side.
concurrency:
  runs:
    tag_concurrency_limits:
      - key: rekindle/warehouse
        value: duckdb
        limit: 1
  pools:
    granularity: run
    default_limit: 1
# Run monitoring (the daemon, every 30 s): a run launched by the daemon that is still starting after
# 3 minutes is marked failed, one being canceled after 3 minutes is marked canceled; a run worker
# that dies is reported by its code server. Runs of `rekindle run` execute in that command's process,
# which run monitoring cannot see: they are tagged with its host and pid, and dead_run_sensor (every
# 30 s) and the next `rekindle run` mark them failed once that process is gone (pipelines/run_health.py).
run_monitoring:
  enabled: true
  start_timeout_seconds: 180
  cancel_timeout_seconds: 180
  poll_interval_seconds: 30
"""


def _ensure_dagster_home() -> Path:
    """Runs are recorded on the persistent instance the UI reads (`make ui` uses the same one)."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(".dagster_home").resolve())))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_CONFIG)
    return home


def _open_instance(home: Path):
    """The instance in DAGSTER_HOME, its storage created under a file lock: two `rekindle run`
    started at once on a new home would both create and stamp its SQLite databases, leaving
    them unreadable (alembic: "more than one head")."""
    from dagster import DagsterInstance

    with open(home / ".instance.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return DagsterInstance.get()


def command_run(args: argparse.Namespace, settings: Settings) -> int:
    from dagster import AssetCheckSeverity, DagsterEventType

    from pipelines.jobs import DAILY_JOB_NAME, range_tags
    from pipelines.run_health import fail_dead_runs, worker_tags
    from pipelines.submission import execute_workspace_run
    from pipelines.summary import print_summary
    from rekindle.landing import (
        REQUIRED_SOURCES,
        LandingZoneError,
        check_landing_zone,
        landing_notices,
        list_partition_dates,
    )
    from resources.warehouse import WarehouseResource

    try:
        check_landing_zone(settings.landing_dir)
    except LandingZoneError as error:  # a failed mount: loading it would look like days without files
        print(f"rekindle: {error}; nothing was run (for sample data: `rekindle generate --out {settings.landing_dir}`)",
              file=sys.stderr)
        return 2
    yesterday = _yesterday()
    start, end = args.start, args.end or yesterday
    if start is None:
        landed = [d for d in list_partition_dates(settings.landing_dir) if settings.start_date <= d <= end]
        if not landed:
            print(
                f"rekindle: no landing data between {settings.start_date} and {end} under {settings.landing_dir}/"
                f"({'/, '.join(REQUIRED_SOURCES)}/dt=YYYY-MM-DD/); run `rekindle generate` for sample data "
                "or pass --start",
                file=sys.stderr,
            )
            return 2
        start = landed[0]
    if start < settings.start_date:
        print(f"rekindle: --start {start} is before REKINDLE_START_DATE {settings.start_date}", file=sys.stderr)
        return 2
    if end > yesterday:
        print(f"rekindle: --end {end} is not over yet; the latest complete UTC day is {yesterday}", file=sys.stderr)
        return 2
    if start > end:
        print(f"rekindle: --start {start} is after --end {end}", file=sys.stderr)
        return 2

    _print_landing_notices(landing_notices(settings.landing_dir))
    home = _ensure_dagster_home()
    days = (end - start).days + 1
    print(
        f"Rekindle: {days} day(s) {start} .. {end} -> {settings.warehouse_url_for_display} "
        f"(schema {settings.schema}); Dagster instance {home}",
        flush=True,
    )
    with _open_instance(home) as instance:
        # a `rekindle run` killed earlier left its run STARTED, holding the run queue's DuckDB slot
        for dead in fail_dead_runs(instance, reaper="the next `rekindle run`"):
            print(dead, flush=True)
        # a run of the code location `rekindle` (timeline, re-execute in the UI), executed here
        result = execute_workspace_run(
            instance,
            DAILY_JOB_NAME,
            run_config={"loggers": {"rekindle_progress": {}}},
            tags={**range_tags(start, end), **worker_tags()},  # so a killed run can be told from a running one
        )
        failed_checks = [
            e.asset_check_evaluation_data
            for e in result.all_events
            if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
            and not e.asset_check_evaluation_data.passed
            and e.asset_check_evaluation_data.severity == AssetCheckSeverity.ERROR
        ]
    print(f"Run {result.run_id}: {'succeeded' if result.success else 'FAILED'}")
    warehouse = WarehouseResource(url=settings.warehouse_url, schema_name=settings.schema)
    try:
        print_summary(warehouse, settings, end)
    finally:
        warehouse.dispose()
    _print_report_path(result, settings)
    if failed_checks:
        names = ", ".join(f"{c.asset_key.to_user_string()}:{c.check_name}" for c in failed_checks)
        print(f"rekindle: blocking checks failed: {names}", file=sys.stderr)
    return 0 if result.success and not failed_checks else 1


def _print_report_path(result, settings: Settings) -> None:
    """Where this run's `metrics_report` wrote the HTML report (it works offline: open it in a browser)."""
    from dagster import DagsterEventType

    for event in result.all_events:
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION and event.asset_key.path == ["metrics_report"]:
            path = Path(event.step_materialization_data.materialization.metadata["path"].value)
            print(f"\nReport: {path}")
            return
    if settings.metrics_report_path.exists():
        print(f"\nReport: not updated by this run; the previous one is {settings.metrics_report_path.resolve()}")


def _print_landing_notices(notices, limit: int = 20) -> None:
    """Nothing in the landing zone is ignored silently (SPEC 1.1): name what is not loaded."""
    if not notices:
        return
    print(f"Not loaded from the landing zone ({len(notices)}; also in each raw asset's anomalies check):")
    for notice in notices[:limit]:
        print(f"  ! {notice}")
    if len(notices) > limit:
        print(f"  ! ... and {len(notices) - limit} more")


def command_generate(args: argparse.Namespace) -> int:
    """A sample landing zone (rekindle.generate), what it holds, and REKINDLE_START_DATE in --env-file."""
    from rekindle.generate import START_DATE_VARIABLE, LandingZoneExistsError, generate_landing_zone, write_start_date

    started = time.perf_counter()
    try:
        summary = generate_landing_zone(
            args.out, customers=args.customers, days=args.days, end_date=args.end, seed=args.seed,
            dirty_rate=args.dirty_rate, campaigns=not args.no_campaigns, surveys=not args.no_surveys,
            overwrite=args.overwrite,
        )
    except LandingZoneExistsError as error:
        print(f"rekindle generate: {error}", file=sys.stderr)
        return 1
    print(f"Wrote {len(summary.files)} files to {summary.root} for {summary.start_date}..{summary.end_date} "
          f"in {time.perf_counter() - started:.1f}s")
    if args.env_file is not None:
        write_start_date(args.env_file, summary.start_date)
        print(f"  {START_DATE_VARIABLE}={summary.start_date} in {args.env_file}: partitions start with the data")
        shell = os.environ.get(START_DATE_VARIABLE, "").strip()
        if shell and shell != summary.start_date.isoformat():  # `rekindle` lets it win, `dagster dev` does not
            print(f"  note: {START_DATE_VARIABLE}={shell} is set in your environment and wins over the .env "
                  "for `rekindle run`; unset it so the UI and the command line agree")
    for source, rows in summary.rows.items():
        print(f"  {source:<17}{rows:>10,} rows")
    print(f"  dirty rows{summary.dirty_rows:>17,} (at most {summary.max_partition_dirty_share:.1%} of any partition)")
    if summary.dirty_rows:
        print("    " + ", ".join(f"{kind} {n:,}" for kind, n in summary.dirty.items() if n))
    return 0


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return number


def _rate(value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0 <= rate < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be between 0 (inclusive) and 1")
    return rate


def command_export(args: argparse.Namespace, settings: Settings) -> int:
    from rekindle.export import export_inactive_customers
    from resources.warehouse import WarehouseResource

    warehouse = WarehouseResource(url=settings.warehouse_url, schema_name=settings.schema)
    try:
        with warehouse.engine.connect() as conn:
            rows = export_inactive_customers(conn, warehouse.schema_name, args.out)
    except Exception as error:  # no warehouse or no table yet: say what to do
        print(f"rekindle: cannot export from {settings.warehouse_url_for_display}: {error}; run `rekindle run` first",
              file=sys.stderr)
        return 1
    finally:
        warehouse.dispose()
    print(f"Wrote {rows:,} inactive customers to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rekindle",
        description="Daily customer reactivation, retention and value metrics from a landing zone into a SQL warehouse.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="materialize every asset for a range of daily partitions",
        description="Materialize every asset for the days [--start, --end] as one Dagster run on the instance "
        "in DAGSTER_HOME (so it shows in the UI). Default: every day with landing data, through yesterday.",
    )
    run.add_argument("--start", type=_day, help="first day, YYYY-MM-DD (default: first day with landing data)")
    run.add_argument("--end", type=_day, help="last day, YYYY-MM-DD (default: yesterday, UTC)")
    export = sub.add_parser(
        "export",
        help="export a warehouse table for use elsewhere",
        description="Export the win-back list (inactive_customers, as of the latest day) to CSV.",
    )
    export.add_argument("what", choices=["inactive-customers"], help="what to export")
    export.add_argument(
        "--out", type=Path, default=Path("data/exports/inactive_customers.csv"),
        help="CSV file to write (default: data/exports/inactive_customers.csv)",
    )
    sub.add_parser(
        "status",
        help="show the latest metrics, partitions, failed checks and quarantine, without running anything",
        description="Show the latest metrics, the latest materialized day of every asset, the checks whose latest "
        "evaluation failed and the quarantined rows of the last 7 days, from the Dagster instance in DAGSTER_HOME "
        "and the warehouse, read-only. Exit status 0; 1 when the warehouse cannot be read now (a run is writing "
        "the DuckDB file, or the server is unreachable); 2 when there is no instance or warehouse yet.",
    )
    gen = sub.add_parser(
        "generate",
        help="write a realistic synthetic landing zone",
        description="Write a realistic, seeded synthetic landing zone (orders, events, campaign touches, surveys).",
    )
    default_out = os.environ.get("REKINDLE_LANDING_DIR", "").strip() or "data/landing"
    gen.add_argument("--out", type=Path, default=Path(default_out),
                     help=f"landing zone root (default: REKINDLE_LANDING_DIR or data/landing; now {default_out})")
    gen.add_argument("--customers", type=_positive_int, default=20000, help="number of customers (default 20000)")
    gen.add_argument("--days", type=_positive_int, default=180, help="number of daily partitions (default 180)")
    gen.add_argument("--end", type=_day, default=None, help="last day, YYYY-MM-DD (default: yesterday, UTC)")
    gen.add_argument("--seed", type=int, default=7, help="random seed; the same seed writes the same files (default 7)")
    gen.add_argument("--dirty-rate", type=_rate, default=0.01,
                     help="share of deliberately bad rows, every kind the pipeline quarantines (default 0.01)")
    gen.add_argument("--no-campaigns", action="store_true", help="write no campaign_touches")
    gen.add_argument("--no-surveys", action="store_true", help="write no surveys")
    gen.add_argument("--overwrite", action="store_true", help="replace an existing landing zone at --out")
    gen.add_argument("--env-file", type=Path, default=None,
                     help="also set REKINDLE_START_DATE to the first generated day in this .env file (created "
                     "or updated, other lines kept), so the daily partitions start with the data; `make run` "
                     "passes .env, which `rekindle` and `dagster dev` read from their working directory")
    return parser


@contextmanager
def _local_env_file(path: Path = Path(".env")) -> Iterator[dict[str, str]]:
    """The variables of the working directory's .env that the environment does not set, set while
    one command runs. `dagster dev` reads the same file, so after `make run` (which has `rekindle
    generate --env-file .env` write REKINDLE_START_DATE) the command line and `make ui` agree. Unlike
    `dagster dev`, a variable already set in the environment wins. Removed again afterwards, for
    callers in the same process (tests)."""
    from dotenv import dotenv_values

    values = {}
    if path.is_file():
        values = {k: v for k, v in dotenv_values(path).items() if v is not None and k not in os.environ}
    os.environ.update(values)
    try:
        yield values
    finally:
        for key in values:
            os.environ.pop(key, None)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    args = build_parser().parse_args(argv)
    if args.command == "generate":
        return command_generate(args)
    with _local_env_file():
        try:
            settings = Settings.from_env()
        except SettingsError as error:
            print(f"rekindle: {error}", file=sys.stderr)
            return 2
        if args.command == "run":
            return command_run(args, settings)
        if args.command == "export":
            return command_export(args, settings)
        if args.command == "status":
            from pipelines.status import command_status

            return command_status(args, settings)
    return 2


if __name__ == "__main__":
    sys.exit(main())
