"""Metric alerts: a planted spike and a planted drop are flagged on their day and no other; a
flat series, a noisy one, too short a history and a warm-up never alert (rekindle.alerts)."""

import math
from datetime import date, timedelta

import pytest

from rekindle.alerts import (
    AlertRule,
    active_base_rule,
    describe,
    describe_band,
    engagement_rule,
    judge_series,
    rate_rule,
    summarize,
    summarize_all,
)

START = date(2026, 9, 1)
DAYS = [START + timedelta(days=i) for i in range(60)]
SPIKE_DAY = DAYS[45]
CHURN = rate_rule("churn rate 7d")


def churn_series(**planted: float) -> dict[date, float]:
    """A 7-day churn rate around 8% with a weekly wiggle of +/- 0.2 points; planted values by day index."""
    values = {day: 0.08 + 0.002 * math.sin(2 * math.pi * i / 7) for i, day in enumerate(DAYS)}
    for index, value in planted.items():
        values[DAYS[int(index.lstrip("d"))]] = value
    return values


def alerting_days(values, rule=CHURN, days=DAYS, **options):
    return [v.day for v in judge_series(values, days, rule, **options) if v.alert]


def test_a_planted_spike_alerts_on_its_day_only():
    verdicts = judge_series(churn_series(d45=0.142), DAYS, CHURN)
    (spike,) = [v for v in verdicts if v.alert]
    assert spike.day == SPIKE_DAY and spike.direction == "spike"
    assert spike.median == pytest.approx(0.08, abs=0.003)
    assert describe(CHURN, spike) == "churn rate 7d on 2026-10-16 = 14.2% vs median 8.0% (±2.0%)"
    assert spike.deviation > 1


def test_a_planted_drop_alerts_too():
    verdicts = judge_series(churn_series(d50=0.03), DAYS, CHURN)
    (drop,) = [v for v in verdicts if v.alert]
    assert (drop.day, drop.direction) == (DAYS[50], "drop")


def test_a_move_inside_the_floors_does_not_alert():
    # 8% -> 9.9%: less than a quarter of the median (2 points), however quiet the series was
    assert alerting_days(churn_series(d45=0.099)) == []
    assert alerting_days(churn_series(d45=0.101)) == [SPIKE_DAY]


def test_a_flat_series_does_not_alert_on_noise():
    # MAD 0 over 28 identical days: without the floors, any wiggle would be "infinitely" far
    flat = {day: 0.05 for day in DAYS}
    flat[DAYS[40]] = 0.0501
    flat[DAYS[41]] = 0.0499
    assert alerting_days(flat) == []
    base = {day: 1000.0 + (i % 3) for i, day in enumerate(DAYS)}  # an active base that barely moves
    assert alerting_days(base, active_base_rule("active customers")) == []


def test_a_noisy_series_needs_a_larger_move():
    # a reactivation rate on a small base jumps around by +/- 3 points: its band is wider
    noisy = {day: 0.06 + 0.03 * ((-1) ** i) * (i % 4) / 3 for i, day in enumerate(DAYS)}
    assert alerting_days(noisy) == []
    noisy[SPIKE_DAY] = 0.30
    assert alerting_days(noisy) == [SPIKE_DAY]


def test_too_short_a_history_does_not_alert():
    values = {day: 0.08 for day in DAYS[:13]}
    values[DAYS[13]] = 0.5  # 13 days of history before it: fewer than 14
    verdicts = judge_series(values, DAYS[:14], CHURN)
    assert not any(v.alert for v in verdicts)
    assert not verdicts[-1].judged and verdicts[-1].history_days == 13
    assert "not judged: 13 of 14 days of history" in describe(CHURN, verdicts[-1])
    values[DAYS[14]] = 0.5  # the 15th day has 14: judged, and far out
    assert alerting_days(values, days=DAYS[:15]) == [DAYS[14]]


def test_only_the_trailing_28_days_count():
    values = {day: (0.30 if i < 20 else 0.08) for i, day in enumerate(DAYS)}  # an old regime long gone
    assert alerting_days(values, days=DAYS[48:]) == []
    verdict = judge_series(values, [DAYS[48]], CHURN)[0]
    assert verdict.history_days == 28 and verdict.median == pytest.approx(0.08)


def test_one_odd_day_does_not_hide_the_next():
    # median and MAD shrug off the first spike: five days later the second one alerts as well
    assert alerting_days(churn_series(d40=0.20, d45=0.20)) == [DAYS[40], SPIKE_DAY]


def test_days_without_a_value_are_neither_judged_nor_history():
    values = churn_series(d45=0.142)
    for i in range(20, 40, 2):  # every other day of the history has no value: None, NaN or no row
        if i < 28:
            values[DAYS[i]] = None if i % 4 else float("nan")
        else:
            del values[DAYS[i]]
    verdicts = {v.day: v for v in judge_series(values, DAYS, CHURN)}
    assert not verdicts[DAYS[20]].judged and verdicts[DAYS[20]].value is None
    assert [d for d, v in verdicts.items() if v.alert] == [SPIKE_DAY]


