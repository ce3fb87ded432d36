"""The warehouse tables of SPEC section 4, declared once as SQLAlchemy Core tables.

Types are chosen to mean the same on DuckDB and PostgreSQL: money is NUMERIC(18, 4) so sums
are exact on both; rates are DOUBLE PRECISION; timestamps are naive UTC.
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
    String,
    Table,
    Text,
)

MONEY = Numeric(18, 4)


def _raw_columns() -> list[Column]:
    return [Column("partition_date", Date, nullable=False), Column("source_file", Text, nullable=False)]


def build_metadata(schema: str) -> MetaData:
    md = MetaData(schema=schema)

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
    )
    Table(
        "raw_surveys", md,
        Column("response_id", Text, nullable=False),
        Column("customer_id", Text, nullable=False),
        Column("responded_at", DateTime, nullable=False),
        Column("nps_score", Integer, nullable=False),
        Column("csat_score", Integer),
        *_raw_columns(),
    )
    Table(
        "quarantine", md,
        Column("source", String(32), nullable=False),
        Column("partition_date", Date, nullable=False),
        Column("source_file", Text, nullable=False),
        Column("reason", Text, nullable=False),
        Column("record", Text),
    )

    # --- core layer ----------------------------------------------------------------------
    Table(
        "customer_daily_activity", md,
        Column("customer_id", Text, nullable=False),
        Column("activity_date", Date, nullable=False),
        Column("orders", BigInteger, nullable=False),
        Column("revenue", MONEY, nullable=False),
        Column("events", BigInteger, nullable=False),
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
    )
    Table(
        "cohort_retention", md,
        Column("cohort_month", Date, nullable=False),
        Column("months_since_first", Integer, nullable=False),
        Column("cohort_size", BigInteger, nullable=False),
        Column("active_customers", BigInteger, nullable=False),
        Column("retention_rate", Double),
        Column("revenue", MONEY, nullable=False),
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
