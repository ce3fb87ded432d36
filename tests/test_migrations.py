"""Schema migrations (rekindle.migrations): a warehouse made by the first release (the table
module of that release, kept as tests/data/tables_v1.py) is upgraded in place, keeps its rows,
gets the keys and the descriptions, and ends with exactly the tables a new warehouse gets; a column
added by a later step reaches an existing warehouse; processes starting at once apply each step once."""

from __future__ import annotations

import importlib.util
import threading
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import sqlalchemy as sa

from rekindle.migrations import (
    MIGRATIONS,
    MIGRATIONS_TABLE,
    V2_KEYS,
    Migration,
    MigrationError,
    migrate,
    primary_keys,
)
from rekindle.quality.suites import TABLE_GRAIN
from rekindle.sources import SOURCES
from rekindle.sql import replace_rows
from rekindle.tables import build_metadata
from resources.warehouse import WarehouseResource

LATEST = MIGRATIONS[-1].version
TABLES_V1 = Path(__file__).parent / "data" / "tables_v1.py"


def tables_v1():
    spec = importlib.util.spec_from_file_location("rekindle_tables_v1", TABLES_V1)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def create_first_release_warehouse(wh: WarehouseResource) -> None:
    """What ensure_tables of the first release did: the schema, then create_all of its tables."""
    with wh.begin() as conn:
        schema = conn.dialect.identifier_preparer.quote_schema(wh.schema_name)
        conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
        tables_v1().build_metadata(wh.schema_name).create_all(conn)


# A few rows of the first release's tables, by table; quarantine holds the same row twice (no key).
ROWS = {
    "raw_orders": [
        ("o1", "alice", datetime(2025, 3, 1, 9), Decimal("10.5000"), "USD", "completed", "web",
         date(2025, 3, 1), "a.csv"),
        ("o2", "bob", datetime(2025, 3, 2, 9), Decimal("7.0000"), "USD", "refunded", None,
         date(2025, 3, 2), "b.csv"),
    ],
    "quarantine": [
        ("orders", date(2025, 3, 1), "a.csv", "missing_value", '{"order_id": "o9"}'),
        ("orders", date(2025, 3, 1), "a.csv", "missing_value", '{"order_id": "o9"}'),
    ],
    "customer_daily_activity": [("alice", date(2025, 3, 1), 1, Decimal("10.5000"), 0),
                                ("alice", date(2025, 3, 2), 0, Decimal("0.0000"), 3)],
    "campaign_performance": [("c1", "email", "treatment", 10, 8, 2, 0.25, Decimal("12.0000"), Decimal("1.0000"),
                              11.0, 0.1, -0.05, 0.25)],
}


def insert_rows(wh: WarehouseResource, rows: dict[str, list[tuple]]) -> None:
    with wh.begin() as conn:
        for table, values in rows.items():
            columns = [c.name for c in wh.table(table).columns][: len(values[0])]
            wh.bulk_insert(conn, table, pd.DataFrame(values, columns=columns))


def read_rows(wh: WarehouseResource, table: str, columns: int) -> list[tuple]:
    quote = wh.engine.dialect.identifier_preparer.quote
    names = ", ".join(quote(c.name) for c in list(wh.table(table).columns)[:columns])
    with wh.engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(sa.text(f"SELECT {names} FROM {wh.qualified(table)}")))


def records(wh: WarehouseResource) -> list[tuple]:
    with wh.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            f"SELECT version, description, applied_at FROM {wh.qualified('schema_migrations')} ORDER BY version"))]


def keys(wh: WarehouseResource) -> dict[str, tuple[str, ...]]:
    with wh.engine.connect() as conn:
        return primary_keys(conn, wh.schema_name)


def columns(wh: WarehouseResource) -> set[tuple]:
    """Every column with its type and nullability (not its position: ADD COLUMN appends)."""
    with wh.engine.connect() as conn:
        return {tuple(r) for r in conn.execute(sa.text("""
            SELECT table_name, column_name, data_type, is_nullable, character_maximum_length,
                   numeric_precision, numeric_scale
            FROM information_schema.columns WHERE table_schema = :schema
        """), {"schema": wh.schema_name})}


