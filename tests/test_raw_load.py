"""Loading landing days into the raw tables under SPEC 1.1 (rekindle.raw_load), on DuckDB and
PostgreSQL: kept, blocked and loaded days, and ids unique across days whatever the load order."""

from __future__ import annotations

import gzip
import os
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rekindle.landing import partition_dir
from rekindle.quality.history import repeated_id_rows
from rekindle.raw_load import (
    extract_days,
    load_days,
    park_cross_day_duplicates,
    resolve_duplicates_across_days,
    write_raw_load,
)
from rekindle.settings import Settings

D1, D2, D3, D5 = date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3), date(2025, 1, 5)
HEADER = "order_id,customer_id,ordered_at,amount\n"


def deliver(root: Path, day: date, rows: list[tuple[str, str, float]], name: str = "part-0.csv", mtime_s: int = 1_000):
    """Orders (id, customer, amount) at noon of `day`; a re-delivery overwrites the file."""
    path = partition_dir(root, "orders", day) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(f"{i},{c},{day}T12:00:00Z,{a}\n" for i, c, a in rows))
    os.utime(path, ns=(mtime_s * 10**9, mtime_s * 10**9))
    (root / "events").mkdir(exist_ok=True)
    return path


def load(warehouse, root: Path, *days: date):
    result = extract_days(Settings(landing_dir=root), "orders", days)
    with warehouse.begin() as conn:
        write_raw_load(conn, warehouse, result, "USD")
    return result


def raw_orders(warehouse) -> list[tuple]:
    frame = warehouse.read_frame(
        f"SELECT order_id, partition_date, amount FROM {warehouse.qualified('raw_orders')} ORDER BY order_id, partition_date"
    )
    return [(i, pd.Timestamp(d).date(), float(a)) for i, d, a in frame.itertuples(index=False)]


def quarantine(warehouse) -> list[tuple]:
    frame = warehouse.read_frame(
        f"SELECT partition_date, source_file, reason, record FROM {warehouse.qualified('quarantine')} "
        "ORDER BY partition_date, source_file, reason, record"
    )
    return [(pd.Timestamp(d).date(), f, r, rec) for d, f, r, rec in frame.itertuples(index=False)]


# --- the pure decision --------------------------------------------------------------------


def test_the_earliest_day_keeps_an_id():
    new = {D3: pd.DataFrame({"order_id": ["a", "b", "c"]})}
    existing = pd.DataFrame({"order_id": ["a", "b"], "partition_date": [D1, D5]})
    parked = pd.DataFrame({"order_id": ["c", "d"], "partition_date": [D5, D5]})

    decision = resolve_duplicates_across_days("order_id", new, existing, parked)

    assert {d: list(p) for d, p in decision.new_losers.items()} == {D3: [0]}  # "a" was on D1 already
    assert list(decision.demoted["order_id"]) == ["b"]  # D5's "b" moves to quarantine
    assert list(decision.restored["order_id"]) == ["d"]  # nobody else has "d" any more
    assert decision.restored["partition_date"].tolist() == [D5]


# --- through the warehouse ----------------------------------------------------------------


def test_a_day_without_files_keeps_its_rows(warehouse, tmp_path):
    deliver(tmp_path, D1, [("o1", "c1", 10)])
    load(warehouse, tmp_path, D1)
    for path in partition_dir(tmp_path, "orders", D1).iterdir():
        path.unlink()  # the landing zone was pruned

    result = load(warehouse, tmp_path, D1, D2)

    assert result.kept == [D1, D2] and not result.loaded
    assert raw_orders(warehouse) == [("o1", D1, 10.0)]


def test_a_header_only_file_empties_a_day_on_purpose(warehouse, tmp_path):
    deliver(tmp_path, D1, [("o1", "c1", 10)])
    load(warehouse, tmp_path, D1)
    deliver(tmp_path, D1, [])

    load(warehouse, tmp_path, D1)

    assert raw_orders(warehouse) == []


def test_a_redelivered_file_with_fewer_rows_removes_the_missing_rows(warehouse, tmp_path):
    deliver(tmp_path, D1, [("o1", "c1", 10), ("o2", "c2", 20)])
    load(warehouse, tmp_path, D1)
    deliver(tmp_path, D1, [("o2", "c2", 25)], mtime_s=2_000)

    load(warehouse, tmp_path, D1)

    assert raw_orders(warehouse) == [("o2", D1, 25.0)]


