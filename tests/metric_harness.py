"""Glue between the tests, the warehouse and the reference: load activity rows, run the
refresh functions, read metric tables back as normalized DataFrames and compare them."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
import sqlalchemy as sa

import metric_reference
from rekindle import metrics
from resources.warehouse import WarehouseResource

KEYS = {
    "lifecycle_daily": ["as_of_date", "inactivity_days"],
    "reactivation_daily": ["as_of_date", "inactivity_days", "period_days"],
    "retention_daily": ["as_of_date", "inactivity_days", "period_days"],
    "purchase_daily": ["as_of_date", "period_days"],
    "customer_daily_activity": ["customer_id", "activity_date"],
    "customers": ["customer_id"],
    "clv_daily": ["as_of_date", "inactivity_days"],
}
COLUMNS = {
    "lifecycle_daily": KEYS["lifecycle_daily"]
    + ["new_customers", "returning_customers", "reactivated_customers", "dormant_customers",
       "active_customers", "inactive_customers"],
    "reactivation_daily": KEYS["reactivation_daily"]
    + ["inactive_at_start", "reactivated", "reactivation_rate", "reactivated_revenue"],
    "retention_daily": KEYS["retention_daily"]
    + ["customers_at_start", "retained", "churned", "retention_rate", "churn_rate"],
    "purchase_daily": KEYS["purchase_daily"]
    + ["orders", "buyers", "revenue", "average_order_value", "purchase_frequency", "repeat_buyers",
       "repeat_purchase_rate"],
    "customer_daily_activity": KEYS["customer_daily_activity"] + ["orders", "revenue", "events"],
    "clv_daily": KEYS["clv_daily"] + ["average_order_value", "purchases_per_year", "annual_churn_rate",
                  "expected_lifespan_years", "clv"],
    "customers": KEYS["customers"]
    + ["first_active_date", "last_active_date", "first_order_date", "last_order_date", "lifetime_orders",
       "lifetime_revenue"],
}
METRIC_TABLES = ["lifecycle_daily", "reactivation_daily", "retention_daily", "purchase_daily"]
RATES = {"reactivation_rate", "retention_rate", "churn_rate", "average_order_value", "purchase_frequency",
         "repeat_purchase_rate", "purchases_per_year", "annual_churn_rate", "expected_lifespan_years", "clv"}
MONEY = {"revenue", "reactivated_revenue", "lifetime_revenue"}
DATES = {"as_of_date", "activity_date", "first_active_date", "last_active_date", "first_order_date",
         "last_order_date"}
TEXT = {"customer_id"}
CENT = Decimal("0.0001")


def day(offset: int, base: date = date(2025, 1, 1)) -> date:
    return base + timedelta(days=offset)


# --- warehouse I/O ------------------------------------------------------------------------


def load_activity(wh: WarehouseResource, rows: Iterable[Sequence]) -> None:
    """Replace the whole customer_daily_activity table by `rows` (customer, day, orders, revenue, events)."""
    frame = pd.DataFrame(
        [(str(c), d, int(o), Decimal(str(r)), int(e)) for c, d, o, r, e in rows],
        columns=["customer_id", "activity_date", "orders", "revenue", "events"],
    )
    with wh.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {wh.qualified('customer_daily_activity')}"))
        wh.bulk_insert(conn, "customer_daily_activity", frame)


def clear_metrics(wh: WarehouseResource) -> None:
    with wh.begin() as conn:
        for table in METRIC_TABLES:
            conn.execute(sa.text(f"DELETE FROM {wh.qualified(table)}"))


def refresh_metrics(
    wh: WarehouseResource,
    start: date,
    end: date,
    inactivity_days: Sequence[int],
    period_days: Sequence[int],
    tables: Sequence[str] = tuple(METRIC_TABLES),
) -> None:
    """Run the refresh functions of `tables` for [start, end] in one transaction."""
    schema = wh.schema_name
    with wh.begin() as conn:
        if "lifecycle_daily" in tables:
            metrics.refresh_lifecycle_daily(conn, schema, start, end, inactivity_days)
        if "reactivation_daily" in tables:
            metrics.refresh_reactivation_daily(conn, schema, start, end, inactivity_days, period_days)
        if "retention_daily" in tables:
            metrics.refresh_retention_daily(conn, schema, start, end, inactivity_days, period_days)
        if "purchase_daily" in tables:
            metrics.refresh_purchase_daily(conn, schema, start, end, period_days)


def read_table(wh: WarehouseResource, table: str) -> pd.DataFrame:
    columns = ", ".join(COLUMNS[table])
    return normalize(wh.read_frame(f"SELECT {columns} FROM {wh.qualified(table)}"), table)


def read_metrics(wh: WarehouseResource) -> dict[str, pd.DataFrame]:
    return {table: read_table(wh, table) for table in METRIC_TABLES}


def row(frame: pd.DataFrame, **keys) -> dict:
    """The one row of `frame` with these key values, as a dict (rates None for NULL)."""
    mask = pd.Series(True, index=frame.index)
    for column, value in keys.items():
        mask &= frame[column] == value
    found = frame[mask]
    assert len(found) == 1, f"expected exactly one row for {keys}, found {len(found)}"
    return {k: (None if _is_null(v) else v) for k, v in found.iloc[0].to_dict().items()}


# --- reference ----------------------------------------------------------------------------


def reference_frames(
    rows: Iterable[Sequence], start: date, end: date, inactivity_days: Sequence[int], period_days: Sequence[int]
) -> dict[str, pd.DataFrame]:
    tables = metric_reference.all_tables(list(rows), start, end, inactivity_days, period_days)
    return {name: normalize(pd.DataFrame(records, columns=COLUMNS[name]), name) for name, records in tables.items()}


# --- comparison ---------------------------------------------------------------------------


def _is_null(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NaT


def normalize(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Engine-independent types: dates as date, counts as int, money as Decimal(4 places),
    rates as float with NaN for NULL; sorted by the key columns."""
    frame = frame[COLUMNS[table]].copy()
    for column in frame.columns:
        values = frame[column].tolist()
        if column in DATES:
            frame[column] = pd.Series(
                [None if _is_null(v) else (v.date() if hasattr(v, "date") and callable(v.date) else v) for v in values],
                dtype=object, index=frame.index,
            )
        elif column in MONEY:
            frame[column] = pd.Series(
                [None if _is_null(v) else Decimal(str(v)).quantize(CENT) for v in values], dtype=object, index=frame.index
            )
        elif column in RATES:
            frame[column] = pd.Series([float("nan") if _is_null(v) else float(v) for v in values],
                                      dtype="float64", index=frame.index)
        elif column in TEXT:
            frame[column] = frame[column].astype(str)
        else:
            assert not any(_is_null(v) for v in values), f"{table}.{column} has NULLs"
            frame[column] = pd.Series([int(v) for v in values], dtype="int64", index=frame.index)
    return frame.sort_values(KEYS[table]).reset_index(drop=True)


