"""Metric alerts: is a day's value far from its own recent past? (pure; no Dagster, no SQL)

The baseline of day D is the median of the metric over the trailing 28 days (D-28 .. D-1), and
its spread the median absolute deviation (MAD) of those days. MAD x 1.4826 estimates the standard
deviation of normally distributed values, yet one odd day moves neither the median nor the MAD,
so an earlier spike does not hide the next one. Day D alerts when

    |value - median| > max(k x 1.4826 x MAD, min_change, min_relative_change x |median|)

with k = 4 (about 1 normal day in 16,000 crosses 4 standard deviations). The floors keep a flat
series quiet: over 28 identical days the MAD is 0, and without a floor any wiggle would alert.
A day with fewer than 14 values in its window (a new metric, the first days of data) is not
judged, nor is a day without a value (a rate whose denominator is 0).

Days before a metric can mean anything are not values at all: no customer can be inactive for N
days before N days of data exist, so a churn rate is 0 by construction until then. Callers pass
`valid_from` (e.g. the first day of activity + N + P) and earlier days are neither judged nor
used as history.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

BASELINE_DAYS = 28
MIN_HISTORY_DAYS = 14
MAD_TO_SIGMA = 1.4826  # 1 / Phi^-1(3/4): MAD x this = standard deviation, for normal data
DEFAULT_K = 4.0
# Floors, each the smallest move worth a look. A rate: 1 percentage point, and a quarter of its
# level (a 7-day churn rate of 10% alerts above 12.5%). The quarter also absorbs the steps a
# P-day rate takes when a busy day enters or leaves its window. The active base: 5%. Events per
# active customer: 10%. On the default sample (20,000 customers, 180 days) every alert is in the
# weeks after a win-back campaign, which really moves these numbers; a 60-day sample has none.
RATE_MIN_CHANGE = 0.01
RATE_MIN_RELATIVE_CHANGE = 0.25
ACTIVE_BASE_MIN_RELATIVE_CHANGE = 0.05
ENGAGEMENT_MIN_RELATIVE_CHANGE = 0.10

Format = Literal["percent", "count", "ratio"]


@dataclass(frozen=True)
class AlertRule:
    """How one daily series is judged and written about."""

    label: str  # "churn rate 7d (N=30)": what the description names
    format: Format = "ratio"
    min_change: float = 0.0  # in the metric's unit: a smaller move never alerts
    min_relative_change: float = 0.0  # share of the median: a smaller move never alerts
    k: float = DEFAULT_K


def rate_rule(label: str) -> AlertRule:
    return AlertRule(label, "percent", min_change=RATE_MIN_CHANGE, min_relative_change=RATE_MIN_RELATIVE_CHANGE)


def active_base_rule(label: str) -> AlertRule:
    return AlertRule(label, "count", min_relative_change=ACTIVE_BASE_MIN_RELATIVE_CHANGE)


def engagement_rule(label: str) -> AlertRule:
    return AlertRule(label, "ratio", min_relative_change=ENGAGEMENT_MIN_RELATIVE_CHANGE)


@dataclass(frozen=True)
class DayVerdict:
    day: date
    value: float | None
    median: float | None  # None: not judged (too little history, or no value)
    mad: float | None
    tolerance: float | None  # how far from the median the value may be
    history_days: int  # values in the trailing window
    alert: bool

    @property
    def judged(self) -> bool:
        return self.median is not None

    @property
    def direction(self) -> Literal["spike", "drop"] | None:
        if not self.alert or self.value is None or self.median is None:
            return None
        return "spike" if self.value > self.median else "drop"

    @property
    def deviation(self) -> float | None:
        """How many tolerances from the median: > 1 alerts."""
        if not self.judged or self.value is None:
            return None
        if self.tolerance:
            return abs(self.value - self.median) / self.tolerance
        return 0.0 if self.value == self.median else math.inf

    def to_metadata(self) -> dict:
        """JSON-able (no NaN, dates as text)."""
        return {
            "day": self.day.isoformat(),
            "value": self.value,
            "median": self.median,
            "mad": self.mad,
            "tolerance": self.tolerance,
            "history_days": self.history_days,
            "alert": self.alert,
        }


def judge_series(
    values: Mapping[date, float | None],
    days: Iterable[date],
    rule: AlertRule,
    *,
    valid_from: date | None = None,
    baseline_days: int = BASELINE_DAYS,
    min_history: int = MIN_HISTORY_DAYS,
) -> list[DayVerdict]:
    """One verdict per day in `days`, against the trailing `baseline_days` of `values`.

    values: the series by day; missing days, None and NaN are "no value". It must hold the
    history too (the 28 days before the first checked day), not only the checked days.
    """
    clean = {
        day: float(v) for day, v in values.items()
        if v is not None and not _is_nan(v) and (valid_from is None or day >= valid_from)
    }
    verdicts = []
    for day in sorted(days):
        value = clean.get(day)
        history = [clean[d] for d in (day - timedelta(days=i) for i in range(baseline_days, 0, -1)) if d in clean]
        if value is None or len(history) < min_history:
            verdicts.append(DayVerdict(day, value, None, None, None, len(history), False))
            continue
        median = statistics.median(history)
        mad = statistics.median(abs(v - median) for v in history)
        tolerance = max(rule.k * MAD_TO_SIGMA * mad, rule.min_change, rule.min_relative_change * abs(median))
        alert = abs(value - median) > tolerance
        verdicts.append(DayVerdict(day, value, median, mad, tolerance, len(history), alert))
    return verdicts


def describe(rule: AlertRule, verdict: DayVerdict) -> str:
    """'churn rate 7d on 2026-11-20 = 14.2% vs median 8.1% (±1.0%)'"""
    if verdict.value is None:
        return f"{rule.label} on {verdict.day}: no value"
    if not verdict.judged:
        return (f"{rule.label} on {verdict.day} = {format_value(rule, verdict.value)} "
                f"(not judged: {verdict.history_days} of {MIN_HISTORY_DAYS} days of history)")
    return (f"{rule.label} on {verdict.day} = {format_value(rule, verdict.value)} vs median "
            f"{format_value(rule, verdict.median)} (±{format_value(rule, verdict.tolerance)})")


def summarize(rule: AlertRule, verdicts: list[DayVerdict], max_days: int = 3) -> str:
    """One line for the check: the worst alerting day (and how many more), else the latest day."""
    alerts = sorted((v for v in verdicts if v.alert), key=lambda v: v.deviation or 0, reverse=True)
    if alerts:
        worst = describe(rule, alerts[0])
        others = [str(v.day) for v in sorted(alerts[1:max_days], key=lambda v: v.day)]
        more = len(alerts) - 1
        if not more:
            return f"{worst}, a {alerts[0].direction}"
        listed = f": {', '.join(others)}" + (", ..." if more > len(others) else "")
        return f"{worst}, a {alerts[0].direction}; {more} more day(s) outside the band{listed}"
    judged = [v for v in verdicts if v.judged]
    if judged:
        return describe(rule, judged[-1])
    if verdicts:
        return describe(rule, verdicts[-1])
    return f"{rule.label}: no day to check"


def summarize_all(judged: Sequence[tuple[AlertRule, list[DayVerdict]]]) -> str:
    """One line for a check watching several series (e.g. churn rate per period P): the series
    with the worst alert, and which others alert; without alerts, the first series' latest day."""
    alerting = [(rule, verdicts) for rule, verdicts in judged if any(v.alert for v in verdicts)]
    if not alerting:
        days = {v.day for _, verdicts in judged for v in verdicts if v.judged}
        first = next(((r, v) for r, v in judged if any(x.judged for x in v)), judged[0] if judged else None)
        if first is None:
            return "no series to check"
        return f"no alert on {len(days)} day(s) judged; latest: {summarize(*first)}"

    def worst(item):
        return max(v.deviation or 0 for v in item[1] if v.alert)

    alerting.sort(key=worst, reverse=True)
    line = summarize(*alerting[0])
    others = [f"{rule.label} ({sum(v.alert for v in verdicts)} day(s))" for rule, verdicts in alerting[1:]]
    return line + (f"; also {', '.join(others)}" if others else "")


def describe_band(rule: AlertRule, baseline_days: int = BASELINE_DAYS) -> str:
    """How far a day may stray, in words: 'trailing 28-day band: median +/- max(4 x 1.4826 x MAD,
    1 point, 25% of the median)'."""
    floors = []
    if rule.min_change and rule.format == "percent":
        points = 100 * rule.min_change
        floors.append(f"{points:g} point" + ("" if points == 1 else "s"))
    elif rule.min_change:
        floors.append(f"{rule.min_change:g}")
    if rule.min_relative_change:
        floors.append(f"{rule.min_relative_change:.0%} of the median")
    spread = ", ".join([f"{rule.k:g} x {MAD_TO_SIGMA} x MAD", *floors])
    return f"trailing {baseline_days}-day band: median +/- max({spread})"


def format_value(rule: AlertRule, value: float | None) -> str:
    if value is None:
        return "n/a"
    if rule.format == "percent":
        return f"{100 * value:.1f}%"
    if rule.format == "count":
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _is_nan(value) -> bool:
    try:
        return math.isnan(value)
    except TypeError:
        return False
