"""The landing sources of SPEC section 1, one record each.

Everything that makes `orders` different from `events` is its record: the landing folder, the
raw table with its columns, types and comments, the id and timestamp, which columns are
required, the value rules of the row validation and the raw asset's description. The reader
(rekindle.landing), the row validation (rekindle.raw_validation), the table definitions
(rekindle.tables), the quality suites, the generator and the raw assets all read these records:
a new landing source is one record here, plus its tests.

Pure data: SQLAlchemy types, no pandas or Dagster (the Dagster code location imports this at load).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import DateTime, Integer, Numeric, String, Text
from sqlalchemy.types import TypeEngine

# The warehouse's money type, here and in rekindle.tables: sums are exact on DuckDB and PostgreSQL alike.
MONEY = Numeric(18, 4)


# --- value rules: how raw_validation checks and types a column, each with its quarantine reason ---


@dataclass(frozen=True)
class Money:
    """A number stored as MONEY: `invalid_reason` unless it is finite and, rounded to MONEY's
    decimals, below 10^14 in magnitude; `negative_reason` below 0. Accepted values are rounded."""

    invalid_reason: str
    negative_reason: str
    default: str | None = None  # the text a missing value stands for ("0": no cost)

    @property
    def reasons(self) -> tuple[str, ...]:
        return (self.invalid_reason, self.negative_reason)

    @property
    def fills_missing(self) -> bool:
        return self.default is not None


@dataclass(frozen=True)
class OneOf:
    """Text, lower-cased; `reason` unless it is one of `values`."""

    values: tuple[str, ...]
    reason: str
    default: str | None = None  # the value of a missing cell

    @property
    def reasons(self) -> tuple[str, ...]:
        return (self.reason,)

    @property
    def fills_missing(self) -> bool:
        return self.default is not None


@dataclass(frozen=True)
class ReportingCurrency:
    """A currency code, upper-cased; `reason` unless it is REKINDLE_CURRENCY, which a missing one is."""

    reason: str
    fills_missing = True  # with REKINDLE_CURRENCY

    @property
    def reasons(self) -> tuple[str, ...]:
        return (self.reason,)


@dataclass(frozen=True)
class WholeNumber:
    """A whole number ("9" and "9.0", not "9.5") in [minimum, maximum] when present, else `reason`."""

    minimum: int
    maximum: int
    reason: str
    fills_missing = False

    @property
    def reasons(self) -> tuple[str, ...]:
        return (self.reason,)


ValueRule = Money | OneOf | ReportingCurrency | WholeNumber


@dataclass(frozen=True)
class SourceColumn:
    name: str
    type: TypeEngine  # the warehouse type of the raw table's column
    description: str  # the column comment
    # A file without the column is quarantined as missing_column:<name>, an empty value as missing_value:<name>.
    required: bool = False
    rule: ValueRule | None = None  # checked, in column order, after the timestamp

    @property
    def nullable(self) -> bool:
        """NULL in the raw table only when optional and not filled in by its rule."""
        return not self.required and (self.rule is None or not self.rule.fills_missing)


@dataclass(frozen=True)
class Source:
    name: str  # the landing folder <landing_dir>/<name>/dt=YYYY-MM-DD/
    table: str  # the raw table (and asset) of the accepted rows; the catalog links to this line
    id_column: str  # unique across days (SPEC 1.1)
    timestamp_column: str  # must fall on the folder's UTC day
    columns: tuple[SourceColumn, ...]  # in table order; partition_date and source_file follow
    required_folder: bool  # the folder must exist, even empty (SPEC section 1)
    description: str  # the raw asset's description
    table_comment: str  # the raw table's comment, its grain first
    # a money column whose values far above the trailing days' p99.9 are an anomaly (WARN)
    spike_column: str | None = None

    def __post_init__(self):
        names = self.column_names
        for role, name in (("id_column", self.id_column), ("timestamp_column", self.timestamp_column)):
            if name not in names or not self.column(name).required:
                raise ValueError(f"{self.name}: {role} {name!r} must be one of its required columns")
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: a column is declared twice: {', '.join(names)}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        """In table order, so the first one a file lacks is the one reported."""
        return [c.name for c in self.columns if c.required]

    @property
    def reasons(self) -> tuple[str, ...]:
        """The quarantine reasons of the source's value rules, in the order they are checked."""
        return tuple(reason for c in self.columns if c.rule is not None for reason in c.rule.reasons)

    def column(self, name: str) -> SourceColumn:
        return next(c for c in self.columns if c.name == name)


# --- the sources --------------------------------------------------------------------------------

ORDER_STATUSES = ("completed", "cancelled", "refunded")
COMPLETED = "completed"  # the one order status that is a purchase (SPEC section 5)

