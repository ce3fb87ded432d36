"""The short table of latest metrics that `rekindle run` ends with."""

from __future__ import annotations

from datetime import date

import pandas as pd

from rekindle.settings import Settings
from resources.warehouse import WarehouseResource


def _pct(value) -> str:
    return "n/a" if pd.isna(value) else f"{100 * float(value):.1f}%"


def print_summary(warehouse: WarehouseResource, settings: Settings, as_of: date) -> None:
    s = warehouse.qualified
    n = settings.primary_inactivity_days
    params = {"d": as_of, "n": n}
    try:
        life = warehouse.read_frame(
            f"SELECT * FROM {s('lifecycle_daily')} WHERE as_of_date = :d AND inactivity_days = :n", params
        )
        rates = warehouse.read_frame(
            f"""SELECT r.period_days, r.inactive_at_start, r.reactivated, r.reactivation_rate,
                       t.customers_at_start, t.churned, t.churn_rate, t.retention_rate
                FROM {s('reactivation_daily')} r
                JOIN {s('retention_daily')} t ON t.as_of_date = r.as_of_date
                     AND t.inactivity_days = r.inactivity_days AND t.period_days = r.period_days
                WHERE r.as_of_date = :d AND r.inactivity_days = :n ORDER BY r.period_days""",
            params,
        )
    except Exception as error:  # a failed first run may have left no tables to read
        print(f"(no metrics to show: {error.__class__.__name__})")
        return
    if life.empty:
        print(f"(no metrics for {as_of})")
        return
    row = life.iloc[0]
    print(f"\nLatest metrics as of {as_of} (inactive = no activity for {n}+ days)")
    print(
        f"  active customers {int(row.active_customers):,}   inactive {int(row.inactive_customers):,}   "
        f"new {int(row.new_customers):,}   returning {int(row.returning_customers):,}   "
        f"reactivated {int(row.reactivated_customers):,}   turned dormant {int(row.dormant_customers):,}"
    )
    print(f"  {'period':>8} {'inactive at start':>18} {'reactivated':>12} {'react. rate':>12} "
          f"{'base at start':>14} {'churned':>8} {'churn':>7} {'retention':>10}")
    for r in rates.itertuples():
        print(
            f"  {r.period_days:>5} d  {int(r.inactive_at_start):>18,} {int(r.reactivated):>12,} "
            f"{_pct(r.reactivation_rate):>12} {int(r.customers_at_start):>14,} {int(r.churned):>8,} "
            f"{_pct(r.churn_rate):>7} {_pct(r.retention_rate):>10}"
        )