def descriptions(wh: WarehouseResource) -> dict[tuple[str, str | None], str | None]:
    """The comment of every table (column None) and column of the schema, as the warehouse keeps it."""
    if wh.is_duckdb:
        sql = """
            SELECT table_name, NULL AS column_name, comment FROM duckdb_tables() WHERE schema_name = :schema
            UNION ALL
            SELECT table_name, column_name, comment FROM duckdb_columns() WHERE schema_name = :schema
        """
    else:
        sql = """
            SELECT c.relname, NULL, obj_description(c.oid, 'pg_class')
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = :schema AND c.relkind = 'r'
            UNION ALL
            SELECT c.relname, a.attname, col_description(c.oid, a.attnum)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid
            WHERE n.nspname = :schema AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
        """
    with wh.engine.connect() as conn:
        rows = conn.execute(sa.text(sql), {"schema": wh.schema_name}).fetchall()
    # an empty comment reads as NULL on PostgreSQL and as '' on DuckDB
    return {(table, column): comment or None for table, column, comment in rows if table != MIGRATIONS_TABLE}


def defined_descriptions(wh: WarehouseResource) -> dict[tuple[str, str | None], str | None]:
    """The descriptions of the newest definitions, in the shape of `descriptions`."""
    tables = wh.metadata.sorted_tables
    columns = {(t.name, c.name): c.comment for t in tables for c in t.columns}
    return {**{(t.name, None): t.comment for t in tables}, **columns}


def expected_keys(wh: WarehouseResource) -> dict[str, tuple[str, ...]]:
    """The keys of the newest definitions on this warehouse, plus the record table's."""
    declared = {} if wh.is_duckdb else {
        t.name: tuple(c.name for c in t.primary_key.columns) for t in wh.metadata.sorted_tables if t.primary_key
    }
    return {**declared, "schema_migrations": ("version",)}


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_warehouse(request, tmp_path) -> Iterator[WarehouseResource]:
    """A warehouse resource on an empty file or a schema that does not exist yet."""
    if request.param == "duckdb":
        wh = WarehouseResource(url=f"duckdb:///{tmp_path}/w.duckdb", schema_name="analytics")
        yield wh
        wh.dispose()
        return
    url = request.getfixturevalue("postgres_server")
    wh = WarehouseResource(url=url, schema_name=f"rekindle_test_{uuid.uuid4().hex[:12]}")
    try:
        yield wh
    finally:
        with wh.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{wh.schema_name}" CASCADE'))
        wh.dispose()


def another(wh: WarehouseResource) -> WarehouseResource:
    """A second, empty warehouse next to `wh`: another schema of the same database."""
    return WarehouseResource(url=wh.url, schema_name=f"{wh.schema_name}_b")


# --- the upgrade from the first release ---------------------------------------------------


def test_first_release_warehouse_is_upgraded_in_place(empty_warehouse):
    wh = empty_warehouse
    create_first_release_warehouse(wh)
    insert_rows(wh, ROWS)
    assert keys(wh) == {}  # the first release declared no keys

    wh.ensure_tables()  # the new release starting

    # recognized as version 1 (kept, not recreated), then the pending steps applied
    assert [r[:2] for r in records(wh)] == [(m.version, m.description) for m in MIGRATIONS]
    for table, values in ROWS.items():
        assert read_rows(wh, table, len(values[0])) == sorted(values), table
    assert keys(wh) == expected_keys(wh)

    # a second start changes nothing
    before = records(wh)
    assert migrate(wh.engine, wh.metadata) == []
    wh.ensure_tables()
    assert records(wh) == before
    for table, values in ROWS.items():
        assert read_rows(wh, table, len(values[0])) == sorted(values), table


def test_upgraded_warehouse_has_exactly_the_tables_of_a_new_one(empty_warehouse):
    """Catches a change to rekindle.tables without its migration step (and the reverse)."""
    upgraded, new = empty_warehouse, another(empty_warehouse)
    try:
        create_first_release_warehouse(upgraded)
        upgraded.ensure_tables()
        new.ensure_tables()
        assert columns(upgraded) == columns(new)
        assert descriptions(upgraded) == descriptions(new) == defined_descriptions(new)
        assert keys(upgraded) == keys(new) == expected_keys(new)
        assert [r[:2] for r in records(upgraded)] == [r[:2] for r in records(new)]
    finally:
        if not new.is_duckdb:
            with new.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{new.schema_name}" CASCADE'))
        new.dispose()


def test_a_warehouse_without_records_is_version_one(empty_warehouse):
    wh = empty_warehouse
    create_first_release_warehouse(wh)
    insert_rows(wh, {"raw_orders": ROWS["raw_orders"]})
    # only version 1 known: recorded, nothing changed, nothing recreated
    assert migrate(wh.engine, wh.metadata, migrations=MIGRATIONS[:1]) == []
    assert [r[0] for r in records(wh)] == [1]
    assert keys(wh) == {"schema_migrations": ("version",)}
    assert read_rows(wh, "raw_orders", 9) == sorted(ROWS["raw_orders"])
    # the next releases apply the later steps only
    assert migrate(wh.engine, wh.metadata) == list(range(2, LATEST + 1))
    assert [r[0] for r in records(wh)] == list(range(1, LATEST + 1))


