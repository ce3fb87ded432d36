"""Data-quality suites as code: each suite is a small declarative list of rules.

A rule is a Great Expectations 1.x expectation type + its kwargs + a severity:
``error`` (blocking: the data is wrong) or ``warn`` (suspicious: a human should look).
Nothing here imports Great Expectations or pandas at module level, so that importing
``rekindle.quality`` stays cheap; the runner turns rules into a GX suite when validating.

GX column-map expectations (not null aside) ignore missing values: a NULL rate passes
``between 0 and 1`` and a NULL ``csat_score`` passes ``between 1 and 5``, as SPEC section 4 wants.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from rekindle.settings import DEFAULT_PASSIVE_EVENT_TYPES
from rekindle.sources import ACTIVITY_EVENT_TYPES  # the known activity types of the events source
from rekindle.sources import source as landing_source

if TYPE_CHECKING:
    import pandas as pd

Severity = Literal["error", "warn"]

# Allowed values restated from SPEC section 1 on purpose: a check should not share the code it checks.
# (Which columns each raw table has, and which are required, come from rekindle.sources.)
ORDER_STATUSES = ("completed", "cancelled", "refunded")
TOUCH_GROUPS = ("treatment", "control")
# A single order above (p99.9 of the trailing days' amounts) x this factor is suspicious.
AMOUNT_SPIKE_FACTOR = 10.0

# One row per key (SPEC section 4, "grain"); checked with expect_compound_columns_to_be_unique.
TABLE_GRAIN = {
    "customers": ("customer_id",),
    "customer_daily_activity": ("customer_id", "activity_date"),
    "customer_predictions": ("customer_id",),
    "inactive_customers": ("customer_id",),
    "lifecycle_daily": ("as_of_date", "inactivity_days"),
    "reactivation_daily": ("as_of_date", "inactivity_days", "period_days"),
    "retention_daily": ("as_of_date", "inactivity_days", "period_days"),
    "purchase_daily": ("as_of_date", "period_days"),
    "clv_daily": ("as_of_date", "inactivity_days"),
    "nps_daily": ("as_of_date", "period_days"),
    "cohort_retention": ("cohort_month", "months_since_first"),
    "inactive_segments": ("as_of_date", "inactivity_days", "inactivity_bucket", "rfm_segment"),
    "campaign_performance": ("campaign_id", "group"),
}
METRIC_TABLES = tuple(t for t in TABLE_GRAIN if t != "customers")


@dataclass(frozen=True)
class Rule:
    expectation: str  # GX expectation type, e.g. "expect_column_values_to_be_between"
    kwargs: Mapping[str, Any]
    severity: Severity
    description: str

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")

    @property
    def columns(self) -> list[str]:
        """The frame columns the rule looks at (for failing examples)."""
        k = self.kwargs
        found = [k.get("column"), k.get("column_A"), k.get("column_B"), *k.get("column_list", ())]
        return [c for c in found if c is not None]


@dataclass(frozen=True)
class Suite:
    name: str
    rules: tuple[Rule, ...]
    # Columns that identify a failing row in examples (source_file is always added when present).
    example_columns: tuple[str, ...] = ()
    # Shown as the run name in Data Docs, e.g. the partition day(s).
    scope: str | None = None
    # Adds helper columns that rules validate (e.g. lifecycle invariant gaps); runs before GX.
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = field(default=None, compare=False)
    # The table validated, as Data Docs name it (default: the suite's name).
    asset: str | None = None

    @property
    def data_asset(self) -> str:
        return self.asset or self.name

    def only(self, severity: Severity, name: str) -> Suite:
        """The rules of one severity as a suite of their own, e.g. a check's own Data Docs page."""
        return replace(
            self, name=name, rules=tuple(r for r in self.rules if r.severity == severity), asset=self.data_asset
        )


def _rule(expectation: str, severity: Severity, description: str, **kwargs: Any) -> Rule:
    return Rule(expectation, kwargs, severity, description)


def _columns_present(columns: Iterable[str]) -> Rule:
    columns = list(columns)
    return _rule(
        "expect_table_columns_to_match_set", "error",
        f"the frame has the columns {', '.join(columns)} (extra columns are fine)",
        column_set=columns, exact_match=False,
    )


def _not_null(column: str) -> Rule:
    return _rule("expect_column_values_to_not_be_null", "error", f"{column} is never null", column=column)


def _unique(column: str) -> Rule:
    return _rule("expect_column_values_to_be_unique", "error", f"{column} is unique", column=column)


def _in_set(column: str, values: Iterable[str], severity: Severity = "error") -> Rule:
    values = sorted(set(values))
    return _rule(
        "expect_column_values_to_be_in_set", severity, f"{column} is one of {', '.join(values)}",
        column=column, value_set=values,
    )


def _non_negative(column: str) -> Rule:
    return _rule("expect_column_values_to_be_between", "error", f"{column} >= 0", column=column, min_value=0)


