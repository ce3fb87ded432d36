"""Blocking and warning checks in real runs: a day whose orders are all invalid stops its
metrics and says which rule failed on which file; warnings never stop anything."""

from datetime import date, timedelta
from pathlib import Path

import pytest
from cli_runs import run_cli
from dagster import AssetKey, DagsterInstance, DagsterRunStatus

from rekindle.generate import generate_landing_zone
from rekindle.settings import Settings
from resources.warehouse import WarehouseResource

pytestmark = pytest.mark.slow

END = date(2026, 6, 30)
BAD_DAY = END


def count_rows(tmp_path, table, day):
    wh = WarehouseResource(url=f"duckdb:///{tmp_path}/w.duckdb", schema_name=Settings().schema)
    try:
        column = "partition_date" if table.startswith("raw_") else "as_of_date"
        return wh.scalar(f"SELECT COUNT(*) FROM {wh.qualified(table)} WHERE {column} = :d", {"d": day})
    finally:
        wh.dispose()


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    root = tmp_path_factory.mktemp("landing")
    generate_landing_zone(root, customers=300, days=40, end_date=END, seed=5, campaigns=False)
    return root


def test_all_negative_amounts_block_that_days_metrics(landing, tmp_path):
    folder = landing / "orders" / f"dt={BAD_DAY.isoformat()}"
    for existing in folder.iterdir():
        existing.unlink()
    lines = ["order_id,customer_id,ordered_at,amount"]
    lines += [f"bad{i},C{i:06d},{BAD_DAY.isoformat()}T10:00:00Z,-{i + 1}.00" for i in range(50)]
    (folder / "refund-export.csv").write_text("\n".join(lines) + "\n")

    done = run_cli(landing, tmp_path, BAD_DAY, BAD_DAY)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "check raw_orders:contract FAILED (ERROR)" in output
    assert "raw_orders:contract" in done.stderr  # the closing message names the blocking check
    # which rule failed on which file
    assert "reject_rate_at_most" in output
    assert f"orders/dt={BAD_DAY.isoformat()}/refund-export.csv (negative_amount: 50 rows)" in output
    # every row is accounted for, in quarantine, and nothing downstream was written for the day
    assert count_rows(tmp_path, "raw_orders", BAD_DAY) == 0
    assert count_rows(tmp_path, "lifecycle_daily", BAD_DAY) == 0
    assert count_rows(tmp_path, "reactivation_daily", BAD_DAY) == 0
    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        assert instance.get_latest_materialization_event(AssetKey("raw_orders")) is not None
        assert instance.get_latest_materialization_event(AssetKey("lifecycle_daily")) is None
        # a blocked run is a failed run in the UI, with the check as its reason
        assert instance.get_run_records()[0].dagster_run.status == DagsterRunStatus.FAILURE


def test_warnings_do_not_block(landing, tmp_path):
    # events of a type nobody knows: loaded, and the anomalies check warns; the metrics are written
    day = END - timedelta(days=5)
    lines = ["event_id,customer_id,occurred_at,event_type"]
    lines += [f"fax{i},C{i:06d},{day.isoformat()}T09:00:00Z,fax_received" for i in range(3)]
    (landing / "events" / f"dt={day.isoformat()}" / "fax-gateway.csv").write_text("\n".join(lines) + "\n")
    done = run_cli(landing, tmp_path, day - timedelta(days=9), day)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "raw_events:anomalies FAILED (WARN)" in output
    # the sample data's own 1% of bad rows is normal: no other source warns
    assert "raw_orders:anomalies passed" in output and "raw_surveys:anomalies passed" in output
    assert count_rows(tmp_path, "lifecycle_daily", day) == len(Settings().inactivity_days)


