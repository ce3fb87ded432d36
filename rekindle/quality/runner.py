"""Validates a pandas DataFrame against a Suite with Great Expectations 1.x; plain-dataclass results.

Great Expectations is imported lazily (it takes seconds) and its context, batch definitions and
built suites are cached per process. GX validates pandas frames only: its SQL engine does not
work on DuckDB, so callers validate the frames they load or read back.

Volume and reject-rate rules are plain Python but report as RuleResult too, so a caller can
merge them into one SuiteResult: ``SuiteResult(name, [*result.results, volume_rule(...)])``, or
pass them to validate_frame(plain_results=...) so that the Data Docs page shows them too.

Data Docs work offline: Great Expectations' pages load jQuery, Bootstrap and bootstrap-table from
CDNs (its templates hard-code them; the site builder has no option for local assets), and the
index draws its tables with those scripts, so it is blank without network. After each build the
written pages are rewritten (offline_html): remote scripts, styles and images removed, the index
tables written out as plain HTML, a small inline stylesheet instead of Bootstrap.
"""

from __future__ import annotations

import ast
import datetime as dt
import decimal
import html
import math
import os
import re
import statistics
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from rekindle.quality.suites import Rule, Severity, Suite

if TYPE_CHECKING:
    import pandas as pd

MAX_EXAMPLES = 20
VOLUME_TRAILING_DAYS = 7
VOLUME_HISTORY_DAYS = 28  # 4 weeks: the same weekday 4 times
VOLUME_MIN_RATIO = 0.5
VOLUME_MAX_RATIO = 2.0
# A day warns when more than 3% of its rows are quarantined, and at least 10 rows. A healthy feed
# carries about 1% bad rows (the sample data too: `rekindle generate --dirty-rate 0.01`), and the
# day-to-day noise around it is binomial: at 600 orders a day, 1% +/- 0.4%; on the default sample
# the worst day of any source with 600+ rows is 2.3%. 3% is 5 standard deviations above 1% at 600
# rows (12 at 4,000 events): a day that dirty has a cause. Below 10 rows the rate means little: one
# bad row of a 14-row survey day is 7%. The blocking limit stays REKINDLE_MAX_REJECT_RATE (10%).
REJECT_WARN_RATE = 0.03
REJECT_WARN_MIN_ROWS = 10
# The Data Docs index lists the newest validations only: rendering it reads each listed result.
# The stored results beyond these are deleted (their pages stay): GX lists every stored result
# each time it builds the index, which would make each check slower every day.
DOCS_INDEX_LIMIT = 200
_GX_SEVERITY = {"error": "critical", "warn": "warning"}
_SUITE_CACHE_SIZE = 64


@dataclass(frozen=True)
class RuleResult:
    expectation: str  # GX expectation type, or the name of a plain-Python rule
    column: str | None
    kwargs: dict[str, Any]  # JSON-able
    severity: Severity
    success: bool
    unexpected_count: int | None
    unexpected_percent: float | None
    observed_value: Any  # JSON-able
    description: str
    failing_examples: list[dict[str, Any]] = field(default_factory=list)  # <= MAX_EXAMPLES rows
    exception: str | None = None  # GX could not evaluate the rule (it then counts as failed)
    scope: str | None = None  # what a per-day rule is about, e.g. the partition day "2026-11-20"
    counted: int | None = None  # the rows unexpected_percent is of (GX leaves out missing values)

    @property
    def title(self) -> str:
        """The description, prefixed by the scope of a per-day rule."""
        return f"{self.scope}: {self.description}" if self.scope else self.description

    def summary(self) -> dict[str, Any]:
        return {
            **({"scope": self.scope} if self.scope else {}),
            "expectation": self.expectation,
            "column": self.column,
            "severity": self.severity,
            "success": self.success,
            "unexpected_count": self.unexpected_count,
            "unexpected_percent": self.unexpected_percent,
            "observed_value": self.observed_value,
            "description": self.description,
            **({"exception": self.exception} if self.exception else {}),
        }


