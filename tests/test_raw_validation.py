"""Row validation of a landing partition (rekindle.raw_validation), on real files of every format."""

from __future__ import annotations

import gzip
import json
import os
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rekindle.landing import LandingFile, LandingFileError, partition_dir
from rekindle.raw_validation import QUARANTINE_COLUMNS, ExtractedPartition, extract_partition, validate_frames
from rekindle.settings import Settings
from rekindle.sources import SOURCES
from rekindle.sources import source as landing_source
from rekindle.sql import replace_rows

DAY = date(2025, 1, 3)
ORDERS_HEADER = "order_id,customer_id,ordered_at,amount,currency,status,channel"


# --- helpers ------------------------------------------------------------------------------


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts, a missing value as None (pandas' text columns hold NaN for it)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def write_text(root: Path, source: str, name: str, text: str, mtime_s: int = 1_000) -> Path:
    path = partition_dir(root, source, DAY) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    os.utime(path, ns=(mtime_s * 10**9, mtime_s * 10**9))
    return path


def write_rows(root: Path, source: str, name: str, rows: list[dict], mtime_s: int = 1_000) -> Path:
    """Rows in the format the file name asks for (keys are the column names, as given)."""
    if name.endswith(".parquet"):
        path = partition_dir(root, source, DAY) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows), path)
        os.utime(path, ns=(mtime_s * 10**9, mtime_s * 10**9))
        return path
    if ".jsonl" in name:
        text = "".join(json.dumps(row) + "\n" for row in rows)
    else:
        text = pd.DataFrame(rows, dtype=object).to_csv(index=False)
    return write_text(root, source, name, text, mtime_s)


def extract(root: Path, source: str, currency: str = "USD") -> ExtractedPartition:
    result = extract_partition(Settings(landing_dir=root, currency=currency), source, DAY)
    assert result.rows_read == len(result.accepted) + len(result.quarantined)
    assert list(result.accepted.columns) == landing_source(source).column_names + ["partition_date", "source_file"]
    assert list(result.quarantined.columns) == QUARANTINE_COLUMNS
    return result


def quarantined(result: ExtractedPartition, key: str) -> list[tuple[str, str]]:
    """(value of `key` in the raw record, reason) of each quarantined row, in file and row order."""
    rows = result.quarantined
    return [(json.loads(record)[key], reason) for record, reason in zip(rows["record"], rows["reason"])]


def reasons_by(result: ExtractedPartition, key: str) -> dict[str, str]:
    return dict(quarantined(result, key))


def order(order_id: str, **overrides) -> dict:
    row = {"order_id": order_id, "customer_id": "c1", "ordered_at": "2025-01-03T10:00:00Z", "amount": "10.00"}
    return row | overrides


# --- every format, typed output ------------------------------------------------------------


def test_valid_orders_in_every_format_are_typed(tmp_path):
    paris = datetime(2025, 1, 3, 2, tzinfo=ZoneInfo("Europe/Paris"))  # 01:00 UTC
    write_rows(tmp_path, "orders", "a.parquet", [order("p1", amount=12.5, ordered_at=paris)])
    write_rows(tmp_path, "orders", "b.csv", [order("c1", currency="usd", status="Refunded", channel="web")])
    write_rows(tmp_path, "orders", "c.csv.gz", [order("g1", ordered_at="2025-01-03")])
    write_rows(tmp_path, "orders", "d.jsonl", [{**order("j1"), "amount": 7, "status": "cancelled"}])
    write_rows(tmp_path, "orders", "e.jsonl.gz", [order("z1", ordered_at="2025-01-03T23:59:59.999999")])

    result = extract(tmp_path, "orders")

    assert result.quarantined.empty
    assert result.rows_read == 5
    assert [f.path.name for f in result.files] == ["a.parquet", "b.csv", "c.csv.gz", "d.jsonl", "e.jsonl.gz"]
    accepted = result.accepted
    assert accepted["ordered_at"].dtype.kind == "M" and accepted["ordered_at"].dt.tz is None
    assert accepted["amount"].dtype == np.float64
    assert accepted["order_id"].dtype == "str"  # pandas' Arrow-backed text
    assert records(accepted) == [
        {"order_id": "p1", "customer_id": "c1", "ordered_at": pd.Timestamp("2025-01-03 01:00"), "amount": 12.5,
         "currency": "USD", "status": "completed", "channel": None, "partition_date": DAY,
         "source_file": "orders/dt=2025-01-03/a.parquet"},
        {"order_id": "c1", "customer_id": "c1", "ordered_at": pd.Timestamp("2025-01-03 10:00"), "amount": 10.0,
         "currency": "USD", "status": "refunded", "channel": "web", "partition_date": DAY,
         "source_file": "orders/dt=2025-01-03/b.csv"},
        {"order_id": "g1", "customer_id": "c1", "ordered_at": pd.Timestamp("2025-01-03 00:00"), "amount": 10.0,
         "currency": "USD", "status": "completed", "channel": None, "partition_date": DAY,
         "source_file": "orders/dt=2025-01-03/c.csv.gz"},
        {"order_id": "j1", "customer_id": "c1", "ordered_at": pd.Timestamp("2025-01-03 10:00"), "amount": 7.0,
         "currency": "USD", "status": "cancelled", "channel": None, "partition_date": DAY,
         "source_file": "orders/dt=2025-01-03/d.jsonl"},
        {"order_id": "z1", "customer_id": "c1", "ordered_at": pd.Timestamp("2025-01-03 23:59:59.999999"),
         "amount": 10.0, "currency": "USD", "status": "completed", "channel": None, "partition_date": DAY,
         "source_file": "orders/dt=2025-01-03/e.jsonl.gz"},
    ]