def test_the_anomalies_warning_is_short_and_its_page_its_own(landing, tmp_path):
    from dagster import AssetCheckKey

    day = END - timedelta(days=9)  # about 140 events: 10 bad rows are 3..10%, a warning, not an error
    lines = ["event_id,customer_id,occurred_at,event_type"]  # 10 events without a customer
    lines += [f"anon{i},,{day.isoformat()}T09:00:00Z,app_open" for i in range(10)]
    (landing / "events" / f"dt={day.isoformat()}" / "partner-feed.csv").write_text("\n".join(lines) + "\n")
    done = run_cli(landing, tmp_path, day - timedelta(days=8), day)
    assert done.returncode == 0, done.stdout + done.stderr
    keys = [AssetCheckKey(AssetKey("raw_events"), name) for name in ("contract", "anomalies")]
    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
        contract, anomalies = (latest[key].event.dagster_event.event_specific_data for key in keys)
    assert contract.passed and not anomalies.passed
    # a line per failed rule, naming the day and at most 3 files; the details are in the metadata
    (line,) = anomalies.description.splitlines()
    assert line.startswith(f"WARN reject_rate_at_most: {day}: at most 3% of the rows read are quarantined")
    assert f"events/dt={day}/partner-feed.csv (missing_value:customer_id: 10 rows)" in line
    assert len(line) < 600
    assert anomalies.metadata["failed_rules"].value and anomalies.metadata["rules"].value
    # each check links its own Data Docs page, as a path (file:// links do not open from the UI)
    pages = {"contract": contract.metadata["data_docs"].value, "anomalies": anomalies.metadata["data_docs"].value}
    assert "/anomalies/" in pages["anomalies"] and "/contract/" in pages["contract"]
    assert all(Path(page).is_file() for page in pages.values())


def test_a_range_loaded_in_chunks_is_checked_and_loaded_as_one_batch(landing, tmp_path):
    """REKINDLE_RAW_CHUNK_ROWS: a long load is read, written and validated a chunk of days at a
    time; the tables and every rule's counts are those of one batch."""
    import shutil

    from dagster import AssetCheckKey
    from warehouse_tables import assert_same_tables, read_tables

    zone = tmp_path / "landing"
    shutil.copytree(landing, zone)
    first, last = END - timedelta(days=25), END - timedelta(days=16)  # days the other tests leave alone
    for day in (first + timedelta(days=1), last - timedelta(days=1)):  # unknown types, chunks apart
        lines = ["event_id,customer_id,occurred_at,event_type"]
        lines += [f"fax{day:%d}-{i},C{i:06d},{day.isoformat()}T09:00:00Z,fax_received" for i in range(3)]
        (zone / "events" / f"dt={day.isoformat()}" / "fax-gateway.csv").write_text("\n".join(lines) + "\n")

    checks = {}
    for name, env in (("one", {}), ("chunked", {"REKINDLE_RAW_CHUNK_ROWS": "30"})):  # ~140 events, ~20 orders a day
        (tmp_path / name).mkdir()
        done = run_cli(zone, tmp_path / name, first, last, extra_env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        keys = [AssetCheckKey(AssetKey(table), check)
                for table in ("raw_events", "raw_orders") for check in ("contract", "anomalies")]
        with DagsterInstance.from_config(str(tmp_path / name / "dagster_home")) as instance:
            latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
            checks[name] = {key: latest[key].event.dagster_event.event_specific_data for key in keys}
    assert_same_tables(
        read_tables(Settings(warehouse_url=f"duckdb:///{tmp_path}/one/w.duckdb")),
        read_tables(Settings(warehouse_url=f"duckdb:///{tmp_path}/chunked/w.duckdb")),
    )

    for key, one in checks["one"].items():
        chunked = checks["chunked"][key]
        assert one.metadata["batches_validated"].value == 1
        assert chunked.metadata["batches_validated"].value > 2, key
        assert chunked.metadata["great_expectations_seconds"].value > 0, key  # the chunks' validations and the page
        assert (chunked.passed, chunked.description) == (one.passed, one.description), key
        for a, b in zip(one.metadata["rules"].value, chunked.metadata["rules"].value, strict=True):
            assert {k: v for k, v in a.items() if k != "unexpected_percent"} == \
                {k: v for k, v in b.items() if k != "unexpected_percent"}, key
            assert b["unexpected_percent"] == pytest.approx(a["unexpected_percent"], abs=1e-9), key
    anomalies = checks["chunked"][AssetCheckKey(AssetKey("raw_events"), "anomalies")]
    unknown = next(rule for rule in anomalies.metadata["rules"].value
                   if rule["expectation"] == "expect_column_values_to_be_in_set")
    assert unknown["unexpected_count"] == 6 and not unknown["success"]  # 3 + 3, from two chunks
    assert not anomalies.passed