@dataclass(frozen=True)
class SuiteResult:
    suite_name: str
    results: list[RuleResult]
    docs_path: str | None = None  # the Data Docs page of this validation
    # wall seconds spent in Great Expectations for it: the validation, its Data Docs page and, the
    # first time in a process, GX's import; None when GX did not run (no frame, no page)
    gx_seconds: float | None = None

    @property
    def evaluated(self) -> int:
        return len(self.results)

    @property
    def failed_errors(self) -> int:
        return sum(1 for r in self.results if not r.success and r.severity == "error")

    @property
    def failed_warnings(self) -> int:
        return sum(1 for r in self.results if not r.success and r.severity == "warn")

    def failures(self) -> list[RuleResult]:
        """Failed rules, errors first."""
        return sorted((r for r in self.results if not r.success), key=lambda r: r.severity != "error")

    def passed(self, severity: Severity = "error") -> bool:
        """passed("error"): no blocking rule failed. passed("warn"): nothing failed at all."""
        return self.failed_errors == 0 and (severity == "error" or self.failed_warnings == 0)

    def to_metadata(self) -> dict[str, Any]:
        """JSON-able values for Dagster asset-check metadata."""
        examples = [
            {"expectation": r.expectation, "column": r.column, "severity": r.severity, "row": row}
            for r in self.failures()
            for row in r.failing_examples
        ][:MAX_EXAMPLES]
        return {
            "suite": self.suite_name,
            "expectations_evaluated": self.evaluated,
            "failed_errors": self.failed_errors,
            "failed_warnings": self.failed_warnings,
            "failed_rules": [f"{r.severity}: {r.title} ({r.expectation})" for r in self.failures()],
            "rules": [r.summary() for r in self.results],
            "failing_examples": examples,
            "docs_path": self.docs_path,
            "great_expectations_seconds": None if self.gx_seconds is None else round(self.gx_seconds, 3),
        }


def validate_frame(
    frame: pd.DataFrame,
    suite: Suite,
    *,
    docs_dir: Path | None = None,
    example_columns: list[str] | None = None,
    plain_results: Sequence[RuleResult] = (),
) -> SuiteResult:
    """Validates the frame as one batch; with docs_dir, also renders GX Data Docs there.

    example_columns: columns shown for failing rows (default: the suite's id columns); the
    rule's own columns and source_file (when the frame has it) are always added.
    plain_results: rules evaluated in Python (volume, reject rate, ...): appended to the result
    and shown on the same Data Docs page, so that the page tells what the check told.
    """
    began = time.perf_counter()
    if suite.prepare is not None:
        frame = suite.prepare(frame)
    # GX reports failing rows by index label: make labels unique positions (no copy under CoW).
    frame = _fast_datetimes(frame.reset_index(drop=True))
    engine = _engine(None if docs_dir is None else Path(docs_dir).resolve())
    gx_suite = engine.gx_suite(suite)
    batch = engine.batch_definition(suite.data_asset).get_batch(batch_parameters={"dataframe": frame})
    validation = batch.validate(
        gx_suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": MAX_EXAMPLES}
    )
    by_rule = {r.expectation_config.meta["rule"]: r for r in validation.results}
    docs_path = None
    if docs_dir is not None:
        engine.add_plain_results(validation, plain_results)
        docs_path = engine.publish(gx_suite, validation, suite.scope, batch.id)

    base_columns = list(suite.example_columns if example_columns is None else example_columns)
    results = [
        _rule_result(rule, by_rule[i], frame, [*base_columns, *rule.columns, "source_file"])
        for i, rule in enumerate(suite.rules)
    ]
    return SuiteResult(suite.name, [*results, *plain_results], docs_path, time.perf_counter() - began)


def merge_batch_results(
    batches: Sequence[Sequence[RuleResult]], unique_rows: Mapping[str, int] | None = None
) -> list[RuleResult]:
    """The results of one suite's validation of several batches (chunks of a long load) as one
    validation of all their rows would report them: counts summed, percents of the summed basis,
    the first examples. A value unique within each batch can still repeat across them:
    `unique_rows` gives, per column of a uniqueness rule, the rows whose value repeats across
    all the batches (counted where they were loaded), which replaces the summed count."""
    unique_rows = unique_rows or {}
    merged = []
    for parts in zip(*batches, strict=True):
        first = parts[0]
        count = None if any(p.unexpected_count is None for p in parts) else sum(p.unexpected_count for p in parts)
        counted = None if any(p.counted is None for p in parts) else sum(p.counted for p in parts)
        success = all(p.success for p in parts)
        if first.expectation == "expect_column_values_to_be_unique" and first.column in unique_rows:
            count = unique_rows[first.column]
            success = success and count == 0
        percent = None if count is None or counted is None else (100 * count / counted if counted else 0.0)
        merged.append(replace(
            first,
            success=success,
            unexpected_count=count,
            unexpected_percent=percent,
            counted=counted,
            failing_examples=[row for p in parts for row in p.failing_examples][:MAX_EXAMPLES],
            exception=next((p.exception for p in parts if p.exception), None),
        ))
    return merged


