"""Metadata per partition, on a real instance: a multi-day run (one step per asset for the whole
range) records on each day's partition that day's own numbers, equal to the warehouse's rows
for the day; no row count is negative; a later one-day run replaces that day's numbers only;
a day changed by another day's file gets its new numbers too."""

from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterEventType, DagsterInstance
from warehouse_tables import materialize

from pipelines.definitions import build_definitions
from pipelines.jobs import DAILY_JOB_NAME, range_tags
from rekindle.generate import generate_landing_zone
from rekindle.landing import partition_dir
from rekindle.settings import Settings
from resources.warehouse import WarehouseResource

pytestmark = pytest.mark.slow

START, END = date(2026, 5, 1), date(2026, 5, 21)
DAYS = [START + timedelta(days=i) for i in range((END - START).days + 1)]
N, P = (7, 14), (1, 7)  # a short primary N, so customers lapse and come back within the 21 days
DATED_ASSETS = (
    "raw_orders", "raw_events", "raw_campaign_touches", "raw_surveys", "customer_daily_activity", "lifecycle_daily",
    "reactivation_daily", "retention_daily", "purchase_daily", "clv_daily", "nps_daily", "inactive_segments",
)
SNAPSHOTS = ("customers", "cohort_retention", "customer_predictions", "inactive_customers", "campaign_performance")


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    tmp = tmp_path_factory.mktemp("partition_metadata")
    generate_landing_zone(tmp / "landing", customers=300, days=len(DAYS), end_date=END, seed=5)
    return Settings(
        landing_dir=tmp / "landing", warehouse_url=f"duckdb:///{tmp}/warehouse.duckdb", start_date=START,
        inactivity_days=N, period_days=P, quality_docs_dir=tmp / "docs",
    )


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    with DagsterInstance.local_temp(str(tmp_path_factory.mktemp("dagster_home"))) as inst:
        yield inst


@pytest.fixture(scope="module")
def range_run(settings, instance):
    return materialize(settings, instance, START, END)


