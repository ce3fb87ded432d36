"""Times the raw-orders suite on a realistic 1,000,000-row daily batch.

    GX_ANALYTICS_ENABLED=False python -m benchmarks.bench_quality [--rows N]

Prints the one-off setup (GX import + context), the warm validation time of a clean and of a
dirty batch and with Data Docs, and memory: the process's peak RSS and the peak traced
allocation of one validation.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from rekindle.quality import amount_bound, raw_orders_suite, validate_frame

DAY = date(2025, 6, 1)


def orders_frame(rows: int, seed: int = 7) -> pd.DataFrame:
    """Shaped like ExtractedPartition.accepted for orders: object text columns, datetime64[us]."""
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.integers(0, 86_400_000_000, rows))
    text = lambda values: pd.Series(values, dtype=object)  # noqa: E731
    return pd.DataFrame(
        {
            "order_id": text(np.char.add("o-20250601-", np.arange(rows).astype(str))),
            "customer_id": text(np.char.add("c", rng.integers(0, 200_000, rows).astype(str))),
            "ordered_at": pd.Timestamp(DAY) + pd.to_timedelta(seconds, unit="us"),
            "amount": np.round(rng.lognormal(3.5, 0.8, rows), 2),
            "currency": text(np.full(rows, "USD", dtype=object)),
            "status": text(rng.choice(np.array(["completed", "cancelled", "refunded"], dtype=object), rows,
                                      p=[0.92, 0.05, 0.03])),
            "channel": text(rng.choice(np.array(["web", "app", "store", None], dtype=object), rows)),
            "partition_date": text(np.full(rows, DAY, dtype=object)),
            "source_file": text(np.char.add(f"orders/dt={DAY}/part-", (np.arange(rows) // 250_000).astype(str))
                                + ".parquet"),
        }
    ).astype({"ordered_at": "datetime64[us]"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()

    frame = orders_frame(args.rows)
    # Trailing days look like today, so the WARN bound is realistic and (almost) nothing trips it.
    suite = raw_orders_suite(DAY, currency="USD", amount_max=amount_bound(float(frame["amount"].quantile(0.999))))
    print(f"{args.rows:,} orders, {frame.memory_usage(deep=True).sum() / 2**20:,.0f} MiB in memory, "
          f"{len(suite.rules)} rules")

    start = time.perf_counter()
    validate_frame(frame.head(10), suite)
    print(f"setup (GX import + context, once per process): {time.perf_counter() - start:.2f} s")

    start = time.perf_counter()
    result = validate_frame(frame, suite)
    print(f"validation: {time.perf_counter() - start:.2f} s  "
          f"({result.evaluated} evaluated, {result.failed_errors} errors, {result.failed_warnings} warnings)")

    dirty = frame.copy()  # 1% bad rows for several rules: failing rules cost more (examples, counts)
    bad = np.arange(0, len(dirty), 100)
    dirty.loc[bad, "currency"] = "EUR"
    dirty.loc[bad, "amount"] = -1.0
    dirty.loc[bad, "order_id"] = dirty.loc[bad + 1, "order_id"].to_numpy()
    start = time.perf_counter()
    result = validate_frame(dirty, suite)
    print(f"validation, 1% bad rows: {time.perf_counter() - start:.2f} s  "
          f"({result.failed_errors} errors, {result.failed_warnings} warnings)")

    with tempfile.TemporaryDirectory() as docs:
        for attempt in (1, 2):
            start = time.perf_counter()
            result = validate_frame(frame, suite, docs_dir=Path(docs))
            print(f"validation + Data Docs (call {attempt}): {time.perf_counter() - start:.2f} s")

    tracemalloc.start()
    validate_frame(frame, suite)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"peak traced allocation during one validation: {peak / 2**20:,.0f} MiB")
    print(f"peak RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:,.0f} MiB")


if __name__ == "__main__":
    main()