def report_results(suite: Suite, results: Sequence[RuleResult], *, docs_dir: Path | None = None) -> SuiteResult:
    """Results evaluated elsewhere (a derived table's contract counted in the warehouse, see
    warehouse_rules): as a SuiteResult and, with docs_dir, on the suite's Data Docs page."""
    if docs_dir is None:
        return SuiteResult(suite.name, list(results))
    import pandas as pd

    page_only = Suite(suite.name, (), suite.example_columns, suite.scope, asset=suite.asset)
    return validate_frame(pd.DataFrame(), page_only, docs_dir=docs_dir, plain_results=results)


# --- plain-Python rules -----------------------------------------------------------------------


def volume_rule(
    row_count: int, trailing_counts: Sequence[int], *, name: str = "rows", scope: str | None = None
) -> RuleResult:
    """WARN when the day's row count is below 0.5x or above 2x of both its baselines: the median
    of the last 7 days, and the median of the same weekday over the last 4 weeks.

    trailing_counts: the counts of the days before, oldest first, the day before last; only the
    last 28 count. Two baselines because feeds have weekly rhythms: a weekly newsletter makes
    one weekday 2.5x the others (the sample data does), which the same weekday expects and the
    last 7 days do not; a day far from both is a missing, partial or doubled delivery.

    Leading zeros are days before the source had data, not history. Without a full week of
    history (every weekday seen once) the rule passes, except for a day with 0 rows after days
    with data: a missing day must be noticed.
    """
    history = list(trailing_counts)[-VOLUME_HISTORY_DAYS:]
    while history and not history[0]:
        history.pop(0)
    last_week = history[-VOLUME_TRAILING_DAYS:]
    same_weekday = history[-VOLUME_TRAILING_DAYS::-VOLUME_TRAILING_DAYS]  # 7, 14, 21, 28 days before
    median = statistics.median(last_week) if last_week else None
    weekday_median = statistics.median(same_weekday) if same_weekday else None
    ratio = row_count / median if median else None
    weekday_ratio = row_count / weekday_median if weekday_median else None
    if not history:
        success = True
    elif row_count == 0:
        success = False
    elif len(history) < VOLUME_TRAILING_DAYS:
        success = True
    else:
        success = any(r is None or VOLUME_MIN_RATIO <= r <= VOLUME_MAX_RATIO for r in (ratio, weekday_ratio))
    return RuleResult(
        expectation="volume_within_trailing_median",
        column=None,
        kwargs={"min_ratio": VOLUME_MIN_RATIO, "max_ratio": VOLUME_MAX_RATIO, "trailing_days": VOLUME_TRAILING_DAYS,
                "same_weekday_weeks": VOLUME_HISTORY_DAYS // VOLUME_TRAILING_DAYS},
        severity="warn",
        success=success,
        unexpected_count=None,
        unexpected_percent=None,
        observed_value={"row_count": row_count, "trailing_median": median, "ratio": ratio,
                        "same_weekday_median": weekday_median, "same_weekday_ratio": weekday_ratio},
        description=f"{name} per day within {VOLUME_MIN_RATIO}x..{VOLUME_MAX_RATIO}x "
        f"of the trailing {VOLUME_TRAILING_DAYS}-day median or of the same weekday's",
        scope=scope,
    )


def reject_rate_rules(
    rows_read: int, rows_quarantined: int, max_reject_rate: float, *, scope: str | None = None
) -> list[RuleResult]:
    """WARN when more than 3% of the rows read, and at least 10 rows, were quarantined (see
    REJECT_WARN_RATE); ERROR above max_reject_rate, whatever the count."""
    rate = rows_quarantined / rows_read if rows_read else 0.0
    observed = {"rows_read": rows_read, "rows_quarantined": rows_quarantined, "reject_rate": rate}

    def rule(severity: Severity, limit: float, min_rows: int) -> RuleResult:
        floor = f" (a day with fewer than {min_rows} quarantined rows passes)" if min_rows > 1 else ""
        return RuleResult(
            expectation="reject_rate_at_most",
            column=None,
            kwargs={"max_rate": limit, **({"min_rows": min_rows} if min_rows > 1 else {})},
            severity=severity,
            success=rate <= limit or rows_quarantined < min_rows,
            unexpected_count=rows_quarantined,
            unexpected_percent=100.0 * rate,
            observed_value=observed,
            description=f"at most {limit:.0%} of the rows read are quarantined{floor}",
            scope=scope,
        )

    return [rule("warn", REJECT_WARN_RATE, REJECT_WARN_MIN_ROWS), rule("error", max_reject_rate, 1)]


def readable_files_rule(blocked: Sequence[tuple[dt.date, Sequence[str]]]) -> RuleResult:
    """ERROR while a delivered day has a data file whose rows are unknown (unreadable, or a
    link out of the landing zone): no reject rate can cover rows nobody could count."""
    files = [f"{day}: {file}" for day, day_files in blocked for file in day_files]
    return RuleResult(
        expectation="landing_files_readable",
        column=None,
        kwargs={},
        severity="error",
        success=not files,
        unexpected_count=None,  # files, not rows: the observed value counts them
        unexpected_percent=None,
        observed_value={"days_blocked": [str(day) for day, _ in blocked], "files": len(files)},
        description="every data file of a delivered day can be read (fix or remove the file; the day "
        "keeps its earlier rows until then)",
        failing_examples=[{"source_file": f} for f in files[:MAX_EXAMPLES]],
    )


def landing_entries_rule(notices: Sequence[str]) -> RuleResult:
    """WARN while something under the source folder is not loaded: a bad dt= folder, a file of
    an unsupported type, a link out of the landing zone, a staging file, a non-UTF-8 name."""
    return RuleResult(
        expectation="landing_entries_loaded",
        column=None,
        kwargs={},
        severity="warn",
        success=not notices,
        unexpected_count=None,
        unexpected_percent=None,
        observed_value={"entries_not_loaded": len(notices)},
        description="every entry under the source folder is a loadable file in a dt=YYYY-MM-DD folder",
        failing_examples=[{"source_file": n} for n in notices[:MAX_EXAMPLES]],
    )


# --- GX plumbing ------------------------------------------------------------------------------


def _import_gx():
    import warnings

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    with warnings.catch_warnings():
        # GX imports pyspark when it is installed (Rekindle's Spark Connect client), and pyspark warns
        # about pandas 3 on import: noise in every run's output, about a library the pandas engine never uses
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
        import great_expectations as gx
    from great_expectations.execution_engine import pandas_execution_engine

    # GX fingerprints every batch (an MD5 over a hash of every value: ~3 s per million rows, and
    # each validation loads the batch twice) unless the frame is "large"; nothing here uses it.
    pandas_execution_engine.HASH_THRESHOLD = 0
    return gx


class _Engine:
    """One GX context per process and docs folder, with its batch definitions and built suites."""

    def __init__(self, docs_dir: Path | None):
        gx = _import_gx()
        self.docs_dir = docs_dir
        self.context = gx.get_context(mode="ephemeral", project_config=_project_config(docs_dir))
        self._datasource = self.context.data_sources.add_pandas("rekindle")
        self._batch_definitions: dict[str, Any] = {}
        self._suites: OrderedDict[str, Any] = OrderedDict()

    def batch_definition(self, asset_name: str):
        """One dataframe asset per table, so Data Docs name the table that was validated."""
        if asset_name not in self._batch_definitions:
            asset = self._datasource.add_dataframe_asset(asset_name)
            self._batch_definitions[asset_name] = asset.add_batch_definition_whole_dataframe("frame")
        return self._batch_definitions[asset_name]

    def gx_suite(self, suite: Suite):
        """The GX suite of the rules; LRU-cached, as day-bounded suites differ per partition."""
        key = repr((suite.name, suite.rules))
        if key in self._suites:
            self._suites.move_to_end(key)
            return self._suites[key]
        from great_expectations import ExpectationSuite
        from great_expectations.expectations.registry import get_expectation_impl

        expectations = [
            get_expectation_impl(rule.expectation)(
                **rule.kwargs,
                severity=_GX_SEVERITY[rule.severity],
                # Data Docs show this instead of GX's generated sentence (as a template: no "<" or "$").
                description=f"[{rule.severity}] {rule.description}",
                meta={"rule": i},
            )
            for i, rule in enumerate(suite.rules)
        ]
        built = self._suites[key] = ExpectationSuite(name=suite.name, expectations=expectations)
        if len(self._suites) > _SUITE_CACHE_SIZE:
            self._suites.popitem(last=False)
        return built

    def add_plain_results(self, validation, plain_results: Sequence[RuleResult]) -> None:
        """Appends rules evaluated in Python to a GX validation result, as results of a
        render-only expectation (expect_rekindle_rule), and recounts its statistics."""
        if not plain_results:
            return
        from great_expectations.core import ExpectationValidationResult

        expectation = _plain_rule_expectation()
        for rule in plain_results:
            config = expectation(
                rule=rule.expectation,
                parameters=_jsonable(rule.kwargs),
                description=f"[{rule.severity}] {rule.title}",
                severity=_GX_SEVERITY[rule.severity],
            ).configuration
            # the observed value only (it holds the rows and shares): GX's renderer of unexpected
            # counts wants the batch's element count, which a per-day rule does not have
            validation.results.append(ExpectationValidationResult(
                success=rule.success, expectation_config=config,
                result={"observed_value": _jsonable(rule.observed_value) if rule.observed_value is not None
                        else _unexpected_text(rule)},
            ))
        results = validation.results
        successful = sum(1 for r in results if r.success)
        validation.success = successful == len(results)
        validation.statistics.update(
            evaluated_expectations=len(results),
            successful_expectations=successful,
            unsuccessful_expectations=len(results) - successful,
            success_percent=100.0 * successful / len(results),
        )

    def publish(self, gx_suite, validation, scope: str | None, batch_id: str) -> str:
        """Stores the result and renders its page plus the index; returns the page's path.

        The stores live in files under docs_dir, so the index keeps the pages of earlier calls
        and other processes; a file lock serializes processes that publish at the same time.
        """
        import fcntl

        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        suite_key = ExpectationSuiteIdentifier(name=gx_suite.name)
        # "a..b" would parse as a date with an impossible offset and break the page title
        run_name = scope.replace("..", "_to_") if scope else scope
        run_id = RunIdentifier(run_name=run_name, run_time=dt.datetime.now(dt.UTC))
        key = ValidationResultIdentifier(
            expectation_suite_identifier=suite_key, run_id=run_id, batch_identifier=batch_id
        )
        # What ValidationDefinition.run would add, and the asset name where the page header looks.
        validation.meta.update(
            run_id=run_id,
            validation_time=run_id.run_time,
            batch_spec={**validation.meta.get("batch_spec", {}), "data_asset_name": validation.asset_name},
        )
        lock_path = self.docs_dir / "gx_store" / "lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.context.suites.add_or_update(gx_suite)
            self.context.validation_results_store.set(key, validation)
            _keep_newest_results(self.docs_dir / "gx_store" / "validations", DOCS_INDEX_LIMIT)
            self.context.build_data_docs(resource_identifiers=[key, suite_key])
            pages = [self._page(key), self._page(suite_key), self.docs_dir / "index.html"]
            for page in pages:
                if page.is_file():
                    page.write_text(offline_html(page.read_text(encoding="utf-8")), encoding="utf-8")
        return str(pages[0])

    def _page(self, resource_identifier) -> Path:
        url = self.context.get_docs_sites_urls(resource_identifier=resource_identifier, only_if_exists=False)[0]
        return Path(unquote(urlparse(url["site_url"]).path))


def _keep_newest_results(store: Path, keep: int) -> None:
    """Deletes the stored validation results (JSON) beyond the newest `keep`; the pages stay."""
    results = sorted(store.rglob("*.json"), key=lambda path: path.stat().st_mtime_ns, reverse=True)
    for path in results[keep:]:
        path.unlink(missing_ok=True)
        for folder in path.parents:  # and the folders it leaves empty, which GX would walk too
            if folder == store or any(folder.iterdir()):
                break
            folder.rmdir()


@cache
def _engine(docs_dir: Path | None) -> _Engine:
    return _Engine(docs_dir)


@cache
def _plain_rule_expectation():
    """A GX expectation class for rules evaluated in Python: defining it registers the type
    `expect_rekindle_rule`, so Data Docs render its results (with their description) next to
    GX's own. It is never evaluated by GX."""
    from great_expectations.expectations.expectation import BatchExpectation

    class ExpectRekindleRule(BatchExpectation):
        rule: str  # RuleResult.expectation, e.g. "reject_rate_at_most"
        parameters: dict = {}  # RuleResult.kwargs

        def _validate(self, metrics, runtime_configuration=None, execution_engine=None):
            raise NotImplementedError("evaluated in Python by rekindle.quality, recorded for Data Docs only")

    return ExpectRekindleRule


# --- Data Docs without network -------------------------------------------------------------------

_REMOTE_SCRIPT = re.compile(r"""<script\b[^>]*\bsrc=["']https?://[^>]*>\s*</script>\s*""", re.I)
_REMOTE_TAG = re.compile(r"""<(?:link|img)\b[^>]*\b(?:href|src)=["']https?://[^>]*>\s*""", re.I)
_REMOTE_CSS_URL = re.compile(r"""url\(\s*["']?https?://[^)]*\)""", re.I)
_TABLE_TOOLBAR = re.compile(r"""<div id="[^"]+-toolbar"[^>]*>\s*(?:<button[^>]*>[^<]*</button>\s*)*</div>\s*""")
_INDEX_TABLE = re.compile(
    r"""<table\s+id="(?P<id>[^"]+)"[^>]*>\s*</table>\s*(?:<script>(?:(?!</script>).)*</script>)?\s*"""
    r"""<script>\s*\$\('#(?P=id)'\)\.bootstrapTable\(\s*Object\.assign\(\s*\{\s*"""
    r"""columns:\s*(?P<columns>\[[^\n]*\]),\s*data:\s*(?P<data>\[[^\n]*\]),(?:(?!</script>).)*</script>""",
    re.S,
)
_OFFLINE_MARK = "<!-- rekindle: offline -->"
# Instead of Bootstrap and Font Awesome: readable tables, the status icons as characters.
_OFFLINE_STYLE = """<style>
  body { font-family: system-ui, sans-serif; margin: 0 1rem; }
  table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
  th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
  footer, .cooltip .top { display: none; }
  .text-success, .rekindle-success { color: #1a7f37; }
  .text-danger, .rekindle-failed { color: #c62828; font-weight: bold; }
  .fas.fa-check-circle::before { content: "\\2714"; }
  .fas.fa-times::before { content: "\\2716"; }
  .fas.fa-exclamation-triangle::before { content: "\\26A0"; }
  .fas.fa-question-circle::before { content: "?"; }
</style>"""


def offline_html(page: str) -> str:
    """A Data Docs page that needs no network: no remote scripts, styles or images, the index
    tables (drawn by bootstrap-table from inline data) written out as HTML. Idempotent."""
    if _OFFLINE_MARK in page:
        return page
    tables = _INDEX_TABLE.subn(_static_table, page)
    page = _TABLE_TOOLBAR.sub("", tables[0]) if tables[1] else tables[0]  # their buttons need bootstrap-table
    page = _REMOTE_SCRIPT.sub("", page)
    page = _REMOTE_TAG.sub("", page)
    page = _REMOTE_CSS_URL.sub("none", page)
    return page.replace("</head>", f"{_OFFLINE_STYLE}\n{_OFFLINE_MARK}\n</head>", 1)


def _static_table(match: re.Match) -> str:
    """bootstrap-table's columns and rows (Python literals GX wrote into the script) as a table;
    a row's link goes on its first cell after the status, the status becomes a word."""
    try:
        columns = ast.literal_eval(match["columns"])
        rows = ast.literal_eval(match["data"])
    except (ValueError, SyntaxError):  # another GX version writes something else: keep its page
        return match.group(0)
    rows = sorted(rows, key=lambda row: row.get("_run_time_sort", 0), reverse=True)
    head = "".join(f"<th>{html.escape(str(c.get('title', c['field'])))}</th>" for c in columns)
    body = []
    for row in rows:
        cells, link = [], row.get("_table_row_link_path")
        for column in columns:
            value = str(row.get(column["field"], ""))
            if column["field"] == "validation_success" and "_validation_success_text" in row:
                status = row["_validation_success_text"]
                css = "rekindle-success" if status == "Success" else "rekindle-failed"
                value = f'<span class="{css}">{html.escape(status)}</span>'
            elif link and "<a " not in value:
                value, link = f'<a href="{html.escape(link)}">{value}</a>', None
            cells.append(f"<td>{value}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<table id="{match["id"]}"><thead><tr>{head}</tr></thead>\n<tbody>\n'
            + "\n".join(body) + "\n</tbody></table>\n")


_CACHED_VIEWS = {
    "page": {"module_name": "rekindle.quality.docs_views", "class_name": "CachedJinjaPageView"},
    "index": {"module_name": "rekindle.quality.docs_views", "class_name": "CachedJinjaIndexPageView"},
}


def _project_config(docs_dir: Path | None):
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    defaults = InMemoryStoreBackendDefaults()
    if docs_dir is not None:
        # Results and suites are kept as files so that every process renders the same index.
        for store, folder in (("expectations_store", "expectations"), ("validation_results_store", "validations")):
            defaults.stores[store]["store_backend"] = {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir / "gx_store" / folder),
            }
        defaults.data_docs_sites = {
            "rekindle": {
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
                "site_index_builder": {
                    "class_name": "DefaultSiteIndexBuilder",
                    "validation_results_limit": DOCS_INDEX_LIMIT,
                    "show_how_to_buttons": False,
                    "view": _CACHED_VIEWS["index"],
                },
                # GX's own page views, with templates compiled once per process (docs_views)
                "site_section_builders": {
                    section: {"view": _CACHED_VIEWS["page"]} for section in ("expectations", "validations")
                },
            }
        }
    return DataContextConfig(
        store_backend_defaults=defaults, progress_bars=ProgressBarsConfig(globally=False), analytics_enabled=False
    )


