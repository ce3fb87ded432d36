"""A deliberately naive reference implementation of SPEC section 5 (lifecycle, reactivation,
retention and purchase metrics), written straight from the definitions.

No cleverness on purpose: for every as-of day D, every window and every customer it looks
at the customer's whole list of active days again. It is slow (customers x days x active
days) and only meant for the small histories of the tests, where it is the oracle that the
linear-time warehouse SQL in ``rekindle.metrics`` is checked against.

Input: activity rows ``(customer_id, day, orders, revenue, events)``, one per customer and
active day, like the ``customer_daily_activity`` table: ``orders`` and ``revenue`` are the
completed orders of that day, ``events`` the non-passive events. A row is an active day
because it has at least one completed order or one non-passive event.

Output: lists of dicts with the column names of SPEC section 4, one per
(day, N[, P]) for every day of [start, end], ordered by the key columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal


@dataclass(frozen=True)
class Activity:
    customer_id: str
    day: date
    orders: int
    revenue: Decimal
    events: int


def as_activity(rows: Iterable[Sequence]) -> list[Activity]:
    out = []
    for customer_id, day, orders, revenue, events in rows:
        a = Activity(str(customer_id), day, int(orders), Decimal(str(revenue)), int(events))
        assert a.orders > 0 or a.events > 0, f"{a} is not an active day (no order, no event)"
        assert a.orders > 0 or a.revenue == 0, f"{a} has revenue without orders"
        out.append(a)
    keys = [(a.customer_id, a.day) for a in out]
    assert len(keys) == len(set(keys)), "at most one activity row per customer and day"
    return out


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def rate(numerator, denominator) -> float | None:
    """numerator / denominator, None (SQL NULL) when the denominator is 0."""
    if denominator == 0:
        return None
    return float(numerator) / float(denominator)


class History:
    """The activity of every customer, with the SPEC section 5 predicates as plain methods."""

    def __init__(self, rows: Iterable[Sequence]):
        self.rows = as_activity(rows)
        self.customers = sorted({a.customer_id for a in self.rows})
        # Grouped once so that the loops below stay affordable; nothing else is precomputed.
        self.rows_of = {c: [a for a in self.rows if a.customer_id == c] for c in self.customers}
        self.days_of = {c: sorted(a.day for a in self.rows_of[c]) for c in self.customers}

    def active_days(self, c: str) -> list[date]:
        """A(c)."""
        return self.days_of[c]

    def is_active_on(self, c: str, d: date) -> bool:
        return d in self.active_days(c)

    def seen_by(self, c: str, d: date) -> bool:
        return any(x <= d for x in self.active_days(c))

    def last_active(self, c: str, d: date) -> date | None:
        """The latest day of A(c) that is <= d (None when c is not seen by d)."""
        days = [x for x in self.active_days(c) if x <= d]
        return max(days) if days else None

    def previous_active_day(self, c: str, d: date) -> date | None:
        """The latest day of A(c) strictly before d."""
        days = [x for x in self.active_days(c) if x < d]
        return max(days) if days else None

    def days_inactive(self, c: str, d: date) -> int:
        return (d - self.last_active(c, d)).days

    def inactive(self, c: str, d: date, n: int) -> bool:
        return self.seen_by(c, d) and self.days_inactive(c, d) >= n

    def in_base(self, c: str, d: date, n: int) -> bool:
        return self.seen_by(c, d) and self.days_inactive(c, d) < n

    def rows_in_period(self, c: str, s: date, d: date) -> list[Activity]:
        """c's activity rows on days in (s, d]."""
        return [a for a in self.rows_of[c] if s < a.day <= d]


# --- lifecycle_daily ----------------------------------------------------------------------


def lifecycle_daily(rows: Iterable[Sequence], start: date, end: date, inactivity_days: Sequence[int]) -> list[dict]:
    h = History(rows)
    out = []
    for d in days_between(start, end):
        for n in sorted(set(inactivity_days)):
            new = returning = reactivated = dormant = active = inactive = 0
            for c in h.customers:
                if h.is_active_on(c, d):
                    p = h.previous_active_day(c, d)
                    if min(h.active_days(c)) == d:
                        new += 1
                    elif p >= d - timedelta(days=n):
                        returning += 1
                    else:  # p < d - n: inactive at the end of d - 1
                        reactivated += 1
                if h.last_active(c, d) == d - timedelta(days=n):
                    dormant += 1
                if h.in_base(c, d, n):
                    active += 1
                if h.inactive(c, d, n):
                    inactive += 1
            out.append(
                {
                    "as_of_date": d,
                    "inactivity_days": n,
                    "new_customers": new,
                    "returning_customers": returning,
                    "reactivated_customers": reactivated,
                    "dormant_customers": dormant,
                    "active_customers": active,
                    "inactive_customers": inactive,
                }
            )
    return out


