"""The landing source records (rekindle.sources) drive the reader, the row validation, the raw
table definitions, the quality suites and the generator: each source's columns, required
columns, id and timestamp come from its record, and a made-up record gets a folder, a table, a
validation and a suite without a change anywhere else."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import DateTime, String, Text
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

from rekindle import generate, landing, sources, tables
from rekindle.landing import LandingFile, partition_dir
from rekindle.quality import known_event_types, raw_suite
from rekindle.raw_validation import extract_partition, validate_frames
from rekindle.settings import DEFAULT_PASSIVE_EVENT_TYPES, Settings
from rekindle.sources import (
    ACTIVITY_EVENT_TYPES,
    MONEY,
    SOURCES,
    Money,
    OneOf,
    ReportingCurrency,
    Source,
    SourceColumn,
    WholeNumber,
)

DAY = date(2025, 1, 3)

# A source nobody has: button clicks, with a price.
CLICKS = Source(
    name="clicks",
    table="raw_clicks",
    id_column="click_id",
    timestamp_column="clicked_at",
    columns=(
        SourceColumn("click_id", Text(), "Click id; unique across days", required=True),
        SourceColumn("customer_id", Text(), "Customer who clicked", required=True),
        SourceColumn("clicked_at", DateTime(), "When (UTC)", required=True),
        SourceColumn("button", String(16), "buy or wish", required=True, rule=OneOf(("buy", "wish"), "invalid_button")),
        SourceColumn("price", MONEY, "Price shown, >= 0", rule=Money("invalid_price", "negative_price", "0")),
        SourceColumn("page", Text(), "Page, if known"),
    ),
    required_folder=False,
    description="Clicks from landing clicks/dt=YYYY-MM-DD/.",
    table_comment="One row per accepted click from landing clicks/dt=YYYY-MM-DD/",
)


@pytest.fixture
def with_clicks(monkeypatch):
    """CLICKS as one more record of SOURCES, as the modules that list every source see it."""
    for module in (sources, landing, tables):
        monkeypatch.setattr(module, "SOURCES", (*SOURCES, CLICKS))


def good_row(source: Source, number: int) -> dict[str, str]:
    """A row every rule of `source` accepts, as text, as a landing file has it."""
    row = {}
    for column in source.columns:
        rule = column.rule
        if column.name == source.timestamp_column:
            row[column.name] = f"{DAY}T12:00:{number:02d}Z"
        elif isinstance(rule, OneOf):
            row[column.name] = rule.values[-1]
        elif isinstance(rule, Money):
            row[column.name] = f"{number}.25"
        elif isinstance(rule, WholeNumber):
            row[column.name] = str(rule.maximum)
        elif isinstance(rule, ReportingCurrency):
            row[column.name] = "usd"
        else:
            row[column.name] = f"{column.name}-{number}"
    return row


def validate(source: Source, rows: list[dict]) -> tuple[list[str], list[str]]:
    """(accepted ids, quarantine reasons) of one file holding `rows`."""
    file = LandingFile(Path(f"/l/{source.name}/dt={DAY}/a.csv"), f"{source.name}/dt={DAY}/a.csv", 1, 100)
    result = validate_frames(source.name, DAY, [(file, pd.DataFrame(rows, dtype=object))], "USD")
    assert list(result.accepted.columns) == [*source.column_names, "partition_date", "source_file"]
    return list(result.accepted[source.id_column]), list(result.quarantined["reason"])


# --- what each record decides -------------------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.name)
def test_the_raw_table_is_the_record(source):
    table = tables.build_metadata("x").tables[f"x.{source.table}"]
    assert [c.name for c in table.columns] == [*source.column_names, "partition_date", "source_file"]
    for column, declared in zip(source.columns, table.columns):
        assert declared.type is column.type and declared.comment == column.description, column.name
        assert declared.nullable == column.nullable, column.name
    assert [c.name for c in table.primary_key.columns] == [source.id_column]
    assert table.comment == source.table_comment


def test_the_records_restate_spec_section_1():
    assert [(s.name, s.table, s.id_column, s.timestamp_column, s.required_folder) for s in SOURCES] == [
        ("orders", "raw_orders", "order_id", "ordered_at", True),
        ("events", "raw_events", "event_id", "occurred_at", True),
        ("campaign_touches", "raw_campaign_touches", "touch_id", "sent_at", False),
        ("surveys", "raw_surveys", "response_id", "responded_at", False),
    ]
    assert landing.REQUIRED_SOURCES == ("orders", "events")
    assert {s.name: s.required_columns for s in SOURCES} == {
        "orders": ["order_id", "customer_id", "ordered_at", "amount"],
        "events": ["event_id", "customer_id", "occurred_at", "event_type"],
        "campaign_touches": ["touch_id", "customer_id", "campaign_id", "sent_at", "group"],
        "surveys": ["response_id", "customer_id", "responded_at", "nps_score"],
    }
    # NULL only when optional and not filled in when missing (currency, status and cost are)
    assert {s.name: [c.name for c in s.columns if c.nullable] for s in SOURCES} == {
        "orders": ["channel"],
        "events": ["channel", "campaign_id"],
        "campaign_touches": ["channel"],
        "surveys": ["csat_score"],
    }
    assert {s.name: s.reasons for s in SOURCES} == {
        "orders": ("invalid_amount", "negative_amount", "currency_mismatch", "invalid_status"),
        "events": (),
        "campaign_touches": ("invalid_group", "invalid_cost", "negative_cost"),
        "surveys": ("invalid_nps_score", "invalid_csat_score"),
    }


@pytest.mark.parametrize("source", [*SOURCES, CLICKS], ids=lambda s: s.name)
def test_validation_reads_required_id_and_timestamp_columns_from_the_record(source, with_clicks):
    rows = [good_row(source, 1), good_row(source, 2)]
    assert validate(source, rows) == ([f"{source.id_column}-1", f"{source.id_column}-2"], [])
    for name in source.required_columns:
        lacking = [{k: v for k, v in row.items() if k != name} for row in rows]
        assert validate(source, lacking) == ([], [f"missing_column:{name}"] * 2)
        blank = [rows[0] | {name: ""}, rows[1]]
        assert validate(source, blank) == ([f"{source.id_column}-2"], [f"missing_value:{name}"])
    next_day = rows[1] | {source.timestamp_column: "2025-01-04T00:00:00Z"}
    assert validate(source, [rows[0], next_day]) == ([f"{source.id_column}-1"], ["outside_partition"])
    corrected = rows[1] | {source.id_column: rows[0][source.id_column]}
    assert validate(source, [rows[0], corrected]) == ([f"{source.id_column}-1"], ["superseded"])


@pytest.mark.parametrize("source", SOURCES, ids=lambda s: s.name)
def test_the_suite_checks_the_record_s_columns_key_and_timestamp(source):
    rules = raw_suite(source.name, DAY).rules
    assert rules[0].kwargs["column_set"] == [*source.column_names, "partition_date", "source_file"]
    not_null = [r.column for r in rules if r.expectation == "expect_column_values_to_not_be_null"]
    assert not_null == [c.name for c in source.columns if not c.nullable]
    assert [r.column for r in rules if r.expectation == "expect_column_values_to_be_unique"] == [source.id_column]
    assert source.timestamp_column in [r.column for r in rules if "partition day" in r.description]


# --- a source nobody has -----------------------------------------------------------------------


def test_a_new_record_is_a_table_a_validation_a_suite_and_a_folder(with_clicks, tmp_path):
    table = tables.build_metadata("x").tables["x.raw_clicks"]
    ddl = str(CreateTable(table).compile(dialect=postgresql.dialect()))
    assert "button VARCHAR(16) NOT NULL" in ddl and "price NUMERIC(18, 4) NOT NULL" in ddl and "page TEXT," in ddl
    assert "CONSTRAINT raw_clicks_pkey PRIMARY KEY (click_id)" in ddl

    folder = partition_dir(tmp_path, "clicks", DAY)
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text(
        "click_id,customer_id,clicked_at,button,price\n"
        f"k1,c1,{DAY}T10:00:00Z,BUY,\n"  # no price: 0
        f"k2,c1,{DAY}T10:00:00Z,poke,1\n"
        f"k3,c2,{DAY}T10:00:00Z,wish,-2\n"
        f"k4,,{DAY}T10:00:00Z,wish,2\n"
    )
    assert landing.list_partition_dates(tmp_path) == [DAY]
    part = extract_partition(Settings(landing_dir=tmp_path), "clicks", DAY)
    assert part.accepted[["click_id", "button", "price"]].values.tolist() == [["k1", "buy", 0.0]]
    assert list(part.quarantined["reason"]) == ["invalid_button", "negative_price", "missing_value:customer_id"]

    suite = raw_suite("clicks", DAY)
    assert suite.name == "raw_clicks" and suite.example_columns == ("click_id",)
    with pytest.raises(ValueError, match="unknown landing source 'taps'; expected one of .*clicks"):
        sources.source("taps")


def test_a_record_s_id_and_timestamp_must_be_required_columns():
    with pytest.raises(ValueError, match="timestamp_column 'seen_at'"):
        Source(name="x", table="raw_x", id_column="x_id", timestamp_column="seen_at",
               columns=(SourceColumn("x_id", Text(), "id", required=True), SourceColumn("seen_at", Text(), "when")),
               required_folder=False, description="", table_comment="")


# --- the generator ------------------------------------------------------------------------------


def test_the_generator_plants_reasons_of_the_records_and_known_event_types():
    common = {"missing_value", "invalid_timestamp", "outside_partition", "duplicate", "superseded", "missing_column"}
    assert set(generate.DIRTY_KINDS) - common <= {reason for s in SOURCES for reason in s.reasons}
    # its weighted activity types are known to the events suite; the messages it sends are passive
    assert set(generate.ACTIVITY_WEIGHTS) <= set(ACTIVITY_EVENT_TYPES)
    assert generate.PASSIVE_EVENT_TYPES == DEFAULT_PASSIVE_EVENT_TYPES
    assert known_event_types() == (*ACTIVITY_EVENT_TYPES, *DEFAULT_PASSIVE_EVENT_TYPES)
