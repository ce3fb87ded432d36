"""Fits and scores the BG/NBD model on 1,000,000 simulated customers.

    python -m benchmarks.bench_predict [--customers N] [--seed S]

Customers are drawn from a BG/NBD process with known parameters (time in days): ages are
whole days up to two years and recency is rounded to whole days, the resolution of the
warehouse summary. Prints the fit and scoring times and the recovered parameters.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict

import numpy as np

from rekindle.predict import BGNBDParams, expected_purchases, fit_bgnbd, p_alive, simulate_bgnbd

TRUE = BGNBDParams(r=0.25, alpha=30.0, a=0.8, b=2.5)
HORIZON_DAYS = 90


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2005)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    x, t_x, T = simulate_bgnbd(TRUE, rng.integers(1, 731, args.customers), rng)
    # whole purchase days: a repeat purchase is at least a day after the first one
    t_x = np.where(x > 0, np.clip(np.round(t_x), 1, T), 0.0)
    simulate_s = time.perf_counter() - start
    distinct = len(np.unique(np.c_[x, t_x, T], axis=0))
    print(f"{args.customers:,} customers ({(x > 0).mean():.1%} repeat buyers, {distinct:,} distinct histories), "
          f"simulated in {simulate_s:.2f} s")

    start = time.perf_counter()
    fitted = fit_bgnbd(x, t_x, T)
    fit_s = time.perf_counter() - start

    start = time.perf_counter()
    alive = p_alive(fitted, x, t_x, T)
    expected = expected_purchases(fitted, HORIZON_DAYS, x, t_x, T)
    score_s = time.perf_counter() - start

    print(f"fit      {fit_s:6.2f} s")
    print(f"scoring  {score_s:6.2f} s  (p_alive + expected purchases in {HORIZON_DAYS} days)")
    print(f"{'param':>6} {'true':>8} {'fitted':>8} {'rel err':>8}")
    for name, true in asdict(TRUE).items():
        value = getattr(fitted, name)
        print(f"{name:>6} {true:8.3f} {value:8.3f} {value / true - 1:+8.2%}")
    print(f"mean p_alive {alive.mean():.3f}, expected purchases in {HORIZON_DAYS} days: "
          f"{expected.sum():,.0f} in total, max {expected.max():.2f}")


if __name__ == "__main__":
    main()
