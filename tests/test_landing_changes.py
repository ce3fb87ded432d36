"""The pure core of the landing sensor: file states, what changed, run-key fingerprints, the
cursor, what an earlier load has already seen, and days grouped into ranges."""

import os
from datetime import date

from rekindle.landing import list_all_files
from rekindle.landing_changes import (
    already_loaded,
    changed_partitions,
    day_ranges,
    decode_cursor,
    encode_cursor,
    file_states,
    fingerprint,
    partition_of,
)

D1, D2, D3 = date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)
A = "orders/dt=2025-01-01/a.csv"
B = "orders/dt=2025-01-02/b.csv"
C = "events/dt=2025-01-02/c.jsonl"


def test_file_states_from_a_real_landing_zone(tmp_path):
    folder = tmp_path / "orders" / "dt=2025-01-01"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text("order_id\n1\n")
    (folder / ".a.csv.tmp").write_text("staged, not yet renamed")
    os.utime(folder / "a.csv", ns=(1_000_000_000, 1_700_000_000_123_456_789))
    assert file_states(list_all_files(tmp_path)) == {A: (11, 1_700_000_000_123_456_789)}


def test_partition_of_a_path():
    assert partition_of(A) == ("orders", D1)
    assert partition_of(C) == ("events", D2)


def test_new_changed_and_removed_files_change_their_partition():
    previous = {A: (10, 1), B: (20, 2)}
    assert changed_partitions(previous, previous) == {}
    assert changed_partitions({**previous, C: (5, 3)}, previous) == {("events", D2): [C]}
    assert changed_partitions({A: (10, 1), B: (21, 9)}, previous) == {("orders", D2): [B]}
    assert changed_partitions({A: (10, 1), B: (20, 4)}, previous) == {("orders", D2): [B]}  # same size, newer
    assert changed_partitions({A: (10, 1)}, previous) == {("orders", D2): [B]}  # removed
    assert changed_partitions({A: (10, 1), B: (20, 2), C: (5, 3)}, {}) == {
        ("orders", D1): [A], ("orders", D2): [B], ("events", D2): [C],
    }


def test_fingerprint_depends_on_the_files_states_not_their_order():
    states = {A: (10, 1), B: (20, 2)}
    assert fingerprint(states, [A, B]) == fingerprint(dict(reversed(states.items())), [B, A])
    assert fingerprint(states, [A]) != fingerprint(states, [A, B])
    assert fingerprint(states, [B]) != fingerprint({**states, B: (20, 3)}, [B])  # re-delivered
    assert fingerprint(states, [C]) != fingerprint({**states, C: (1, 1)}, [C])  # removed vs present


def test_cursor_round_trip_and_no_cursor():
    states = {A: (10, 1_700_000_000_123_456_789), B: (0, 2)}
    assert decode_cursor(encode_cursor(states)) == states
    assert decode_cursor(encode_cursor({})) == {}
    assert decode_cursor(None) is None
    assert decode_cursor("") is None


def test_cursor_for_thousands_of_files_stays_small():
    states = {f"{s}/dt=2025-{m:02d}-{d:02d}/part-0001.parquet": (12345 + d, 1_700_000_000_000_000_000 + d * m)
              for s in ("orders", "events") for m in range(1, 13) for d in range(1, 29)}
    assert decode_cursor(encode_cursor(states)) == states
    assert len(encode_cursor(states)) < 40 * len(states)


def test_already_loaded_keeps_files_not_modified_since_their_partition_was_loaded():
    loaded_at = {("orders", D1): 1000.0, ("orders", D2): 2000.0}
    states = {
        A: (10, 999_000_000_000),  # before the load of its day: seen
        B: (20, 2001_000_000_000),  # modified after its day was loaded: new
        C: (30, 1_000_000_000),  # events of D2 were never loaded: new
    }
    assert already_loaded(states, loaded_at) == {A: (10, 999_000_000_000)}
    assert already_loaded(states, {}) == {}


def test_day_ranges_group_consecutive_days():
    assert day_ranges([]) == []
    assert day_ranges([D3, D1, D2, D2]) == [(D1, D3)]
    assert day_ranges([D1, D3]) == [(D1, D1), (D3, D3)]
    assert day_ranges([date(2024, 12, 31), D1]) == [(date(2024, 12, 31), D1)]