def assert_frames_equal(actual: pd.DataFrame, expected: pd.DataFrame, table: str, tolerance: float = 1e-9) -> None:
    """Same key set, equal counts and money, rates within `tolerance`, NULL exactly where NULL."""
    keys = KEYS[table]
    dup = actual[actual.duplicated(keys, keep=False)]
    assert dup.empty, f"{table}: duplicate keys in actual rows:\n{dup.head(10)}"
    merged = actual.merge(expected, on=keys, how="outer", suffixes=("_actual", "_expected"), indicator=True)
    missing = merged[merged["_merge"] == "right_only"][keys]
    extra = merged[merged["_merge"] == "left_only"][keys]
    assert missing.empty and extra.empty, (
        f"{table}: {len(missing)} expected rows missing, {len(extra)} unexpected rows\n"
        f"missing:\n{missing.head(10)}\nunexpected:\n{extra.head(10)}"
    )
    problems = []
    for column in COLUMNS[table]:
        if column in keys:
            continue
        a, e = merged[f"{column}_actual"], merged[f"{column}_expected"]
        if column in RATES:
            both_null = a.isna() & e.isna()
            close = (a - e).abs() <= tolerance
            bad = ~(both_null | close.fillna(False))
        else:
            bad = pd.Series([not (x == y or (_is_null(x) and _is_null(y))) for x, y in zip(a, e)], index=merged.index)
        if bad.any():
            shown = merged.loc[bad, keys + [f"{column}_actual", f"{column}_expected"]]
            problems.append(f"{table}.{column}: {int(bad.sum())} mismatches, e.g.\n{shown.head(8).to_string()}")
    assert not problems, "\n".join(problems)


def assert_metrics_equal(actual: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame]) -> None:
    errors = []
    for table in METRIC_TABLES:
        try:
            assert_frames_equal(actual[table], expected[table], table)
        except AssertionError as exc:
            errors.append(str(exc))
    assert not errors, "\n\n".join(errors)


def assert_lifecycle_invariants(lifecycle: pd.DataFrame) -> None:
    """SPEC section 5 invariants between consecutive days of the same N."""
    problems = []
    for n, g in lifecycle.groupby("inactivity_days"):
        g = g.sort_values("as_of_date").reset_index(drop=True)
        for i in range(1, len(g)):
            prev, cur = g.iloc[i - 1], g.iloc[i]
            if cur["as_of_date"] - prev["as_of_date"] != timedelta(days=1):
                continue
            if cur["inactive_customers"] != prev["inactive_customers"] + cur["dormant_customers"] - cur["reactivated_customers"]:
                problems.append(f"N={n} {cur['as_of_date']}: inactive invariant broken")
            if cur["active_customers"] != (prev["active_customers"] + cur["new_customers"]
                                           + cur["reactivated_customers"] - cur["dormant_customers"]):
                problems.append(f"N={n} {cur['as_of_date']}: active invariant broken")
    assert not problems, "\n".join(problems[:20])


# --- histories ----------------------------------------------------------------------------


def random_history(seed: int, customers: int, first: date, days: int, density: float = 0.15) -> list[tuple]:
    """A reproducible history: each customer has bursts of activity separated by gaps of
    every length, with some multi-order days and event-only days."""
    rng = random.Random(seed)
    rows = []
    for i in range(customers):
        d = rng.randrange(days)
        while d < days:
            orders = rng.choice([0, 0, 1, 1, 1, 2, 3])
            revenue = Decimal(rng.randrange(100, 20000)) / 100 if orders else Decimal(0)
            events = rng.randrange(1, 4) if orders == 0 else rng.randrange(0, 3)
            rows.append((f"c{i:04d}", first + timedelta(days=d), orders, revenue, events))
            # short hops inside a burst, long gaps between bursts
            d += rng.randint(1, 4) if rng.random() < 1 - density else rng.randint(5, 70)
    return rows
