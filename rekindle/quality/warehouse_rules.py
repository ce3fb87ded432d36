"""A derived table's contract evaluated where the table is: one aggregate query in the warehouse.

Pulling a year of customer_daily_activity into pandas for Great Expectations costs seconds per
million rows; counting the violations of each rule in SQL costs one scan. The rules are the
same Rule objects as the suites' (rekindle.quality.suites), and each result matches what GX
reports for them on the same rows (tests/test_warehouse_rules.py compares the two):

- expect_column_values_to_not_be_null: unexpected = the null rows, percent of all rows;
- expect_column_values_to_be_between, _be_unique, expect_column_pair_values_a_to_be_greater_than_b,
  expect_compound_columns_to_be_unique: nulls are not checked; unexpected = the failing rows
  (every row of a duplicated value), percent of the rows checked;
- expect_table_columns_to_match_set: the table's columns contain the set.

Great Expectations still renders the table's Data Docs page from these results (runner.publish).
Helper columns a suite prepares in pandas (the lifecycle invariant gaps) come from DERIVED_COLUMNS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from rekindle.quality.runner import MAX_EXAMPLES, RuleResult, _jsonable
from rekindle.quality.suites import Rule, Suite, table_rules
from rekindle.sql import add_days, schema_prefix

# SQL for the helper columns a suite's `prepare` adds in pandas, over the alias `checked` and the
# previous day's row `day_before` (NULL when the range has no row for D - 1 and the same N).
DERIVED_COLUMNS = {
    "inactive_invariant_gap": "checked.inactive_customers - (day_before.inactive_customers "
                              "+ checked.dormant_customers - checked.reactivated_customers)",
    "active_invariant_gap": "checked.active_customers - (day_before.active_customers + checked.new_customers "
                            "+ checked.reactivated_customers - checked.dormant_customers)",
}


def validate_table(
    conn: Connection,
    schema: str,
    table: str,
    suite: Suite,
    start: date | None = None,
    end: date | None = None,
    date_column: str = "as_of_date",
) -> tuple[list[RuleResult], int]:
    """The suite's results on the rows of `table` (its days [start, end], or all of it), and the
    number of rows checked. A rule that needs the day before (lifecycle invariants) reads it too."""
    s = schema_prefix(conn, schema)
    q = conn.dialect.identifier_preparer.quote  # e.g. campaign_performance."group"
    columns = [c for c in conn.execute(text(f"SELECT * FROM {s}.{table} WHERE 1 = 0")).keys()]
    params: dict[str, Any] = {}
    where = ""
    if start is not None:
        first = start - timedelta(days=1) if table_rules(table).needs_day_before else start
        where = f"WHERE {date_column} BETWEEN CAST(:first AS DATE) AND CAST(:end AS DATE)"
        params = {"first": first, "end": end}
    derived = [name for name in DERIVED_COLUMNS if any(rule.column == name for rule in suite.rules)]
    checked = f"(SELECT * FROM {s}.{table} {where})"
    if derived:
        extra = ", ".join(f"{DERIVED_COLUMNS[name]} AS {name}" for name in derived)
        checked = (f"(SELECT checked.*, {extra} FROM {checked} AS checked "
                   f"LEFT JOIN {checked} AS day_before ON day_before.inactivity_days = checked.inactivity_days "
                   f"AND day_before.as_of_date = {add_days('checked.as_of_date', -1)})")
    available = [*columns, *derived]

    measures: dict[str, str] = {"rows_checked": "COUNT(*)"}
    for i, rule in enumerate(suite.rules):
        for key, expression in _measures(rule, available, q).items():
            measures[f"r{i}_{key}"] = expression
    select = ", ".join(f"{expression} AS {name}" for name, expression in measures.items())
    duplicates = _duplicate_counts(conn, checked, suite, params, q)
    counts = conn.execute(text(f"SELECT {select} FROM {checked} AS checked"), params).mappings().one()

    results = []
    for i, rule in enumerate(suite.rules):
        result = _result(rule, {k[len(f"r{i}_"):]: v for k, v in counts.items() if k.startswith(f"r{i}_")},
                         duplicates.get(i), columns)
        if not result.success and result.unexpected_count:
            examples = _examples(conn, checked, rule, [*suite.example_columns, *rule.columns], available, params, q)
            result = replace(result, failing_examples=examples)
        results.append(result)
    return results, int(counts["rows_checked"])


# --- one rule ------------------------------------------------------------------------------------


def _violation(rule: Rule, q) -> str | None:
    """The condition of a checked row that fails `rule` (None: not a per-row condition)."""
    k = {key: q(value) if key in ("column", "column_A", "column_B") else value for key, value in rule.kwargs.items()}
    if rule.expectation == "expect_column_values_to_not_be_null":
        return f"{k['column']} IS NULL"
    if rule.expectation == "expect_column_values_to_be_between":
        column, bounds = k["column"], []
        if k.get("min_value") is not None:
            bounds.append(f"{column} < {_literal(k['min_value'])}")
        if k.get("max_value") is not None:
            bounds.append(f"{column} > {_literal(k['max_value'])}")
        return f"{column} IS NOT NULL AND ({' OR '.join(bounds)})"
    if rule.expectation == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = k["column_A"], k["column_B"]
        compare = ">=" if k.get("or_equal") else ">"
        return f"({a} IS NOT NULL OR {b} IS NOT NULL) AND NOT COALESCE({a} {compare} {b}, FALSE)"
    return None


def _checked_rows(rule: Rule, q) -> str:
    """The rows a rule looks at, the denominator of its percent."""
    k = {key: q(value) if key in ("column", "column_A", "column_B") else value for key, value in rule.kwargs.items()}
    if rule.expectation in ("expect_column_values_to_be_between", "expect_column_values_to_be_unique"):
        return f"COUNT({k['column']})"
    if rule.expectation == "expect_column_pair_values_a_to_be_greater_than_b":
        return f"SUM(CASE WHEN {k['column_A']} IS NOT NULL OR {k['column_B']} IS NOT NULL THEN 1 ELSE 0 END)"
    if rule.expectation == "expect_compound_columns_to_be_unique":
        return f"SUM(CASE WHEN {' OR '.join(f'{q(c)} IS NOT NULL' for c in k['column_list'])} THEN 1 ELSE 0 END)"
    return "COUNT(*)"


def _measures(rule: Rule, available: list[str], q) -> dict[str, str]:
    if rule.expectation == "expect_table_columns_to_match_set" or not set(rule.columns) <= set(available):
        return {}
    measures = {"checked": _checked_rows(rule, q)}
    violation = _violation(rule, q)
    if violation is not None:
        measures["unexpected"] = f"SUM(CASE WHEN {violation} THEN 1 ELSE 0 END)"
    return measures


def _key_columns(rule: Rule, q) -> list[str] | None:
    """The quoted columns of a uniqueness rule's key, None for other rules."""
    if rule.expectation == "expect_column_values_to_be_unique":
        return [q(rule.kwargs["column"])]
    if rule.expectation == "expect_compound_columns_to_be_unique":
        return [q(c) for c in rule.kwargs["column_list"]]
    return None