def test_missing_folder_is_an_empty_partition(tmp_path):
    result = extract(tmp_path, "surveys")

    assert result.rows_read == 0 and result.files == [] and result.reasons == {}
    assert dict(result.accepted.dtypes) == {
        "response_id": "str", "customer_id": "str", "responded_at": np.dtype("datetime64[us]"),
        "nps_score": pd.Int64Dtype(), "csat_score": pd.Int64Dtype(), "partition_date": object, "source_file": object,
    }


def test_headers_only_file_is_zero_rows(tmp_path):
    write_text(tmp_path, "orders", "a.csv", ORDERS_HEADER + "\n")
    write_text(tmp_path, "orders", "b.jsonl", "")

    result = extract(tmp_path, "orders")

    assert result.rows_read == 0 and len(result.files) == 2


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def parquet_without_row_groups() -> bytes:
    sink = pa.BufferOutputStream()
    pq.ParquetWriter(sink, pa.schema([("order_id", pa.string())])).close()
    return sink.getvalue().to_pybytes()


HEADER = (ORDERS_HEADER + "\n").encode()
EMPTY_FILES = {
    # A file with no rows is a delivery of zero rows in every format (it empties its day, SPEC 1.1).
    "csv-zero-bytes": ("a.csv", b"", "empty"),
    "csv-blank-lines": ("a.csv", b"\n\r\n", "empty"),
    "csv-byte-order-mark-only": ("a.csv", b"\xef\xbb\xbf", "empty"),
    "csv-header-only": ("a.csv", HEADER, "empty"),
    "csv-header-without-newline": ("a.csv", HEADER.rstrip(), "empty"),
    "csv-bom-and-header-only": ("a.csv", b"\xef\xbb\xbf" + HEADER, "empty"),
    "csv-gz-header-only": ("a.csv.gz", gzip.compress(HEADER), "empty"),
    "csv-gz-of-nothing": ("a.csv.gz", gzip.compress(b""), "empty"),
    "jsonl-zero-bytes": ("a.jsonl", b"", "empty"),
    "jsonl-blank-lines": ("a.jsonl", b"\n\n", "empty"),
    "jsonl-byte-order-mark-only": ("a.jsonl", b"\xef\xbb\xbf\n", "empty"),
    "jsonl-gz-of-nothing": ("a.jsonl.gz", gzip.compress(b""), "empty"),
    "parquet-schema-and-no-rows": (
        "a.parquet",
        parquet_bytes(pa.table({"order_id": pa.array([], pa.string()), "amount": pa.array([], pa.float64())})),
        "empty",
    ),
    "parquet-without-row-groups": ("a.parquet", parquet_without_row_groups(), "empty"),
    # Zero bytes are not a Parquet or gzip file (both have a header and a footer): most likely a
    # writer that died before writing. Unreadable, so the day is blocked rather than emptied.
    "parquet-zero-bytes": ("a.parquet", b"", "unreadable"),
    "csv-gz-zero-bytes": ("a.csv.gz", b"", "unreadable"),
    "jsonl-gz-zero-bytes": ("a.jsonl.gz", b"", "unreadable"),
}


@pytest.mark.parametrize(("name", "content", "expected"), EMPTY_FILES.values(), ids=EMPTY_FILES.keys())
def test_empty_files_are_zero_rows_in_every_format(tmp_path, name, content, expected):
    path = partition_dir(tmp_path, "orders", DAY) / name
    path.parent.mkdir(parents=True)
    path.write_bytes(content)

    result = extract(tmp_path, "orders")

    assert len(result.files) == 1 and result.accepted.empty
    if expected == "empty":
        assert result.rows_read == 0 and result.quarantined.empty
    else:
        assert result.rows_read == 1 and result.reasons == {"unreadable_file": 1}
        assert str(path) in json.loads(result.quarantined["record"][0])["error"]


