"""The warehouse tables of SPEC section 4, declared once as SQLAlchemy Core tables.

Types are chosen to mean the same on DuckDB and PostgreSQL: money is NUMERIC(18, 4) so sums
are exact on both; rates are DOUBLE PRECISION; timestamps are naive UTC.

These definitions are the newest schema. A warehouse made by an earlier release is brought to
them by the steps in rekindle.migrations: a change here needs a migration step there.

Every table and column says in one line what it holds (`comment=`): the warehouse keeps it as
COMMENT ON (a SQL client shows it), and the Dagster catalog shows it as the asset's column schema
(assets/policies.py). A table's comment starts with its grain, "One row per ...".
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Double,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from rekindle.sources import MONEY, SOURCES, Source

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


def _raw_columns(source: str) -> list[Column]:
    return [
        Column("partition_date", Date, nullable=False,
               comment=f"UTC day of the landing folder {source}/dt=YYYY-MM-DD/ the row came from"),
        Column("source_file", Text, nullable=False,
               comment="Landing file the row was read from, relative to REKINDLE_LANDING_DIR"),
    ]


def _raw_table(source: Source, md: MetaData) -> Table:
    """raw_<source>: the record's columns in order, then where each row came from; keyed by its id."""
    return Table(
        source.table, md,
        *(Column(c.name, c.type, nullable=c.nullable, comment=c.description) for c in source.columns),
        *_raw_columns(source.name),
        _key(source.id_column),
        comment=source.table_comment,
    )


