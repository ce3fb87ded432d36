"""Times one landing-sensor tick over a landing zone of ~3,000 dt= folders x 2 sources.

    python -m benchmarks.bench_sensor [--days N] [--repeat R]

Writes a small file into each orders/ and events/ folder of a temporary landing zone, then
times (best of R, warm file-system cache) the listing alone, listing + diffing against the
previous cursor + encoding the new one, and the real `landing_zone_sensor` tick with one
changed file, as the daemon runs it every 30 seconds.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from dagster import build_sensor_context

from pipelines.definitions import build_definitions
from pipelines.sensors import LANDING_SENSOR_NAME
from rekindle.landing import list_all_files
from rekindle.landing_changes import changed_partitions, decode_cursor, encode_cursor, file_states
from rekindle.settings import Settings


def best_of(repeat: int, work) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        landing = Path(tmp) / "landing"
        last = date.today() - timedelta(days=2)
        first = last - timedelta(days=args.days - 1)
        for i in range(args.days):
            for source in ("orders", "events"):
                folder = landing / source / f"dt={first + timedelta(days=i)}"
                folder.mkdir(parents=True)
                (folder / "part-0001.csv").write_text("id,customer_id\n1,c1\n")
        files = len(list_all_files(landing))

        previous = encode_cursor(file_states(list_all_files(landing)))

        def list_and_diff() -> None:
            current = file_states(list_all_files(landing))
            changed_partitions(current, decode_cursor(previous))
            encode_cursor(current)

        settings = Settings(landing_dir=landing, warehouse_url=f"duckdb:///{tmp}/w.duckdb", start_date=first)
        defs = build_definitions(settings)
        sensor = defs.resolve_sensor_def(LANDING_SENSOR_NAME)
        changed = landing / "orders" / f"dt={last}" / "part-0001.csv"
        changed.write_text("id,customer_id\n1,c1\n2,c2\n")
        os.utime(changed)

        def sensor_tick() -> None:
            data = sensor.evaluate_tick(build_sensor_context(cursor=previous, definitions=defs))
            assert len(data.run_requests) == 1

        listing = best_of(args.repeat, lambda: list_all_files(landing))
        diffing = best_of(args.repeat, list_and_diff)
        tick = best_of(args.repeat, sensor_tick)
        print(f"landing zone: {args.days:,} days x 2 sources = {files:,} files, cursor {len(previous):,} bytes")
        print(f"listing                         {listing:6.3f} s")
        print(f"listing + diffing + new cursor  {diffing:6.3f} s")
        print(f"landing_zone_sensor tick        {tick:6.3f} s  (one changed file -> one run request)")


if __name__ == "__main__":
    main()