def materializations(instance: DagsterInstance, asset: str, day: date) -> list:
    """The partition's materializations, newest first."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[day.isoformat()]), limit=10
    ).records
    return [(r.run_id, {k: v.value for k, v in r.asset_materialization.metadata.items()}) for r in records]


def latest(instance: DagsterInstance, asset: str, day: date) -> dict:
    return materializations(instance, asset, day)[0][1]


def query(settings: Settings, sql: str) -> pd.DataFrame:
    warehouse = WarehouseResource(url=settings.warehouse_url, schema_name=settings.schema)
    try:
        return warehouse.read_frame(sql.replace("@", f"{settings.schema}."))
    finally:
        warehouse.dispose()


def by_day(frame: pd.DataFrame) -> dict:
    """{day: row} of a frame whose first column is the day."""
    return {pd.Timestamp(row[0]).date(): row for row in frame.itertuples(index=False)}


def test_raw_partitions_record_their_own_days_rows(range_run, settings, instance):
    loaded = by_day(query(settings, "SELECT partition_date, COUNT(*) FROM @raw_orders GROUP BY 1"))
    rejected = by_day(query(
        settings, "SELECT partition_date, COUNT(*) FROM @quarantine WHERE source = 'orders' GROUP BY 1"
    ))
    read = {}
    for day in DAYS:
        events = materializations(instance, "raw_orders", day)
        assert len(events) == 1, f"{day}: one materialization per partition, got {len(events)}"
        meta = events[0][1]
        rows, quarantined = loaded[day][1], rejected.get(day, (day, 0))[1]
        assert meta["rows_read"] == rows + quarantined, day
        assert (meta["rows_loaded"], meta["rows_quarantined"], meta["dagster/row_count"]) == (rows, quarantined, rows)
        assert sum(meta["quarantine_reasons"].values()) == quarantined
        assert meta["day_status"].startswith("loaded from")
        read[day] = meta["rows_read"]
    assert len(set(read.values())) > 1, "every day shows the same number: the run's totals?"
    # the run's totals are there too, labelled as such, and add up to the days
    run_range = latest(instance, "raw_orders", END)["run_range"]
    assert (run_range["first_day"], run_range["last_day"], run_range["days"]) == (str(START), str(END), len(DAYS))
    assert run_range["rows_read"] == sum(read.values())


def test_metric_partitions_record_their_own_days_values(range_run, settings, instance):
    reactivation = query(settings, "SELECT * FROM @reactivation_daily WHERE inactivity_days = 7")
    reactivation["as_of_date"] = pd.to_datetime(reactivation["as_of_date"]).dt.date
    came_back = 0
    for day in DAYS:
        meta = latest(instance, "reactivation_daily", day)
        assert meta["dagster/row_count"] == len(N) * len(P)
        for p in P:
            row = reactivation[(reactivation["as_of_date"] == day) & (reactivation["period_days"] == p)].iloc[0]
            assert meta[f"inactive_at_start_7d_p{p}"] == row["inactive_at_start"], (day, p)
            assert meta[f"reactivated_7d_p{p}"] == row["reactivated"], (day, p)
            if pd.isna(row["reactivation_rate"]):
                assert f"reactivation_rate_7d_p{p}" not in meta
            else:
                assert meta[f"reactivation_rate_7d_p{p}"] == pytest.approx(row["reactivation_rate"], abs=1e-6)
                came_back += row["reactivated"] > 0
    assert came_back > 5, "the data should have customers coming back"

    def table(sql: str) -> dict:
        return by_day(query(settings, sql))

    lifecycle = table("SELECT as_of_date, inactive_customers, active_customers, reactivated_customers "
                      "FROM @lifecycle_daily WHERE inactivity_days = 7")
    retention = table("SELECT as_of_date, churn_rate, churned FROM @retention_daily "
                      "WHERE inactivity_days = 7 AND period_days = 7")
    purchases = table("SELECT as_of_date, revenue, orders, buyers FROM @purchase_daily WHERE period_days = 1")
    activity = table(
        "SELECT activity_date, COUNT(*), SUM(orders), SUM(revenue) FROM @customer_daily_activity GROUP BY 1"
    )
    segments = table("SELECT as_of_date, SUM(customers) FROM @inactive_segments WHERE inactivity_days = 7 GROUP BY 1")
    nps = table("SELECT as_of_date, responses FROM @nps_daily WHERE period_days = 7")
    for day in DAYS:
        meta = latest(instance, "lifecycle_daily", day)
        assert (meta["inactive_customers_7d"], meta["active_customers_7d"], meta["reactivated_customers_7d"]) == \
            tuple(lifecycle[day][1:])
        meta = latest(instance, "retention_daily", day)
        assert meta["churned_7d_p7"] == retention[day].churned
        if not pd.isna(retention[day].churn_rate):
            assert meta["churn_rate_7d_p7"] == pytest.approx(retention[day].churn_rate, abs=1e-6)
        meta = latest(instance, "purchase_daily", day)
        assert (meta["orders_p1"], meta["buyers_p1"]) == (purchases[day].orders, purchases[day].buyers)
        assert meta["revenue_p1"] == pytest.approx(float(purchases[day].revenue), abs=0.005)
        meta = latest(instance, "customer_daily_activity", day)
        assert (meta["active_customers"], meta["orders"]) == tuple(activity[day][1:3])
        assert meta["revenue"] == pytest.approx(float(activity[day][3]), abs=0.005)
        assert latest(instance, "inactive_segments", day)["inactive_customers_7d"] == segments[day][1] == \
            lifecycle[day].inactive_customers
        assert latest(instance, "nps_daily", day)["responses_p7"] == nps[day].responses
        assert latest(instance, "clv_daily", day)["dagster/row_count"] == len(N)


def test_no_row_count_is_negative(range_run, settings):
    counted = {}
    for event in range_run.all_events:
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.step_materialization_data.materialization
            if "dagster/row_count" in materialization.metadata:
                value = materialization.metadata["dagster/row_count"].value
                assert value >= 0, (materialization.asset_key, materialization.partition, value)
                counted.setdefault(materialization.asset_key.to_user_string(), []).append(value)
    for asset in DATED_ASSETS:
        assert len(counted[asset]) == len(DAYS), asset  # every partition has its count
    for table in SNAPSHOTS:  # a snapshot's count is its table's rows
        assert counted[table] == [len(query(settings, f"SELECT * FROM @{table}"))], table


def test_a_one_day_run_after_the_range_updates_only_that_day(range_run, settings, instance):
    day = START + timedelta(days=10)
    before = {asset: {d: latest(instance, asset, d) for d in DAYS} for asset in DATED_ASSETS}
    again = materialize(settings, instance, day, day)
    for asset in DATED_ASSETS:
        events = materializations(instance, asset, day)
        assert [run_id for run_id, _ in events] == [again.run_id, range_run.run_id], asset
        numbers = {k: v for k, v in events[0][1].items() if k != "run_range"}
        assert numbers == {k: v for k, v in before[asset][day].items() if k != "run_range"}, asset  # same data
        assert events[0][1]["run_range"]["days"] == 1
        for other in (day - timedelta(days=1), day + timedelta(days=1), END):
            events = materializations(instance, asset, other)
            assert [run_id for run_id, _ in events] == [range_run.run_id], (asset, other)
            assert events[0][1] == before[asset][other]


def test_a_day_changed_by_another_days_file_gets_its_new_numbers(range_run, settings, instance):
    early, late = START + timedelta(days=2), START + timedelta(days=12)
    order_id, customer_id = query(
        settings, f"SELECT order_id, customer_id FROM @raw_orders WHERE partition_date = DATE '{late}' "
        "AND status = 'completed' ORDER BY order_id LIMIT 1"
    ).iloc[0]
    raw_before, early_before = latest(instance, "raw_orders", late), latest(instance, "raw_orders", early)
    activity_before = latest(instance, "customer_daily_activity", late)
    # a late file for the earlier day holds the same order id: the earlier day keeps it (SPEC 1.1)
    Path(partition_dir(settings.landing_dir, "orders", early), "zz-late.csv").write_text(
        f"order_id,customer_id,ordered_at,amount\n{order_id},{customer_id},{early}T09:00:00Z,42.50\n"
    )
    job = build_definitions(settings).resolve_job_def(DAILY_JOB_NAME)
    run = job.execute_in_process(
        instance=instance, tags=range_tags(early, early),
        asset_selection=[AssetKey("raw_orders"), AssetKey("customer_daily_activity")],
    )
    assert run.success

    runs, raw = zip(*materializations(instance, "raw_orders", late))
    assert runs[0] == run.run_id and raw[0]["rows_moved_to_quarantine"] == 1
    held = query(settings, f"SELECT COUNT(*) AS n FROM @raw_orders WHERE partition_date = DATE '{late}'")["n"][0]
    assert raw[0]["dagster/row_count"] == raw[0]["rows_loaded"] == held == raw_before["rows_loaded"] - 1
    assert raw[0]["rows_quarantined"] == raw_before["rows_quarantined"] + 1
    assert latest(instance, "raw_orders", early)["rows_read"] == early_before["rows_read"] + 1

    runs, activity = zip(*materializations(instance, "customer_daily_activity", late))
    assert runs[0] == run.run_id
    orders = query(
        settings, f"SELECT SUM(orders) AS n FROM @customer_daily_activity WHERE activity_date = DATE '{late}'"
    )
    assert activity[0]["orders"] == orders["n"][0] == activity_before["orders"] - 1

