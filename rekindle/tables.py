"""The warehouse tables of SPEC section 4, declared once as SQLAlchemy Core tables.

Types are chosen to mean the same on DuckDB and PostgreSQL: money is NUMERIC(18, 4) so sums
are exact on both; rates are DOUBLE PRECISION; timestamps are naive UTC.

These definitions are the newest schema. A warehouse made by an earlier release is brought to
them by the steps in rekindle.migrations: a change here needs a migration step there.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Double,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

MONEY = Numeric(18, 4)

# Each table's key (the grain of SPEC section 4; raw ids are unique across days by SPEC 1.1) is
# declared as a PRIMARY KEY on PostgreSQL only. DuckDB keys work (re-inserting deleted keys in
# the same transaction, ALTER TABLE ADD PRIMARY KEY), but their ART index makes every rewrite
# here (DELETE a range, then INSERT, in one transaction) 30 to 130 times slower. Measured with
# duckdb 1.5.6 on 2 cores: raw_events, 4,000,000 rows over 40 days loaded through bulk_insert
# (Arrow), without -> with the key:
#   load into the empty table          9.3 s -> 12.7 s (random ids), 4.8 s -> 14.4 s (sequential)
#   re-run of one day (100,000 rows)   0.14 s -> 7.2 s (random ids), 0.13 s -> 17 s (sequential)
#   re-run of all 40 days in one go    5.8 s -> 200 s (random ids), 5.1 s -> 374 s (sequential)
#   peak RSS (1.19 GiB with the frame) +36 MiB for the load, +0.5 GiB for the re-run of all days;
#   file 127 -> 444 MiB
# PostgreSQL 15 (COPY, same rows, random ids): load 47 s -> 96 s, re-run of one day 4.7 s ->
# 5.6 s; table and indexes 915 -> 1,167 MiB. There the key is worth it; on DuckDB the grain
# stays checked after each write by the quality suites (TABLE_GRAIN in rekindle.quality.suites).
KEYED_DIALECTS = ("postgresql",)
# PostgreSQL's own name for a primary key, so created and migrated tables agree
NAMING_CONVENTION = {"pk": "%(table_name)s_pkey"}


def _key(*columns: str) -> PrimaryKeyConstraint:
    """The table's key: one row per value of `columns` (see KEYED_DIALECTS)."""
    return PrimaryKeyConstraint(*columns).ddl_if(dialect=KEYED_DIALECTS)


def _raw_columns() -> list[Column]:
    return [Column("partition_date", Date, nullable=False), Column("source_file", Text, nullable=False)]