# --- reactivation_daily -------------------------------------------------------------------


def reactivation_daily(
    rows: Iterable[Sequence], start: date, end: date, inactivity_days: Sequence[int], period_days: Sequence[int]
) -> list[dict]:
    h = History(rows)
    out = []
    for d in days_between(start, end):
        for n in sorted(set(inactivity_days)):
            for p in sorted(set(period_days)):
                s = d - timedelta(days=p)
                inactive_at_start = [c for c in h.customers if h.inactive(c, s, n)]
                came_back = [c for c in inactive_at_start if h.rows_in_period(c, s, d)]
                revenue = sum((a.revenue for c in came_back for a in h.rows_in_period(c, s, d)), Decimal(0))
                out.append(
                    {
                        "as_of_date": d,
                        "inactivity_days": n,
                        "period_days": p,
                        "inactive_at_start": len(inactive_at_start),
                        "reactivated": len(came_back),
                        "reactivation_rate": rate(len(came_back), len(inactive_at_start)),
                        "reactivated_revenue": revenue,
                    }
                )
    return out


# --- retention_daily ----------------------------------------------------------------------


def retention_daily(
    rows: Iterable[Sequence], start: date, end: date, inactivity_days: Sequence[int], period_days: Sequence[int]
) -> list[dict]:
    h = History(rows)
    out = []
    for d in days_between(start, end):
        for n in sorted(set(inactivity_days)):
            for p in sorted(set(period_days)):
                s = d - timedelta(days=p)
                at_start = [c for c in h.customers if h.in_base(c, s, n)]
                churned = [c for c in at_start if h.inactive(c, d, n)]
                churn_rate = rate(len(churned), len(at_start))
                out.append(
                    {
                        "as_of_date": d,
                        "inactivity_days": n,
                        "period_days": p,
                        "customers_at_start": len(at_start),
                        "retained": len(at_start) - len(churned),
                        "churned": len(churned),
                        "retention_rate": None if churn_rate is None else 1 - churn_rate,
                        "churn_rate": churn_rate,
                    }
                )
    return out


# --- purchase_daily -----------------------------------------------------------------------


def purchase_daily(rows: Iterable[Sequence], start: date, end: date, period_days: Sequence[int]) -> list[dict]:
    h = History(rows)
    out = []
    for d in days_between(start, end):
        for p in sorted(set(period_days)):
            s = d - timedelta(days=p)
            orders = 0
            revenue = Decimal(0)
            buyers = repeat_buyers = 0
            for c in h.customers:
                c_orders = sum(a.orders for a in h.rows_in_period(c, s, d))
                c_revenue = sum((a.revenue for a in h.rows_in_period(c, s, d)), Decimal(0))
                orders += c_orders
                revenue += c_revenue
                if c_orders >= 1:
                    buyers += 1
                if c_orders >= 2:
                    repeat_buyers += 1
            out.append(
                {
                    "as_of_date": d,
                    "period_days": p,
                    "orders": orders,
                    "buyers": buyers,
                    "revenue": revenue,
                    "average_order_value": rate(revenue, orders),
                    "purchase_frequency": rate(orders, buyers),
                    "repeat_buyers": repeat_buyers,
                    "repeat_purchase_rate": rate(repeat_buyers, buyers),
                }
            )
    return out


def all_tables(
    rows: Iterable[Sequence], start: date, end: date, inactivity_days: Sequence[int], period_days: Sequence[int]
) -> dict[str, list[dict]]:
    rows = list(rows)
    return {
        "lifecycle_daily": lifecycle_daily(rows, start, end, inactivity_days),
        "reactivation_daily": reactivation_daily(rows, start, end, inactivity_days, period_days),
        "retention_daily": retention_daily(rows, start, end, inactivity_days, period_days),
        "purchase_daily": purchase_daily(rows, start, end, period_days),
    }