def test_an_unreadable_file_blocks_its_day_which_keeps_its_rows(warehouse, tmp_path):
    deliver(tmp_path, D1, [("o1", "c1", 10)])
    load(warehouse, tmp_path, D1)
    truncated = partition_dir(tmp_path, "orders", D1) / "late.csv.gz"
    truncated.write_bytes(gzip.compress((HEADER + "o9,c9,2025-01-01T01:00:00Z,5\n" * 200).encode())[:60])

    result = load(warehouse, tmp_path, D1)
    again = load(warehouse, tmp_path, D1)  # idempotent: still one error row

    assert list(result.blocked) == [D1] and not result.loaded
    assert "orders/dt=2025-01-01/late.csv.gz (unreadable_file:" in result.blocked[D1].blocking[0]
    assert again.blocked[D1].blocking == result.blocked[D1].blocking
    assert raw_orders(warehouse) == [("o1", D1, 10.0)]
    [(day, source_file, reason, record)] = quarantine(warehouse)
    assert (day, source_file, reason) == (D1, "orders/dt=2025-01-01/late.csv.gz", "unreadable_file")
    assert "late.csv.gz" in record

    truncated.unlink()  # the operator removes the file: the next run proceeds
    result = load(warehouse, tmp_path, D1)
    assert list(result.loaded) == [D1] and quarantine(warehouse) == []


def test_a_link_out_of_the_landing_zone_blocks_its_day_and_is_never_read(warehouse, tmp_path):
    root = tmp_path / "landing"
    deliver(root, D1, [("o1", "c1", 10)])
    (partition_dir(root, "orders", D1) / "os-release.csv").symlink_to("/etc/os-release")

    result = load(warehouse, root, D1)

    assert list(result.blocked) == [D1]
    [(_, source_file, reason, record)] = quarantine(warehouse)
    assert (source_file, reason) == ("orders/dt=2025-01-01/os-release.csv", "outside_landing_zone")
    assert "NAME=" not in record and "os-release" in record


def test_an_id_on_two_days_is_kept_by_the_earliest_whatever_the_load_order(warehouse, tmp_path):
    deliver(tmp_path, D1, [("x", "c1", 10), ("a", "c1", 1)])
    deliver(tmp_path, D5, [("x", "c1", 10), ("b", "c2", 2)])

    load(warehouse, tmp_path, D5)  # the later day first, as a daily schedule would
    result = load(warehouse, tmp_path, D1)  # then a late file for the earlier day

    assert result.moved == {D5: (1, 0)}
    assert raw_orders(warehouse) == [("a", D1, 1.0), ("b", D5, 2.0), ("x", D1, 10.0)]
    assert [(d, r) for d, _, r, _ in quarantine(warehouse)] == [(D5, "duplicate_other_day")]
    day_by_day = (raw_orders(warehouse), quarantine(warehouse))

    load(warehouse, tmp_path, D1, D5)  # one backfill of both days gives the same tables
    assert (raw_orders(warehouse), quarantine(warehouse)) == day_by_day
    load(warehouse, tmp_path, D5)  # and re-loading the later day changes nothing
    assert (raw_orders(warehouse), quarantine(warehouse)) == day_by_day


def test_a_redelivery_without_the_id_gives_it_back_to_the_later_day(warehouse, tmp_path):
    deliver(tmp_path, D1, [("x", "c1", 10)])
    deliver(tmp_path, D5, [("x", "c1", 10)])
    load(warehouse, tmp_path, D1, D5)
    deliver(tmp_path, D1, [("y", "c1", 3)], mtime_s=2_000)

    result = load(warehouse, tmp_path, D1)

    assert result.moved == {D5: (0, 1)}
    assert raw_orders(warehouse) == [("x", D5, 10.0), ("y", D1, 3.0)]
    assert quarantine(warehouse) == []
    restored = (raw_orders(warehouse), quarantine(warehouse))
    load(warehouse, tmp_path, D1, D5)  # the same as a clean backfill
    assert (raw_orders(warehouse), quarantine(warehouse)) == restored


def test_accounting_holds_with_cross_day_losers(warehouse, tmp_path):
    deliver(tmp_path, D1, [("x", "c1", 10)])
    deliver(tmp_path, D2, [("x", "c1", 10), ("y", "c2", 5)])

    result = load(warehouse, tmp_path, D1, D2)

    part = result.loaded[D2]
    assert (part.rows_read, len(part.accepted), len(part.quarantined)) == (2, 1, 1)
    assert list(part.quarantined["reason"]) == ["duplicate_other_day"]