def test_a_warm_up_is_no_history():
    # no customer can be inactive for N days before N days of data: churn is 0 by construction,
    # then jumps to its real level; from valid_from on, it is a series like any other
    values = {day: (0.0 if i < 30 else 0.10) for i, day in enumerate(DAYS)}
    assert alerting_days(values)  # judged from the start, the jump looks like a spike
    assert alerting_days(values, valid_from=DAYS[30]) == []
    assert not any(v.judged for v in judge_series(values, DAYS[30:44], CHURN, valid_from=DAYS[30]))


def test_the_summary_is_one_line_with_the_worst_day_first():
    verdicts = judge_series(churn_series(d45=0.142, d50=0.20, d55=0.12), DAYS, CHURN)
    line = summarize(CHURN, verdicts)
    assert "\n" not in line
    assert line.startswith("churn rate 7d on 2026-10-21 = 20.0% vs median")  # the largest deviation
    assert line.endswith("a spike; 2 more day(s) outside the band: 2026-10-16, 2026-10-26")
    quiet = judge_series(churn_series(), DAYS, CHURN)
    assert summarize(CHURN, quiet).startswith("churn rate 7d on 2026-10-30 = ")


def test_a_check_of_several_series_names_the_worst_and_the_others():
    one_day = rate_rule("churn rate 1d")
    judged = [
        (one_day, judge_series(churn_series(d45=0.142), DAYS, one_day)),
        (CHURN, judge_series(churn_series(d50=0.30), DAYS, CHURN)),
        (rate_rule("churn rate 30d"), judge_series(churn_series(), DAYS, rate_rule("churn rate 30d"))),
    ]
    line = summarize_all(judged)
    assert line.startswith("churn rate 7d on 2026-10-21 = 30.0%")
    assert line.endswith("a spike; also churn rate 1d (1 day(s))")
    assert summarize_all(judged[2:]).startswith("no alert on 46 day(s) judged; latest: churn rate 30d on 2026-10-30")


@pytest.mark.parametrize(
    ("rule", "value", "text"),
    [
        (rate_rule("r"), 0.1423, "14.2%"),
        (active_base_rule("a"), 9440.0, "9,440"),
        (engagement_rule("e"), 2.654, "2.65"),
    ],
)
def test_values_are_written_in_their_unit(rule, value, text):
    values = {day: value for day in DAYS[:20]}
    verdict = judge_series(values, [DAYS[19]], rule)[0]
    assert describe(rule, verdict).startswith(f"{rule.label} on {DAYS[19]} = {text} vs median {text}")


def test_verdicts_are_json_metadata():
    import json

    verdicts = judge_series(churn_series(d45=0.142), DAYS, CHURN)
    json.dumps([v.to_metadata() for v in verdicts], allow_nan=False)


def test_k_sets_the_width_of_the_band():
    values = churn_series(d45=0.142)
    narrow = AlertRule("churn rate 7d", "percent", k=0.5)
    wide = AlertRule("churn rate 7d", "percent", k=100.0)
    assert len(alerting_days(values, narrow)) > 1 and alerting_days(values, wide) == []


def test_the_band_is_described_from_the_rule():
    # the check descriptions in the UI: the thresholds the rules judge with, not a copy of them
    assert describe_band(rate_rule("churn rate 7d")) == (
        "trailing 28-day band: median +/- max(4 x 1.4826 x MAD, 1 point, 25% of the median)")
    assert describe_band(active_base_rule("active customers")) == (
        "trailing 28-day band: median +/- max(4 x 1.4826 x MAD, 5% of the median)")
    assert describe_band(engagement_rule("events per active customer")) == (
        "trailing 28-day band: median +/- max(4 x 1.4826 x MAD, 10% of the median)")
    assert describe_band(AlertRule("x", "percent", min_change=0.02, k=3.5), baseline_days=14) == (
        "trailing 14-day band: median +/- max(3.5 x 1.4826 x MAD, 2 points)")


# --- the Dagster checks, on a DuckDB warehouse with planted series ---------------------------