ORDERS = Source(
    name="orders",
    table="raw_orders",
    id_column="order_id",
    timestamp_column="ordered_at",
    columns=(
        SourceColumn("order_id", Text(), "Order id from the source system; unique across days", required=True),
        SourceColumn("customer_id", Text(), "Customer who placed the order", required=True),
        SourceColumn("ordered_at", DateTime(), "When the order was placed (UTC)", required=True),
        SourceColumn("amount", MONEY, "Order amount in the reporting currency, >= 0", required=True,
                     rule=Money("invalid_amount", "negative_amount")),
        SourceColumn("currency", String(3), "Currency code: always REKINDLE_CURRENCY (others are quarantined)",
                     rule=ReportingCurrency("currency_mismatch")),
        SourceColumn("status", String(16),
                     "completed, cancelled or refunded (default completed); only completed orders count",
                     rule=OneOf(ORDER_STATUSES, "invalid_status", default=COMPLETED)),
        SourceColumn("channel", Text(), "Sales channel (web, app, store...), if delivered"),
    ),
    required_folder=True,
    spike_column="amount",
    description="Orders from landing orders/dt=YYYY-MM-DD/, typed and validated; rejects go to quarantine.",
    table_comment="One row per accepted order from landing orders/dt=YYYY-MM-DD/, typed and validated",
)

EVENTS = Source(
    name="events",
    table="raw_events",
    id_column="event_id",
    timestamp_column="occurred_at",
    columns=(
        SourceColumn("event_id", Text(), "Event id from the source system; unique across days", required=True),
        SourceColumn("customer_id", Text(), "Customer the event is about", required=True),
        SourceColumn("occurred_at", DateTime(), "When the event happened (UTC)", required=True),
        SourceColumn("event_type", Text(),
                     "What happened; every type but the passive ones (emails, pushes we sent) is activity",
                     required=True),
        SourceColumn("channel", Text(), "Channel of the event (app, web, email...), if delivered"),
        SourceColumn("campaign_id", Text(), "Campaign the event belongs to, if any"),
    ),
    required_folder=True,
    description="Engagement events from landing events/dt=YYYY-MM-DD/, typed and validated; rejects go to quarantine.",
    table_comment="One row per accepted engagement event from landing events/dt=YYYY-MM-DD/, typed and validated",
)
# The customer-activity event types Rekindle knows; the passive ones (messages we sent) are
# Settings.passive_event_types. Any other type is loaded all the same; the events suite warns.
ACTIVITY_EVENT_TYPES = (
    "app_open", "page_view", "search", "add_to_cart", "purchase",
    "email_open", "email_click", "sms_click", "push_open",
)

CAMPAIGN_TOUCHES = Source(
    name="campaign_touches",
    table="raw_campaign_touches",
    id_column="touch_id",
    timestamp_column="sent_at",
    columns=(
        SourceColumn("touch_id", Text(), "Touch id from the campaign tool; unique across days", required=True),
        SourceColumn("customer_id", Text(), "Customer the campaign message was sent to", required=True),
        SourceColumn("campaign_id", Text(), "Win-back campaign of the touch", required=True),
        SourceColumn("channel", Text(), "Channel the message went out on (email, sms, push...)"),
        SourceColumn("sent_at", DateTime(), "When the message was sent (UTC)", required=True),
        SourceColumn("group", String(16), "treatment (was sent the campaign) or control (held out)", required=True,
                     rule=OneOf(("treatment", "control"), "invalid_group")),
        SourceColumn("cost", MONEY, "Cost of the touch in the reporting currency, >= 0",
                     rule=Money("invalid_cost", "negative_cost", default="0")),
    ),
    required_folder=False,
    description="Win-back campaign sends (optional source campaign_touches/); rejects go to quarantine.",
    table_comment="One row per accepted win-back campaign touch from landing campaign_touches/dt=YYYY-MM-DD/",
)

SURVEYS = Source(
    name="surveys",
    table="raw_surveys",
    id_column="response_id",
    timestamp_column="responded_at",
    columns=(
        SourceColumn("response_id", Text(), "Survey response id; unique across days", required=True),
        SourceColumn("customer_id", Text(), "Customer who answered", required=True),
        SourceColumn("responded_at", DateTime(), "When the customer answered (UTC)", required=True),
        SourceColumn("nps_score", Integer(), "How likely to recommend us, 0-10", required=True,
                     rule=WholeNumber(0, 10, "invalid_nps_score")),
        SourceColumn("csat_score", Integer(), "Satisfaction, 1-5, if asked",
                     rule=WholeNumber(1, 5, "invalid_csat_score")),
    ),
    required_folder=False,
    description="NPS/CSAT survey responses (optional source surveys/); rejects go to quarantine.",
    table_comment="One row per accepted NPS/CSAT survey response from landing surveys/dt=YYYY-MM-DD/",
)

# In load order: the landing zone lists, and the assets build, the sources in this order.
SOURCES: tuple[Source, ...] = (ORDERS, EVENTS, CAMPAIGN_TOUCHES, SURVEYS)


def source(name: str) -> Source:
    """The record of the landing source `name`; ValueError for an unknown one."""
    for record in SOURCES:
        if record.name == name:
            return record
    raise ValueError(f"unknown landing source {name!r}; expected one of {', '.join(s.name for s in SOURCES)}")