def _within_days(column: str, first_day: date, last_day: date | None) -> tuple[Rule, str]:
    """Rule: the timestamp lies in [first_day, last_day + 1 day); plus the scope label."""
    last_day = last_day or first_day
    start = datetime.combine(first_day, datetime.min.time())
    end = datetime.combine(last_day + timedelta(days=1), datetime.min.time())
    scope = first_day.isoformat() if last_day == first_day else f"{first_day}..{last_day}"
    rule = _rule(
        "expect_column_values_to_be_between", "error", f"{column} is on the partition day(s) {scope} (UTC)",
        column=column, min_value=start, max_value=end, strict_max=True,
    )
    return rule, scope


def _raw_source_suite(
    source: str,
    first_day: date,
    last_day: date | None,
    example_columns: tuple[str, ...],
    before_day: Iterable[Rule] = (),
    after_day: Iterable[Rule] = (),
) -> Suite:
    """The rules a raw table gets from its landing source record (rekindle.sources): its columns
    present, its NOT NULL columns not null, its id unique, its timestamp on the partition day(s);
    plus the source's own value rules, before or after the day rule."""
    landing = landing_source(source)
    day_rule, scope = _within_days(landing.timestamp_column, first_day, last_day)
    rules = (
        _columns_present([*landing.column_names, "partition_date", "source_file"]),
        *(_not_null(c.name) for c in landing.columns if not c.nullable),
        _unique(landing.id_column),
        *before_day,
        day_rule,
        *after_day,
    )
    return Suite(landing.table, rules, example_columns, scope)


# --- raw layer (ExtractedPartition.accepted) ------------------------------------------------


def raw_orders_suite(
    first_day: date, last_day: date | None = None, *, currency: str = "USD", amount_max: float | None = None
) -> Suite:
    """Accepted orders of the partition day(s) first_day..last_day (inclusive).

    amount_max: WARN above this amount (see amount_bound); None skips that rule.
    """
    values = (_in_set("status", ORDER_STATUSES), _in_set("currency", [currency.upper()]), _non_negative("amount"))
    spike = []
    if amount_max is not None:
        spike.append(_rule(
            "expect_column_values_to_be_between", "warn",
            f"amount is at most {amount_max:,.2f} (larger is far above the trailing distribution)",
            column="amount", max_value=float(amount_max),
        ))
    return _raw_source_suite("orders", first_day, last_day, ("order_id", "customer_id"), values, spike)


def raw_events_suite(
    first_day: date, last_day: date | None = None, *, event_types: Collection[str] | None = None
) -> Suite:
    """Accepted events; an event_type outside event_types (default: known_event_types()) is a WARN."""
    known = _in_set("event_type", known_event_types() if event_types is None else event_types, "warn")
    return _raw_source_suite("events", first_day, last_day, ("event_id", "customer_id"), after_day=[known])


def raw_campaign_touches_suite(first_day: date, last_day: date | None = None) -> Suite:
    values = (_in_set("group", TOUCH_GROUPS), _non_negative("cost"))
    return _raw_source_suite("campaign_touches", first_day, last_day, ("touch_id", "campaign_id"), after_day=values)


def raw_surveys_suite(first_day: date, last_day: date | None = None) -> Suite:
    values = (
        _rule("expect_column_values_to_be_between", "error", "nps_score is 0..10",
              column="nps_score", min_value=0, max_value=10),
        _rule("expect_column_values_to_be_between", "error", "csat_score is 1..5 or null",
              column="csat_score", min_value=1, max_value=5),
    )
    return _raw_source_suite("surveys", first_day, last_day, ("response_id",), after_day=values)


def raw_suite(
    source: str,
    first_day: date,
    last_day: date | None = None,
    *,
    currency: str = "USD",
    amount_max: float | None = None,
    event_types: Collection[str] | None = None,
) -> Suite:
    """The suite of a landing source ("orders", "events", ...); options apply where they mean something.
    A source without value rules of its own here gets the rules its record implies."""
    if source == "orders":
        return raw_orders_suite(first_day, last_day, currency=currency, amount_max=amount_max)
    if source == "events":
        return raw_events_suite(first_day, last_day, event_types=event_types)
    if source == "campaign_touches":
        return raw_campaign_touches_suite(first_day, last_day)
    if source == "surveys":
        return raw_surveys_suite(first_day, last_day)
    return _raw_source_suite(source, first_day, last_day, (landing_source(source).id_column,))


def known_event_types(passive_event_types: Iterable[str] = DEFAULT_PASSIVE_EVENT_TYPES) -> tuple[str, ...]:
    """Activity types plus the configured passive types (Settings.passive_event_types)."""
    return (*ACTIVITY_EVENT_TYPES, *passive_event_types)


def amount_bound(trailing_p999: float | Decimal | None, factor: float = AMOUNT_SPIKE_FACTOR) -> float | None:
    """The largest unsuspicious order amount: p99.9 of the trailing days' amounts, as the warehouse
    computes it (rekindle.quality.history.trailing_p999), x factor; None without history,
    which skips the rule."""
    return None if trailing_p999 is None else float(trailing_p999) * factor


