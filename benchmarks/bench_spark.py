"""Issue 12: the full year at scale S on Spark through Spark Connect, on `local[2]` and on a
`local-cluster` of two executors, beside DuckDB (bench_scale) on the same files.

For each master, a fresh local Spark Connect server (pipelines/spark_server.py) in its own folder:

- `rekindle run` of the 365 days into an empty Spark database: wall time, peak RSS of the
  Dagster side (the measured process) and of the Spark driver JVM (its VmHWM), time per asset;
- ingestion on Spark itself, for the choice between reading the landing zone on Spark or on the
  Dagster side (issue 12, item 3): Spark reads the same Parquet event files and writes them as
  a table partitioned by day, without any row rule. That is a floor for a Spark-side loader; the
  Dagster-side raw_events step (rules, quarantine, GX, load by Arrow) is measured in the run.

    python -m benchmarks.bench_spark [--scale S] [--keep DIR] [--masters 'local[2]' 'local-cluster[2,1,3072]']
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from benchmarks.bench_scale import rekindle_run, step_seconds
from benchmarks.scale_data import SCALES, write_scale_zone
from pipelines import spark_server

URL = f"sc://{spark_server.HOST}:{spark_server.PORT}"
MASTERS = ("local[2]", "local-cluster[2,1,3072]")


def jvm_peak_mib(state: Path) -> float | None:
    """Peak RSS (VmHWM) of the Spark Connect server's JVM, from its pid file."""
    for pid_file in state.glob("*.pid"):
        status = Path(f"/proc/{pid_file.read_text().strip()}/status")
        if status.exists():
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    return None


SPARK_INGEST = """
import sys, time
from pyspark.sql import SparkSession
spark = SparkSession.builder.remote(sys.argv[1]).create()
spark.sql("CREATE DATABASE IF NOT EXISTS bench_ingest")
spark.sql("DROP TABLE IF EXISTS bench_ingest.raw_events")
started = time.monotonic()
events = spark.read.option("basePath", sys.argv[2]).parquet(sys.argv[2] + "/dt=*")
events.withColumnRenamed("dt", "partition_date").write.partitionBy("partition_date").format("parquet") \\
    .saveAsTable("bench_ingest.raw_events")
rows = spark.table("bench_ingest.raw_events").count()
print(rows, time.monotonic() - started)
spark.sql("DROP DATABASE bench_ingest CASCADE")
"""


def bench_master(master: str, zone, work: Path) -> list[str]:
    state = work / master.replace("[", "_").replace("]", "").replace(",", "_")
    spark_server.stop(state)
    shutil.rmtree(state, ignore_errors=True)  # an empty metastore and Spark warehouse
    spark_server.start(state, master=master, driver_memory="6g")
    try:
        year_start, year_end = zone.start_date, zone.end_date - timedelta(days=1)
        rows = sum(zone.rows.values())
        year = rekindle_run(state / "run", zone, year_start, year_end, URL, schema="bench_year")
        jvm = jvm_peak_mib(state)
        lines = [f"  rekindle run, 365 days, Spark {master:<24} {year['seconds']:>8.1f} s  "
                 f"peak RSS {year['peak_rss_mib']:>7,.0f} MiB (Dagster side), "
                 f"{jvm or 0:,.0f} MiB (Spark driver JVM)  {rows / year['seconds']:>10,.0f} rows/s"]
        steps = step_seconds(year["output"])
        lines.append("    by asset: " + ", ".join(
            f"{asset} {seconds:.1f}s" for asset, seconds in sorted(steps.items(), key=lambda kv: -kv[1])))
        lines.append(f"    outside the steps: {year['seconds'] - sum(steps.values()):.1f} s")
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-c", SPARK_INGEST, URL, str(zone.root / "events")],
                              capture_output=True, text=True, check=True)
        loaded, seconds = done.stdout.split()[-2:]
        lines.append(f"    Spark-side ingestion floor: {int(loaded):,} event rows read from Parquet and written "
                     f"partitioned in {float(seconds):.1f} s ({time.monotonic() - started:.1f} s with session "
                     f"start); Dagster-side raw_events step: {steps.get('raw_events', 0):.1f} s")
        return lines
    finally:
        spark_server.stop(state)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="S", choices=sorted(SCALES))
    parser.add_argument("--masters", nargs="+", default=list(MASTERS))
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    if spark_server.is_listening():
        sys.exit(f"a Spark Connect server already listens on port {spark_server.PORT}: stop it (make spark-stop)")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        zone = write_scale_zone(work / f"landing_{args.scale}", SCALES[args.scale], days=366)
        print(f"scale {args.scale}: {SCALES[args.scale]:,} customers, "
              + ", ".join(f"{s} {n:,}" for s, n in zone.rows.items()), flush=True)
        for master in args.masters:
            for line in bench_master(master, zone, work):
                print(line, flush=True)


if __name__ == "__main__":
    main()
