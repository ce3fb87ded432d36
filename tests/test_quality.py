"""The data-quality engine: every rule fails on a crafted bad frame (with its severity) and passes
on a good one; failing examples, Data Docs, volume and reject-rate rules, cheap package import.

Great Expectations' context is cached per process, so the whole module shares one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rekindle.landing import LandingFile
from rekindle.quality import (
    MAX_EXAMPLES,
    METRIC_TABLES,
    SuiteResult,
    amount_bound,
    known_event_types,
    raw_campaign_touches_suite,
    raw_events_suite,
    raw_orders_suite,
    raw_suite,
    raw_surveys_suite,
    reject_rate_rules,
    table_suite,
    validate_frame,
    volume_rule,
)
from rekindle.quality import runner
from rekindle.raw_validation import validate_frames

DAY = date(2025, 3, 10)
ROOT = Path(__file__).resolve().parents[1]


def accepted(source: str, rows: list[dict], file: str = "a.csv") -> pd.DataFrame:
    """The accepted frame raw validation makes of these text rows (the real dtypes)."""
    relative = f"{source}/dt={DAY}/{file}"
    landing_file = LandingFile(Path("/landing") / relative, relative, 1, 100)
    return validate_frames(source, DAY, [(landing_file, pd.DataFrame(rows, dtype=str))], "USD").accepted


def orders(n: int = 3) -> pd.DataFrame:
    return accepted("orders", [
        {"order_id": f"o{i}", "customer_id": f"c{i % 2}", "ordered_at": f"2025-03-10T{i % 24:02d}:15:00Z",
         "amount": f"{10 + i}.50", "currency": "usd", "status": ["completed", "cancelled", "refunded"][i % 3],
         "channel": "web"}
        for i in range(n)
    ])


def events() -> pd.DataFrame:
    return accepted("events", [
        {"event_id": f"e{i}", "customer_id": "c1", "occurred_at": "2025-03-10T05:00:00", "event_type": kind}
        for i, kind in enumerate(["app_open", "page_view", "email_sent"])
    ])


def touches() -> pd.DataFrame:
    return accepted("campaign_touches", [
        {"touch_id": f"t{i}", "customer_id": f"c{i}", "campaign_id": "spring", "sent_at": "2025-03-10T08:00:00",
         "group": group, "cost": cost}
        for i, (group, cost) in enumerate([("treatment", "0.25"), ("control", "")])
    ])


def surveys() -> pd.DataFrame:
    return accepted("surveys", [
        {"response_id": f"r{i}", "customer_id": "c1", "responded_at": "2025-03-10T09:00:00",
         "nps_score": nps, "csat_score": csat}
        for i, (nps, csat) in enumerate([("10", "5"), ("0", ""), ("7", "1")])
    ])


def failures(result: SuiteResult) -> set[tuple[str, str | None, str]]:
    return {(r.expectation, r.column, r.severity) for r in result.results if not r.success}


def with_value(frame: pd.DataFrame, column: str, value, row: int = 0) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[row, column] = value
    return frame


BETWEEN, NOT_NULL, UNIQUE, IN_SET = (
    "expect_column_values_to_be_between",
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_unique",
    "expect_column_values_to_be_in_set",
)
NEXT_DAY = pd.Timestamp(DAY + timedelta(days=1))
DAY_BEFORE = pd.Timestamp(DAY) - pd.Timedelta(microseconds=1)


# --- import cost ------------------------------------------------------------------------------


def test_importing_the_package_does_not_load_great_expectations():
    code = "import sys, rekindle.quality; print([m for m in ('great_expectations', 'pandas') if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"


# --- raw suites --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "suite"),
    [
        (orders, lambda: raw_orders_suite(DAY, currency="USD", amount_max=1000)),
        (events, lambda: raw_events_suite(DAY)),
        (touches, lambda: raw_campaign_touches_suite(DAY)),
        (surveys, lambda: raw_surveys_suite(DAY)),
    ],
    ids=["orders", "events", "campaign_touches", "surveys"],
)
def test_accepted_frames_of_raw_validation_pass(frame, suite):
    result = validate_frame(frame(), suite())
    assert result.passed("warn"), result.to_metadata()["failed_rules"]
    assert result.evaluated == len(suite().rules) and result.docs_path is None


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("order_id", None, (NOT_NULL, "order_id", "error")),
        ("customer_id", None, (NOT_NULL, "customer_id", "error")),
        ("ordered_at", pd.NaT, (NOT_NULL, "ordered_at", "error")),
        ("amount", np.nan, (NOT_NULL, "amount", "error")),
        ("currency", None, (NOT_NULL, "currency", "error")),
        ("status", None, (NOT_NULL, "status", "error")),
        ("order_id", "o1", (UNIQUE, "order_id", "error")),
        ("status", "lost", (IN_SET, "status", "error")),
        ("currency", "EUR", (IN_SET, "currency", "error")),
        ("amount", -0.01, (BETWEEN, "amount", "error")),
        ("ordered_at", NEXT_DAY, (BETWEEN, "ordered_at", "error")),
        ("ordered_at", DAY_BEFORE, (BETWEEN, "ordered_at", "error")),
        ("amount", 5000.0, (BETWEEN, "amount", "warn")),
    ],
)
def test_each_orders_rule_fails_on_its_bad_value(column, value, expected):
    result = validate_frame(with_value(orders(), column, value), raw_orders_suite(DAY, amount_max=1000))
    assert failures(result) == {expected}
    assert result.passed("error") == (expected[2] == "warn")


def test_amount_spike_rule_is_skipped_without_a_bound_and_currency_follows_the_setting():
    frame = with_value(orders(), "amount", 1e9)
    assert validate_frame(frame, raw_orders_suite(DAY)).passed("warn")
    result = validate_frame(orders(), raw_orders_suite(DAY, currency="eur"))
    assert failures(result) == {(IN_SET, "currency", "error")}
    (currency,) = [r for r in result.results if not r.success]
    assert currency.unexpected_count == 3 and currency.kwargs["value_set"] == ["EUR"]


def test_a_multi_day_range_accepts_every_day_in_it():
    frame = with_value(orders(), "ordered_at", pd.Timestamp("2025-03-12T23:59:59"))
    assert failures(validate_frame(frame, raw_orders_suite(DAY, DAY + timedelta(days=2)))) == set()
    assert failures(validate_frame(frame, raw_orders_suite(DAY, DAY + timedelta(days=1)))) == {
        (BETWEEN, "ordered_at", "error")
    }


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("event_id", None, (NOT_NULL, "event_id", "error")),
        ("customer_id", None, (NOT_NULL, "customer_id", "error")),
        ("occurred_at", pd.NaT, (NOT_NULL, "occurred_at", "error")),
        ("event_type", None, (NOT_NULL, "event_type", "error")),
        ("event_id", "e1", (UNIQUE, "event_id", "error")),
        ("occurred_at", NEXT_DAY, (BETWEEN, "occurred_at", "error")),
        ("event_type", "teleport", (IN_SET, "event_type", "warn")),
    ],
)
def test_each_events_rule_fails_on_its_bad_value(column, value, expected):
    assert failures(validate_frame(with_value(events(), column, value), raw_events_suite(DAY))) == {expected}


def test_known_event_types_are_passed_in():
    frame = with_value(events(), "event_type", "bell_ring")
    custom = raw_events_suite(DAY, event_types=["app_open", "page_view", "email_sent", "bell_ring"])
    assert validate_frame(frame, custom).passed("warn")
    # A configured passive type is known; without it the same events warn.
    assert validate_frame(events(), raw_events_suite(DAY, event_types=known_event_types(["email_sent"]))).passed("warn")
    assert not validate_frame(events(), raw_events_suite(DAY, event_types=known_event_types([]))).passed("warn")


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("touch_id", None, (NOT_NULL, "touch_id", "error")),
        ("campaign_id", None, (NOT_NULL, "campaign_id", "error")),
        ("group", None, (NOT_NULL, "group", "error")),
        ("cost", np.nan, (NOT_NULL, "cost", "error")),
        ("touch_id", "t1", (UNIQUE, "touch_id", "error")),
        ("sent_at", NEXT_DAY, (BETWEEN, "sent_at", "error")),
        ("group", "holdout", (IN_SET, "group", "error")),
        ("cost", -1.0, (BETWEEN, "cost", "error")),
    ],
)
def test_each_campaign_touches_rule_fails_on_its_bad_value(column, value, expected):
    result = validate_frame(with_value(touches(), column, value), raw_campaign_touches_suite(DAY))
    assert failures(result) == {expected}


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("response_id", None, (NOT_NULL, "response_id", "error")),
        ("nps_score", pd.NA, (NOT_NULL, "nps_score", "error")),
        ("response_id", "r1", (UNIQUE, "response_id", "error")),
        ("responded_at", NEXT_DAY, (BETWEEN, "responded_at", "error")),
        ("nps_score", 11, (BETWEEN, "nps_score", "error")),
        ("nps_score", -1, (BETWEEN, "nps_score", "error")),
        ("csat_score", 0, (BETWEEN, "csat_score", "error")),
        ("csat_score", 6, (BETWEEN, "csat_score", "error")),
    ],
)
def test_each_surveys_rule_fails_on_its_bad_value(column, value, expected):
    assert failures(validate_frame(with_value(surveys(), column, value), raw_surveys_suite(DAY))) == {expected}


def test_a_missing_column_fails_the_columns_rule_without_crashing():
    result = validate_frame(events().drop(columns=["event_type"]), raw_events_suite(DAY))
    assert ("expect_table_columns_to_match_set", None, "error") in failures(result)
    broken = [r for r in result.results if r.column == "event_type"]
    assert broken and all(not r.success and "event_type" in r.exception for r in broken)


def test_an_empty_partition_passes():
    empty = accepted("orders", [])
    assert len(empty) == 0
    assert validate_frame(empty, raw_orders_suite(DAY, amount_max=1)).passed("warn")


def test_raw_suite_picks_the_source_suite():
    assert raw_suite("orders", DAY, currency="EUR").rules == raw_orders_suite(DAY, currency="EUR").rules
    assert raw_suite("surveys", DAY).name == "raw_surveys"
    with pytest.raises(ValueError, match="unknown landing source"):
        raw_suite("clicks", DAY)


def test_amount_bound_is_ten_times_the_trailing_p999():
    # the p99.9 as the warehouse returns it (tests/test_quality_history.py reads it there)
    assert amount_bound(Decimal("999.0010")) == pytest.approx(9990.01)
    assert amount_bound(12.5) == 125.0
    assert amount_bound(None) is None  # no history: the rule is skipped


# --- failing examples and metadata -----------------------------------------------------------


def test_failing_examples_name_the_file_and_are_capped():
    good = orders(30)
    bad = accepted("orders", [
        {"order_id": f"x{i}", "customer_id": "c9", "ordered_at": "2025-03-10T10:00:00", "amount": "1"}
        for i in range(50)
    ], file="late.parquet")
    bad["currency"] = "GBP"  # as if raw validation had let it through
    result = validate_frame(pd.concat([good, bad], ignore_index=True), raw_orders_suite(DAY))

    (rule,) = [r for r in result.results if not r.success]
    assert (rule.column, rule.unexpected_count) == ("currency", 50)
    assert rule.unexpected_percent == pytest.approx(62.5)
    assert len(rule.failing_examples) == MAX_EXAMPLES
    assert all(
        set(row) == {"order_id", "customer_id", "currency", "source_file"}
        and row["source_file"] == f"orders/dt={DAY}/late.parquet" and row["currency"] == "GBP"
        for row in rule.failing_examples
    )

    metadata = result.to_metadata()
    json.dumps(metadata, allow_nan=False)  # strict JSON throughout
    assert metadata["expectations_evaluated"] == len(raw_orders_suite(DAY).rules)
    assert (metadata["failed_errors"], metadata["failed_warnings"]) == (1, 0)
    assert len(metadata["failing_examples"]) == MAX_EXAMPLES
    example = metadata["failing_examples"][0]
    assert (example["expectation"], example["column"], example["row"]["source_file"]) == (
        IN_SET, "currency", f"orders/dt={DAY}/late.parquet"
    )
    assert metadata["failed_rules"] == ["error: currency is one of USD (expect_column_values_to_be_in_set)"]


def test_example_columns_can_be_chosen_and_timestamps_are_text():
    frame = with_value(orders(), "ordered_at", NEXT_DAY, row=2)
    result = validate_frame(frame, raw_orders_suite(DAY), example_columns=["status"])
    (rule,) = [r for r in result.results if not r.success]
    assert rule.failing_examples == [
        {"status": "refunded", "ordered_at": "2025-03-11T00:00:00", "source_file": f"orders/dt={DAY}/a.csv"}
    ]
    assert rule.kwargs["max_value"] == "2025-03-11T00:00:00"


def test_failing_rows_are_found_whatever_the_frame_index():
    frame = with_value(orders(), "amount", -5.0, row=1).set_axis([7, 7, 3])
    (rule,) = [r for r in validate_frame(frame, raw_orders_suite(DAY)).results if not r.success]
    assert [row["order_id"] for row in rule.failing_examples] == ["o1"]


# --- derived tables ---------------------------------------------------------------------------


def customers() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["c1", "c2"],
        "first_active_date": [date(2025, 1, 1), date(2025, 2, 1)],
        "last_active_date": [date(2025, 3, 1), date(2025, 2, 1)],
        "first_order_date": [date(2025, 1, 1), None],
        "last_order_date": [date(2025, 3, 1), None],
        "lifetime_orders": [3, 0],
        "lifetime_revenue": [Decimal("99.5000"), Decimal("0.0000")],
    })


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("customer_id", None, (NOT_NULL, "customer_id", "error")),
        ("customer_id", "c2", (UNIQUE, "customer_id", "error")),
        ("lifetime_orders", -1, (BETWEEN, "lifetime_orders", "error")),
        ("lifetime_revenue", Decimal("-0.01"), (BETWEEN, "lifetime_revenue", "error")),
        ("last_active_date", date(2024, 12, 31), ("expect_column_pair_values_a_to_be_greater_than_b", None, "error")),
    ],
)
def test_each_customers_rule_fails_on_its_bad_value(column, value, expected):
    assert validate_frame(customers(), table_suite("customers")).passed("warn")
    assert failures(validate_frame(with_value(customers(), column, value), table_suite("customers"))) == {expected}


def metric_frame(table: str) -> pd.DataFrame:
    """Two valid rows of the table: counts 0/1, rates 0.25 / NULL, distinct grains."""
    from rekindle.tables import build_metadata

    columns = build_metadata("x").tables[f"x.{table}"].columns
    data = {}
    for column in columns:
        python_type = column.type.python_type
        if column.name.endswith("_rate") or column.name == "p_alive":  # probabilities
            data[column.name] = [0.25, None]
        elif python_type is date:
            data[column.name] = [date(2025, 3, 1), date(2025, 3, 2)]
        elif python_type is str:
            data[column.name] = ["a", "b"]
        elif python_type is Decimal:
            data[column.name] = [Decimal("0"), Decimal("12.5")]
        elif python_type is float:
            data[column.name] = [0.0, 2.5]
        else:
            data[column.name] = [0, 1]
    frame = pd.DataFrame(data)
    if table == "lifecycle_daily":  # day 2 follows from day 1 (SPEC section 5 invariants)
        frame["inactivity_days"] = 30
        frame["new_customers"], frame["reactivated_customers"], frame["dormant_customers"] = [0, 1], [0, 1], [0, 2]
        frame["active_customers"], frame["inactive_customers"] = [5, 5], [2, 3]
    return frame


@pytest.mark.parametrize("table", METRIC_TABLES)
def test_metric_tables_counts_and_rates(table):
    suite = table_suite(table)
    good = metric_frame(table)
    assert validate_frame(good, suite).passed("warn"), validate_frame(good, suite).to_metadata()["failed_rules"]

    # Rates and probabilities: NULL passes (GX ignores missing values), outside [0, 1] fails.
    rates = [c for c in good.columns if c.endswith("_rate") or c == "p_alive"]
    for value, ok in ((None, True), (1.0, True), (1.01, False), (-0.5, False)):
        result = validate_frame(good.assign(**{rate: [value, value] for rate in rates}), suite)
        assert failures(result) == (set() if ok else {(BETWEEN, rate, "error") for rate in rates}), value

    # Counts, day numbers and money sums: >= 0.
    non_negative = [
        r.column for r in suite.rules if r.expectation == BETWEEN and set(r.kwargs) == {"column", "min_value"}
    ]
    assert non_negative
    negative = good.copy()
    negative.loc[1, non_negative] = -1
    assert {(BETWEEN, c, "error") for c in non_negative} <= failures(validate_frame(negative, suite))
    duplicated = pd.concat([good, good.iloc[[0]]], ignore_index=True)
    assert not validate_frame(duplicated, suite).passed()


def test_nps_is_bounded():
    frame = with_value(metric_frame("nps_daily"), "nps", 120.0)
    assert failures(validate_frame(frame, table_suite("nps_daily"))) == {(BETWEEN, "nps", "error")}


def lifecycle(days: int = 4) -> pd.DataFrame:
    """A consistent history for N = 30 and N = 60."""
    rows = []
    for n in (30, 60):
        active, inactive = 100, 40
        for d in range(days):
            new, reactivated, dormant = 3 + d, d % 2, 2
            if d:
                active += new + reactivated - dormant
                inactive += dormant - reactivated
            rows.append({
                "as_of_date": date(2025, 3, 1) + timedelta(days=d), "inactivity_days": n,
                "new_customers": new, "returning_customers": 10, "reactivated_customers": reactivated,
                "dormant_customers": dormant, "active_customers": active, "inactive_customers": inactive,
            })
    return pd.DataFrame(rows)


def test_lifecycle_invariants_hold_between_consecutive_days():
    result = validate_frame(lifecycle(), table_suite("lifecycle_daily"))
    assert result.passed("warn")
    # Only the days with a D-1 row in the frame are checked: 3 per N.
    gaps = [r for r in result.results if r.column and r.column.endswith("invariant_gap")]
    assert len(gaps) == 2


@pytest.mark.parametrize(
    ("column", "gap_column"),
    [("inactive_customers", "inactive_invariant_gap"), ("dormant_customers", "inactive_invariant_gap"),
     ("active_customers", "active_invariant_gap"), ("new_customers", "active_invariant_gap")],
)
def test_lifecycle_invariant_violation_is_detected(column, gap_column):
    frame = lifecycle()
    frame.loc[6, column] += 1  # N = 60, third day
    result = validate_frame(frame, table_suite("lifecycle_daily"))
    assert (BETWEEN, gap_column, "error") in failures(result)
    (rule,) = [r for r in result.results if r.column == gap_column]
    assert rule.failing_examples[0]["as_of_date"] == "2025-03-03"
    assert rule.failing_examples[0]["inactivity_days"] == 60
    assert abs(rule.failing_examples[0][gap_column]) == 1


def test_lifecycle_first_day_without_its_predecessor_is_not_checked():
    frame = lifecycle().iloc[[0, 2, 4, 6]]  # gaps between days everywhere
    frame.loc[2, "inactive_customers"] = 10_000
    assert validate_frame(frame, table_suite("lifecycle_daily")).passed()


def test_lifecycle_frame_without_its_columns_fails_without_crashing():
    result = validate_frame(lifecycle().drop(columns=["dormant_customers"]), table_suite("lifecycle_daily"))
    assert ("expect_table_columns_to_match_set", None, "error") in failures(result)


def test_unknown_metric_table_is_refused():
    with pytest.raises(ValueError, match="no quality suite"):
        table_suite("quarantine")


# --- volume and reject rate --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "trailing", "success"),
    [
        (0, [100] * 7, False),  # a missing day
        (250, [100] * 7, False),  # a spike
        (40, [100] * 7, False),
        (50, [100] * 7, True),
        (200, [100] * 7, True),
        (120, [90, 100, 110, 5000, 95, 105, 100], True),  # the median shrugs off one odd day
        (120, [1] * 5 + [100] * 7, True),  # only the last 7 days count for the 7-day median
        (0, [], True),  # no history to compare with
        (0, [0] * 7, True),  # zeros before the source's first day are not history
        (250, [0] * 20 + [100] * 3, True),  # 3 days of data: less than a week is not judged...
        (0, [0] * 20 + [100] * 3, False),  # ...except a missing day
        (250, [0] * 20 + [100] * 7, False),  # a full week is
    ],
)
def test_volume_rule(count, trailing, success):
    rule = volume_rule(count, trailing, name="orders")
    assert (rule.success, rule.severity) == (success, "warn")
    assert rule.observed_value["row_count"] == count
    json.dumps(rule.summary(), allow_nan=False)


# 4 weeks of daily event counts, oldest first: a newsletter day, then six ordinary days (the sample
# data's rhythm); the day after them is a newsletter day again
WEEKS_WITH_A_NEWSLETTER = ([1600] + [600] * 6) * 4


@pytest.mark.parametrize(
    ("count", "success"),
    [
        (1650, True),  # the next newsletter day: 2.75x the last 7 days, like the same weekday before
        (600, True),  # a newsletter day without newsletter: within 0.5x..2x of the last 7 days
        (3300, False),  # the newsletter day delivered twice: far from both
        (280, False),  # half a day missing
    ],
)
def test_volume_rule_expects_the_weekly_rhythm_of_a_feed(count, success):
    rule = volume_rule(count, WEEKS_WITH_A_NEWSLETTER, name="events", scope="2026-11-24")
    assert rule.success == success, rule.observed_value
    assert rule.observed_value["same_weekday_median"] == 1600
    assert rule.scope == "2026-11-24" and rule.title.startswith("2026-11-24: events per day")


def test_volume_rule_flags_an_ordinary_day_as_large_as_the_newsletter():
    ordinary = volume_rule(1600, WEEKS_WITH_A_NEWSLETTER[1:] + [1600], name="events")  # the day after one
    assert not ordinary.success and ordinary.observed_value["same_weekday_median"] == 600


@pytest.mark.parametrize(
    ("read", "quarantined", "warn_ok", "error_ok"),
    [
        (1000, 40, False, True),  # 4%: WARN only
        (1000, 30, True, True),  # exactly 3% is allowed
        (1000, 20, True, True),  # 2%: the noise around a normal 1%
        (1000, 150, False, False),  # above the 10% maximum: also ERROR
        (1000, 100, False, True),  # exactly the maximum is allowed
        (100, 9, True, True),  # 9% but fewer than 10 rows: a small day, no warning
        (14, 1, True, True),  # one bad row of a 14-row day is 7%: no warning
        (100, 10, False, True),  # 10 rows and 10%: WARN
        (50, 50, False, False),  # every row bad: ERROR, whatever the count
        (0, 0, True, True),  # an empty partition
    ],
)
def test_reject_rate_rules(read, quarantined, warn_ok, error_ok):
    warn, error = reject_rate_rules(read, quarantined, max_reject_rate=0.10)
    assert (warn.severity, warn.success, error.severity, error.success) == ("warn", warn_ok, "error", error_ok)


def test_the_reject_warning_leaves_the_sample_datas_dirty_rate_alone():
    # `rekindle generate` spoils 1% of the rows; a day of 640 orders (the default sample) ranges
    # about 0.2%..2.3% by chance: none of it warns
    for quarantined in range(0, 16):
        assert reject_rate_rules(640, quarantined, max_reject_rate=0.10)[0].success
    assert not reject_rate_rules(640, 20, max_reject_rate=0.10)[0].success  # 3.1%


def test_plain_rules_merge_into_a_suite_result():
    checked = validate_frame(orders(), raw_orders_suite(DAY))
    merged = SuiteResult(checked.suite_name, [*checked.results, volume_rule(0, [10] * 7),
                                              *reject_rate_rules(1000, 40, 0.10)])
    assert (merged.evaluated, merged.failed_errors, merged.failed_warnings) == (checked.evaluated + 3, 0, 2)
    assert merged.passed("error") and not merged.passed("warn")
    assert [r["expectation"] for r in merged.to_metadata()["rules"]][-3:] == [
        "volume_within_trailing_median", "reject_rate_at_most", "reject_rate_at_most"
    ]


def test_batches_merge_into_the_counts_of_one_validation():
    # 9 orders with faults spread over three batches; o1 repeats across batches 1 and 3
    frame = orders(9)
    frame.loc[1, "customer_id"] = None
    frame.loc[4, "customer_id"] = None
    frame.loc[2, "status"] = "lost"
    frame.loc[7, "order_id"] = "o1"
    frame.loc[5, "amount"] = None  # missing: left out of the percent basis of amount >= 0
    frame.loc[8, "amount"] = -1.0
    suite = raw_orders_suite(DAY)
    whole = validate_frame(frame, suite).results
    batches = [validate_frame(frame.iloc[rows].reset_index(drop=True), suite).results
               for rows in (slice(0, 3), slice(3, 6), slice(6, 9))]
    repeated = int(frame["order_id"].duplicated(keep=False).sum())
    assert repeated == 2 and all(r.success for b in batches for r in b if r.expectation == UNIQUE)

    merged = runner.merge_batch_results(batches, {"order_id": repeated})
    assert [r.expectation for r in merged] == [r.expectation for r in whole]
    for one, joined in zip(whole, merged, strict=True):
        assert (joined.success, joined.unexpected_count, joined.counted) == \
            (one.success, one.unexpected_count, one.counted), one.description
        assert joined.unexpected_percent == pytest.approx(one.unexpected_percent), one.description
    counts = {(r.expectation, r.column): r.unexpected_count for r in merged if not r.success}
    assert counts == {(NOT_NULL, "customer_id"): 2, (NOT_NULL, "amount"): 1, (IN_SET, "status"): 1,
                      (UNIQUE, "order_id"): 2, (BETWEEN, "amount"): 1}
    amount = next(r for r in merged if (r.expectation, r.column) == (BETWEEN, "amount"))
    assert (amount.counted, amount.unexpected_percent) == (8, 12.5)  # 1 of the 8 non-missing amounts


# --- Data Docs -------------------------------------------------------------------------------


def test_data_docs_are_built_into_the_folder_and_kept_across_calls_and_processes(tmp_path):
    docs = tmp_path / "docs"
    first = validate_frame(with_value(orders(), "amount", -1.0), raw_orders_suite(DAY), docs_dir=docs)
    index = docs / "index.html"
    assert index.is_file()
    page = Path(first.docs_path)
    assert page.is_file() and page.is_relative_to(docs) and page.suffix == ".html"
    assert first.to_metadata()["docs_path"] == first.docs_path

    second = validate_frame(surveys(), raw_surveys_suite(DAY), docs_dir=docs)
    assert Path(second.docs_path).is_file() and second.docs_path != first.docs_path

    runner._engine.cache_clear()  # a new process: fresh GX context, same folder
    third = validate_frame(events(), raw_events_suite(DAY), docs_dir=docs)
    html = index.read_text()
    for result in (first, second, third):
        assert Path(result.docs_path).relative_to(docs).as_posix() in html


def test_a_validation_records_the_seconds_it_spent_in_great_expectations(tmp_path):
    """What bench_scale sums for GX's share of a run: counted around the validation, never guessed."""
    import time

    began = time.perf_counter()
    result = validate_frame(orders(), raw_orders_suite(DAY), docs_dir=tmp_path / "docs")
    assert 0 < result.gx_seconds <= time.perf_counter() - began
    assert result.to_metadata()["great_expectations_seconds"] == round(result.gx_seconds, 3)
    # rules counted elsewhere and not published: GX never ran
    assert runner.report_results(raw_orders_suite(DAY), result.results).gx_seconds is None