# --- rule 1 and 2: whole files ------------------------------------------------------------


def test_unreadable_file_is_one_quarantined_row_with_its_path(tmp_path):
    bad = write_text(tmp_path, "orders", "bad.parquet", "not parquet", mtime_s=1)
    bad_gz = partition_dir(tmp_path, "orders", DAY) / "bad.csv.gz"
    bad_gz.write_bytes(b"not gzip")
    os.utime(bad_gz, ns=(2 * 10**9, 2 * 10**9))
    write_text(tmp_path, "orders", "bad.jsonl", '{"order_id": "o1"}\n{"order_id"\n', mtime_s=3)
    write_rows(tmp_path, "orders", "good.csv", [order("o1"), order("o2")], mtime_s=4)

    result = extract(tmp_path, "orders")

    assert result.rows_read == 3 + 2
    assert list(result.accepted["order_id"]) == ["o1", "o2"]
    assert list(result.quarantined["source_file"]) == [
        "orders/dt=2025-01-03/bad.parquet",
        "orders/dt=2025-01-03/bad.csv.gz",
        "orders/dt=2025-01-03/bad.jsonl",
    ]
    assert result.reasons == {"unreadable_file": 3}
    errors = [json.loads(record)["error"] for record in result.quarantined["record"]]
    assert str(bad) in errors[0] and str(bad_gz) in errors[1]


def test_missing_required_column_quarantines_the_whole_file(tmp_path):
    write_text(tmp_path, "orders", "a.csv", "order_id,customer_id,ordered_at\no1,c1,2025-01-03\no2,c2,2025-01-03\n")
    write_text(tmp_path, "orders", "b.csv", "order_id,ordered_at\no3,2025-01-03\n")  # first missing: customer_id
    write_text(tmp_path, "orders", "c.csv", "order_id,customer_id,ordered_at,amount\no4,c4,2025-01-03,1\n")

    result = extract(tmp_path, "orders")

    assert list(result.accepted["order_id"]) == ["o4"]
    assert reasons_by(result, "order_id") == {
        "o1": "missing_column:amount",
        "o2": "missing_column:amount",
        "o3": "missing_column:customer_id",
    }
    assert json.loads(result.quarantined["record"][2]) == {"order_id": "o3", "ordered_at": "2025-01-03"}


def test_headers_are_case_insensitive_and_extra_columns_ignored(tmp_path):
    write_text(
        tmp_path, "orders", "a.csv",
        " Order_ID ,CUSTOMER_ID,Ordered_At,Amount,Coupon,STATUS\n o1 , c1 ,2025-01-03T10:00:00Z,5,SAVE10,\n",
    )
    write_rows(tmp_path, "orders", "b.jsonl", [{"ORDER_ID": "o2", "Customer_Id": "c2", "ordered_AT": "2025-01-03",
                                                "AMOUNT": 1.25, "utm": "x", "Channel": "app"}])

    result = extract(tmp_path, "orders")

    assert result.quarantined.empty
    assert records(result.accepted[["order_id", "customer_id", "amount", "status", "channel"]]) == [
        {"order_id": "o1", "customer_id": "c1", "amount": 5.0, "status": "completed", "channel": None},
        {"order_id": "o2", "customer_id": "c2", "amount": 1.25, "status": "completed", "channel": "app"},
    ]