def build_metadata(schema: str) -> MetaData:
    md = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)

    # --- raw layer: one row per accepted input row, one table per landing source record --
    for source in SOURCES:
        _raw_table(source, md)
    Table(
        "quarantine", md,
        Column("source", String(32), nullable=False,
               comment="Landing source: orders, events, campaign_touches or surveys"),
        Column("partition_date", Date, nullable=False, comment="UTC day of the landing folder the row came from"),
        Column("source_file", Text, nullable=False,
               comment="Landing file of the row, relative to REKINDLE_LANDING_DIR"),
        Column("reason", Text, nullable=False,
               comment="Why the row was rejected, e.g. negative_amount, missing_value:customer_id (README: Bad input)"),
        Column("record", Text, comment="The rejected row as JSON text, as read (for a file: its path and the error)"),
        # no key: one row per rejected input row, and the same bad row can arrive twice
        comment="One row per rejected landing row, with its reason; written by the raw loads in the same "
        "transaction as the accepted rows",
    )

    # --- core layer ----------------------------------------------------------------------
    Table(
        "customer_daily_activity", md,
        Column("customer_id", Text, nullable=False, comment="Customer"),
        Column("activity_date", Date, nullable=False,
               comment="UTC day with a completed order or a non-passive event of the customer"),
        Column("orders", BigInteger, nullable=False, comment="Completed orders that day"),
        Column("revenue", MONEY, nullable=False, comment="Amount of those completed orders"),
        Column("events", BigInteger, nullable=False, comment="Non-passive events that day"),
        _key("customer_id", "activity_date"),
        comment="One row per customer and active day: completed orders, their revenue, non-passive events",
    )
    Table(
        "customers", md,
        Column("customer_id", Text, nullable=False, comment="Customer"),
        Column("first_active_date", Date, nullable=False, comment="First active day ever"),
        Column("last_active_date", Date, nullable=False, comment="Latest active day loaded"),
        Column("first_order_date", Date, comment="Day of the first completed order; NULL without one"),
        Column("last_order_date", Date, comment="Day of the latest completed order; NULL without one"),
        Column("lifetime_orders", BigInteger, nullable=False, comment="Completed orders ever"),
        Column("lifetime_revenue", MONEY, nullable=False, comment="Revenue of all completed orders ever"),
        _key("customer_id"),
        comment="One row per customer ever active: first and last active and order days, lifetime orders and revenue",
    )

    # --- metrics layer -------------------------------------------------------------------
    Table(
        "lifecycle_daily", md,
        Column("as_of_date", Date, nullable=False, comment="Day D: the numbers hold at the end of it"),
        Column("inactivity_days", Integer, nullable=False,
               comment="Inactivity window N: inactive after N days without activity"),
        Column("new_customers", BigInteger, nullable=False, comment="Customers whose first active day is D"),
        Column("returning_customers", BigInteger, nullable=False,
               comment="Active on D, not new, previous active day within the last N days"),
        Column("reactivated_customers", BigInteger, nullable=False,
               comment="Active on D after more than N days away (inactive the evening before)"),
        Column("dormant_customers", BigInteger, nullable=False,
               comment="Customers whose last active day is exactly N days before D: inactive from D on"),
        Column("active_customers", BigInteger, nullable=False,
               comment="Active base: seen, last active less than N days ago"),
        Column("inactive_customers", BigInteger, nullable=False, comment="Seen, last active N or more days ago"),
        _key("as_of_date", "inactivity_days"),
        comment="One row per day and N: new, returning, reactivated and newly dormant customers, active base "
        "and inactive pool",
    )
    Table(
        "reactivation_daily", md,
        Column("as_of_date", Date, nullable=False, comment="Day D, the last day of the period"),
        Column("inactivity_days", Integer, nullable=False, comment="Inactivity window N"),
        Column("period_days", Integer, nullable=False, comment="Period P: the P days ending on D"),
        Column("inactive_at_start", BigInteger, nullable=False, comment="Customers inactive at the end of day D - P"),
        Column("reactivated", BigInteger, nullable=False, comment="Of those, how many were active in the period"),
        Column("reactivation_rate", Double, comment="reactivated / inactive_at_start; NULL when nobody was inactive"),
        Column("reactivated_revenue", MONEY, nullable=False,
               comment="Completed-order revenue of the reactivated customers in the period"),
        _key("as_of_date", "inactivity_days", "period_days"),
        comment="One row per day, N and P: of the customers inactive at the period start, how many came back, "
        "the rate and their revenue",
    )
    Table(
        "retention_daily", md,
        Column("as_of_date", Date, nullable=False, comment="Day D, the last day of the period"),
        Column("inactivity_days", Integer, nullable=False, comment="Inactivity window N"),
        Column("period_days", Integer, nullable=False, comment="Period P: the P days ending on D"),
        Column("customers_at_start", BigInteger, nullable=False, comment="Active base at the end of day D - P"),
        Column("retained", BigInteger, nullable=False, comment="Of those, still in the active base at the end of D"),
        Column("churned", BigInteger, nullable=False, comment="Of those, inactive at the end of D"),
        Column("retention_rate", Double, comment="1 - churn_rate; NULL when the base was empty"),
        Column("churn_rate", Double, comment="churned / customers_at_start; NULL when the base was empty"),
        _key("as_of_date", "inactivity_days", "period_days"),
        comment="One row per day, N and P: of the active base at the period start, how many were retained "
        "or churned, and the rates",
    )
    Table(
        "purchase_daily", md,
        Column("as_of_date", Date, nullable=False, comment="Day D, the last day of the period"),
        Column("period_days", Integer, nullable=False, comment="Period P: the P days ending on D"),
        Column("orders", BigInteger, nullable=False, comment="Completed orders in the period"),
        Column("buyers", BigInteger, nullable=False, comment="Distinct customers with a completed order in the period"),
        Column("revenue", MONEY, nullable=False, comment="Amount of the completed orders in the period"),
        Column("average_order_value", Double, comment="revenue / orders; NULL without orders"),
        Column("purchase_frequency", Double, comment="orders / buyers; NULL without buyers"),
        Column("repeat_buyers", BigInteger, nullable=False, comment="Buyers with two or more orders in the period"),
        Column("repeat_purchase_rate", Double, comment="repeat_buyers / buyers; NULL without buyers"),
        _key("as_of_date", "period_days"),
        comment="One row per day and P: orders, buyers, revenue, average order value, purchase frequency, "
        "repeat purchase rate",
    )
    Table(
        "clv_daily", md,
        Column("as_of_date", Date, nullable=False, comment="Day D: the trailing 365 days end on it"),
        Column("inactivity_days", Integer, nullable=False, comment="Inactivity window N (for the churn rate)"),
        Column("average_order_value", Double, comment="Revenue / orders over the trailing 365 days"),
        Column("purchases_per_year", Double, comment="Orders per buyer over the trailing 365 days"),
        Column("annual_churn_rate", Double, comment="Churn rate over 365 days (retention_daily with P = 365)"),
        Column("expected_lifespan_years", Double, comment="1 / annual_churn_rate; NULL when nobody churned"),
        Column("clv", Double, comment="average_order_value x purchases_per_year x expected_lifespan_years"),
        _key("as_of_date", "inactivity_days"),
        comment="One row per day and N: customer lifetime value and each of its parts",
    )
    Table(
        "cohort_retention", md,
        Column("cohort_month", Date, nullable=False, comment="First day of the month of the cohort's first activity"),
        Column("months_since_first", Integer, nullable=False,
               comment="Calendar months after the cohort month (0 = that month)"),
        Column("cohort_size", BigInteger, nullable=False,
               comment="Customers whose first active day is in the cohort month"),
        Column("active_customers", BigInteger, nullable=False, comment="Cohort members active in that later month"),
        Column("retention_rate", Double, comment="active_customers / cohort_size"),
        Column("revenue", MONEY, nullable=False, comment="Completed-order revenue of the cohort in that month"),
        _key("cohort_month", "months_since_first"),
        comment="One row per first-activity month and months since: how many of the cohort are still active, "
        "and what they spend",
    )

    # --- segments layer ------------------------------------------------------------------
    Table(
        "inactive_segments", md,
        Column("as_of_date", Date, nullable=False, comment="Day D: inactive at the end of it"),
        Column("inactivity_days", Integer, nullable=False, comment="Inactivity window N"),
        Column("inactivity_bucket", String(32), nullable=False,
               comment="How long away: [N, 2N), [2N, 4N) or 4N+ days, e.g. 30-59, 60-119, 120+"),
        Column("rfm_segment", String(32), nullable=False,
               comment="RFM segment (champions, at_risk, lost...; no_orders without an order)"),
        Column("customers", BigInteger, nullable=False, comment="Inactive customers in the bucket and segment"),
        Column("lifetime_revenue", MONEY, nullable=False, comment="Their completed-order revenue ever"),
        _key("as_of_date", "inactivity_days", "inactivity_bucket", "rfm_segment"),
        comment="One row per day, N, inactivity bucket and RFM segment: how many lapsed customers, and their "
        "lifetime revenue",
    )
    Table(
        "inactive_customers", md,
        Column("as_of_date", Date, nullable=False, comment="Latest day with loaded activity (the same on every row)"),
        Column("customer_id", Text, nullable=False, comment="Customer inactive for N+ days (primary N)"),
        Column("last_active_date", Date, nullable=False, comment="Their latest active day"),
        Column("days_inactive", Integer, nullable=False, comment="as_of_date - last_active_date"),
        Column("inactivity_bucket", String(32), nullable=False, comment="[N, 2N), [2N, 4N) or 4N+ days away"),
        Column("lifetime_orders", BigInteger, nullable=False, comment="Completed orders ever"),
        Column("lifetime_revenue", MONEY, nullable=False, comment="Revenue of all completed orders ever"),
        Column("rfm_segment", String(32), nullable=False, comment="RFM segment as of as_of_date"),
        # beyond the spec: the BG/NBD model's view, so the win-back list can be ranked
        Column("p_alive", Double, comment="BG/NBD probability the customer is still a customer; NULL without orders"),
        Column("expected_purchases_90d", Double, comment="BG/NBD expected purchases in the next 90 days"),
        # a snapshot of the latest day (as_of_date is the same on every row): one row per customer
        _key("customer_id"),
        comment="The win-back list: one row per customer inactive for N+ days (primary N) as of the latest day",
    )
    Table(
        "customer_predictions", md,
        Column("as_of_date", Date, nullable=False, comment="Latest day with loaded activity (the same on every row)"),
        Column("customer_id", Text, nullable=False, comment="Customer with at least one completed order"),
        Column("frequency", BigInteger, nullable=False, comment="Repeat purchase days: purchase days after the first"),
        Column("recency_days", BigInteger, nullable=False, comment="Days from the first to the last purchase day"),
        Column("age_days", BigInteger, nullable=False, comment="Days from the first purchase day to as_of_date"),
        Column("p_alive", Double, comment="BG/NBD probability the customer is still a customer"),
        Column("expected_purchases_90d", Double, comment="BG/NBD expected purchases in the next 90 days"),
        _key("customer_id"),  # a snapshot like inactive_customers
        comment="One row per customer with an order, as of the latest day: the BG/NBD model's p_alive and "
        "expected purchases",
    )

    # --- campaigns layer -----------------------------------------------------------------
    Table(
        "campaign_performance", md,
        Column("campaign_id", Text, nullable=False, comment="Win-back campaign"),
        Column("channel", Text, comment="The group's most frequent touch channel (ties by name)"),
        Column("group", String(16), nullable=False, comment="treatment or control"),
        Column("customers_targeted", BigInteger, nullable=False,
               comment="Distinct customers touched (first touch counts)"),
        Column("inactive_targeted", BigInteger, nullable=False,
               comment="Of those, inactive (primary N) the day before their touch"),
        Column("reactivated", BigInteger, nullable=False,
               comment="Of those, active within the attribution window W from their touch"),
        Column("reactivation_rate", Double, comment="reactivated / inactive_targeted"),
        Column("attributed_revenue", MONEY, nullable=False,
               comment="Revenue of the reactivated customers within the window"),
        Column("cost", MONEY, nullable=False, comment="Sum of the group's touch costs"),
        Column("roi", Double, comment="(attributed_revenue - cost) / cost; NULL when cost is 0"),
        Column("lift", Double,
               comment="Treatment minus control reactivation rate, on the treatment row; NULL without a control group"),
        Column("lift_ci_low", Double, comment="Lower end of the lift's 95% interval"),
        Column("lift_ci_high", Double, comment="Upper end of the lift's 95% interval"),
        _key("campaign_id", "group"),
        comment="One row per campaign and group: who was targeted, who came back, revenue, cost, ROI and lift",
    )
    Table(
        "nps_daily", md,
        Column("as_of_date", Date, nullable=False, comment="Day D, the last day of the period"),
        Column("period_days", Integer, nullable=False, comment="Period P: the P days ending on D"),
        Column("responses", BigInteger, nullable=False, comment="Survey responses in the period"),
        Column("promoters", BigInteger, nullable=False, comment="Responses scoring 9-10"),
        Column("passives", BigInteger, nullable=False, comment="Responses scoring 7-8"),
        Column("detractors", BigInteger, nullable=False, comment="Responses scoring 0-6"),
        Column("nps", Double, comment="100 x (promoters - detractors) / responses; NULL without responses"),
        _key("as_of_date", "period_days"),
        comment="One row per day and P: survey responses, promoters, passives, detractors and the Net Promoter Score",
    )
    for table in md.tables.values():
        column = DAILY_PARTITION_COLUMNS.get(table.name)
        if column:
            table.info["partitioned_by"] = column
    return md


# The day column of the tables written a day (or a range of days) at a time. Spark stores each
# of them partitioned by it (rekindle.spark), so a day is rewritten by replacing its partition.
DAILY_PARTITION_COLUMNS = {
    **{source.table: "partition_date" for source in SOURCES},
    "quarantine": "partition_date",
    "customer_daily_activity": "activity_date",
    "lifecycle_daily": "as_of_date",
    "reactivation_daily": "as_of_date",
    "retention_daily": "as_of_date",
    "purchase_daily": "as_of_date",
    "clv_daily": "as_of_date",
    "inactive_segments": "as_of_date",
    "nps_daily": "as_of_date",
}