# --- derived tables ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TableRules:
    """What a table's contract adds to the rules that follow from its definition (_definition_rules)."""

    rules: tuple[Rule, ...] = ()
    # adds the helper columns that `rules` validate; runs before GX
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    # `rules` compare day D with D - 1: a range of days is validated together with the day before it
    needs_day_before: bool = False
    # named in the description of the table's contract check
    summary: str | None = None


def table_rules(table: str) -> TableRules:
    """What `table`'s contract adds (nothing for most tables): see TABLE_RULES."""
    return TABLE_RULES.get(table, TableRules())


def table_suite(table: str) -> Suite:
    """A derived table's contract: columns present, grain unique, NOT NULL columns not null,
    counts/sums >= 0, rates in [0, 1], and the table's own rules (TABLE_RULES)."""
    if table not in TABLE_GRAIN:
        raise ValueError(f"no quality suite for table {table!r}; expected one of {', '.join(TABLE_GRAIN)}")
    own = table_rules(table)
    return Suite(table, (*_definition_rules(table), *own.rules), TABLE_GRAIN[table], prepare=own.prepare)


def _definition_rules(table: str) -> list[Rule]:
    """Rules that follow from the table definition in rekindle.tables."""
    from sqlalchemy import Double, Integer, Numeric

    from rekindle.tables import build_metadata  # SQLAlchemy import: keep it off the package import

    columns = build_metadata("quality").tables[f"quality.{table}"].columns
    grain = list(TABLE_GRAIN[table])
    rules = [
        _columns_present(c.name for c in columns),
        _rule("expect_compound_columns_to_be_unique", "error", f"one row per {', '.join(grain)}",
              column_list=grain) if len(grain) > 1 else _unique(grain[0]),
    ]
    for c in columns:
        if not c.nullable:
            rules.append(_not_null(c.name))
        if c.name.endswith("_rate") or c.name == "p_alive":
            rules.append(_rule("expect_column_values_to_be_between", "error", f"{c.name} is in [0, 1] or null",
                               column=c.name, min_value=0, max_value=1))
        elif isinstance(c.type, (Integer, Numeric)) and not isinstance(c.type, Double):
            rules.append(_non_negative(c.name))  # counts, day numbers and money sums
    return rules


def lifecycle_invariant_gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """Adds inactive_/active_invariant_gap: observed minus the value implied by the day before.

    NaN (skipped by the rule) when the frame has no row for D-1 and the same inactivity_days:
    pass the previous day's rows along to check the first day of a range. Without the columns
    it needs, the frame is returned as is and the columns rule reports what is missing.
    """
    import pandas as pd

    counts = ("new_customers", "reactivated_customers", "dormant_customers", "active_customers", "inactive_customers")
    if not {"as_of_date", "inactivity_days", *counts} <= set(frame.columns):
        return frame
    count = {c: frame[c].astype("float64").to_numpy() for c in counts}
    day = pd.to_datetime(frame["as_of_date"]).dt.normalize()
    n = frame["inactivity_days"].to_numpy()
    previous = pd.DataFrame(
        {"active": count["active_customers"], "inactive": count["inactive_customers"]},
        index=pd.MultiIndex.from_arrays([day + pd.Timedelta(days=1), n]),
    )
    previous = previous[~previous.index.duplicated()]  # a duplicated grain fails its own rule
    before = previous.reindex(pd.MultiIndex.from_arrays([day, n]))
    implied_inactive = before["inactive"].to_numpy() + count["dormant_customers"] - count["reactivated_customers"]
    implied_active = (before["active"].to_numpy() + count["new_customers"]
                      + count["reactivated_customers"] - count["dormant_customers"])
    return frame.assign(
        inactive_invariant_gap=count["inactive_customers"] - implied_inactive,
        active_invariant_gap=count["active_customers"] - implied_active,
    )


# What a table's contract adds to the rules its definition implies; a table not listed adds nothing.
TABLE_RULES: dict[str, TableRules] = {
    "customers": TableRules(rules=(
        _rule("expect_column_pair_values_a_to_be_greater_than_b", "error",
              "last_active_date >= first_active_date",
              column_A="last_active_date", column_B="first_active_date", or_equal=True),
    )),
    "nps_daily": TableRules(rules=(
        _rule("expect_column_values_to_be_between", "error", "nps is -100..100 or null",
              column="nps", min_value=-100, max_value=100),
    )),
    "lifecycle_daily": TableRules(
        rules=(
            _rule("expect_column_values_to_be_between", "error",
                  "inactive(D) = inactive(D-1) + dormant(D) - reactivated(D)",
                  column="inactive_invariant_gap", min_value=0, max_value=0),
            _rule("expect_column_values_to_be_between", "error",
                  "active(D) = active(D-1) + new(D) + reactivated(D) - dormant(D)",
                  column="active_invariant_gap", min_value=0, max_value=0),
        ),
        prepare=lifecycle_invariant_gaps,
        needs_day_before=True,
        summary="lifecycle invariants",
    ),
}
