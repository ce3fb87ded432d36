"""SPEC 1.1 end to end through `rekindle run`: a bad landing zone never ends with exit 0 and
rows lost or counted twice. Each scenario is what an operator's bad day looks like."""

from __future__ import annotations

import gzip
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from cli_runs import run_cli

from rekindle.generate import generate_landing_zone
from rekindle.landing import partition_dir
from resources.warehouse import WarehouseResource

pytestmark = pytest.mark.slow

END = date(2026, 6, 30)
START = END - timedelta(days=9)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("generated")
    generate_landing_zone(root, customers=150, days=10, end_date=END, seed=21, campaigns=False, surveys=False,
                          dirty_rate=0.0)
    return root


@pytest.fixture
def landing(generated, tmp_path) -> Path:
    root = tmp_path / "landing"
    shutil.copytree(generated, root)
    return root


def run(landing: Path, tmp_path: Path, start: date = START, end: date = END):
    return run_cli(landing, tmp_path, start, end)


def query(tmp_path: Path, sql: str) -> list[tuple]:
    warehouse = WarehouseResource(url=f"duckdb:///{tmp_path}/w.duckdb", schema_name="analytics")
    try:
        return [tuple(row) for row in warehouse.read_frame(sql.replace("@", "analytics.")).itertuples(index=False)]
    finally:
        warehouse.dispose()


def counts(tmp_path: Path) -> dict[str, int]:
    tables = ("raw_orders", "raw_events", "quarantine", "customer_daily_activity", "lifecycle_daily", "customers")
    return {t: query(tmp_path, f"SELECT COUNT(*) FROM @{t}")[0][0] for t in tables}


def test_a_vanished_landing_root_is_an_error_and_changes_nothing(landing, tmp_path):
    assert run(landing, tmp_path).returncode == 0
    before = counts(tmp_path)
    shutil.rmtree(landing)  # the mount failed

    done = run(landing, tmp_path)

    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{landing} does not exist" in done.stderr
    assert counts(tmp_path) == before


def test_a_missing_required_source_folder_is_an_error(landing, tmp_path):
    shutil.rmtree(landing / "events")
    done = run(landing, tmp_path)
    assert done.returncode == 2
    assert f"required source folder {landing / 'events'} does not exist" in done.stderr


def test_an_id_on_two_days_loaded_day_by_day_counts_once(landing, tmp_path):
    order_id = "dup-1"
    for day in (START, END):  # the same order id on two days, each valid on its own day
        (partition_dir(landing, "orders", day) / "zz-extra.csv").write_text(
            f"order_id,customer_id,ordered_at,amount\n{order_id},C000001,{day}T09:00:00Z,42.50\n"
        )

    for day in (END, START):  # the later day first, as a schedule plus a late backfill would
        done = run(landing, tmp_path, day, day)
        assert done.returncode == 0, done.stdout + done.stderr

    rows = query(tmp_path, f"SELECT partition_date FROM @raw_orders WHERE order_id = '{order_id}'")
    assert [d for (d,) in rows] == [START]
    parked = query(tmp_path, f"SELECT partition_date, reason FROM @quarantine WHERE record LIKE '%{order_id}%'")
    assert parked == [(END, "duplicate_other_day")]
    # the later day's activity was rebuilt in the same run: the order is counted on one day only
    activity = query(tmp_path, "SELECT SUM(orders) FROM @customer_daily_activity WHERE activity_date = DATE '"
                     f"{END}'")[0][0]
    loaded = query(tmp_path, "SELECT COUNT(*) FROM @raw_orders WHERE status = 'completed' AND partition_date = "
                   f"DATE '{END}'")[0][0]
    assert activity == loaded


def test_a_bad_landing_zone_never_exits_0_with_rows_lost_or_counted_twice(landing, tmp_path):
    assert run(landing, tmp_path).returncode == 0
    raw_before = dict(query(tmp_path, "SELECT partition_date, COUNT(*) FROM @raw_orders GROUP BY 1"))

    pruned = START + timedelta(days=1)
    shutil.rmtree(partition_dir(landing, "orders", pruned))  # an old day pruned
    truncated_day = START + timedelta(days=4)
    good = sorted(partition_dir(landing, "orders", truncated_day).iterdir())[0]
    packed = gzip.compress(good.read_bytes())
    good.unlink()  # re-delivered half-written: a gzip cut in the middle
    (good.parent / "part-0001.csv.gz").write_bytes(packed[: len(packed) // 2])
    linked_day = START + timedelta(days=6)
    (partition_dir(landing, "orders", linked_day) / "os-release.csv").symlink_to("/etc/os-release")
    (landing / "orders" / "dt=2026-02-30").mkdir()
    (partition_dir(landing, "orders", START) / "notes.txt").write_text("hello")

    done = run(landing, tmp_path)
    output = done.stdout + done.stderr

    assert done.returncode == 1, output
    assert "landing_files_readable" in output
    assert f"orders/dt={truncated_day}/" in output and "unreadable_file" in output
    assert f"orders/dt={linked_day}/os-release.csv (outside_landing_zone" in output
    assert "orders/dt=2026-02-30/: not a dt=YYYY-MM-DD folder" in output  # reported by name
    assert f"orders/dt={START}/notes.txt: unsupported file type" in output
    raw_after = dict(query(tmp_path, "SELECT partition_date, COUNT(*) FROM @raw_orders GROUP BY 1"))
    # pruned and blocked days keep their rows; nothing is counted twice
    for day in (pruned, truncated_day, linked_day):
        assert raw_after[day] == raw_before[day], day
    assert raw_after == raw_before
    records = query(tmp_path, "SELECT record FROM @quarantine WHERE reason = 'outside_landing_zone'")
    assert len(records) == 1 and "NAME=" not in records[0][0]  # the link's target was never read
