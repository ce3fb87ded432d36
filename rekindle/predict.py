"""Per-customer purchase predictions with the BG/NBD model of Fader, Hardie & Lee (2005),
"Counting Your Customers the Easy Way: An Alternative to the Pareto/NBD Model",
Marketing Science 24(2), 275-284.

Each customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha) and, after every
repeat purchase, drops out for good with probability p ~ Beta(a, b). A customer's history is
summarised as (x, t_x, T), all in one time unit:

- frequency x: number of repeat purchases (purchase days after the first one),
- recency t_x: time from the first to the last purchase (0 when x = 0),
- T: time from the first purchase to the as-of date.

The model functions work in whatever unit they are given (alpha comes out in that unit and
horizons must use it). The warehouse path (`customer_summary_sql`, `predict_customers`)
works in DAYS throughout: a purchase is a day with orders > 0, alpha is in days and the
prediction horizon is in days.
"""

from __future__ import annotations

from dataclasses import asdict, astuple, dataclass, fields
from datetime import date

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, hyp2f1
from sqlalchemy import text
from sqlalchemy.engine import Connection

from rekindle.sql import days_between, replace_rows, schema_prefix

# Columns of the `customer_predictions` table, in order.
PREDICTION_COLUMNS = [
    "as_of_date", "customer_id", "frequency", "recency_days", "age_days", "p_alive", "expected_purchases_90d",
]


@dataclass(frozen=True)
class BGNBDParams:
    r: float  # shape of the purchase-rate distribution
    alpha: float  # scale of the purchase-rate distribution, in the data's time unit
    a: float  # Beta(a, b) distribution of the dropout probability
    b: float