def _fast_datetimes(frame: pd.DataFrame) -> pd.DataFrame:
    """GX compares only datetime64[ns] columns vectorized; other units (pandas 3 reads "us")
    take a per-value Python path that costs ~10 s per million rows."""
    import pandas as pd

    casts = {
        c: "datetime64[ns]"
        for c, dtype in frame.dtypes.items()
        if pd.api.types.is_datetime64_dtype(dtype) and not isinstance(dtype, pd.DatetimeTZDtype)
        and dtype != "datetime64[ns]"
    }
    try:
        return frame.astype(casts) if casts else frame
    except pd.errors.OutOfBoundsDatetime:  # beyond 1677..2262: keep the slow but correct path
        return frame


# --- result conversion -------------------------------------------------------------------------


def _rule_result(rule: Rule, gx_result, frame: pd.DataFrame, example_columns: list[str]) -> RuleResult:
    result = gx_result.result or {}
    exception = _exception_message(gx_result.exception_info)
    examples: list[dict[str, Any]] = []
    indices = result.get("partial_unexpected_index_list") or []
    if not gx_result.success and indices:
        columns = [c for c in dict.fromkeys(example_columns) if c in frame.columns]
        rows = frame.loc[list(indices)[:MAX_EXAMPLES], columns]
        examples = [{c: _jsonable(v) for c, v in row.items()} for row in rows.to_dict("records")]
    count = result.get("unexpected_count")
    percent = result.get("unexpected_percent")
    elements = result.get("element_count")
    return RuleResult(
        expectation=rule.expectation,
        column=rule.column,
        kwargs=rule_kwargs(rule),
        severity=rule.severity,
        success=bool(gx_result.success) and exception is None,
        unexpected_count=None if count is None else int(count),
        unexpected_percent=None if percent is None else float(percent),
        observed_value=_jsonable(result.get("observed_value")),
        description=rule.description,
        failing_examples=examples,
        exception=exception,
        counted=None if elements is None else int(elements) - int(result.get("missing_count") or 0),
    )


def rule_kwargs(rule: Rule) -> dict[str, Any]:
    """A rule's arguments as a RuleResult shows them (JSON-able)."""
    return {k: _jsonable(v) for k, v in rule.kwargs.items()}


def _unexpected_text(rule: RuleResult) -> str | None:
    """What a counted rule found, for its Data Docs row."""
    if rule.unexpected_count is None:
        return rule.exception
    if rule.unexpected_count == 0:
        return "no unexpected rows"
    return f"{rule.unexpected_count:,} unexpected rows ({rule.unexpected_percent or 0:.2f}%)"


def _exception_message(info: dict | None) -> str | None:
    """GX reports exceptions either flat or per metric ({metric id: {...}})."""
    if not info:
        return None
    entries = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    messages = dict.fromkeys(str(e.get("exception_message")) for e in entries if e.get("raised_exception"))
    return "; ".join(messages) or None


def _jsonable(value: Any) -> Any:
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):  # strict JSON has no NaN or Infinity
        return value if math.isfinite(value) else None if math.isnan(value) else str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):  # also pandas Timestamp
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return _jsonable(float(value))
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return str(value)
