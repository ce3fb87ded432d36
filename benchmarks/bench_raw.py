"""Row validation of one landing partition (rekindle.raw_validation) at 1,000,000 rows.

    python -m benchmarks.bench_raw [--rows 1000000]
"""

import argparse
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from rekindle.landing import LandingFile
from rekindle.raw_validation import validate_frames

DAY = date(2025, 6, 1)


def orders_as_read(rows: int, seed: int = 3) -> pd.DataFrame:
    """Text columns as the landing reader returns them, with ~1% bad rows and ~1% repeats."""
    rng = np.random.default_rng(seed)
    ids = np.arange(rows)
    ids[rng.random(rows) < 0.01] = 0  # repeated ids: duplicates / superseded
    seconds = rng.integers(0, 86_400, rows)
    amounts = np.round(rng.gamma(2.0, 30.0, rows), 2).astype(str)
    amounts[rng.random(rows) < 0.005] = "-5.00"
    return pd.DataFrame({
        "order_id": [f"O{i:09d}" for i in ids],
        "customer_id": [f"C{i:07d}" for i in rng.integers(0, 200_000, rows)],
        "ordered_at": [f"2025-06-01T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z" for s in seconds],
        "amount": amounts,
        "currency": "USD",
        "status": rng.choice(["completed", "cancelled", "refunded", "pending"], rows, p=[0.9, 0.05, 0.045, 0.005]),
    }, dtype=object)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    frame = orders_as_read(args.rows)
    file = LandingFile(Path("orders/dt=2025-06-01/part-0001.csv"), "orders/dt=2025-06-01/part-0001.csv", 0, 0)
    began = time.perf_counter()
    part = validate_frames("orders", DAY, [(file, frame)], "USD")
    took = time.perf_counter() - began
    print(f"{args.rows:,} rows validated in {took:.2f} s: {len(part.accepted):,} loaded, "
          f"{len(part.quarantined):,} quarantined {part.reasons}")


if __name__ == "__main__":
    main()
