"""Landing zone listing and reading (rekindle.landing)."""

from __future__ import annotations

import gzip
import json
import os
import time
from datetime import date, datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rekindle.landing import (
    LandingFile,
    LandingFileError,
    list_all_files,
    list_files,
    list_partition_dates,
    partition_dir,
    read_file,
)

DAY = date(2025, 1, 3)


def write(path: Path, content: str | bytes, mtime_s: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(content.encode() if isinstance(content, str) else content))
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    if mtime_s is not None:
        os.utime(path, ns=(mtime_s * 10**9, mtime_s * 10**9))
    return path


def landing_file(root: Path, path: Path) -> LandingFile:
    stat = path.stat()
    return LandingFile(path, path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns)


def test_partition_dir(tmp_path):
    assert partition_dir(tmp_path, "orders", DAY) == tmp_path / "orders" / "dt=2025-01-03"


def test_list_partition_dates_needs_a_data_file_and_a_well_formed_name(tmp_path):
    write(tmp_path / "orders/dt=2025-01-03/a.csv", "order_id\n")
    write(tmp_path / "events/dt=2025-01-05/a.jsonl", "")
    write(tmp_path / "surveys/dt=2025-01-04/a.parquet", b"")
    (tmp_path / "orders/dt=2025-01-06").mkdir(parents=True)  # empty folder
    write(tmp_path / "orders/dt=2025-01-07/_SUCCESS", "")  # no data file
    write(tmp_path / "orders/dt=2025-01-08/.a.csv", "")
    for bad in ("dt=2025-13-01", "dt=2025-02-30", "dt=2025-1-9", "dt=foo", "day=2025-01-09", "dt=2025-01-09x"):
        write(tmp_path / "orders" / bad / "a.csv", "order_id\n")
    write(tmp_path / "orders/dt=2025-01-10", "a file, not a folder")
    write(tmp_path / "unknown_source/dt=2025-01-11/a.csv", "x\n")

    assert list_partition_dates(tmp_path) == [date(2025, 1, 3), date(2025, 1, 4), date(2025, 1, 5)]
    assert list_partition_dates(tmp_path, "orders") == [date(2025, 1, 3)]
    assert list_partition_dates(tmp_path, "campaign_touches") == []
    assert list_partition_dates(tmp_path / "missing") == []
    with pytest.raises(ValueError, match="unknown landing source"):
        list_partition_dates(tmp_path, "refunds")


def test_list_files_ignores_temp_files_and_orders_oldest_first(tmp_path):
    folder = partition_dir(tmp_path, "orders", DAY)
    write(folder / "b.csv", "order_id\n", mtime_s=1_000)
    write(folder / "a.csv", "order_id\n", mtime_s=1_000)  # same mtime: by name
    write(folder / "c.jsonl.gz", "", mtime_s=500)
    write(folder / "z.parquet", b"", mtime_s=2_000)
    write(folder / "y.csv.gz", "", mtime_s=1_500)
    write(folder / "upper.CSV", "order_id\n", mtime_s=3_000)
    for ignored in (".a.csv", "_SUCCESS", "_tmp.csv", "a.csv.tmp", "notes.txt", "a.json"):
        write(folder / ignored, "x", mtime_s=100)
    (folder / "subdir.csv").mkdir()

    files = list_files(tmp_path, "orders", DAY)

    assert [f.relative_path for f in files] == [
        "orders/dt=2025-01-03/c.jsonl.gz",
        "orders/dt=2025-01-03/a.csv",
        "orders/dt=2025-01-03/b.csv",
        "orders/dt=2025-01-03/y.csv.gz",
        "orders/dt=2025-01-03/z.parquet",
        "orders/dt=2025-01-03/upper.CSV",
    ]
    assert files[1].path == folder / "a.csv"
    assert files[1].size == len("order_id\n")
    assert files[1].mtime_ns == 1_000 * 10**9
    assert list_files(tmp_path, "orders", date(2025, 1, 4)) == []


def test_list_all_files_is_fast_on_thousands_of_folders(tmp_path):
    start = date(2020, 1, 1).toordinal()
    for n in range(2_000):
        day = date.fromordinal(start + n)
        write(partition_dir(tmp_path, ("orders", "events")[n % 2], day) / "part-0.csv", "x\n")
    write(partition_dir(tmp_path, "surveys", DAY) / "part-0.jsonl", "")

    began = time.perf_counter()
    files = list_all_files(tmp_path)
    elapsed = time.perf_counter() - began

    assert len(files) == 2_001
    assert files[0].relative_path == "orders/dt=2020-01-01/part-0.csv"
    assert files[-1].relative_path == "surveys/dt=2025-01-03/part-0.jsonl"
    assert elapsed < 1.0