@pytest.mark.parametrize("seed", range(6))
def test_any_load_order_with_repeats_equals_one_backfill(warehouse, tmp_path, seed):
    rng = np.random.default_rng(seed)
    days = [D1, D2, D3, D5]
    ids = [f"o{n}" for n in range(6)]
    for day in days:  # each id on a random subset of the days
        chosen = [i for i in ids if rng.random() < 0.5]
        deliver(tmp_path, day, [(i, "c1", 1 + ids.index(i)) for i in chosen])
    for day in rng.permutation(len(days)).tolist() + rng.integers(0, len(days), 3).tolist():
        load(warehouse, tmp_path, days[day])
    day_by_day = (raw_orders(warehouse), quarantine(warehouse))

    load(warehouse, tmp_path, *days)

    assert (raw_orders(warehouse), quarantine(warehouse)) == day_by_day
    kept = {i: d for i, d, _ in day_by_day[0]}
    assert len(kept) == len(day_by_day[0])  # every id once


def test_an_upgrade_parks_ids_an_earlier_release_loaded_on_several_days(warehouse, tmp_path):
    # what the previous release left after day-by-day loads: "x" on D1 and on D3, counted twice
    if not warehouse.is_duckdb:  # that release declared no key
        with warehouse.begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE {warehouse.qualified('raw_orders')} DROP CONSTRAINT raw_orders_pkey")
    for day in (D3, D1):
        deliver(tmp_path, day, [("x", "c1", 10), (f"only-{day.day}", "c2", 1)])
        part = extract_days(Settings(landing_dir=tmp_path), "orders", [day]).loaded[day]
        with warehouse.begin() as conn:
            warehouse.bulk_insert(conn, "raw_orders", part.accepted)

    with warehouse.engine.connect() as conn:  # what a chunked load's uniqueness rule counts
        assert repeated_id_rows(conn, warehouse.schema_name, "raw_orders", "order_id", [D1, D3]) == 2
        assert repeated_id_rows(conn, warehouse.schema_name, "raw_orders", "order_id", [D3]) == 0
    with warehouse.begin() as conn:
        moved = park_cross_day_duplicates(conn, warehouse.schema_name)

    assert moved == {"raw_orders": [D3]}
    assert raw_orders(warehouse) == [("only-1", D1, 1.0), ("only-3", D3, 1.0), ("x", D1, 10.0)]
    [(day, _, reason, record)] = quarantine(warehouse)
    assert (day, reason) == (D3, "duplicate_other_day") and '"order_id": "x"' in record
    upgraded = (raw_orders(warehouse), quarantine(warehouse))
    load(warehouse, tmp_path, D1, D3)  # the same tables as a load under the rule
    assert (raw_orders(warehouse), quarantine(warehouse)) == upgraded
    with warehouse.begin() as conn:  # and a second pass finds nothing
        assert park_cross_day_duplicates(conn, warehouse.schema_name) == {}
        assert repeated_id_rows(conn, warehouse.schema_name, "raw_orders", "order_id", [D1, D3]) == 0


def test_a_load_in_chunks_reports_moves_only_for_days_it_did_not_load(warehouse, tmp_path):
    deliver(tmp_path, D5, [("x", "c1", 10)])
    load(warehouse, tmp_path, D5)
    deliver(tmp_path, D1, [("x", "c1", 10), ("a", "c1", 1)])
    deliver(tmp_path, D2, [("b", "c2", 2)])
    settings = Settings(landing_dir=tmp_path)
    seen = []

    with warehouse.begin() as conn:  # D1 and D2 each a chunk: D1 moves x off D5, which is not loaded
        result = load_days(conn, warehouse, settings, "orders", [D2, D1, D3], lambda c, chunk: seen.append(
            {day: len(part.accepted) for day, part in chunk.loaded.items()}), chunk_rows=1)
    assert seen == [{D1: 2}, {D2: 1}]  # in date order, each chunk's loaded rows while they are held
    assert result.moved == {D5: (1, 0)} and result.kept == [D3]
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 3, 0)
    assert all(part.accepted.empty for part in result.loaded.values())  # dropped once validated

    with warehouse.begin() as conn:  # now D5 is reloaded by a later chunk: loaded, not moved
        result = load_days(conn, warehouse, settings, "orders", [D1, D5], chunk_rows=1)
    assert result.moved == {} and sorted(result.loaded) == [D1, D5]
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (3, 2, 1)
    assert raw_orders(warehouse) == [("a", D1, 1.0), ("b", D2, 2.0), ("x", D1, 10.0)]
    assert [(d, r) for d, _, r, _ in quarantine(warehouse)] == [(D5, "duplicate_other_day")]


def test_repeated_ids_are_marked_as_pandas_would():
    """The Arrow hashing of ids across days marks what duplicated(keep=False) marks; a missing id never repeats."""
    from rekindle.raw_load import _repeated

    ids = pd.Series(["o1", "o2", "o1", None, "o3", None, "o2", "o4"], dtype=object)

    assert _repeated(ids).tolist() == [True, True, True, False, False, False, True, False]
    assert _repeated(ids.dropna()).tolist() == ids.dropna().duplicated(keep=False).tolist()
