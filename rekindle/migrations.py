"""Versioned schema migrations: how a warehouse made by an earlier release reaches the table
definitions of rekindle.tables.

`<schema>.schema_migrations(version, description, applied_at)` records the steps applied. At
start-up (`WarehouseResource.ensure_tables`, before every run) `migrate`:

1. creates the schema and the record table; a warehouse without records is version 1, the
   tables of the first release, whether they exist already (kept, never recreated) or not;
2. applies each pending step in its own transaction, recorded in the same transaction, so a
   crash leaves the warehouse at the previous version, never half-way;
3. creates the tables that are still missing from the newest definitions (a new warehouse,
   a table new in this release), and fails when a defined column is missing from the warehouse.

A step changes existing tables from the previous version's shape to its own, and skips tables
that do not exist (step 3 creates them in the newest shape). On PostgreSQL every transaction
starts with pg_advisory_xact_lock and re-reads the version, so processes starting at once apply
each step once; DuckDB allows one writing process per file anyway.

Why a list of steps, not Alembic (installed with Dagster): Alembic has no DuckDB implementation
(duckdb-engine registers none), keeps only the current revision in its table, takes no lock,
and needs an env.py, a config and a versions folder. The steps are a few small functions.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from rekindle.tables import build_metadata

logger = logging.getLogger(__name__)

MIGRATIONS_TABLE = "schema_migrations"


class MigrationError(RuntimeError):
    """The warehouse cannot be brought to the newest schema; the message says why and what to do."""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    # (connection inside the step's transaction, schema name); skips tables that do not exist
    apply: Callable[[Connection, str], None]


# --- the steps ----------------------------------------------------------------------------
# A step is frozen once released: it says what changed then, whatever rekindle.tables says later.


def _first_release(conn: Connection, schema: str) -> None:
    """Version 1 is the tables as released before migrations existed (tests/data/tables_v1.py):
    existing tables are kept as they are; missing ones are created after the steps."""


# Version 2: the key of each table (the grain of SPEC section 4), on PostgreSQL only (why, with
# the DuckDB numbers: KEYED_DIALECTS in rekindle.tables).
V2_KEYED_DIALECTS = ("postgresql",)
V2_KEYS: dict[str, tuple[str, ...]] = {
    "raw_orders": ("order_id",),
    "raw_events": ("event_id",),
    "raw_campaign_touches": ("touch_id",),
    "raw_surveys": ("response_id",),
    "customer_daily_activity": ("customer_id", "activity_date"),
    "customers": ("customer_id",),
    "lifecycle_daily": ("as_of_date", "inactivity_days"),
    "reactivation_daily": ("as_of_date", "inactivity_days", "period_days"),
    "retention_daily": ("as_of_date", "inactivity_days", "period_days"),
    "purchase_daily": ("as_of_date", "period_days"),
    "nps_daily": ("as_of_date", "period_days"),
    "clv_daily": ("as_of_date", "inactivity_days"),
    "cohort_retention": ("cohort_month", "months_since_first"),
    "inactive_segments": ("as_of_date", "inactivity_days", "inactivity_bucket", "rfm_segment"),
    "inactive_customers": ("customer_id",),
    "customer_predictions": ("customer_id",),
    "campaign_performance": ("campaign_id", "group"),
}


def _declare_keys(conn: Connection, schema: str) -> None:
    # An earlier release loaded an id delivered on several days once per day (counted twice):
    # the later copies move to quarantine first, on every warehouse, as SPEC 1.1 now says.
    from rekindle.raw_load import park_cross_day_duplicates

    for table, days in park_cross_day_duplicates(conn, schema).items():
        logger.warning(
            f"{schema}.{table}: ids also loaded on an earlier day moved to quarantine (duplicate_other_day) "
            f"on {len(days)} day(s) from {days[0]}; re-run `rekindle run --start {days[0]}` to recompute "
            "activity and metrics from there"
        )
    if conn.dialect.name not in V2_KEYED_DIALECTS:
        return
    inspector = sa.inspect(conn)
    keys = primary_keys(conn, schema)
    for table, key in V2_KEYS.items():
        if inspector.has_table(table, schema=schema) and table not in keys:  # else: created with its key
            add_primary_key(conn, schema, table, key)


# Version 3: a one-line description on every table and column (COMMENT ON), so a SQL client shows
# what a column means, as the Dagster catalog does. Descriptions are documentation, not shape: the
# step writes the ones rekindle.tables holds when it runs (a new warehouse gets them from the
# definitions); a rewording that should reach existing warehouses is one more step calling
# describe_tables.
def _describe_tables(conn: Connection, schema: str) -> None:
    describe_tables(conn, build_metadata(schema))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "the tables of the first release", _first_release),
    Migration(2, "ids unique across days (later copies to quarantine); a primary key on each table's grain "
                 "(PostgreSQL only)", _declare_keys),
    Migration(3, "a description on every table and column (COMMENT ON)", _describe_tables),
)


# --- helpers for steps --------------------------------------------------------------------


def add_primary_key(conn: Connection, schema: str, table: str, key: Sequence[str]) -> None:
    """ALTER TABLE ... ADD PRIMARY KEY, named as rekindle.tables names it. Rows that repeat a key
    fail the step with a message naming the table and a few of the keys."""
    prep = conn.dialect.identifier_preparer
    qualified = f"{prep.quote_schema(schema)}.{prep.quote(table)}"
    columns = ", ".join(prep.quote(c) for c in key)
    repeated = conn.execute(sa.text(
        f"SELECT {columns}, COUNT(*) AS copies FROM {qualified} GROUP BY {columns} HAVING COUNT(*) > 1 "
        f"ORDER BY copies DESC LIMIT 5"
    )).fetchall()
    if repeated:
        examples = "; ".join(f"{tuple(row[:-1])} x{row[-1]}" for row in repeated)
        raise MigrationError(
            f"{schema}.{table} holds several rows for one ({', '.join(key)}), so its primary key cannot "
            f"be declared: e.g. {examples}. Nothing was changed. Remove the extra rows (for a raw table "
            f"the earliest day keeps an id, SPEC 1.1) and start again."
        )
    name = prep.quote(f"{table}_pkey")
    conn.execute(sa.text(f"ALTER TABLE {qualified} ADD CONSTRAINT {name} PRIMARY KEY ({columns})"))


def describe_tables(conn: Connection, metadata: sa.MetaData) -> None:
    """COMMENT ON each table of `metadata` that exists, and on each of its columns that exists,
    with the descriptions (`comment=`) of the definitions."""
    present = existing_columns(conn, metadata.schema)
    existing = {table for table, _ in present}
    for table in metadata.sorted_tables:
        if table.comment and table.name in existing:
            conn.execute(sa.schema.SetTableComment(table))
        for column in table.columns:
            if column.comment and (table.name, column.name) in present:
                conn.execute(sa.schema.SetColumnComment(column))


# --- applying -----------------------------------------------------------------------------


def migrations_table(schema: str) -> sa.Table:
    return sa.Table(
        MIGRATIONS_TABLE,
        sa.MetaData(schema=schema),
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("applied_at", sa.DateTime, nullable=False),  # naive UTC, like every timestamp here
    )


def migrate(
    engine: Engine,
    metadata: sa.MetaData,
    migrations: Sequence[Migration] = MIGRATIONS,
    log: logging.Logger | None = None,
) -> list[int]:
    """Bring the warehouse schema `metadata.schema` to `metadata`'s tables (see the module
    docstring). Returns the versions applied now; [] when it was up to date."""
    log = log or logger
    schema = metadata.schema
    record = migrations_table(schema)
    latest = migrations[-1].version
    if [m.version for m in migrations] != list(range(1, latest + 1)):
        raise ValueError("migration versions must be 1, 2, 3, ... in order")

    with engine.begin() as conn:
        version = _start(conn, record, migrations[0])
        if version == latest:  # the usual start of a run: one transaction
            _finish(conn, metadata)
            return []
    if version > latest:
        raise MigrationError(
            f"The warehouse schema {schema} is at version {version}, newer than this Rekindle knows "
            f"({latest}): upgrade Rekindle."
        )
    applied = []
    for step in migrations[version:]:
        began = time.monotonic()
        with engine.begin() as conn:
            _lock(conn, schema)
            if _version(conn, record) >= step.version:
                continue  # another process applied it while we waited for the lock
            step.apply(conn, schema)
            conn.execute(record.insert().values(
                version=step.version, description=step.description, applied_at=_utc_now()))
        applied.append(step.version)
        log.info(f"Warehouse schema {schema}: applied migration {step.version} ({step.description}) "
                 f"in {time.monotonic() - began:.1f} s")
    with engine.begin() as conn:
        _lock(conn, schema)
        _finish(conn, metadata)
    return applied


def _start(conn: Connection, record: sa.Table, first: Migration) -> int:
    """Create the schema and the record table; record version 1 in a warehouse without records.
    Returns the current version."""
    schema = record.schema
    _lock(conn, schema)
    conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {conn.dialect.identifier_preparer.quote_schema(schema)}"))
    record.create(conn, checkfirst=True)
    version = _version(conn, record)
    if version == 0:
        first.apply(conn, schema)
        conn.execute(record.insert().values(version=first.version, description=first.description,
                                            applied_at=_utc_now()))
        version = first.version
    return version


def _finish(conn: Connection, metadata: sa.MetaData) -> None:
    """Create the missing tables from the newest definitions; fail when a defined column is
    missing from an existing table (a change to rekindle.tables without a migration step)."""
    metadata.create_all(conn, checkfirst=True)
    missing = missing_columns(conn, metadata)
    if missing:
        raise MigrationError(
            f"The warehouse schema {metadata.schema} lacks columns of the table definitions: "
            f"{', '.join(missing)}. A change to rekindle.tables needs a step in rekindle.migrations."
        )


def _version(conn: Connection, record: sa.Table) -> int:
    return conn.execute(sa.select(sa.func.coalesce(sa.func.max(record.c.version), 0))).scalar_one()


def _lock(conn: Connection, schema: str) -> None:
    """On PostgreSQL, wait for the schema's migration lock, held until the transaction ends.
    Taken first, so the reads that follow see what the previous holder committed (READ COMMITTED)."""
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(f"rekindle schema migrations {schema}".encode())
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def primary_keys(conn: Connection, schema: str) -> dict[str, tuple[str, ...]]:
    """The primary key columns of each table of `schema` that has one. From information_schema,
    which both warehouses have (duckdb-engine cannot reflect keys with SQLAlchemy 2.1)."""
    rows = conn.execute(sa.text("""
        SELECT tc.table_name, kcu.column_name
        FROM information_schema.table_constraints AS tc
        JOIN information_schema.key_column_usage AS kcu
          ON kcu.constraint_schema = tc.constraint_schema AND kcu.constraint_name = tc.constraint_name
         AND kcu.table_schema = tc.table_schema AND kcu.table_name = tc.table_name
        WHERE tc.table_schema = :schema AND tc.constraint_type = 'PRIMARY KEY'
        ORDER BY tc.table_name, kcu.ordinal_position
    """), {"schema": schema}).fetchall()
    keys: dict[str, tuple[str, ...]] = {}
    for table, column in rows:
        keys[table] = (*keys.get(table, ()), column)
    return keys


def missing_columns(conn: Connection, metadata: sa.MetaData) -> list[str]:
    """`table.column` of every defined column the warehouse tables lack (one catalog query)."""
    present = existing_columns(conn, metadata.schema)
    return [f"{t.name}.{c.name}" for t in metadata.sorted_tables for c in t.columns if (t.name, c.name) not in present]


def existing_columns(conn: Connection, schema: str) -> set[tuple[str, str]]:
    """(table, column) of every column of the tables in `schema`: one information_schema query,
    or on Spark (which has none) the catalog, table by table."""
    if conn.dialect.name == "spark":
        inspector = sa.inspect(conn)
        return {(table, column["name"]) for table in inspector.get_table_names(schema=schema)
                for column in inspector.get_columns(table, schema=schema)}
    rows = conn.execute(
        sa.text("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = :schema"),
        {"schema": schema},
    ).fetchall()
    return {(table, column) for table, column in rows}


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