def test_read_csv_as_text_with_normalized_headers(tmp_path):
    path = write(tmp_path / "a.csv", "\ufeff Order_ID ,AMOUNT,Extra\n o1 ,12.50,\nNA,,null\n")

    frame = read_file(landing_file(tmp_path, path))

    assert list(frame.columns) == ["order_id", "amount", "extra"]
    assert all(dtype == object for dtype in frame.dtypes)
    assert frame.to_dict("records") == [
        {"order_id": " o1 ", "amount": "12.50", "extra": None},
        {"order_id": "NA", "amount": None, "extra": "null"},
    ]


def test_read_compressed_csv_and_headers_only_and_empty_files(tmp_path):
    gz = write(tmp_path / "a.csv.gz", "order_id,amount\no1,3\n")
    headers_only = write(tmp_path / "b.csv", "order_id,amount\n")
    empty = write(tmp_path / "c.csv", "")

    assert read_file(landing_file(tmp_path, gz)).to_dict("records") == [{"order_id": "o1", "amount": "3"}]
    assert list(read_file(landing_file(tmp_path, headers_only)).columns) == ["order_id", "amount"]
    assert read_file(landing_file(tmp_path, empty)).shape == (0, 0)


def test_read_jsonl_renders_every_value_as_text(tmp_path):
    lines = [
        {"Order_ID": "o1", "amount": 0.3, "nps": 9, "ordered_at": "2025-01-03T10:00:00Z", "mixed": 1},
        {"Order_ID": 2, "amount": 3.0, "nps": None, "ordered_at": "2025-01-03", "mixed": "x"},
        {"Order_ID": "o3", "amount": None, "mixed": {"k": [1]}},
    ]
    text = "\n".join(json.dumps(line) for line in lines) + "\n\n"
    for name in ("a.jsonl", "a.jsonl.gz"):
        frame = read_file(landing_file(tmp_path, write(tmp_path / name, text)))

        assert all(dtype == object for dtype in frame.dtypes)
        assert frame.to_dict("records") == [
            {"order_id": "o1", "amount": "0.3", "nps": "9", "ordered_at": "2025-01-03T10:00:00Z", "mixed": "1"},
            {"order_id": "2", "amount": "3", "nps": None, "ordered_at": "2025-01-03", "mixed": "x"},
            {"order_id": "o3", "amount": None, "nps": None, "ordered_at": None, "mixed": '{"k": [1]}'},
        ]


def test_read_parquet_renders_typed_columns_as_text(tmp_path):
    table = pa.table(
        {
            "Order_ID": ["o1", None],
            "ordered_at": pa.array([datetime(2025, 1, 3, 10), None], pa.timestamp("us")),
            "sent_at": pa.array([datetime(2025, 1, 3, 10, tzinfo=timezone.utc), None], pa.timestamp("ms", "UTC")),
            "amount": [12.5, 3.0],
            "nps": pa.array([9, None], pa.int64()),
        }
    )
    path = tmp_path / "a.parquet"
    pq.write_table(table, path)

    frame = read_file(landing_file(tmp_path, path))

    assert all(dtype == object for dtype in frame.dtypes)
    assert frame.to_dict("records") == [
        {
            "order_id": "o1",
            "ordered_at": "2025-01-03 10:00:00.000000",
            "sent_at": "2025-01-03 10:00:00.000Z",
            "amount": "12.5",
            "nps": "9",
        },
        {"order_id": None, "ordered_at": None, "sent_at": None, "amount": "3", "nps": None},
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.parquet", b"not a parquet file", "Parquet"),
        ("bad.csv.gz", b"not gzip", "gzip"),
        ("bad.jsonl", b'{"order_id": "o1"}\n{"order_id": \n', "ValueError"),
        ("bad.jsonl.gz", gzip.compress(b'{"order_id": "o1"'), "ValueError"),
        ("bad.csv", b"a,b\n1,2\n1,2,3\n", "Expected 2 fields"),
        ("dup.csv", b"Order_ID,order_id\n1,2\n", "duplicate column names"),
    ],
    ids=["corrupt-parquet", "bad-gzip", "malformed-json-line", "truncated-jsonl-gz", "ragged-csv", "case-duplicates"],
)
def test_unreadable_file_raises_with_its_path(tmp_path, name, content, message):
    path = tmp_path / "orders" / "dt=2025-01-03" / name
    path.parent.mkdir(parents=True)
    path.write_bytes(content)

    with pytest.raises(LandingFileError, match=message) as error:
        read_file(landing_file(tmp_path, path))

    assert str(path) in str(error.value)
    assert error.value.path == path