def test_a_malformed_csv_line_quarantines_that_line_only(tmp_path):
    lines = [
        "ok1,c1,2025-01-03T10:00:00Z,10,USD,completed,web",
        "o2,c1,2025-01-03T10:00:00Z,1,234.50,USD,completed,web",  # thousands separator: one field too many
        "ok3,c1,2025-01-03T10:00:00Z,3,,,",
        "o4,c1,2025-01-03T10:00:00Z",  # too few fields
        'o5,"c1,2025-01-03T10:00:00Z,5,,,',  # unterminated quote: must not swallow the lines below
        "neg,c1,2025-01-03T10:00:00Z,-1,,,",
        "ok6,c1,2025-01-03T10:00:00Z,6,,,",
    ]
    write_text(tmp_path, "orders", "a.csv", ORDERS_HEADER + "\n" + "\n".join(lines) + "\n", mtime_s=1)
    write_text(tmp_path, "orders", "b.csv.gz", "order_id,customer_id\no7,c7,extra\no8,c8\n", mtime_s=2)

    result = extract(tmp_path, "orders")

    assert list(result.accepted["order_id"]) == ["ok1", "ok3", "ok6"]
    assert result.rows_read == 7 + 2
    assert result.reasons == {"malformed_row": 4, "negative_amount": 1, "missing_column:ordered_at": 1}
    records = [json.loads(record) for record in result.quarantined["record"]]
    negative = dict(zip(ORDERS_HEADER.split(","), ["neg", "c1", "2025-01-03T10:00:00Z", "-1", None, None, None]))
    assert list(zip(result.quarantined["source_file"], result.quarantined["reason"], records)) == [
        ("orders/dt=2025-01-03/a.csv", "negative_amount", negative),
        ("orders/dt=2025-01-03/a.csv", "malformed_row", {"line": lines[1]}),
        ("orders/dt=2025-01-03/a.csv", "malformed_row", {"line": lines[3]}),
        ("orders/dt=2025-01-03/a.csv", "malformed_row", {"line": lines[4]}),
        ("orders/dt=2025-01-03/b.csv.gz", "missing_column:ordered_at", {"order_id": "o8", "customer_id": "c8"}),
        ("orders/dt=2025-01-03/b.csv.gz", "malformed_row", {"line": "o7,c7,extra"}),
    ]


def test_malformed_rows_from_validate_frames_count_as_read():
    file = LandingFile(Path("/l/events/dt=2025-01-03/a.csv"), "events/dt=2025-01-03/a.csv", 1, 100)
    frame = pd.DataFrame({
        "event_id": ["e1", None], "customer_id": ["c1", None], "occurred_at": ["2025-01-03", None],
        "event_type": ["login", None], "_malformed_line": [None, "e2,c1\x00"],
    }, dtype=object)

    result = validate_frames("events", DAY, [(file, frame)], "USD")

    assert result.rows_read == 2 and list(result.accepted["event_id"]) == ["e1"]
    assert list(result.quarantined["reason"]) == ["malformed_row"]
    assert result.quarantined["record"][0] == '{"line": "e2,c1\\u0000"}'


# --- rule 3: row checks ---------------------------------------------------------------------


def test_order_row_reasons(tmp_path):
    rows = [
        "ok1,c1,2025-01-03T10:00:00Z,10.5,,,",
        "   ,c1,2025-01-03T10:00:00Z,1,,,",  # blank id
        "o2,,2025-01-03T10:00:00Z,1,,,",
        "o3,c1,,1,,,",
        "o4,c1,2025-01-03T10:00:00Z,,,,",
        "o5,c1,yesterday,1,,,",
        "o6,c1,2025-01-02T23:59:59Z,1,,,",
        "o7,c1,2025-01-04T00:00:00Z,1,,,",
        "o8,c1,2025-01-03T10:00:00Z,ten,,,",
        "o9,c1,2025-01-03T10:00:00Z,inf,,,",
        "o10,c1,2025-01-03T10:00:00Z,-0.01,,,",
        "o11,c1,2025-01-03T10:00:00Z,1,EUR,,",
        "o12,c1,2025-01-03T10:00:00Z,1,,shipped,",
        # first failing check wins:
        "o13,,not a time,-1,EUR,lost,",
        "o14,c1,2025-01-02T10:00:00Z,-1,EUR,lost,",
        "o15,c1,2025-01-03T10:00:00Z,x,EUR,lost,",
        "o16,c1,2025-01-03T10:00:00Z,-1,EUR,lost,",
        "o17,c1,2025-01-03T10:00:00Z,1,EUR,lost,",
        "ok2,c2,2025-01-03T11:00:00Z,0,usd,CANCELLED,web",
    ]
    write_text(tmp_path, "orders", "a.csv", ORDERS_HEADER + "\n" + "\n".join(rows) + "\n")

    result = extract(tmp_path, "orders")

    assert list(result.accepted["order_id"]) == ["ok1", "ok2"]
    assert list(result.accepted["status"]) == ["completed", "cancelled"]
    assert list(result.accepted["currency"]) == ["USD", "USD"]
    assert reasons_by(result, "order_id") == {
        "   ": "missing_value:order_id",
        "o2": "missing_value:customer_id",
        "o3": "missing_value:ordered_at",
        "o4": "missing_value:amount",
        "o5": "invalid_timestamp",
        "o6": "outside_partition",
        "o7": "outside_partition",
        "o8": "invalid_amount",
        "o9": "invalid_amount",
        "o10": "negative_amount",
        "o11": "currency_mismatch",
        "o12": "invalid_status",
        "o13": "missing_value:customer_id",
        "o14": "outside_partition",
        "o15": "invalid_amount",
        "o16": "negative_amount",
        "o17": "currency_mismatch",
    }


