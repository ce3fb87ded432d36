"""Data quality: suites as code (rules -> GX expectations), a pandas runner with Data Docs, and
plain-Python volume / reject-rate rules, all reporting as SuiteResult / RuleResult.

Importing this package is cheap: Great Expectations, pandas and SQLAlchemy load on first use.
"""

from rekindle.quality.runner import (
    MAX_EXAMPLES,
    RuleResult,
    SuiteResult,
    landing_entries_rule,
    merge_batch_results,
    readable_files_rule,
    reject_rate_rules,
    report_results,
    rule_kwargs,
    validate_frame,
    volume_rule,
)
from rekindle.quality.suites import (
    ACTIVITY_EVENT_TYPES,
    METRIC_TABLES,
    Rule,
    Severity,
    Suite,
    TableRules,
    amount_bound,
    known_event_types,
    lifecycle_invariant_gaps,
    raw_campaign_touches_suite,
    raw_events_suite,
    raw_orders_suite,
    raw_suite,
    raw_surveys_suite,
    table_rules,
    table_suite,
)

__all__ = [
    "ACTIVITY_EVENT_TYPES",
    "MAX_EXAMPLES",
    "METRIC_TABLES",
    "Rule",
    "RuleResult",
    "Severity",
    "Suite",
    "SuiteResult",
    "TableRules",
    "amount_bound",
    "known_event_types",
    "landing_entries_rule",
    "lifecycle_invariant_gaps",
    "merge_batch_results",
    "raw_campaign_touches_suite",
    "raw_events_suite",
    "raw_orders_suite",
    "raw_suite",
    "raw_surveys_suite",
    "readable_files_rule",
    "reject_rate_rules",
    "table_rules",
    "table_suite",
    "report_results",
    "rule_kwargs",
    "validate_frame",
    "volume_rule",
]
