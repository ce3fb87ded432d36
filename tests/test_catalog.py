"""The catalog (issue 9, item 2): every warehouse table is an asset that carries its table name,
its column schema from rekindle.tables (every column described), owners and code references; the
quarantine is an asset of its own whose partitions say how many rows each source lost and why."""

from datetime import date
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, DailyPartitionsDefinition
from sqlalchemy.dialects import postgresql

from pipelines.definitions import build_definitions
from pipelines.jobs import DAILY_JOB_NAME, range_tags
from rekindle.quarantine import RejectedRows, day_summaries
from rekindle.settings import Settings
from rekindle.sources import SOURCES
from rekindle.tables import build_metadata
from resources.warehouse import WarehouseResource

QUARANTINE = AssetKey("quarantine")


def asset_graph(settings: Settings):
    return build_definitions(settings).resolve_asset_graph()


def table_assets(graph, schema: str) -> dict[str, object]:
    tables = {table.name for table in build_metadata(schema).sorted_tables}
    names = {key.to_user_string(): key for key in graph.get_all_asset_keys()}
    return {name: graph.get(key) for name, key in names.items() if name in tables}


# --- the definitions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "settings",
    [
        Settings(),
        Settings(warehouse_url="postgresql+psycopg://postgres@127.0.0.1:5432/test", schema="reporting"),
    ],
    ids=["duckdb", "postgres"],
)
def test_every_table_is_an_asset_with_its_name_and_described_columns(settings):
    graph = asset_graph(settings)
    metadata = build_metadata(settings.schema)
    assets = table_assets(graph, settings.schema)
    assert set(assets) == {table.name for table in metadata.sorted_tables}  # every table, quarantine too

    for table in metadata.sorted_tables:
        asset = assets[table.name]
        assert asset.metadata["dagster/table_name"] == f"{settings.schema}.{table.name}"
        schema = asset.metadata["dagster/column_schema"]
        assert [c.name for c in schema.columns] == [c.name for c in table.columns], table.name
        for shown, defined in zip(schema.columns, table.columns):
            where = f"{table.name}.{defined.name}"
            assert shown.description and shown.description == defined.comment, where
            assert shown.type == defined.type.compile(dialect=postgresql.dialect()), where
            assert shown.constraints.nullable == defined.nullable, where
        key = [c.name for c in table.primary_key.columns]
        assert schema.constraints.other == ([f"one row per ({', '.join(key)})"] if key else []), table.name
        assert asset.description, table.name
        assert table.comment, table.name


def test_every_asset_has_owners_kinds_and_code_references():
    graph = asset_graph(Settings())
    for key in graph.get_all_asset_keys():
        asset = graph.get(key)
        name = key.to_user_string()
        assert asset.owners == ["team:data-engineering"], name
        assert asset.kinds, name
        references = asset.metadata["dagster/code_references"].code_references
        assert references, name
        for reference in references:  # each points at a real line of this repository
            path = Path(reference.file_path)
            assert path.is_file(), (name, reference)
            assert 1 <= reference.line_number <= len(path.read_text().splitlines()), (name, reference)
        if name in table_assets(graph, Settings().schema):
            assert [r.label for r in references] == ["asset", "table definition"], name
            table_line = Path(references[1].file_path).read_text().splitlines()[references[1].line_number - 1]
            assert table_line.strip() in (f'"{name}", md,', f'table="{name}",'), name  # tables.py, sources.py


def test_quarantine_is_a_daily_raw_asset_after_the_raw_loads_in_the_daily_job():
    settings = Settings()
    definitions = build_definitions(settings)
    graph = definitions.resolve_asset_graph()
    quarantine = graph.get(QUARANTINE)
    assert quarantine.group_name == "raw"
    assert isinstance(quarantine.partitions_def, DailyPartitionsDefinition)
    assert quarantine.parent_keys == {AssetKey(source.table) for source in SOURCES}
    assert quarantine.kinds == {"sql", "duckdb"}
    assert "same transaction" in quarantine.description
    job = definitions.resolve_job_def(DAILY_JOB_NAME)
    assert QUARANTINE in job.asset_layer.executable_asset_keys


def test_each_day_gets_its_own_counts_every_source_even_without_rejects():
    rows = [
        RejectedRows(date(2026, 6, 1), "orders", "negative_amount", 2),
        RejectedRows(date(2026, 6, 1), "orders", "duplicate", 5),
        RejectedRows(date(2026, 6, 1), "events", "invalid_timestamp", 1),
    ]
    summaries = day_summaries(rows, [date(2026, 6, 1), date(2026, 6, 2)], ["orders", "events", "surveys"])
    assert summaries[date(2026, 6, 1)] == {
        "dagster/row_count": 8, "rejected_orders": 7, "rejected_events": 1, "rejected_surveys": 0,
        "reasons": {"orders": {"duplicate": 5, "negative_amount": 2}, "events": {"invalid_timestamp": 1}},
    }
    assert list(summaries[date(2026, 6, 1)]["reasons"]["orders"]) == ["duplicate", "negative_amount"]  # most first
    assert summaries[date(2026, 6, 2)] == {  # a day without rejects is a 0 on the plot, not a gap
        "dagster/row_count": 0, "rejected_orders": 0, "rejected_events": 0, "rejected_surveys": 0, "reasons": {},
    }