def test_currency_is_checked_against_the_settings(tmp_path):
    write_rows(tmp_path, "orders", "a.csv", [order("o1", currency="eur"), order("o2", currency="USD"), order("o3")])

    result = extract(tmp_path, "orders", currency="EUR")

    assert list(result.accepted["order_id"]) == ["o1", "o3"]
    assert list(result.accepted["currency"]) == ["EUR", "EUR"]
    assert reasons_by(result, "order_id") == {"o2": "currency_mismatch"}


def test_offset_timestamps_convert_to_utc_onto_or_off_the_day(tmp_path):
    rows = [
        order("in_from_prev_local_day", ordered_at="2025-01-02T23:30:00-01:00"),  # 00:30 UTC on the 3rd
        order("out_to_prev_utc_day", ordered_at="2025-01-03T01:30:00+02:00"),  # 23:30 UTC on the 2nd
        order("out_to_next_utc_day", ordered_at="2025-01-03T23:30:00-00:45"),
        order("zulu", ordered_at="2025-01-03T12:00:00.5Z"),
        order("naive", ordered_at="2025-01-03 13:00:00"),
        order("date_only", ordered_at="2025-01-03"),
        order("space_offset", ordered_at="2025-01-03T16:00:00+0100"),
    ]
    write_rows(tmp_path, "orders", "a.jsonl", rows)

    result = extract(tmp_path, "orders")

    assert dict(zip(result.accepted["order_id"], result.accepted["ordered_at"])) == {
        "in_from_prev_local_day": pd.Timestamp("2025-01-03 00:30:00"),
        "zulu": pd.Timestamp("2025-01-03 12:00:00.5"),
        "naive": pd.Timestamp("2025-01-03 13:00:00"),
        "date_only": pd.Timestamp("2025-01-03 00:00:00"),
        "space_offset": pd.Timestamp("2025-01-03 15:00:00"),
    }
    assert reasons_by(result, "order_id") == {
        "out_to_prev_utc_day": "outside_partition",
        "out_to_next_utc_day": "outside_partition",
    }


def test_lowercase_rfc3339_letters_and_a_jsonl_byte_order_mark_are_accepted(tmp_path):
    lines = [order("j1", ordered_at="2025-01-03t12:00:00z"), order("j2", ordered_at="2025-01-03t13:30:00.5+01:00")]
    write_text(tmp_path, "orders", "a.jsonl", "\ufeff" + "".join(json.dumps(line) + "\n" for line in lines))
    write_rows(tmp_path, "orders", "b.csv", [order("c1", ordered_at="2025-01-03 10:00:00z")])

    result = extract(tmp_path, "orders")

    assert result.quarantined.empty
    assert dict(zip(result.accepted["order_id"], result.accepted["ordered_at"])) == {
        "j1": pd.Timestamp("2025-01-03 12:00:00"),
        "j2": pd.Timestamp("2025-01-03 12:30:00.5"),
        "c1": pd.Timestamp("2025-01-03 10:00:00"),
    }


# --- values the warehouse cannot hold (SPEC 1.1) ----------------------------------------------


def load(warehouse, result: ExtractedPartition) -> None:
    """What the raw asset does with a partition: replace the day in the raw table and quarantine."""
    with warehouse.begin() as conn:
        replace_rows(conn, warehouse.qualified(f"raw_{result.source}"), result.accepted,
                     date_column="partition_date", start=DAY, end=DAY)
        replace_rows(conn, warehouse.qualified("quarantine"), result.quarantined, date_column="partition_date",
                     start=DAY, end=DAY, match={"source": result.source})