def _histories(frequency, recency, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcast (x, t_x, T) to float arrays and reject histories the model cannot produce."""
    x, t_x, age = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (frequency, recency, T)))
    if not (np.all(x >= 0) and np.all(x == np.round(x))):
        raise ValueError("frequency must be a non-negative whole number")
    if not (np.all(t_x >= 0) and np.all(t_x <= age)):
        raise ValueError("recency must lie in [0, T]")
    if np.any((x == 0) & (t_x != 0)):
        raise ValueError("recency must be 0 when frequency is 0")
    return x, t_x, age


# --- fitting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Histories:
    """Distinct histories with their customer counts, plus the distinct frequencies with their
    total counts, so terms that depend on x alone are evaluated once per distinct x."""

    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    weights: np.ndarray
    x_values: np.ndarray
    x_weights: np.ndarray


def _aggregate(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> _Histories:
    """Identical histories share one likelihood term, weighted by how many customers have it."""
    counts = pd.DataFrame({"x": x, "t_x": t_x, "T": T}).value_counts(sort=False)
    x, t_x, T = (counts.index.get_level_values(i).to_numpy(dtype=float) for i in range(3))
    weights = counts.to_numpy(dtype=float)
    x_values, x_index = np.unique(x, return_inverse=True)
    return _Histories(x, t_x, T, weights, x_values, np.bincount(x_index, weights=weights))


def _objective(log_params: np.ndarray, h: _Histories, penalizer: float) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood (FHL 2005 eq. 6) plus an L2 penalty on the parameters,
    and its gradient with respect to the log-parameters."""
    theta = np.exp(log_params)
    r, alpha, a, b = theta
    x, t_x, T, w = h.x, h.t_x, h.T, h.weights
    xs, xw = h.x_values, h.x_weights
    total = w.sum()

    # per history: still alive at T, or dropped out right after the purchase at t_x
    b_x1 = b + np.maximum(x, 1) - 1  # b + x - 1, only used where x > 0
    log_alpha_T = np.log(alpha + T)
    log_alpha_tx = np.log(alpha + t_x)
    alive = -(r + x) * log_alpha_T
    dropped = np.where(x > 0, np.log(a) - np.log(b_x1) - (r + x) * log_alpha_tx, -np.inf)
    mix = np.logaddexp(alive, dropped)
    w_alive = np.exp(alive - mix)  # posterior P(alive | history)
    w_dropped = 1.0 - w_alive

    # per distinct x
    ll_x = (gammaln(r + xs) - gammaln(r) + gammaln(a + b) + gammaln(b + xs) - gammaln(b) - gammaln(a + b + xs))
    psi_ab = digamma(a + b) - digamma(a + b + xs)

    ll = xw @ ll_x + total * r * np.log(alpha) + w @ mix
    d_r = (xw @ (digamma(r + xs) - digamma(r)) + total * np.log(alpha)
           - w @ (w_alive * log_alpha_T + w_dropped * log_alpha_tx))
    d_alpha = total * r / alpha - w @ ((r + x) * (w_alive / (alpha + T) + w_dropped / (alpha + t_x)))
    d_a = xw @ psi_ab + (w @ w_dropped) / a
    d_b = xw @ (psi_ab + digamma(b + xs) - digamma(b)) - w @ (w_dropped / b_x1)

    value = -ll / total + penalizer * (theta @ theta)
    grad_theta = -np.array([d_r, d_alpha, d_a, d_b]) / total + 2 * penalizer * theta
    return value, grad_theta * theta


def fit_bgnbd(frequency, recency, T, *, penalizer: float = 0.0) -> BGNBDParams:
    """Maximum-likelihood BG/NBD parameters for customer histories (x, t_x, T).

    `penalizer` adds penalizer * (r^2 + alpha^2 + a^2 + b^2) to the mean negative
    log-likelihood, with time rescaled so that max(T) = 10 - the same convention as the
    `lifetimes` package, so a given penalizer means the same whatever the time unit. A small
    penalizer keeps the parameters finite when the data push them to a boundary.
    """
    x, t_x, age = (v.ravel() for v in _histories(frequency, recency, T))
    # without a repeat purchase nobody could have dropped out, so a and b are not identified
    if not np.any(x > 0) or age.max() <= 0:
        raise ValueError("need at least one customer with a repeat purchase and T > 0")
    # The likelihood only depends on alpha relative to the times, so fit in units where
    # max(T) = 10: a start at all-ones is then sensible for any input unit.
    scale = 10.0 / age.max()
    result = minimize(
        _objective, np.zeros(4), args=(_aggregate(x, t_x * scale, age * scale), penalizer), jac=True,
        method="L-BFGS-B", bounds=[(-20.0, 20.0)] * 4, options={"ftol": 1e-12, "gtol": 1e-8, "maxiter": 1000},
    )
    # L-BFGS-B may stop "abnormally" where floating point leaves no descent: at the optimum, or
    # on the flat ridge towards a boundary optimum (e.g. r, alpha -> inf when purchase rates do
    # not vary, whose predictions the bounded fit reproduces). Only a gradient that is still
    # material (a 1% parameter change moving the mean log-likelihood by >1e-5) is a failure.
    if not result.success and np.max(np.abs(result.jac)) > 1e-3:
        raise RuntimeError(f"BG/NBD fit did not converge: {result.message}")
    r, alpha, a, b = np.exp(result.x)
    return BGNBDParams(r=float(r), alpha=float(alpha / scale), a=float(a), b=float(b))


# --- scoring --------------------------------------------------------------------------------


def p_alive(params: BGNBDParams, frequency, recency, T) -> np.ndarray:
    """P(customer still alive at T | x, t_x, T) (Fader, Hardie & Lee 2008, "Computing
    P(alive) using the BG/NBD model", brucehardie.com/notes/021). 1 when x = 0: in the BG/NBD
    a customer can only drop out right after a repeat purchase."""
    x, t_x, age = _histories(frequency, recency, T)
    r, alpha, a, b = astuple(params)
    # log odds of "dropped out after the last purchase" against "alive"; in log space so
    # ((alpha + T) / (alpha + t_x))^(r + x) cannot overflow for large x
    log_odds = (np.log(a) - np.log(b + np.maximum(x, 1) - 1)
                + (r + x) * np.log1p((age - t_x) / (alpha + t_x)))
    return np.where(x > 0, expit(-log_odds), 1.0)


def expected_purchases(params: BGNBDParams, t, frequency, recency, T) -> np.ndarray:
    """E[purchases in (T, T + t] | x, t_x, T] (FHL 2005 eq. 10):

        P(alive) * (a + b + x - 1) / (a - 1)
                 * [1 - ((alpha + T) / (alpha + T + t))^(r + x) * 2F1(r + x, b + x; a + b + x - 1; z)]

    with z = t / (alpha + T + t). Euler's transformation 2F1(A, B; C; z) =
    (1 - z)^(C - A - B) 2F1(C - A, C - B; C; z) turns the bracket into

        1 - (1 - z)^(a - 1) * 2F1(a + b - 1 - r, a - 1; a + b + x - 1; z),

    whose 2F1 tends to 1 as x grows, where the original one grows like (1 - z)^-x and
    overflows for heavy buyers. (Like the original, this form is 0/0 at exactly a = 1.)
    """
    x, t_x, age = _histories(frequency, recency, T)
    r, alpha, a, b = astuple(params)
    z = np.asarray(t, dtype=float) / (alpha + age + t)
    bracket = 1.0 - np.exp((a - 1) * np.log1p(-z)) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
    return p_alive(params, x, t_x, age) * (a + b + x - 1) / (a - 1) * bracket


def simulate_bgnbd(params: BGNBDParams, T, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw (frequency, recency, T) from the BG/NBD process for customers of ages T."""
    age = np.asarray(T, dtype=float)
    rate = rng.gamma(params.r, 1.0 / params.alpha, age.shape)
    dropout = rng.beta(params.a, params.b, age.shape)
    would_buy = rng.poisson(rate * age)  # purchases in (0, T] had the customer never dropped out
    dies_after = rng.geometric(dropout)  # the repeat purchase after which the customer drops out
    x = np.minimum(would_buy, dies_after)
    # the x-th of n uniform purchase times in (0, T] is T * Beta(x, n - x + 1)
    t_x = np.where(x > 0, age * rng.beta(np.maximum(x, 1), would_buy - x + 1), 0.0)
    return x.astype(float), t_x, age


# --- warehouse ------------------------------------------------------------------------------


def customer_summary_sql(schema: str) -> str:
    """(customer_id, frequency, recency, "T") in days as of :as_of, from the purchase days
    (orders > 0) in customer_daily_activity up to :as_of. `schema` is pasted in as given, so
    quote it first if it needs quoting."""
    return f"""
        SELECT customer_id,
               COUNT(DISTINCT activity_date) - 1 AS frequency,
               {days_between('MIN(activity_date)', 'MAX(activity_date)')} AS recency,
               {days_between('MIN(activity_date)', 'CAST(:as_of AS DATE)')} AS "T"
        FROM {schema}.customer_daily_activity
        WHERE orders > 0 AND activity_date <= CAST(:as_of AS DATE)
        GROUP BY customer_id
        ORDER BY customer_id
    """


def predict_customers(
    conn: Connection, schema: str, as_of: date, horizon_days: int = 90, *, penalizer: float = 0.0
) -> pd.DataFrame:
    """Fit the BG/NBD model on every customer's purchase days up to `as_of` and score them.

    One row per customer with a purchase up to `as_of`: customer_id, frequency, recency,
    T (days), p_alive, expected_purchases_{horizon_days}d and the fitted r, alpha (days), a, b.
    """
    result = conn.execute(text(customer_summary_sql(schema_prefix(conn, schema))), {"as_of": as_of})
    rows, columns = result.fetchall(), list(result.keys())
    # by column: pandas takes a list of Row objects one value at a time (1 s per 100k customers)
    frame = pd.DataFrame(dict(zip(columns, zip(*rows))) if rows else {c: [] for c in columns})
    history = (frame["frequency"], frame["recency"], frame["T"])
    # Nothing to learn before some customer has come back (e.g. in the first days of data):
    # p_alive is then 1 by definition and the expectation is NaN.
    fittable = (frame["frequency"] > 0).any()
    params = fit_bgnbd(*history, penalizer=penalizer) if fittable else BGNBDParams(*[np.nan] * 4)
    frame["p_alive"] = p_alive(params, *history)
    frame[f"expected_purchases_{horizon_days}d"] = expected_purchases(params, horizon_days, *history)
    for name, value in asdict(params).items():
        frame[name] = value
    return frame


def predictions_frame(predictions: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """`predict_customers` output (90-day horizon) in the shape of the customer_predictions
    table: exactly PREDICTION_COLUMNS."""
    frame = predictions.rename(columns={"recency": "recency_days", "T": "age_days"})
    frame.insert(0, "as_of_date", as_of)
    return frame[PREDICTION_COLUMNS]


def refresh_customer_predictions(
    conn: Connection,
    schema: str,
    as_of: date,
) -> tuple[int, dict[str, float]]:
    """Replace customer_predictions (a snapshot) with the 90-day predictions as of `as_of`.
    Returns the rows written and the fitted r, alpha (days), a, b (NaN when nothing could be
    fitted; empty without customers)."""
    scored = predict_customers(conn, schema, as_of)
    frame = predictions_frame(scored, as_of)
    rows = replace_rows(conn, f"{schema_prefix(conn, schema)}.customer_predictions", frame)
    params = scored[[field.name for field in fields(BGNBDParams)]].iloc[0].to_dict() if len(scored) else {}
    return rows, params