def test_plain_rules_are_on_the_page_of_their_validation(tmp_path):
    docs = tmp_path / "docs"
    suite = raw_orders_suite(DAY, amount_max=100.0)
    rejects = reject_rate_rules(1000, 40, 0.10, scope=str(DAY))
    contract = validate_frame(orders(), suite.only("error", "raw_orders.contract"), docs_dir=docs,
                              plain_results=rejects[1:])
    anomalies = validate_frame(orders(), suite.only("warn", "raw_orders.anomalies"), docs_dir=docs,
                               plain_results=[rejects[0], volume_rule(0, [10] * 7, name="raw_orders rows", scope=str(DAY))])
    # each check its own page, with its own rules: the Python ones included
    assert contract.docs_path != anomalies.docs_path
    assert contract.passed("error") and not anomalies.passed("warn")
    assert anomalies.evaluated == 3 and {r.severity for r in anomalies.results} == {"warn"}
    page = Path(anomalies.docs_path).read_text()
    assert "raw_orders.anomalies" in page and "Data asset: raw_orders" in _text(page)
    assert f"{DAY}: raw_orders rows per day within" in page and f"{DAY}: at most 3% of the rows read" in page
    assert "Failed" in _text(page)  # the page says what the check says
    contract_page = Path(contract.docs_path).read_text()
    assert "at most 10% of the rows read" in contract_page and "rows per day" not in contract_page


