"""BG/NBD model: the CDNOW fit of Fader, Hardie & Lee (2005), the closed forms against direct
numerical integration, recovery on simulated customers, and the warehouse summary SQL."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad

from rekindle.predict import (
    PREDICTION_COLUMNS,
    BGNBDParams,
    customer_summary_sql,
    expected_purchases,
    fit_bgnbd,
    p_alive,
    predict_customers,
    predictions_frame,
    simulate_bgnbd,
)

CDNOW = Path(__file__).parent / "data" / "cdnow_customers_summary.csv"
# FHL 2005's BG/NBD estimates on the CDNOW calibration data (39 weeks, time in weeks).
PAPER = BGNBDParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
DAILY = BGNBDParams(r=0.25, alpha=30.0, a=0.8, b=2.5)  # a plausible daily-scale shop
AS_OF = date(2025, 1, 31)


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(CDNOW)


@pytest.fixture(scope="module")
def cdnow_fit(cdnow) -> BGNBDParams:
    return fit_bgnbd(cdnow["frequency"], cdnow["recency"], cdnow["T"])


def by_integration(params: BGNBDParams, t: float, x: int, t_x: float, T: float) -> tuple[float, float]:
    """(P(alive), E[purchases in (T, T + t]]) straight from the individual-level model:
    integrate lambda out in closed form (gamma moments), then p numerically against its
    beta density. Given (lambda, p) the history has likelihood (1-p)^x lambda^x e^(-lambda T)
    (alive) + p (1-p)^(x-1) lambda^x e^(-lambda t_x) (dropped after t_x, x > 0), and an alive
    customer buys (1 - e^(-lambda p t)) / p times in the next t (FHL 2005). The factor
    Gamma(r + x) alpha^r / (Gamma(r) (alpha + T)^(r + x)) common to all terms is divided out."""
    r, alpha, a, b = asdict(params).values()
    k = r + x
    beta_density = {"weight": "alg", "wvar": (a - 1, b - 1), "epsabs": 0, "epsrel": 1e-11, "limit": 200}
    alive = quad(lambda p: (1 - p) ** x, 0, 1, **beta_density)[0]
    dropped = 0.0
    if x > 0:
        dropped = quad(lambda p: p * (1 - p) ** (x - 1) * ((alpha + T) / (alpha + t_x)) ** k, 0, 1, **beta_density)[0]

    def future(p: float) -> float:
        # E_lambda[(1 - e^(-lambda p t)) / p] relative to (alpha + T)^-(r + x), limit k t / (alpha + T) at p = 0
        growth = p * t / (alpha + T)
        return (1 - p) ** x * (-np.expm1(-k * np.log1p(growth)) / p if p > 0 else k * t / (alpha + T))

    purchases = quad(future, 0, 1, **beta_density)[0]
    return alive / (alive + dropped), purchases / (alive + dropped)


# --- CDNOW: the paper's data set -------------------------------------------------------------


def test_cdnow_fit_matches_paper(cdnow, cdnow_fit):
    assert len(cdnow) == 2357
    for name, value in asdict(PAPER).items():
        assert getattr(cdnow_fit, name) == pytest.approx(value, abs=1e-3), name  # the paper's 3 decimals


def test_cdnow_conditional_expectation_matches_hardie_spreadsheet(cdnow, cdnow_fit):
    # Customer ID 1 of the sample: E[Y(39) | x=2, t_x=30.43, T=38.86] = 1.226, the value of
    # Hardie's BG/NBD spreadsheet (brucehardie.com/notes/004) as asserted by lifetimes,
    # CamDavidsonPilon/lifetimes tests/test_estimation.py@383b314b,
    # test_conditional_expectation_returns_same_value_as_Hardie_excel_sheet.
    first = cdnow.iloc[0]
    assert (first["ID"], first["frequency"], first["recency"], first["T"]) == (1, 2, 30.43, 38.86)
    assert expected_purchases(cdnow_fit, 39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=1e-3)
    assert expected_purchases(PAPER, 39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=1e-3)


def test_fit_does_not_depend_on_time_unit(cdnow, cdnow_fit):
    in_days = fit_bgnbd(cdnow["frequency"], cdnow["recency"] * 7, cdnow["T"] * 7)
    assert in_days.alpha == pytest.approx(cdnow_fit.alpha * 7, rel=1e-6)
    for name in ("r", "a", "b"):
        assert getattr(in_days, name) == pytest.approx(getattr(cdnow_fit, name), rel=1e-6)


def test_penalizer_shrinks_parameters(cdnow, cdnow_fit):
    shrunk = fit_bgnbd(cdnow["frequency"], cdnow["recency"], cdnow["T"], penalizer=0.1)
    assert all(np.array(list(asdict(shrunk).values())) < np.array(list(asdict(cdnow_fit).values())))


# --- closed forms ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "t", "x", "t_x", "T"),
    [
        (PAPER, 39, 2, 30.43, 38.86),
        (PAPER, 39, 0, 0.0, 38.86),
        (PAPER, 39, 7, 29.43, 38.86),
        (PAPER, 2, 10, 35.0, 39.0),
        (DAILY, 90, 0, 0.0, 0.0),
        (DAILY, 90, 3, 100.0, 400.0),
        (DAILY, 90, 300, 700.0, 730.0),  # the textbook 2F1(r+x, b+x; ...) form is ~1e120 here
        (DAILY, 90, 1000, 700.0, 730.0),
        (BGNBDParams(r=0.5, alpha=20.0, a=1.2, b=4.0), 90, 4, 50.0, 100.0),  # a > 1
    ],
)
def test_closed_forms_match_numerical_integration(params, t, x, t_x, T):
    alive, purchases = by_integration(params, t, x, t_x, T)
    assert p_alive(params, x, t_x, T) == pytest.approx(alive, rel=1e-9)
    assert expected_purchases(params, t, x, t_x, T) == pytest.approx(purchases, rel=1e-9)


def test_heavy_buyers_stay_finite():
    x = np.array([1e3, 1e4, 1e5, 1e6])
    # just bought: close to, and below, t times the posterior mean rate (r + x) / (alpha + T)
    ratio = expected_purchases(DAILY, 90, x, 730.0, 730.0) / (90 * (DAILY.r + x) / (DAILY.alpha + 730.0))
    assert np.all((ratio > 0.9) & (ratio < 1.0))
    # silent for a month: all but certainly gone, without overflow on the way
    silent = expected_purchases(DAILY, 90, x, 700.0, 730.0)
    assert np.all(np.isfinite(silent) & (silent >= 0) & (silent < 1e-10))


def test_p_alive_is_one_without_repeat_purchases():
    # BG/NBD customers can only drop out right after a repeat purchase
    assert np.all(p_alive(DAILY, 0, 0.0, np.array([0.0, 10.0, 1000.0])) == 1.0)


def test_p_alive_falls_with_time_since_last_purchase():
    last_purchase = np.arange(300.0, 0.0, -10.0)  # ever longer ago, as of T = 300
    alive = p_alive(DAILY, 5, last_purchase, 300.0)
    assert np.all(np.diff(alive) < 0)
    assert np.all(np.diff(expected_purchases(DAILY, 90, 5, last_purchase, 300.0)) < 0)


def test_rejects_impossible_histories():
    for history in [(1, 5.0, 4.0), (0, 2.0, 4.0), (-1, 0.0, 4.0), (1.5, 2.0, 4.0)]:
        with pytest.raises(ValueError):
            p_alive(DAILY, *history)
    with pytest.raises(ValueError, match="repeat purchase"):
        fit_bgnbd([0, 0], [0.0, 0.0], [3.0, 5.0])


# --- simulated customers ---------------------------------------------------------------------


def test_simulated_parameters_recovered():
    rng = np.random.default_rng(7)
    fitted = fit_bgnbd(*simulate_bgnbd(DAILY, rng.integers(1, 731, 50_000), rng))
    # about three standard errors of the worst-determined parameters (a, b) at 50,000 customers
    for name, value in asdict(DAILY).items():
        assert getattr(fitted, name) == pytest.approx(value, rel=0.15), name


# --- warehouse ---------------------------------------------------------------------------------


def load_purchase_days(warehouse, rows: list[tuple[str, date, int]]) -> None:
    frame = pd.DataFrame(rows, columns=["customer_id", "activity_date", "orders"])
    frame["revenue"] = 10.0 * frame["orders"]
    frame["events"] = 1
    with warehouse.begin() as conn:
        warehouse.bulk_insert(conn, "customer_daily_activity", frame)


def test_customer_summary_sql(warehouse):
    d = date.fromisoformat
    load_purchase_days(warehouse, [
        ("a", d("2025-01-01"), 1), ("a", d("2025-01-05"), 3), ("a", d("2025-01-10"), 1),
        ("a", d("2025-01-20"), 0),  # events only: not a purchase day
        ("a", d("2025-02-01"), 1),  # after as-of
        ("b", d("2025-01-31"), 2),  # first purchase on the as-of day
        ("c", d("2025-01-15"), 0),  # never bought
        ("d", d("2025-02-02"), 1),  # first purchase after as-of
        ("e", d("2024-12-25"), 1), ("e", d("2025-01-01"), 1),
    ])
    schema = warehouse.engine.dialect.identifier_preparer.quote_schema(warehouse.schema_name)
    summary = warehouse.read_frame(customer_summary_sql(schema), {"as_of": AS_OF})
    assert list(summary.columns) == ["customer_id", "frequency", "recency", "T"]
    assert [tuple(row) for row in summary.itertuples(index=False)] == [
        ("a", 2, 9, 30),
        ("b", 0, 0, 0),
        ("e", 1, 7, 37),
    ]


def purchase_days_of(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, rng: np.random.Generator) -> list:
    """Activity rows with exactly the given whole-day histories: first purchase T days before
    as-of, last t_x days after it and x - 1 distinct days in between (needs x <= t_x)."""
    rows = []
    for customer, (repeats, last, age) in enumerate(zip(x, t_x, T, strict=True)):
        first = AS_OF - timedelta(days=int(age))
        between = rng.choice(np.arange(1, last), max(int(repeats) - 1, 0), replace=False)
        offsets = [0] if repeats == 0 else [0, int(last), *between]
        rows += [(f"c{customer:04d}", first + timedelta(days=int(o)), 1) for o in offsets]
    return rows


def test_predict_customers(warehouse):
    rng = np.random.default_rng(3)
    x, t_x, T = simulate_bgnbd(DAILY, rng.integers(1, 366, 500), rng)
    t_x = np.where(x > 0, np.clip(np.round(t_x), 1, T), 0.0)
    x = np.minimum(x, t_x)  # one purchase day per day
    load_purchase_days(warehouse, purchase_days_of(x, t_x, T, rng))
    with warehouse.begin() as conn:
        scored = predict_customers(conn, warehouse.schema_name, AS_OF)

    np.testing.assert_array_equal(scored[["frequency", "recency", "T"]].to_numpy(dtype=float), np.c_[x, t_x, T])
    params = fit_bgnbd(x, t_x, T)
    assert scored[["r", "alpha", "a", "b"]].iloc[0].tolist() == pytest.approx(list(asdict(params).values()))
    np.testing.assert_allclose(scored["p_alive"], p_alive(params, x, t_x, T))
    np.testing.assert_allclose(scored["expected_purchases_90d"], expected_purchases(params, 90, x, t_x, T))

    table = predictions_frame(scored, AS_OF)
    assert list(table.columns) == PREDICTION_COLUMNS
    assert (table["as_of_date"] == AS_OF).all()
    np.testing.assert_array_equal(table[["recency_days", "age_days"]].to_numpy(dtype=float), np.c_[t_x, T])


def test_predict_customers_before_any_repeat_purchase(duckdb_warehouse):
    with duckdb_warehouse.begin() as conn:
        assert predict_customers(conn, duckdb_warehouse.schema_name, AS_OF).empty
    load_purchase_days(duckdb_warehouse, [("a", AS_OF - timedelta(days=5), 1), ("b", AS_OF, 2)])
    with duckdb_warehouse.begin() as conn:
        scored = predict_customers(conn, duckdb_warehouse.schema_name, AS_OF)
    assert scored["p_alive"].tolist() == [1.0, 1.0]
    assert scored["expected_purchases_90d"].isna().all()
