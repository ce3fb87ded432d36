"""The metrics report (rekindle.report, assets/report.py): rendered from hand-made frames, from an
empty warehouse, and materialized by Dagster on a small generated landing zone."""

import re
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from dagster import DagsterEventType, DagsterInstance
from warehouse_tables import materialize

from pipelines.cli import _print_report_path
from rekindle.generate import generate_landing_zone
from rekindle.report import CHART_TITLES, ReportData, load_report_data, render_report, write_report
from rekindle.segments import RFM_SEGMENTS, bucket_labels
from rekindle.settings import Settings

N, P = (30, 60), (1, 7, 30)
LAST = date(2026, 6, 30)
DAYS = [LAST - timedelta(days=i) for i in range(59, -1, -1)]
GENERATED = datetime(2026, 7, 1, 6, 0, tzinfo=timezone.utc)


def hand_made(campaigns: pd.DataFrame | None = None) -> ReportData:
    rng = np.random.default_rng(3)
    keys = pd.DataFrame([(d, n, p) for d in DAYS for n in N for p in P],
                        columns=["as_of_date", "inactivity_days", "period_days"])
    churn = rng.uniform(0.01, 0.3, len(keys))
    reactivation = keys.assign(reactivation_rate=rng.uniform(0.0, 0.25, len(keys)))
    reactivation.loc[reactivation["as_of_date"] < DAYS[5], "reactivation_rate"] = None  # nobody inactive yet
    lifecycle = pd.DataFrame({
        "as_of_date": DAYS, "new_customers": rng.integers(0, 30, 60), "returning_customers": rng.integers(100, 300, 60),
        "reactivated_customers": rng.integers(0, 20, 60), "dormant_customers": rng.integers(0, 25, 60),
        "active_customers": rng.integers(900, 1100, 60), "inactive_customers": np.arange(60) * 10,
    })
    cohorts = pd.DataFrame(
        [(date(2026, m, 1), k, 100 * m, 1.0 if k == 0 else 0.5 / k) for m in (4, 5, 6) for k in range(7 - m)],
        columns=["cohort_month", "months_since_first", "cohort_size", "retention_rate"],
    )
    segments = pd.DataFrame(
        [(LAST, bucket, segment, i + j, 12.5 * (i + j))
         for i, bucket in enumerate(bucket_labels(30)) for j, segment in enumerate(RFM_SEGMENTS)],
        columns=["as_of_date", "inactivity_bucket", "rfm_segment", "customers", "lifetime_revenue"],
    )
    if campaigns is None:
        campaigns = pd.DataFrame(
            [("spring", "email", "treatment", 400, 60, 0.15, 0.05, 0.01, 0.09),
             ("spring", "email", "control", 100, 10, 0.10, None, None, None),
             ("summer", "sms", "treatment", 300, 15, 0.05, -0.02, -0.06, 0.02),
             ("summer", "sms", "control", 80, 6, 0.07, None, None, None),
             ("no-control", "push", "treatment", 50, 5, 0.10, None, None, None)],
            columns=["campaign_id", "channel", "group", "inactive_targeted", "reactivated", "reactivation_rate",
                     "lift", "lift_ci_low", "lift_ci_high"],
        )
    return ReportData(
        inactivity_days=N, period_days=P, as_of=LAST, reactivation=reactivation,
        retention=keys.assign(churn_rate=churn, retention_rate=1 - churn), lifecycle=lifecycle, cohorts=cohorts,
        segments=segments, campaigns=campaigns,
    )


def text_of(svg: str) -> list[str]:
    """The text drawn in a chart: matplotlib writes each label as a comment before its glyphs."""
    return re.findall(r"<!-- (.*?) -->", svg)


def test_every_chart_is_one_inline_svg_with_its_title():
    report = render_report(hand_made(), GENERATED)
    assert [chart.name for chart in report.charts] == list(CHART_TITLES)
    assert report.html.count("<svg") == len(CHART_TITLES)
    for name, title in CHART_TITLES.items():
        assert f'<section id="{name}"><h2>{title}</h2>' in report.html
        assert f'<title id="{name}-title">{title}</title>' in report.html
    # ids are unique across the page: each chart's are prefixed with its name
    ids = re.findall(r'\bid="([^"]+)"', report.html)
    assert len(ids) == len(set(ids))
    assert "Latest day: 2026-06-30" in report.html


def test_the_page_works_offline():
    html = render_report(hand_made(), GENERATED).html
    assert "http://" not in html and "https://" not in html
    for fetching in ("<script", "<link", "<img", "src=", "@import", "url(http"):
        assert fetching not in html


def test_rates_read_as_percentages_and_the_charts_say_what_they_show():
    charts = {chart.name: chart for chart in render_report(hand_made(), GENERATED).charts}
    for name in ("reactivation_rate", "churn_rate", "retention_rate"):
        labels = text_of(charts[name].svg)
        assert any(re.fullmatch(r"\d+(\.\d+)?%", label) for label in labels), (name, labels)
        assert {"over 1 day", "over 7 days", "over 30 days", "N = 30 days (primary)", "N = 60 days"} <= set(labels)
    assert "60%" not in text_of(charts["cohort_retention"].svg)  # nothing invented
    assert {"100%", "50%", "25%", "2026-04  (400)"} <= set(text_of(charts["cohort_retention"].svg))
    assert {"+5.0 pp  [+1.0 pp, +9.0 pp]", "spring  (email)"} <= set(text_of(charts["campaign_lift"].svg))
    assert "Active base and inactive pool" in text_of(charts["lifecycle"].svg)
    # a standalone copy is a complete SVG document
    standalone = charts["lifecycle"].svg
    assert standalone.startswith("<?xml") and 'xmlns="http://www.w3.org/2000/svg"' in standalone


