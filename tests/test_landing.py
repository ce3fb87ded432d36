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
from hypothesis import given, settings
from hypothesis import strategies as st

from rekindle import landing
from rekindle.landing import (
    NOTICE_TEXT,
    LandingFile,
    LandingFileError,
    LandingZoneError,
    check_landing_zone,
    landing_notices,
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


def test_list_files_orders_oldest_first_and_marks_what_is_not_read(tmp_path):
    folder = partition_dir(tmp_path, "orders", DAY)
    write(folder / "b.csv", "order_id\n", mtime_s=1_000)
    write(folder / "a.csv", "order_id\n", mtime_s=1_000)  # same mtime: by name
    write(folder / "c.jsonl.gz", "", mtime_s=500)
    write(folder / "z.parquet", b"", mtime_s=2_000)
    write(folder / "y.csv.gz", "", mtime_s=1_500)
    write(folder / "upper.CSV", "order_id\n", mtime_s=3_000)
    for staging in (".a.csv", "_SUCCESS", "_tmp.csv", "a.csv.tmp", "b.parquet.part"):
        write(folder / staging, "x", mtime_s=100)
    for unsupported in ("notes.txt", "a.json"):
        write(folder / unsupported, "x", mtime_s=100)
    (folder / "subdir.csv").mkdir()

    files = list_files(tmp_path, "orders", DAY)

    assert [(f.relative_path, f.problem) for f in files] == [
        ("orders/dt=2025-01-03/a.json", "unsupported_file"),
        ("orders/dt=2025-01-03/notes.txt", "unsupported_file"),
        ("orders/dt=2025-01-03/c.jsonl.gz", None),
        ("orders/dt=2025-01-03/a.csv", None),
        ("orders/dt=2025-01-03/b.csv", None),
        ("orders/dt=2025-01-03/y.csv.gz", None),
        ("orders/dt=2025-01-03/z.parquet", None),
        ("orders/dt=2025-01-03/upper.CSV", None),
    ]
    assert [f.is_data for f in files] == [False, False, True, True, True, True, True, True]
    assert files[3].path == folder / "a.csv"
    assert files[3].size == len("order_id\n")
    assert files[3].mtime_ns == 1_000 * 10**9
    assert list_files(tmp_path, "orders", date(2025, 1, 4)) == []
    # nothing is ignored silently: what is not read is reported by name
    assert sorted(map(str, landing_notices(tmp_path))) == sorted([
        "orders/dt=2025-01-03/.a.csv: " + NOTICE_TEXT["staging_file"],
        "orders/dt=2025-01-03/_SUCCESS: " + NOTICE_TEXT["staging_file"],
        "orders/dt=2025-01-03/_tmp.csv: " + NOTICE_TEXT["staging_file"],
        "orders/dt=2025-01-03/a.csv.tmp: " + NOTICE_TEXT["staging_file"],
        "orders/dt=2025-01-03/b.parquet.part: " + NOTICE_TEXT["staging_file"],
        "orders/dt=2025-01-03/subdir.csv/: " + NOTICE_TEXT["nested_folder"],
        "orders/dt=2025-01-03/a.json: " + NOTICE_TEXT["unsupported_file"],
        "orders/dt=2025-01-03/notes.txt: " + NOTICE_TEXT["unsupported_file"],
    ])


def test_bad_folders_and_stray_files_are_reported_by_name(tmp_path):
    for bad in ("dt=2026-02-30", "dt=garbage", "dt=2026-11-5"):
        write(tmp_path / "orders" / bad / "a.csv", "order_id\n")
    write(tmp_path / "events/loose.csv", "event_id\n")
    write(tmp_path / "events/dt=2026-11-01/ok.csv", "event_id\n")

    notices = {n.relative_path: n.problem for n in landing_notices(tmp_path)}

    assert notices == {
        "orders/dt=2026-02-30/": "invalid_partition_folder",
        "orders/dt=2026-11-5/": "invalid_partition_folder",
        "orders/dt=garbage/": "invalid_partition_folder",
        "events/loose.csv": "not_in_partition_folder",
    }
    assert list_partition_dates(tmp_path) == [date(2026, 11, 1)]


def test_symlinks_out_of_the_landing_zone_are_never_read(tmp_path):
    root, outside = tmp_path / "landing", tmp_path / "elsewhere"
    write(outside / "secret.csv", "order_id,customer_id,ordered_at,amount\nX,C,2025-01-03T00:00:00Z,1\n")
    folder = partition_dir(root, "orders", DAY)
    folder.mkdir(parents=True)
    (folder / "linked.csv").symlink_to(outside / "secret.csv")
    (folder / "os-release.csv").symlink_to("/etc/os-release")
    write(root / "orders/dt=2025-01-04/real.csv", "order_id\n")
    (folder / "inside.csv").symlink_to(root / "orders/dt=2025-01-04/real.csv")  # inside: fine
    (root / "orders/dt=2025-01-05").symlink_to(outside, target_is_directory=True)  # a whole folder out

    files = {f.relative_path: f.problem for f in list_all_files(root)}

    assert files == {
        "orders/dt=2025-01-03/linked.csv": "outside_landing_zone",
        "orders/dt=2025-01-03/os-release.csv": "outside_landing_zone",
        "orders/dt=2025-01-03/inside.csv": None,
        "orders/dt=2025-01-04/real.csv": None,
        "orders/dt=2025-01-05/secret.csv": "outside_landing_zone",
    }


def test_non_utf8_file_names_are_listed_escaped(tmp_path):
    folder = partition_dir(tmp_path, "orders", DAY)
    folder.mkdir(parents=True)
    name = os.fsdecode(b"caf\xe9.csv")  # Latin-1 bytes: not UTF-8
    (folder / name).write_text("order_id\n")

    [file] = list_files(tmp_path, "orders", DAY)
    notices = landing_notices(tmp_path)

    assert file.relative_path == "orders/dt=2025-01-03/caf\\xe9.csv"
    assert file.relative_path.encode("utf-8")  # storable text
    assert [(n.relative_path, n.problem) for n in notices] == [(file.relative_path, "non_utf8_name")]


def test_a_missing_root_or_required_folder_is_an_error_naming_the_path(tmp_path):
    with pytest.raises(LandingZoneError, match=f"{tmp_path / 'missing'} does not exist"):
        check_landing_zone(tmp_path / "missing")
    write(tmp_path / "file", "not a folder")
    with pytest.raises(LandingZoneError, match="is not a folder"):
        check_landing_zone(tmp_path / "file")
    (tmp_path / "root/orders").mkdir(parents=True)
    with pytest.raises(LandingZoneError, match=f"required source folder {tmp_path / 'root/events'} does not exist"):
        check_landing_zone(tmp_path / "root")
    (tmp_path / "root/events").mkdir()
    check_landing_zone(tmp_path / "root")  # optional sources may be absent


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
            "local_at": pa.array([datetime(2025, 1, 3, 10, tzinfo=timezone.utc), None], pa.timestamp("s", "Europe/Berlin")),
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
            "local_at": "2025-01-03 11:00:00.000+0100",
            "amount": "12.5",
            "nps": "9",
        },
        {"order_id": None, "ordered_at": None, "sent_at": None, "local_at": None, "amount": "3", "nps": None},
    ]


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


