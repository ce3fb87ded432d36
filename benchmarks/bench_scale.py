"""Issue 11: the full year and the daily run at scale, side by side with the SQL and pandas baselines.

For each scale (S: 200,000 customers, ~4 M events, ~0.4 M orders; M: five times that) over
366 days of landing files (benchmarks/scale_data.py):

- full year: `rekindle run` of the first 365 days into an empty DuckDB warehouse (and at S into
  an empty PostgreSQL schema): wall time, peak RSS, rows per second, time per asset;
- daily run: then `rekindle run` of day 366 alone, on top of those 365 days, and on top of a
  warehouse holding only the 90 days before it;
- baselines over the same 365 days of files: hand-written DuckDB SQL (the floor) and a pandas
  day loop (what teams write first).

Every measured command runs in its own process (`python -m benchmarks.measure`), so peak RSS is
that command's alone (the largest process it started).

    python -m benchmarks.bench_scale [--scales S,M] [--no-postgres] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from benchmarks.scale_data import SCALES, write_scale_zone

REPO = Path(__file__).resolve().parent.parent  # `-m benchmarks...` must import from any working folder
POSTGRES_URL = os.environ.get("REKINDLE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# the pandas loop recomputes history every day: at M it samples days and extrapolates
PANDAS_EVERY_DAYS = {"S": 30, "M": 73}


def measure(command: list[str], env: dict[str, str], cwd: Path) -> dict:
    """Run `command` in a fresh measuring process: wall seconds, peak RSS (MiB), its output."""
    path = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    done = subprocess.run([sys.executable, "-m", "benchmarks.measure", "--", *command],
                          env={**env, "PYTHONPATH": path}, cwd=cwd, capture_output=True, text=True)
    *output, last = (done.stdout.rstrip().splitlines() or [""])
    try:
        result = json.loads(last)
    except json.JSONDecodeError:
        sys.exit(f"{' '.join(command)} did not finish:\n{done.stdout}\n{done.stderr}")
    if result["returncode"] != 0:
        sys.exit(f"{' '.join(command)} failed ({result['returncode']}):\n" + "\n".join(output) + done.stderr)
    result["output"] = "\n".join(output)
    return result


def step_seconds(output: str) -> dict[str, float]:
    """`✓ raw_orders (10.2s)` lines of `rekindle run`, summed per asset."""
    seconds: dict[str, float] = {}
    for name, value in re.findall(r"✓ (\S+) \(([\d.]+)s\)", output):
        seconds[name] = seconds.get(name, 0.0) + float(value)
    return seconds


def gx_seconds(dagster_home: Path, output: str) -> float:
    """Seconds the run's checks spent in Great Expectations, as each check recorded it in its
    metadata (great_expectations_seconds: validations, Data Docs pages, GX's import once)."""
    from dagster import DagsterEventType, DagsterInstance

    run_id = re.search(r"^Run (\S+): ", output, re.M)[1]
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        records = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    seconds = [r.dagster_event.asset_check_evaluation_data.metadata.get("great_expectations_seconds")
               for r in records]
    return sum(value.value for value in seconds if value is not None)


def rekindle_env(root: Path, zone, warehouse_url: str, schema: str) -> dict[str, str]:
    return {
        **os.environ,
        "GX_ANALYTICS_ENABLED": "False",
        "REKINDLE_LANDING_DIR": str(zone.root),
        "REKINDLE_WAREHOUSE_URL": warehouse_url,
        "REKINDLE_SCHEMA": schema,
        "REKINDLE_START_DATE": zone.start_date.isoformat(),
        "REKINDLE_QUALITY_DOCS_DIR": str(root / "docs"),
        "REKINDLE_REPORT_DIR": str(root / "report"),
        "DAGSTER_HOME": str(root / "dagster_home"),
    }


def rekindle_run(root: Path, zone, start, end, warehouse_url: str, schema: str = "analytics") -> dict:
    root.mkdir(parents=True, exist_ok=True)
    env = rekindle_env(root, zone, warehouse_url, schema)
    return measure(["-m", "pipelines.cli", "run", "--start", start.isoformat(), "--end", end.isoformat()], env, root)


def bench_scale(name: str, work: Path, postgres: bool) -> list[str]:
    customers = SCALES[name]
    zone = write_scale_zone(work / f"landing_{name}", customers, days=366)
    rows = sum(zone.rows.values())
    year_start, year_end = zone.start_date, zone.end_date - timedelta(days=1)
    last_day = zone.end_date
    lines = [f"scale {name}: {customers:,} customers, " + ", ".join(f"{s} {n:,}" for s, n in zone.rows.items())
             + f" over {year_start}..{last_day} (366 days of Parquet files)"]

    def row(label: str, result: dict, rows_done: int | None = None) -> None:
        rate = f"{rows_done / result['seconds']:>12,.0f} rows/s" if rows_done else " " * 19
        lines.append(f"  {label:<44} {result['seconds']:>8.1f} s  peak RSS {result['peak_rss_mib']:>7,.0f} MiB {rate}")

    duck = work / name / "duckdb"
    year = rekindle_run(duck, zone, year_start, year_end, f"duckdb:///{duck}/warehouse.duckdb")
    row("rekindle run, 365 days, DuckDB", year, rows)
    day_365 = rekindle_run(duck, zone, last_day, last_day, f"duckdb:///{duck}/warehouse.duckdb")
    row("rekindle run, day 366 on 365 days", day_365)
    short = work / name / "duckdb_90"
    rekindle_run(short, zone, last_day - timedelta(days=90), last_day - timedelta(days=1),
                 f"duckdb:///{short}/warehouse.duckdb")
    day_90 = rekindle_run(short, zone, last_day, last_day, f"duckdb:///{short}/warehouse.duckdb")
    row("rekindle run, day 366 on 90 days", day_90)

    env = {**os.environ, "GX_ANALYTICS_ENABLED": "False"}
    sql = measure(["-m", "benchmarks.baselines", "sql", str(zone.root), str(year_start), str(year_end)], env, work)
    row("baseline: hand-written DuckDB SQL, 365 days", sql, rows)
    every = PANDAS_EVERY_DAYS[name]
    pandas = measure(["-m", "benchmarks.baselines", "pandas", str(zone.root), str(year_start), str(year_end),
                      "--every", str(every)], env, work)
    pandas_result = json.loads(pandas["output"].splitlines()[-1])
    pandas["seconds"] = pandas_result["seconds"]
    row(f"baseline: pandas day loop, 365 days{' (extrapolated)' if every > 1 else ''}", pandas, rows)
    if every > 1:
        lines.append(f"    (pandas measured {pandas_result['measured_seconds']:.0f} s for "
                     f"{pandas_result['days_computed']} of {pandas_result['days']} days)")

    if postgres:
        schema = f"bench_{name.lower()}_{os.getpid()}"
        pg = rekindle_run(work / name / "postgres", zone, year_start, year_end, POSTGRES_URL, schema)
        row("rekindle run, 365 days, PostgreSQL", pg, rows)
        _drop_schema(schema)

    lines.append(f"  ratios: rekindle / SQL {year['seconds'] / sql['seconds']:.1f}x, "
                 f"pandas / rekindle {pandas['seconds'] / year['seconds']:.1f}x, "
                 f"day on 365 / day on 90 {day_365['seconds'] / day_90['seconds']:.2f}x")
    steps = step_seconds(year["output"])
    lines.append("  full year by asset: " + ", ".join(
        f"{asset} {seconds:.1f}s" for asset, seconds in sorted(steps.items(), key=lambda kv: -kv[1])))
    lines.append(f"    outside the steps: {year['seconds'] - sum(steps.values()):.1f} s")
    for label, result in (("full year", year), ("daily run", day_365)):
        gx = gx_seconds(duck / "dagster_home", result["output"])
        lines.append(f"  Great Expectations in the {label}: {gx:.1f} s of {result['seconds']:.1f} s "
                     f"({gx / result['seconds']:.1%})")
    steps = step_seconds(day_365["output"])
    lines.append("  daily run by asset: " + ", ".join(
        f"{asset} {seconds:.1f}s" for asset, seconds in sorted(steps.items(), key=lambda kv: -kv[1])))
    lines.append(f"    outside the steps: {day_365['seconds'] - sum(steps.values()):.1f} s")
    return lines


def _drop_schema(schema: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="S,M", help="comma-separated, of S and M")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL run at scale S")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for name in args.scales.split(","):
            for line in bench_scale(name.strip(), work, postgres=name.strip() == "S" and not args.no_postgres):
                print(line, flush=True)


if __name__ == "__main__":
    main()