def test_values_the_warehouse_cannot_hold_are_row_errors_and_the_rest_loads(tmp_path, warehouse):
    write_rows(tmp_path, "orders", "a.csv", [
        order("rounded", amount="12.345678"),  # NUMERIC(18, 4): stored as 12.3457
        order("tiny", amount="0.00004"),
        order("large", amount="99999999999.9999"),
        order("limit", amount="100000000000000"),  # 10^14
        order("rounds_to_limit", amount="99999999999999.99999"),
        order("huge", amount="1e20"),
        order("huge_negative", amount="-1e20"),
        order("nan", amount="NaN"),
        order("inf", amount="-inf"),
        order("small_negative", amount="-0.00001"),
        order("nul\x00id"),
        order("nul_channel", channel="web\x00"),
        order("only_nul", customer_id="\x00", amount="1e20"),  # the text check comes first
    ])
    touch = {"customer_id": "c1", "campaign_id": "k1", "sent_at": "2025-01-03T09:00:00Z", "group": "control"}
    write_rows(tmp_path, "campaign_touches", "a.jsonl", [
        touch | {"touch_id": "t1", "cost": 0.123449},
        touch | {"touch_id": "t2", "cost": 1e15},
        touch | {"touch_id": "t3", "cost": "1e400"},
        touch | {"touch_id": "t4", "campaign_id": "k\x001"},
    ])
    event = {"customer_id": "c1", "occurred_at": "2025-01-03T09:00:00Z", "event_type": "login"}
    write_rows(tmp_path, "events", "a.parquet",
               [event | {"event_id": "e1"}, event | {"event_id": "e2", "event_type": "\x00"}])
    survey = {"customer_id": "c1", "responded_at": "2025-01-03T09:00:00Z", "nps_score": 9}
    write_rows(tmp_path, "surveys", "a.csv.gz", [survey | {"response_id": "r1"}, survey | {"response_id": "r\x002"}])

    orders, events, touches, surveys = (extract(tmp_path, source.name) for source in SOURCES)

    assert dict(zip(orders.accepted["order_id"], orders.accepted["amount"])) == {
        "rounded": 12.3457, "tiny": 0.0, "large": 99999999999.9999,
    }
    assert reasons_by(orders, "order_id") == {
        "limit": "invalid_amount", "rounds_to_limit": "invalid_amount", "huge": "invalid_amount",
        "huge_negative": "invalid_amount", "nan": "invalid_amount", "inf": "invalid_amount",
        "small_negative": "negative_amount",
        "nul\x00id": "invalid_text", "nul_channel": "invalid_text", "only_nul": "invalid_text",
    }
    assert dict(zip(touches.accepted["touch_id"], touches.accepted["cost"])) == {"t1": 0.1234}
    assert reasons_by(touches, "touch_id") == {"t2": "invalid_cost", "t3": "invalid_cost", "t4": "invalid_text"}
    assert list(events.accepted["event_id"]) == ["e1"] and reasons_by(events, "event_id") == {"e2": "invalid_text"}
    assert list(surveys.accepted["response_id"]) == ["r1"]
    assert reasons_by(surveys, "response_id") == {"r\x002": "invalid_text"}

    for result in (orders, touches, events, surveys):
        load(warehouse, result)

    stored = warehouse.read_frame(f"SELECT order_id, amount FROM {warehouse.qualified('raw_orders')}")
    assert {i: Decimal(str(a)) for i, a in zip(stored["order_id"], stored["amount"])} == {
        "rounded": Decimal("12.3457"), "tiny": Decimal("0"), "large": Decimal("99999999999.9999"),
    }
    cost = warehouse.scalar(f"SELECT cost FROM {warehouse.qualified('raw_campaign_touches')}")
    assert Decimal(str(cost)) == Decimal("0.1234")
    quarantine = warehouse.read_frame(
        f"SELECT source, reason, record FROM {warehouse.qualified('quarantine')} ORDER BY source, reason"
    )
    assert len(quarantine) == sum(len(r.quarantined) for r in (orders, touches, events, surveys))
    texts = quarantine[quarantine["reason"] == "invalid_text"]["record"]
    assert sorted(next(v for v in json.loads(record).values() if v and "\x00" in v) for record in texts) == [
        "\x00", "\x00", "k\x001", "nul\x00id", "r\x002", "web\x00",
    ]


def test_event_rows(tmp_path):
    write_text(
        tmp_path, "events", "a.csv",
        "event_id,customer_id,occurred_at,event_type\n"
        "e1, c1 ,2025-01-03T08:00:00Z, page_view \n"
        "e2,c1,2025-01-03T08:00:00Z,  \n"
        "e3,c1,2025-01-04T08:00:00+09:00,login\n",
    )

    result = extract(tmp_path, "events")

    assert records(result.accepted[["event_id", "customer_id", "event_type", "channel", "campaign_id"]]) == [
        {"event_id": "e1", "customer_id": "c1", "event_type": "page_view", "channel": None, "campaign_id": None},
        {"event_id": "e3", "customer_id": "c1", "event_type": "login", "channel": None, "campaign_id": None},
    ]
    assert reasons_by(result, "event_id") == {"e2": "missing_value:event_type"}