ORDERS_PARQUET = parquet_bytes(pa.table({"order_id": [f"o{i}" for i in range(100)], "amount": [1.5] * 100}))
ORDERS_GZIP = gzip.compress(b"order_id,amount\n" + b"o1,1.50\n" * 1_000)


def corrupt_gzip() -> bytes:
    """A gzip header followed by bytes that are not deflate data."""
    return ORDERS_GZIP[:10] + b"\xff" * 40 + ORDERS_GZIP[50:]


def wrong_checksum() -> bytes:
    content = gzip.compress(b"order_id,amount\no1,1.50\n")
    return content[:-8] + bytes([content[-8] ^ 0xFF]) + content[-7:]


# Files that cannot be parsed at all (SPEC 1.1): the error names the file and the cause.
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.parquet", b"not a parquet file", "Parquet"),
        ("truncated.parquet", ORDERS_PARQUET[: len(ORDERS_PARQUET) // 2], "Parquet magic bytes not found"),
        ("zero.parquet", b"", "Parquet file size is 0 bytes"),
        ("bad.csv.gz", b"not gzip", "corrupt or truncated gzip: BadGzipFile: Not a gzipped file"),
        ("truncated.csv.gz", ORDERS_GZIP[: len(ORDERS_GZIP) // 2], "corrupt or truncated gzip: EOFError"),
        ("corrupt.csv.gz", corrupt_gzip(), "corrupt or truncated gzip: error: Error -3"),
        ("checksum.csv.gz", wrong_checksum(), "corrupt or truncated gzip: BadGzipFile: CRC check failed"),
        ("zero.csv.gz", b"", "zero-byte file: not gzip"),
        ("zero.jsonl.gz", b"", "zero-byte file: not gzip"),
        ("latin1.csv", "order_id,customer\no1,Müller\n".encode("latin-1"), r"not UTF-8 text: byte 0xfc on line 2"),
        ("latin1.jsonl", '{"order_id": "café"}\n'.encode("latin-1"), r"not UTF-8 text: byte 0xe9 on line 1"),
        ("image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "not UTF-8 text: byte 0x89"),
        ("zeros.csv", b"\x00" * 4096, "binary content: NUL character in the header"),
        ("bad.jsonl", b'{"order_id": "o1"}\n{"order_id": \n', "ValueError"),
        ("bad.jsonl.gz", gzip.compress(b'{"order_id": "o1"'), "ValueError"),
        ("dup.csv", b"Order_ID,order_id\n1,2\n", "duplicate column names"),
        ("same.csv", b"order_id,order_id\n1,2\n", "duplicate column names"),
    ],
    ids=[
        "corrupt-parquet", "truncated-parquet", "zero-byte-parquet", "not-gzip", "truncated-gzip",
        "corrupt-deflate", "gzip-checksum", "zero-byte-csv-gz", "zero-byte-jsonl-gz", "latin1-csv",
        "latin1-jsonl", "binary-csv", "zero-filled-csv", "malformed-json-line", "truncated-jsonl-gz",
        "case-duplicates", "exact-duplicates",
    ],
)
def test_unreadable_file_raises_with_its_path_and_cause(tmp_path, name, content, message):
    path = tmp_path / "orders" / "dt=2025-01-03" / name
    path.parent.mkdir(parents=True)
    path.write_bytes(content)

    with pytest.raises(LandingFileError, match=message) as error:
        read_file(landing_file(tmp_path, path))

    assert str(error.value).startswith(f"cannot read landing file {path}: ")
    assert error.value.path == path


# --- malformed CSV lines --------------------------------------------------------------------

MALFORMED_CASES = {
    # body after the header "a,b,c": (good rows, malformed lines)
    "unquoted-thousands-separator": (
        "1,2,3\n4,1,234.50,6\n7,8,9\n", [["1", "2", "3"], ["7", "8", "9"]], ["4,1,234.50,6"],
    ),
    "too-few-fields": ("1,2\n4,5,6\n", [["4", "5", "6"]], ["1,2"]),
    "unterminated-quote": ('1,"2,3\n4,5,6\n7,8,9\n', [["4", "5", "6"], ["7", "8", "9"]], ['1,"2,3']),
    "quote-closed-by-a-later-line": (
        '1,"2,3\n4,5,6\n7,"8",9\n', [["4", "5", "6"], ["7", "8", "9"]], ['1,"2,3'],
    ),
    "unterminated-quote-on-the-last-line": ('1,2,3\n4,"5\n', [["1", "2", "3"]], ['4,"5']),
    "crlf": ("1,2,3\r\n4,5\r\n6,7,8\r\n", [["1", "2", "3"], ["6", "7", "8"]], ["4,5"]),
    "blank-lines-are-not-rows": ("1,2,3\n\n\r\n4,5,6\n\n", [["1", "2", "3"], ["4", "5", "6"]], []),
    "quoted-newline-is-a-value": (
        '1,"x\ny",3\n4,5\n6,"",8\n', [["1", "x\ny", "3"], ["6", None, "8"]], ["4,5"],
    ),
    "quoted-newline-and-unterminated-quote": (
        '1,"x\r\ny",3\n4,"5,6\n7,8,9\n', [["1", "x\r\ny", "3"], ["7", "8", "9"]], ['4,"5,6'],
    ),
    "only-malformed-lines": ("1\n2,3\n", [], ["1", "2,3"]),
    # Within one line, text after a closing quote joins the value, with or without a stray quote elsewhere.
    "text-after-a-closing-quote": ('1,"2"x,3\n', [["1", "2x", "3"]], []),
    "text-after-a-closing-quote-and-a-stray-quote": (
        '1,"2"x,3\n4,"5,6\n7,8,9\n', [["1", "2x", "3"], ["7", "8", "9"]], ['4,"5,6'],
    ),
}


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
@pytest.mark.parametrize(("body", "rows", "malformed"), MALFORMED_CASES.values(), ids=MALFORMED_CASES.keys())
def test_read_csv_returns_each_malformed_line_as_an_extra_row(tmp_path, suffix, body, rows, malformed):
    path = write(tmp_path / f"a{suffix}", "a,b,c\n" + body)

    frame = read_file(landing_file(tmp_path, path))

    expected = [dict(zip("abc", row)) for row in rows]
    if malformed:
        expected = [row | {"_malformed_line": None} for row in expected]
        expected += [{"a": None, "b": None, "c": None, "_malformed_line": line} for line in malformed]
    assert list(frame.columns) == ["a", "b", "c"] + (["_malformed_line"] if malformed else [])
    assert all(dtype == object for dtype in frame.dtypes)
    assert frame.to_dict("records") == expected


def test_an_unterminated_quote_does_not_swallow_a_large_file(tmp_path):
    # Longer than the CSV parser's 1 MB block: the quote would run to the end of the file.
    lines = [f"{i},x,y" for i in range(200_000)]
    lines[10] = '10,"x,y'
    path = write(tmp_path / "a.csv", "a,b,c\n" + "\n".join(lines) + "\n")

    frame = read_file(landing_file(tmp_path, path))

    assert len(frame) == 200_000
    assert frame["_malformed_line"].notna().sum() == 1
    assert frame["_malformed_line"].iloc[-1] == '10,"x,y'
    assert list(frame["a"].iloc[:11]) == [str(i) for i in (*range(10), 11)]
    assert frame["a"].iloc[-2] == "199999"


CSV_PIECES = st.sampled_from(["x", "yz", ",", ",", '"', '""', "\n", "\n", "\r\n", "\r", " "])


@settings(max_examples=400, deadline=None)
@given(st.lists(CSV_PIECES, max_size=40).map("".join))
def test_arrow_reads_csv_as_the_line_by_line_reference_does(body):
    """Arrow is a shortcut: whatever it returns, the strict line-by-line parser returns too."""
    frame = landing._read_csv(("a,b,c\n" + body).encode())

    reference = landing._read_csv_lines(body, ["a", "b", "c"])
    assert frame.to_dict("records") == reference.to_dict("records")


def test_read_csv_header_edge_cases(tmp_path):
    blank_names = write(tmp_path / "a.csv", "order_id,,amount,\no1,x,1,\n")
    leading_blank_lines = write(tmp_path / "b.csv", "\ufeff\n\r\norder_id\no1\n")
    quoted_header = write(tmp_path / "c.csv", '"order_id","amount, in USD"\no1,2\n')

    assert read_file(landing_file(tmp_path, blank_names)).to_dict("records") == [
        {"order_id": "o1", "unnamed: 1": "x", "amount": "1", "unnamed: 3": None}
    ]
    assert read_file(landing_file(tmp_path, leading_blank_lines)).to_dict("records") == [{"order_id": "o1"}]
    assert list(read_file(landing_file(tmp_path, quoted_header)).columns) == ["order_id", "amount, in usd"]


def test_read_jsonl_with_a_byte_order_mark(tmp_path):
    for name in ("a.jsonl", "a.jsonl.gz"):
        path = write(tmp_path / name, '\ufeff{"Order_ID": "o1", "amount": 1.5}\n{"Order_ID": "o2"}\n')

        assert read_file(landing_file(tmp_path, path)).to_dict("records") == [
            {"order_id": "o1", "amount": "1.5"},
            {"order_id": "o2", "amount": None},
        ]


def test_json_lines_without_keys_are_still_rows(tmp_path):
    # Each "{}" is a row read (quarantined later for its missing columns), not nothing.
    path = write(tmp_path / "a.jsonl", "{}\n\n{}\n")

    assert read_file(landing_file(tmp_path, path)).shape == (2, 0)