def build_metadata(schema: str) -> MetaData:
    md = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)

    # --- raw layer: one row per accepted input row --------------------------------------
    Table(
        "raw_orders", md,
        Column("order_id", Text, nullable=False),
        Column("customer_id", Text, nullable=False),
        Column("ordered_at", DateTime, nullable=False),
        Column("amount", MONEY, nullable=False),
        Column("currency", String(3), nullable=False),
        Column("status", String(16), nullable=False),
        Column("channel", Text),
        *_raw_columns(),
        _key("order_id"),
    )
    Table(
        "raw_events", md,
        Column("event_id", Text, nullable=False),
        Column("customer_id", Text, nullable=False),
        Column("occurred_at", DateTime, nullable=False),
        Column("event_type", Text, nullable=False),
        Column("channel", Text),
        Column("campaign_id", Text),
        *_raw_columns(),
        _key("event_id"),
    )
    Table(
        "raw_campaign_touches", md,
        Column("touch_id", Text, nullable=False),
        Column("customer_id", Text, nullable=False),
        Column("campaign_id", Text, nullable=False),
        Column("channel", Text),
        Column("sent_at", DateTime, nullable=False),
        Column("group", String(16), nullable=False),
        Column("cost", MONEY, nullable=False),
        *_raw_columns(),
        _key("touch_id"),
    )
    Table(
        "raw_surveys", md,
        Column("response_id", Text, nullable=False),
        Column("customer_id", Text, nullable=False),
        Column("responded_at", DateTime, nullable=False),
        Column("nps_score", Integer, nullable=False),
        Column("csat_score", Integer),
        *_raw_columns(),
        _key("response_id"),
    )
    Table(
        "quarantine", md,
        Column("source", String(32), nullable=False),
        Column("partition_date", Date, nullable=False),
        Column("source_file", Text, nullable=False),
        Column("reason", Text, nullable=False),
        Column("record", Text),
        # no key: one row per rejected input row, and the same bad row can arrive twice
    )

    # --- core layer ----------------------------------------------------------------------
    Table(
        "customer_daily_activity", md,
        Column("customer_id", Text, nullable=False),
        Column("activity_date", Date, nullable=False),
        Column("orders", BigInteger, nullable=False),
        Column("revenue", MONEY, nullable=False),
        Column("events", BigInteger, nullable=False),
        _key("customer_id", "activity_date"),
    )
    Table(
        "customers", md,
        Column("customer_id", Text, nullable=False),
        Column("first_active_date", Date, nullable=False),
        Column("last_active_date", Date, nullable=False),
        Column("first_order_date", Date),
        Column("last_order_date", Date),
        Column("lifetime_orders", BigInteger, nullable=False),
        Column("lifetime_revenue", MONEY, nullable=False),
        _key("customer_id"),
    )

    # --- metrics layer -------------------------------------------------------------------
    Table(
        "lifecycle_daily", md,
        Column("as_of_date", Date, nullable=False),
        Column("inactivity_days", Integer, nullable=False),
        Column("new_customers", BigInteger, nullable=False),
        Column("returning_customers", BigInteger, nullable=False),
        Column("reactivated_customers", BigInteger, nullable=False),
        Column("dormant_customers", BigInteger, nullable=False),
        Column("active_customers", BigInteger, nullable=False),
        Column("inactive_customers", BigInteger, nullable=False),
        _key("as_of_date", "inactivity_days"),
    )
    Table(
        "reactivation_daily", md,
        Column("as_of_date", Date, nullable=False),
        Column("inactivity_days", Integer, nullable=False),
        Column("period_days", Integer, nullable=False),
        Column("inactive_at_start", BigInteger, nullable=False),
        Column("reactivated", BigInteger, nullable=False),
        Column("reactivation_rate", Double),
        Column("reactivated_revenue", MONEY, nullable=False),
        _key("as_of_date", "inactivity_days", "period_days"),
    )
    Table(
        "retention_daily", md,
        Column("as_of_date", Date, nullable=False),
        Column("inactivity_days", Integer, nullable=False),
        Column("period_days", Integer, nullable=False),
        Column("customers_at_start", BigInteger, nullable=False),
        Column("retained", BigInteger, nullable=False),
        Column("churned", BigInteger, nullable=False),
        Column("retention_rate", Double),
        Column("churn_rate", Double),
        _key("as_of_date", "inactivity_days", "period_days"),
    )
    Table(
        "purchase_daily", md,
        Column("as_of_date", Date, nullable=False),
        Column("period_days", Integer, nullable=False),
        Column("orders", BigInteger, nullable=False),
        Column("buyers", BigInteger, nullable=False),
        Column("revenue", MONEY, nullable=False),
        Column("average_order_value", Double),
        Column("purchase_frequency", Double),
        Column("repeat_buyers", BigInteger, nullable=False),
        Column("repeat_purchase_rate", Double),
        _key("as_of_date", "period_days"),
    )
    Table(
        "clv_daily", md,
        Column("as_of_date", Date, nullable=False),
        Column("inactivity_days", Integer, nullable=False),
        Column("average_order_value", Double),
        Column("purchases_per_year", Double),
        Column("annual_churn_rate", Double),
        Column("expected_lifespan_years", Double),
        Column("clv", Double),
        _key("as_of_date", "inactivity_days"),
    )
    Table(
        "cohort_retention", md,
        Column("cohort_month", Date, nullable=False),
        Column("months_since_first", Integer, nullable=False),
        Column("cohort_size", BigInteger, nullable=False),
        Column("active_customers", BigInteger, nullable=False),
        Column("retention_rate", Double),
        Column("revenue", MONEY, nullable=False),
        _key("cohort_month", "months_since_first"),
    )

    # --- segments layer ------------------------------------------------------------------
    Table(
        "inactive_segments", md,
        Column("as_of_date", Date, nullable=False),
        Column("inactivity_days", Integer, nullable=False),
        Column("inactivity_bucket", String(32), nullable=False),
        Column("rfm_segment", String(32), nullable=False),
        Column("customers", BigInteger, nullable=False),
        Column("lifetime_revenue", MONEY, nullable=False),
        _key("as_of_date", "inactivity_days", "inactivity_bucket", "rfm_segment"),
    )
    Table(
        "inactive_customers", md,
        Column("as_of_date", Date, nullable=False),
        Column("customer_id", Text, nullable=False),
        Column("last_active_date", Date, nullable=False),
        Column("days_inactive", Integer, nullable=False),
        Column("inactivity_bucket", String(32), nullable=False),
        Column("lifetime_orders", BigInteger, nullable=False),
        Column("lifetime_revenue", MONEY, nullable=False),
        Column("rfm_segment", String(32), nullable=False),
        # beyond the spec: the BG/NBD model's view, so the win-back list can be ranked
        Column("p_alive", Double),
        Column("expected_purchases_90d", Double),
        # a snapshot of the latest day (as_of_date is the same on every row): one row per customer
        _key("customer_id"),
    )
    Table(
        "customer_predictions", md,
        Column("as_of_date", Date, nullable=False),
        Column("customer_id", Text, nullable=False),
        Column("frequency", BigInteger, nullable=False),
        Column("recency_days", BigInteger, nullable=False),
        Column("age_days", BigInteger, nullable=False),
        Column("p_alive", Double),
        Column("expected_purchases_90d", Double),
        _key("customer_id"),  # a snapshot like inactive_customers
    )

    # --- campaigns layer -----------------------------------------------------------------
    Table(
        "campaign_performance", md,
        Column("campaign_id", Text, nullable=False),
        Column("channel", Text),
        Column("group", String(16), nullable=False),
        Column("customers_targeted", BigInteger, nullable=False),
        Column("inactive_targeted", BigInteger, nullable=False),
        Column("reactivated", BigInteger, nullable=False),
        Column("reactivation_rate", Double),
        Column("attributed_revenue", MONEY, nullable=False),
        Column("cost", MONEY, nullable=False),
        Column("roi", Double),
        Column("lift", Double),
        Column("lift_ci_low", Double),
        Column("lift_ci_high", Double),
        _key("campaign_id", "group"),
    )
    Table(
        "nps_daily", md,
        Column("as_of_date", Date, nullable=False),
        Column("period_days", Integer, nullable=False),
        Column("responses", BigInteger, nullable=False),
        Column("promoters", BigInteger, nullable=False),
        Column("passives", BigInteger, nullable=False),
        Column("detractors", BigInteger, nullable=False),
        Column("nps", Double),
        _key("as_of_date", "period_days"),
    )
    return md


# Input columns of each landing source, in table order (partition_date/source_file come after).
RAW_COLUMNS: dict[str, list[str]] = {
    "orders": ["order_id", "customer_id", "ordered_at", "amount", "currency", "status", "channel"],
    "events": ["event_id", "customer_id", "occurred_at", "event_type", "channel", "campaign_id"],
    "campaign_touches": ["touch_id", "customer_id", "campaign_id", "channel", "sent_at", "group", "cost"],
    "surveys": ["response_id", "customer_id", "responded_at", "nps_score", "csat_score"],
}
RAW_TABLE = {source: f"raw_{source}" for source in RAW_COLUMNS}