def test_campaign_touch_rows(tmp_path):
    def touch(touch_id, **overrides):
        row = {"touch_id": touch_id, "customer_id": "c1", "campaign_id": "k1", "sent_at": "2025-01-03T09:00:00Z",
               "group": "treatment", "cost": "0.25"}
        return row | overrides

    rows = [
        touch("t1", group=" Treatment ", channel="email"),
        touch("t2", group="control", cost=None),
        touch("t3", campaign_id=" "),
        touch("t4", group=None),
        touch("t5", group="holdout"),
        touch("t6", cost="free"),
        touch("t7", cost="-1"),
        touch("t8", group="holdout", cost="-1"),
    ]
    write_rows(tmp_path, "campaign_touches", "a.parquet", rows)

    result = extract(tmp_path, "campaign_touches")

    assert records(result.accepted[["touch_id", "group", "cost", "channel"]]) == [
        {"touch_id": "t1", "group": "treatment", "cost": 0.25, "channel": "email"},
        {"touch_id": "t2", "group": "control", "cost": 0.0, "channel": None},
    ]
    assert result.accepted["cost"].dtype == np.float64
    assert reasons_by(result, "touch_id") == {
        "t3": "missing_value:campaign_id",
        "t4": "missing_value:group",
        "t5": "invalid_group",
        "t6": "invalid_cost",
        "t7": "negative_cost",
        "t8": "invalid_group",
    }


def test_survey_rows(tmp_path):
    write_text(
        tmp_path, "surveys", "a.csv.gz",
        "response_id,customer_id,responded_at,nps_score,csat_score\n"
        "r1,c1,2025-01-03T10:00:00Z,10,5\n"
        "r2,c1,2025-01-03T10:00:00Z,0,\n"
        "r3,c1,2025-01-03T10:00:00Z,9.0,1\n"
        "r4,c1,2025-01-03T10:00:00Z,,3\n"
        "r5,c1,2025-01-03T10:00:00Z,11,3\n"
        "r6,c1,2025-01-03T10:00:00Z,-1,3\n"
        "r7,c1,2025-01-03T10:00:00Z,7.5,3\n"
        "r8,c1,2025-01-03T10:00:00Z,great,3\n"
        "r9,c1,2025-01-03T10:00:00Z,8,0\n"
        "r10,c1,2025-01-03T10:00:00Z,8,6\n"
        "r11,c1,2025-01-03T10:00:00Z,8,4.5\n"
        "r12,c1,2025-01-03T10:00:00Z,8,n/a\n"
        "r13,c1,2025-01-03T10:00:00Z,1e30,n/a\n",
    )

    result = extract(tmp_path, "surveys")

    accepted = result.accepted
    assert list(accepted["response_id"]) == ["r1", "r2", "r3"]
    assert accepted["nps_score"].dtype == pd.Int64Dtype() and accepted["csat_score"].dtype == pd.Int64Dtype()
    assert list(accepted["nps_score"]) == [10, 0, 9]
    assert list(accepted["csat_score"].astype(object).where(accepted["csat_score"].notna(), None)) == [5, None, 1]
    assert reasons_by(result, "response_id") == {
        "r4": "missing_value:nps_score",
        "r5": "invalid_nps_score",
        "r6": "invalid_nps_score",
        "r7": "invalid_nps_score",
        "r8": "invalid_nps_score",
        "r9": "invalid_csat_score",
        "r10": "invalid_csat_score",
        "r11": "invalid_csat_score",
        "r12": "invalid_csat_score",
        "r13": "invalid_nps_score",
    }


def test_quarantine_record_is_the_raw_row_as_read(tmp_path):
    write_text(tmp_path, "orders", "a.csv", "Order_ID,customer_id,ordered_at,amount,Note\n o1 ,c/1,2025-01-03,-5,\n")

    result = extract(tmp_path, "orders")

    row = result.quarantined.iloc[0]
    assert (row["source"], row["partition_date"], row["source_file"], row["reason"]) == (
        "orders", DAY, "orders/dt=2025-01-03/a.csv", "negative_amount",
    )
    assert row["record"] == (
        '{"order_id":" o1 ","customer_id":"c/1","ordered_at":"2025-01-03","amount":"-5","note":null}'
    )


# --- rule 4: duplicates -----------------------------------------------------------------


def test_exact_duplicates_after_normalization_are_loaded_once(tmp_path):
    rows = [
        order("o1", ordered_at="2025-01-03T10:00:00Z"),
        order(" o1 ", ordered_at="2025-01-03T11:00:00+01:00", amount="10", currency="usd", status="COMPLETED"),
        order("o2"),
    ]
    write_rows(tmp_path, "orders", "a.csv", rows)
    write_rows(tmp_path, "orders", "b.jsonl", [order("o2", amount=10.0)], mtime_s=2_000)

    result = extract(tmp_path, "orders")

    assert list(zip(result.accepted["order_id"], result.accepted["source_file"])) == [
        ("o1", "orders/dt=2025-01-03/a.csv"),
        ("o2", "orders/dt=2025-01-03/b.jsonl"),
    ]
    assert quarantined(result, "order_id") == [("o1", "duplicate"), ("o2", "duplicate")]