def test_a_new_warehouse_starts_at_the_latest_version(empty_warehouse):
    wh = empty_warehouse
    wh.ensure_tables()
    assert [r[0] for r in records(wh)] == list(range(1, LATEST + 1))
    assert keys(wh) == expected_keys(wh)
    assert {t for t, *_ in columns(wh)} == {t.name for t in wh.metadata.sorted_tables} | {"schema_migrations"}


# --- later steps ----------------------------------------------------------------------------


def add_column_step(version: int, table: str, column: str, sql_type: str) -> Migration:
    """A test-only step in the shape a real one has: skip a missing table, change an existing one."""

    def apply(conn, schema):
        if sa.inspect(conn).has_table(table, schema=schema):
            prep = conn.dialect.identifier_preparer
            conn.execute(sa.text(f"ALTER TABLE {prep.quote_schema(schema)}.{prep.quote(table)} "
                                 f"ADD COLUMN {prep.quote(column)} {sql_type}"))

    return Migration(version, f"{table}.{column}", apply)


def with_column(schema: str, table: str, column: sa.Column) -> sa.MetaData:
    """The newest table definitions plus one column: the definition side of a schema change."""
    metadata = build_metadata(schema)
    metadata.tables[f"{schema}.{table}"].append_column(column)
    return metadata


def test_a_column_added_by_a_step_reaches_an_existing_warehouse(empty_warehouse):
    wh = empty_warehouse
    wh.ensure_tables()
    insert_rows(wh, {"raw_orders": ROWS["raw_orders"]})
    metadata = with_column(wh.schema_name, "raw_orders", sa.Column("coupon_code", sa.Text))

    # the definition without its step: no longer silently missing, the start fails and says why
    with pytest.raises(MigrationError, match=r"raw_orders\.coupon_code.*needs a step"):
        migrate(wh.engine, metadata)

    steps = (*MIGRATIONS, add_column_step(LATEST + 1, "raw_orders", "coupon_code", "TEXT"))
    assert migrate(wh.engine, metadata, migrations=steps) == [LATEST + 1]
    with wh.engine.connect() as conn:
        got = conn.execute(sa.text(
            f"SELECT order_id, coupon_code FROM {wh.qualified('raw_orders')} ORDER BY order_id")).fetchall()
    assert [tuple(r) for r in got] == [("o1", None), ("o2", None)]  # the rows kept, the column added
    assert [r[:2] for r in records(wh)][-1] == (LATEST + 1, "raw_orders.coupon_code")
    assert migrate(wh.engine, metadata, migrations=steps) == []  # applied once


def test_a_step_for_a_missing_table_leaves_it_to_the_definitions(empty_warehouse):
    """A new warehouse (or a table new in this release) gets the newest definition; the step skips it."""
    wh = empty_warehouse
    metadata = with_column(wh.schema_name, "raw_orders", sa.Column("coupon_code", sa.Text))
    steps = (*MIGRATIONS, add_column_step(LATEST + 1, "raw_orders", "coupon_code", "TEXT"))
    assert migrate(wh.engine, metadata, migrations=steps) == list(range(2, LATEST + 2))
    assert ("raw_orders", "coupon_code") in {(t, c) for t, c, *_ in columns(wh)}


def test_a_newer_warehouse_is_refused(empty_warehouse):
    wh = empty_warehouse
    wh.ensure_tables()
    with pytest.raises(MigrationError, match=f"at version {LATEST}, newer than this Rekindle knows"):
        migrate(wh.engine, wh.metadata, migrations=MIGRATIONS[:-1])


def test_versions_must_be_consecutive():
    with pytest.raises(ValueError):
        migrate(None, build_metadata("x"), migrations=(MIGRATIONS[0], Migration(3, "gap", lambda c, s: None)))


# --- the keys -------------------------------------------------------------------------------


def test_keys_are_the_grain_the_quality_checks_check():
    """rekindle.tables, step 2 and the quality suites say the same keys."""
    declared = {t.name: tuple(c.name for c in t.primary_key.columns)
                for t in build_metadata("x").sorted_tables if t.primary_key}
    grain = {**TABLE_GRAIN, **{source.table: (source.id_column,) for source in SOURCES}}
    assert declared == V2_KEYS == grain