def test_campaign_names_are_text_not_markup_or_math():
    campaigns = pd.DataFrame(
        [("<script>alert(1)</script>", "$5 off", "treatment", 10, 2, 0.2, 0.1, -0.1, 0.3),
         ("<script>alert(1)</script>", "$5 off", "control", 10, 1, 0.1, None, None, None)],
        columns=["campaign_id", "channel", "group", "inactive_targeted", "reactivated", "reactivation_rate",
                 "lift", "lift_ci_low", "lift_ci_high"],
    )
    report = render_report(hand_made(campaigns), GENERATED)
    assert "<script" not in report.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report.html
    assert "campaign_lift" in [chart.name for chart in report.charts]


def test_a_campaign_without_control_is_listed_not_charted():
    only = hand_made().campaigns.query("campaign_id == 'no-control'")
    report = render_report(hand_made(only), GENERATED)
    assert "campaign_lift" not in [chart.name for chart in report.charts]
    assert "No campaign with a control group yet" in report.html and "no-control" in report.html


def test_tables_of_other_windows_or_many_cohorts_still_render():
    data = hand_made()
    # the tables hold N = 30, 60; the settings now say 45 (and P = 14): those charts are left out
    other = ReportData(**{**data.__dict__, "inactivity_days": (45,), "period_days": (14,)})
    names = [chart.name for chart in render_report(other, GENERATED).charts]
    assert "reactivation_rate" not in names and "cohort_retention" in names
    months = pd.date_range("2023-01-01", periods=40, freq="MS").date
    cohorts = pd.DataFrame([(m, k, 50, 1.0 if k == 0 else 0.3) for i, m in enumerate(months) for k in range(40 - i)],
                           columns=["cohort_month", "months_since_first", "cohort_size", "retention_rate"])
    many = ReportData(**{**data.__dict__, "cohorts": cohorts})
    [heatmap] = [c for c in render_report(many, GENERATED).charts if c.name == "cohort_retention"]
    rows = [label for label in text_of(heatmap.svg) if label.endswith("  (50)")]
    assert len(rows) == 24 and rows[-1].startswith("2026-04")  # the latest 24 cohorts


@pytest.mark.parametrize(
    "warehouse", ["duckdb_warehouse", pytest.param("postgres_warehouse", marks=pytest.mark.postgres)]
)
def test_an_empty_warehouse_gives_a_report_saying_there_is_no_data_yet(warehouse, request, tmp_path):
    warehouse = request.getfixturevalue(warehouse)
    data = load_report_data(warehouse.read_frame, warehouse.qualified, N, P)
    assert data.is_empty and data.as_of is None
    # charts of an earlier report must not survive beside a page that has none
    (tmp_path / "reactivation_rate.svg").write_text("<svg/>")
    path = write_report(render_report(data, GENERATED), tmp_path / "metrics_report.html")
    html = path.read_text()
    assert "No data yet" in html and "<svg" not in html
    assert list(tmp_path.glob("*.svg")) == []


def test_write_report_puts_each_chart_beside_the_page(tmp_path):
    report = render_report(hand_made(), GENERATED)
    path = write_report(report, tmp_path / "reports" / "metrics_report.html")
    assert path.read_text() == report.html
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        ["metrics_report.html", *(f"{name}.svg" for name in CHART_TITLES)]
    )


def test_the_report_sits_beside_the_data_docs_unless_told_otherwise(tmp_path):
    assert Settings().metrics_report_path.as_posix() == "data/reports/metrics_report.html"
    beside = Settings(quality_docs_dir=tmp_path / "docs").metrics_report_path
    assert beside == tmp_path / "reports" / "metrics_report.html"
    chosen = Settings.from_env({"REKINDLE_REPORT_DIR": str(tmp_path / "elsewhere")})
    assert chosen.metrics_report_path == tmp_path / "elsewhere" / "metrics_report.html"


@pytest.mark.slow
def test_materialized_on_a_generated_landing_zone(tmp_path, capsys):
    start, end = date(2026, 4, 2), date(2026, 6, 30)
    generate_landing_zone(tmp_path / "landing", customers=300, days=(end - start).days + 1, end_date=end, seed=4)
    settings = Settings(landing_dir=tmp_path / "landing", warehouse_url=f"duckdb:///{tmp_path}/w.duckdb",
                        start_date=start, quality_docs_dir=tmp_path / "docs")
    (tmp_path / "home").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "home")) as instance:
        result = materialize(settings, instance, start, end)
    [event] = [e for e in result.all_events if e.event_type == DagsterEventType.ASSET_MATERIALIZATION
               and e.asset_key.path == ["metrics_report"]]
    metadata = event.step_materialization_data.materialization.metadata
    path = tmp_path / "reports" / "metrics_report.html"
    assert metadata["path"].value == str(path) and metadata["url"].value == path.as_uri()
    assert metadata["as_of_date"].value == str(end)
    html = path.read_text()
    assert html.count("<svg") == len(CHART_TITLES) and "http://" not in html and "https://" not in html
    for name in CHART_TITLES:
        assert (path.parent / f"{name}.svg").stat().st_size > 1000
    _print_report_path(result, settings)
    assert f"Report: {path}" in capsys.readouterr().out