def _duplicate_counts(conn: Connection, checked: str, suite: Suite, params: Mapping[str, Any], q) -> dict[int, int]:
    """Per uniqueness rule: the rows whose key is not unique (every one of them, as GX counts)."""
    found = {}
    for i, rule in enumerate(suite.rules):
        keys = _key_columns(rule, q)
        if keys is None:
            continue
        present = " OR ".join(f"{c} IS NOT NULL" for c in keys)
        found[i] = int(conn.execute(text(
            f"SELECT COALESCE(SUM(copies), 0) FROM (SELECT COUNT(*) AS copies FROM {checked} AS checked "
            f"WHERE {present} GROUP BY {', '.join(keys)} HAVING COUNT(*) > 1) AS duplicated"
        ), params).scalar())
    return found


def _duplicate_condition(rule: Rule, q) -> str:
    keys = _key_columns(rule, q) or []
    present = " OR ".join(f"{c} IS NOT NULL" for c in keys)
    match = " AND ".join(f"repeated.{c} = checked.{c}" for c in keys)
    return (f"({present}) AND EXISTS (SELECT 1 FROM (SELECT {', '.join(keys)} FROM {{checked}} AS grouped "
            f"GROUP BY {', '.join(keys)} HAVING COUNT(*) > 1) AS repeated WHERE {match})")


def _result(rule: Rule, counts: Mapping[str, Any], duplicated: int | None, columns: list[str]) -> RuleResult:
    kwargs = {k: _jsonable(v) for k, v in rule.kwargs.items()}
    base = dict(expectation=rule.expectation, column=rule.column, kwargs=kwargs, severity=rule.severity,
                description=rule.description)
    if rule.expectation == "expect_table_columns_to_match_set":
        missing = [c for c in rule.kwargs["column_set"] if c not in columns]
        return RuleResult(**base, success=not missing, unexpected_count=None, unexpected_percent=None,
                          observed_value=columns)
    if not counts:  # a column the rule needs is missing: GX cannot evaluate it either
        absent = ", ".join(c for c in rule.columns if c not in columns)
        return RuleResult(**base, success=False, unexpected_count=None, unexpected_percent=None,
                          observed_value=None, exception=f"column(s) not found: {absent}")
    unexpected = int(duplicated if duplicated is not None else counts.get("unexpected") or 0)
    checked = int(counts.get("checked") or 0)
    percent = 100.0 * unexpected / checked if checked else None
    return RuleResult(**base, success=unexpected == 0, unexpected_count=unexpected,
                      unexpected_percent=percent, observed_value=None)


def _examples(conn: Connection, checked: str, rule: Rule, example_columns: list[str], available: list[str],
              params: Mapping[str, Any], q) -> list[dict[str, Any]]:
    columns = [c for c in dict.fromkeys(example_columns) if c in available]
    condition = _violation(rule, q)
    if condition is None:
        condition = _duplicate_condition(rule, q).replace("{checked}", checked)
    rows = conn.execute(text(
        f"SELECT {', '.join(q(c) for c in columns)} FROM {checked} AS checked WHERE {condition} LIMIT {MAX_EXAMPLES}"
    ), params).mappings().all()
    return [{c: _jsonable(row[c]) for c in columns} for row in rows]


def _literal(value: Any) -> str:
    """A bound of a between rule as SQL: the suites' bounds are numbers they state themselves."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"between bounds must be numbers, got {value!r}")
    return repr(value)