# --- a real run -----------------------------------------------------------------------------------

DAY_1, DAY_2 = date(2026, 6, 1), date(2026, 6, 2)


def write_landing(root: Path) -> None:
    """Two days of orders and events with a few known bad rows each (none in day 2's events), few
    enough that no day's share of rejected rows fails the blocking contract (10%)."""
    good_orders = {day: [f"ok{day:%d}{i},C{i},{day}T09:00:00Z,10.00" for i in range(40)] for day in (DAY_1, DAY_2)}
    good_events = {day: [f"ev{day:%d}{i},C{i},{day}T09:30:00Z,app_open" for i in range(20)] for day in (DAY_1, DAY_2)}
    files = {
        f"orders/dt={DAY_1}/orders.csv": [
            "order_id,customer_id,ordered_at,amount",
            *good_orders[DAY_1],
            f"o2,C2,{DAY_1}T10:00:00Z,-5.00",  # negative_amount
            f"o3,C3,{DAY_1}T11:00:00Z,-1.00",  # negative_amount
            f"o4,,{DAY_1}T12:00:00Z,3.00",  # missing_value:customer_id
        ],
        f"events/dt={DAY_1}/events.csv": [
            "event_id,customer_id,occurred_at,event_type",
            *good_events[DAY_1],
            "e2,C2,yesterday,app_open",  # invalid_timestamp
        ],
        f"orders/dt={DAY_2}/orders.csv": [
            "order_id,customer_id,ordered_at,amount",
            *good_orders[DAY_2],
            f"o6,C2,{DAY_2}T09:00:00Z,10.00,EUR",  # malformed_row: one field too many
        ],
        f"events/dt={DAY_2}/events.csv": ["event_id,customer_id,occurred_at,event_type", *good_events[DAY_2]],
    }
    for path, lines in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_quarantine_reports_each_days_rejected_rows_per_source_and_reason(tmp_path):
    write_landing(tmp_path / "landing")
    settings = Settings(
        landing_dir=tmp_path / "landing",
        warehouse_url=f"duckdb:///{tmp_path}/w.duckdb",
        start_date=date(2026, 5, 1),
        quality_docs_dir=tmp_path / "docs",
    )
    job = build_definitions(settings).resolve_job_def(DAILY_JOB_NAME)
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(  # one run over both days, as `rekindle run` makes it
            instance=instance,
            tags=range_tags(DAY_1, DAY_2),
            asset_selection=[AssetKey("raw_orders"), AssetKey("raw_events"), QUARANTINE],
        )
        assert result.success
        events = {
            event.partition: event.metadata for event in result.asset_materializations_for_node("quarantine")
        }

    assert set(events) == {str(DAY_1), str(DAY_2)}
    day_1, day_2 = events[str(DAY_1)], events[str(DAY_2)]
    # each partition its own numbers, not the run's totals
    assert day_1["dagster/row_count"].value == 4
    assert (day_1["rejected_orders"].value, day_1["rejected_events"].value) == (3, 1)
    assert (day_1["rejected_campaign_touches"].value, day_1["rejected_surveys"].value) == (0, 0)
    assert day_1["reasons"].value == {
        "orders": {"negative_amount": 2, "missing_value:customer_id": 1},
        "events": {"invalid_timestamp": 1},
    }
    assert day_2["dagster/row_count"].value == 1
    assert day_2["reasons"].value == {"orders": {"malformed_row": 1}}
    assert (day_2["rejected_orders"].value, day_2["rejected_events"].value) == (1, 0)
    assert f"partition_date = DATE '{DAY_2}'" in day_2["rows"].value
    assert day_2["run_range"].value["rejected_rows"] == 5  # the range, labelled as such

    # the numbers are the table's
    warehouse = WarehouseResource(url=settings.warehouse_url, schema_name=settings.schema)
    try:
        rows = warehouse.read_frame(
            f"SELECT partition_date, source, reason, COUNT(*) AS n FROM {warehouse.qualified('quarantine')} "
            "GROUP BY partition_date, source, reason"
        )
    finally:
        warehouse.dispose()
    assert sorted((str(d), s, r, int(n)) for d, s, r, n in rows.itertuples(index=False)) == [
        (str(DAY_1), "events", "invalid_timestamp", 1),
        (str(DAY_1), "orders", "missing_value:customer_id", 1),
        (str(DAY_1), "orders", "negative_amount", 2),
        (str(DAY_2), "orders", "malformed_row", 1),
    ]
