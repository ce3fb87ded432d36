"""The raw checks' description: a line per failed rule, at most 3 days and 3 files, whatever
happened; everything else is in the metadata (assets/checks.py)."""

from dataclasses import replace
from datetime import date, timedelta

from assets.checks import describe_failures
from rekindle.quality import SuiteResult, landing_entries_rule, reject_rate_rules, volume_rule

DAY = date(2026, 11, 2)


def bad_day(i: int, files: int = 1):
    day = DAY + timedelta(days=i)
    warn, _ = reject_rate_rules(1000, 50 + i, max_reject_rate=0.10, scope=str(day))
    examples = [{"source_file": f"orders/dt={day}/part-{f}.csv", "reason": "negative_amount", "rows": 10}
                for f in range(files)]
    return replace(warn, failing_examples=examples)


def test_a_rule_that_failed_on_many_days_is_one_short_line():
    rules = [bad_day(i) for i in range(30)]
    rules.append(volume_rule(0, [500] * 28, name="raw_orders rows", scope=str(DAY)))
    rules.append(landing_entries_rule([f"orders/junk-{i}.txt" for i in range(40)]))
    text = describe_failures(SuiteResult("raw_orders.anomalies", rules))
    reject, volume, landing = text.splitlines()
    assert reject == (
        "WARN reject_rate_at_most: at most 3% of the rows read are quarantined (a day with fewer than 10 "
        "quarantined rows passes) — failed on 30 days: 2026-11-02 50 rows (5.0%), 2026-11-03 51 rows (5.1%), "
        "2026-11-04 52 rows (5.2%) and 27 more in orders/dt=2026-11-02/part-0.csv (negative_amount: 10 rows), "
        "orders/dt=2026-11-03/part-0.csv (negative_amount: 10 rows), orders/dt=2026-11-04/part-0.csv "
        "(negative_amount: 10 rows) and 27 more files"
    )
    assert volume == (
        "WARN volume_within_trailing_median: 2026-11-02: raw_orders rows per day within 0.5x..2.0x of the "
        "trailing 7-day median or of the same weekday's — 0 rows vs 7-day median 500, same weekday 500"
    )
    assert landing.startswith("WARN landing_entries_loaded: ") and landing.endswith("and 17+ more files")  # 20 examples of 40
    assert len(text) < 1500


def test_a_single_day_names_the_day_and_its_files():
    text = describe_failures(SuiteResult("raw_orders.anomalies", [bad_day(0, files=5)]))
    assert text.startswith("WARN reject_rate_at_most: 2026-11-02: at most 3% of the rows read are quarantined")
    assert "— 50 rows (5.0%) in orders/dt=2026-11-02/part-0.csv (negative_amount: 10 rows)," in text
    assert text.endswith("and 2 more files")


def test_nothing_failed_says_nothing():
    passing = reject_rate_rules(1000, 5, max_reject_rate=0.10, scope=str(DAY))
    assert describe_failures(SuiteResult("raw_orders.anomalies", passing)) == ""