@pytest.mark.postgres
def test_keys_hold_on_postgres_and_allow_the_rewrite_pattern(postgres_warehouse):
    wh = postgres_warehouse
    frame = pd.DataFrame(ROWS["raw_orders"], columns=[c.name for c in wh.table("raw_orders").columns])
    with wh.begin() as conn:
        wh.bulk_insert(conn, "raw_orders", frame)
    # every write here: delete a range, insert it again, in one transaction
    with wh.begin() as conn:
        replace_rows(conn, wh.qualified("raw_orders"), frame, date_column="partition_date",
                     start=date(2025, 3, 1), end=date(2025, 3, 2))
    assert read_rows(wh, "raw_orders", 9) == sorted(ROWS["raw_orders"])
    with pytest.raises(psycopg.errors.UniqueViolation):  # COPY runs on the driver's connection
        with wh.begin() as conn:
            wh.bulk_insert(conn, "raw_orders", frame.assign(partition_date=date(2025, 3, 9)))


def test_an_id_the_first_release_loaded_on_two_days_moves_to_quarantine(empty_warehouse):
    wh = empty_warehouse
    create_first_release_warehouse(wh)
    # the first release loaded an id delivered again on a later day a second time
    again = ("o1", "alice", datetime(2025, 3, 5, 9), Decimal("10.5000"), "USD", "completed", "web",
             date(2025, 3, 5), "c.csv")
    insert_rows(wh, {"raw_orders": [*ROWS["raw_orders"], again]})

    wh.ensure_tables()

    assert read_rows(wh, "raw_orders", 9) == sorted(ROWS["raw_orders"])  # the earliest day keeps it
    [parked] = read_rows(wh, "quarantine", 5)
    assert parked[:4] == ("orders", date(2025, 3, 5), "c.csv", "duplicate_other_day")
    assert '"order_id": "o1"' in parked[4]
    assert keys(wh) == expected_keys(wh)


@pytest.mark.postgres
def test_repeated_keys_stop_the_upgrade_and_change_nothing(postgres_warehouse):
    wh = WarehouseResource(url=postgres_warehouse.url, schema_name=f"{postgres_warehouse.schema_name}_v1")
    try:
        create_first_release_warehouse(wh)
        # a table written by hand with a repeated grain: nothing can tell which row is right
        rows = [*ROWS["customer_daily_activity"], ("alice", date(2025, 3, 1), 2, Decimal("1.0000"), 0)]
        insert_rows(wh, {"customer_daily_activity": rows})
        with pytest.raises(
            MigrationError, match=r"customer_daily_activity holds several rows for one \(customer_id, activity_date\)"
        ):
            wh.ensure_tables()
        assert [r[0] for r in records(wh)] == [1]  # step 2 rolled back as a whole
        assert keys(wh) == {"schema_migrations": ("version",)}
        assert read_rows(wh, "customer_daily_activity", 5) == sorted(rows)
    finally:
        with wh.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{wh.schema_name}" CASCADE'))
        wh.dispose()


# --- processes starting at once -------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("start", ["new", "first_release"])
def test_concurrent_starts_apply_each_step_once(postgres_server, start):
    """Four processes (threads with their own connections) start together. The test step is
    slow and not idempotent (ADD COLUMN without IF NOT EXISTS), so applying it twice would fail;
    so would two concurrent CREATE SCHEMA / CREATE TABLE on a new schema without the lock."""
    schema = f"rekindle_test_{uuid.uuid4().hex[:12]}"
    slow = add_column_step(LATEST + 1, "customers", "note", "TEXT")

    def slow_apply(conn, schema_name):
        conn.execute(sa.text("SELECT pg_sleep(0.3)"))
        slow.apply(conn, schema_name)

    steps = (*MIGRATIONS, Migration(slow.version, slow.description, slow_apply))
    warehouses = [WarehouseResource(url=postgres_server, schema_name=schema) for _ in range(4)]
    metadata = with_column(schema, "customers", sa.Column("note", sa.Text))
    if start == "first_release":
        create_first_release_warehouse(warehouses[0])
    barrier = threading.Barrier(len(warehouses))
    applied, errors = [], []

    def run(wh):
        try:
            barrier.wait()
            applied.append(migrate(wh.engine, metadata, migrations=steps))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(wh,)) for wh in warehouses]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []
        assert sorted(v for versions in applied for v in versions) == list(range(2, LATEST + 2))
        assert [r[0] for r in records(warehouses[0])] == list(range(1, LATEST + 2))
        assert ("customers", "note") in {(t, c) for t, c, *_ in columns(warehouses[0])}
    finally:
        with warehouses[0].begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        for wh in warehouses:
            wh.dispose()