def test_data_docs_load_nothing_from_the_network_and_the_index_lists_its_pages(tmp_path):
    docs = tmp_path / "docs"
    first = validate_frame(with_value(orders(), "amount", -1.0), raw_orders_suite(DAY), docs_dir=docs)
    second = validate_frame(surveys(), raw_surveys_suite(DAY), docs_dir=docs)
    pages = list(docs.rglob("*.html"))
    assert len(pages) >= 5  # index, 2 validations, 2 suites
    remote = re.compile(
        r"""<script[^>]*\bsrc=["']https?:|<link[^>]*\bhref=["']https?:|<img[^>]*\bsrc=["']https?:|url\(\s*["']?https?:""",
        re.I,
    )
    for page in pages:
        assert not remote.findall(page.read_text()), page
    index = (docs / "index.html").read_text()
    assert "bootstrapTable" not in index  # the tables are HTML, not drawn by a script that cannot load
    for result in (first, second):
        link = Path(result.docs_path).relative_to(docs).as_posix()
        assert f'<a href="{link}">' in index
    assert "Failed" in _text(index) and "Success" in _text(index)


def test_offline_html_is_idempotent_and_keeps_pages_it_cannot_read():
    page = ('<html><head><script src="https://cdn.example/x.js"></script>'
            '<link rel="stylesheet" href="https://cdn.example/x.css"/></head><body>'
            '<table id="t" data-toggle="table">\n</table>\n<script>\n  $(\'#t\').bootstrapTable(\n'
            '    Object.assign(\n      {\n        columns: [{\'field\': \'a\', \'title\': \'A\'}],\n'
            "        data: [{'a': 'x', '_table_row_link_path': 'p.html'}],\n      },\n      {}\n    )\n  );\n"
            '</script></body></html>')
    once = runner.offline_html(page)
    assert runner.offline_html(once) == once
    assert "https://" not in once and '<td><a href="p.html">x</a></td>' in once
    broken = page.replace("data: [{", "data: [f(")  # not a literal: the table is left as GX wrote it
    assert "bootstrapTable" in runner.offline_html(broken)


def _text(page: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style).*?</\1>", "", page, flags=re.S)).split())


def test_the_docs_store_keeps_the_newest_results_and_every_page(tmp_path):
    """GX lists every stored result whenever it builds the index: only the newest are kept, so a
    check does not get slower every day; their pages stay."""
    store = tmp_path / "gx_store" / "validations"
    (store / ".ge_store_backend_id").parent.mkdir(parents=True)
    (store / ".ge_store_backend_id").write_text("id")
    results = []
    for i in range(5):
        path = store / "purchase_daily" / "__none__" / f"2026120{i}T000000Z" / "rekindle-purchase_daily.json"
        path.parent.mkdir(parents=True)
        path.write_text("{}")
        os.utime(path, ns=(i * 10**9, i * 10**9))  # oldest first
        results.append(path)

    runner._keep_newest_results(store, 2)

    assert sorted(store.rglob("*.json")) == results[3:]
    assert not results[0].parent.exists()  # the folders left empty are gone too
    assert (store / ".ge_store_backend_id").exists()