def test_conflicting_versions_keep_the_newest_file(tmp_path):
    # The newer file sorts first by name: only the modification time decides.
    write_rows(tmp_path, "orders", "z_old.csv", [order("o1", amount="1"), order("o1", amount="1"),
                                                 order("o1", amount="2"), order("o2", amount="5")], mtime_s=1_000)
    write_rows(tmp_path, "orders", "a_new.csv", [order("o1", amount="2")], mtime_s=2_000)

    result = extract(tmp_path, "orders")

    assert [f.path.name for f in result.files] == ["z_old.csv", "a_new.csv"]
    assert result.accepted[["order_id", "amount", "source_file"]].to_dict("records") == [
        {"order_id": "o2", "amount": 5.0, "source_file": "orders/dt=2025-01-03/z_old.csv"},
        {"order_id": "o1", "amount": 2.0, "source_file": "orders/dt=2025-01-03/a_new.csv"},
    ]
    assert quarantined(result, "amount") == [("1", "superseded"), ("1", "superseded"), ("2", "duplicate")]
    assert result.reasons == {"superseded": 2, "duplicate": 1}


def test_conflicting_versions_within_a_file_keep_the_last_row(tmp_path):
    write_rows(tmp_path, "events", "a.jsonl", [
        {"event_id": "e1", "customer_id": "c1", "occurred_at": "2025-01-03T10:00:00Z", "event_type": "login"},
        {"event_id": "e1", "customer_id": "c1", "occurred_at": "2025-01-03T10:00:00Z", "event_type": "logout"},
    ])

    result = extract(tmp_path, "events")

    assert list(result.accepted["event_type"]) == ["logout"]
    assert result.reasons == {"superseded": 1}


def test_redelivered_file_replaces_its_earlier_rows(tmp_path):
    write_rows(tmp_path, "orders", "part-0001.csv", [order("o1", amount="1"), order("o2")], mtime_s=1_000)
    first = extract(tmp_path, "orders")
    write_rows(tmp_path, "orders", "part-0001.csv", [order("o1", amount="3"), order("o3")], mtime_s=5_000)

    second = extract(tmp_path, "orders")

    assert dict(zip(first.accepted["order_id"], first.accepted["amount"])) == {"o1": 1.0, "o2": 10.0}
    assert dict(zip(second.accepted["order_id"], second.accepted["amount"])) == {"o1": 3.0, "o3": 10.0}
    assert second.quarantined.empty and second.rows_read == 2
    assert second.files[0].mtime_ns == 5_000 * 10**9


# --- the pure core ----------------------------------------------------------------------


def test_validate_frames_orders_by_mtime_and_counts_unreadable_files():
    old = LandingFile(Path("/l/orders/dt=2025-01-03/b.csv"), "orders/dt=2025-01-03/b.csv", 1, 100)
    new = LandingFile(Path("/l/orders/dt=2025-01-03/a.csv"), "orders/dt=2025-01-03/a.csv", 1, 200)
    broken = LandingFile(Path("/l/orders/dt=2025-01-03/c.parquet"), "orders/dt=2025-01-03/c.parquet", 1, 150)
    frames = [
        (new, pd.DataFrame({"ORDER_ID": ["o1"], "customer_id": ["c1"], "ordered_at": ["2025-01-03"], "amount": ["2"]})),
        (broken, LandingFileError(broken.path, OSError("truncated"))),
        (old, pd.DataFrame({"order_id": ["o1"], "customer_id": ["c1"], "ordered_at": ["2025-01-03"], "amount": ["1"]})),
    ]

    result = validate_frames("orders", DAY, frames, "USD")

    assert result.files == [old, broken, new]
    assert result.rows_read == 3
    assert list(result.accepted["amount"]) == [2.0]
    assert list(zip(result.quarantined["source_file"], result.quarantined["reason"])) == [
        ("orders/dt=2025-01-03/b.csv", "superseded"),
        ("orders/dt=2025-01-03/c.parquet", "unreadable_file"),
    ]
    assert "/l/orders/dt=2025-01-03/c.parquet" in json.loads(result.quarantined["record"][1])["error"]


def test_validate_frames_rejects_an_unknown_source():
    with pytest.raises(ValueError, match="unknown landing source"):
        validate_frames("refunds", DAY, [], "USD")