def warehouse_with_series(tmp_path, last_day: date, days: int = 80):
    """Flat metric tables for `days` days up to last_day: churn 8%, reactivation 5%, 1,000 active
    customers, 10 active customers a day with 3 events each."""
    import pandas as pd

    from rekindle.settings import Settings
    from resources.warehouse import WarehouseResource

    settings = Settings(warehouse_url=f"duckdb:///{tmp_path}/w.duckdb", quality_docs_dir=tmp_path / "docs")
    warehouse = WarehouseResource(url=settings.warehouse_url, schema_name=settings.schema)
    warehouse.ensure_tables()
    dates = [last_day - timedelta(days=i) for i in range(days)]
    periods = [(day, n, p) for day in dates for n in settings.inactivity_days for p in settings.period_days]
    tables = {
        "customer_daily_activity": pd.DataFrame(
            [{"customer_id": f"C{c}", "activity_date": day, "orders": 0, "revenue": 0, "events": 3}
             for day in dates for c in range(10)]
        ),
        "retention_daily": pd.DataFrame(
            [{"as_of_date": d, "inactivity_days": n, "period_days": p, "customers_at_start": 1000, "retained": 920,
              "churned": 80, "retention_rate": 0.92, "churn_rate": 0.08} for d, n, p in periods]
        ),
        "reactivation_daily": pd.DataFrame(
            [{"as_of_date": d, "inactivity_days": n, "period_days": p, "inactive_at_start": 400, "reactivated": 20,
              "reactivation_rate": 0.05, "reactivated_revenue": 0} for d, n, p in periods]
        ),
        "lifecycle_daily": pd.DataFrame(
            [{"as_of_date": d, "inactivity_days": n, "new_customers": 0, "returning_customers": 0,
              "reactivated_customers": 0, "dormant_customers": 0, "active_customers": 1000,
              "inactive_customers": 0} for d in dates for n in settings.inactivity_days]
        ),
    }
    with warehouse.begin() as conn:
        for table, frame in tables.items():
            columns = [c.name for c in warehouse.table(table).columns]
            warehouse.bulk_insert(conn, table, frame.reindex(columns=columns).fillna(0))
    return settings, warehouse


def run_alert_checks(settings, warehouse, tags):
    from dagster import AssetCheckSeverity, AssetSelection, AssetSpec, DagsterEventType, materialize

    from assets.alerts import build_alert_checks

    checks = build_alert_checks(settings)
    specs = [AssetSpec(name) for name in ("customer_daily_activity", "lifecycle_daily", "retention_daily",
                                           "reactivation_daily")]
    result = materialize([*specs, *checks], resources={"warehouse": warehouse}, tags=tags,
                         selection=AssetSelection.all_asset_checks())
    assert result.success
    evaluations = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
        for e in result.all_events if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
    }
    assert {e.severity for e in evaluations.values()} == {AssetCheckSeverity.WARN}
    return evaluations


def test_a_churn_spike_in_the_run_warns_and_the_other_checks_pass(tmp_path):
    from pipelines.jobs import range_tags

    last = date(2026, 10, 19)
    settings, warehouse = warehouse_with_series(tmp_path, last)
    try:
        with warehouse.begin() as conn:  # the planted spike: 7-day churn of the primary N, on the last day
            conn.exec_driver_sql(
                f"UPDATE {warehouse.qualified('retention_daily')} SET churn_rate = 0.142 "
                f"WHERE as_of_date = DATE '{last}' AND inactivity_days = 30 AND period_days = 7"
            )
            conn.exec_driver_sql(  # an engagement drop two days before: 1 event per active customer
                f"UPDATE {warehouse.qualified('customer_daily_activity')} SET events = 1 "
                f"WHERE activity_date = DATE '{last - timedelta(days=2)}'"
            )
        evaluations = run_alert_checks(settings, warehouse, range_tags(last - timedelta(days=2), last))
    finally:
        warehouse.dispose()
    churn = evaluations["churn_rate_alerts"]
    assert not churn.passed
    assert churn.description == f"churn rate 7d on {last} = 14.2% vs median 8.0% (±2.0%), a spike"
    (alert,) = churn.metadata["alert_days"].value
    assert (alert["series"], alert["day"], alert["direction"]) == ("churn rate 7d", str(last), "spike")
    assert churn.metadata["churn_rate_7d"].value == pytest.approx(0.142)
    assert churn.metadata["days_checked"].value == f"{last - timedelta(days=2)} .. {last}"
    engagement = evaluations["engagement_alerts"]
    assert not engagement.passed and engagement.description.startswith(
        f"events per active customer on {last - timedelta(days=2)} = 1.00 vs median 3.00"
    )
    assert evaluations["reactivation_rate_alerts"].passed and evaluations["active_base_alerts"].passed
    assert evaluations["active_base_alerts"].description.startswith("no alert on 3 day(s) judged")


def test_a_check_run_alone_checks_the_latest_day(tmp_path):
    last = date(2026, 10, 19)
    settings, warehouse = warehouse_with_series(tmp_path, last)
    try:
        evaluations = run_alert_checks(settings, warehouse, tags={})
    finally:
        warehouse.dispose()
    assert all(e.passed for e in evaluations.values())
    assert evaluations["churn_rate_alerts"].metadata["days_checked"].value == f"{last} .. {last}"


def test_the_daily_job_runs_the_alert_checks():
    from pipelines.definitions import build_definitions
    from rekindle.settings import Settings

    job = build_definitions(Settings()).resolve_job_def("rekindle_daily")
    checks = {(key.asset_key.to_user_string(), key.name) for key in job.asset_layer.asset_graph.asset_check_keys}
    assert {
        ("retention_daily", "churn_rate_alerts"), ("reactivation_daily", "reactivation_rate_alerts"),
        ("lifecycle_daily", "active_base_alerts"), ("customer_daily_activity", "engagement_alerts"),
    } <= checks
