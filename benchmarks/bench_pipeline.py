"""The whole `make run` pipeline at the default size: generate 20,000 customers x 180 days,
then `rekindle run` into a fresh DuckDB file on a fresh Dagster instance.

    python -m benchmarks.bench_pipeline [--customers 20000] [--days 180]
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rekindle.generate import generate_landing_zone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=180)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        began = time.perf_counter()
        summary = generate_landing_zone(root / "landing", customers=args.customers, days=args.days)
        generated = time.perf_counter() - began
        env = {
            **os.environ,
            "REKINDLE_LANDING_DIR": str(root / "landing"),
            "REKINDLE_WAREHOUSE_URL": f"duckdb:///{root}/warehouse.duckdb",
            "REKINDLE_START_DATE": summary.start_date.isoformat(),
            "REKINDLE_QUALITY_DOCS_DIR": str(root / "docs"),
            "DAGSTER_HOME": str(root / "dagster_home"),
        }
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pipelines.cli", "run"], env=env, cwd=root,
                              capture_output=True, text=True)
        ran = time.perf_counter() - began
        if done.returncode != 0:
            sys.exit(f"rekindle run failed:\n{done.stdout}\n{done.stderr}")
        rows = sum(summary.rows.values())
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**10
        print(f"generate: {args.customers:,} customers x {args.days} days, {rows:,} rows in {generated:.1f} s")
        print(f"rekindle run: {ran:.1f} s for {args.days} daily partitions of every asset, peak RSS {peak:,.0f} MiB")
        print("slowest steps: " + ", ".join(
            line.strip()[2:] for line in done.stdout.splitlines() if line.strip().startswith("✓")
            and float(line.rsplit("(", 1)[1].rstrip("s)")) >= 5
        ))


if __name__ == "__main__":
    main()
