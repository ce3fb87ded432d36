"""Validates a pandas DataFrame against a Suite with Great Expectations 1.x; plain-dataclass results.

Great Expectations is imported lazily (it takes seconds) and its context, batch definitions and
built suites are cached per process. GX validates pandas frames only: its SQL engine does not
work on DuckDB, so callers validate the frames they load or read back.

Volume and reject-rate rules are plain Python but report as RuleResult too, so a caller can
merge them into one SuiteResult: ``SuiteResult(name, [*result.results, volume_rule(...)])``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import os
import statistics
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from rekindle.quality.suites import Rule, Severity, Suite

if TYPE_CHECKING:
    import pandas as pd

MAX_EXAMPLES = 20
VOLUME_TRAILING_DAYS = 7
VOLUME_MIN_RATIO = 0.5
VOLUME_MAX_RATIO = 2.0
REJECT_WARN_RATE = 0.01
# The Data Docs index lists the newest validations only: rendering it reads each listed result.
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

    def summary(self) -> dict[str, Any]:
        return {
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
            "failed_rules": [f"{r.severity}: {r.description} ({r.expectation})" for r in self.failures()],
            "rules": [r.summary() for r in self.results],
            "failing_examples": examples,
            "docs_path": self.docs_path,
        }


def validate_frame(
    frame: pd.DataFrame,
    suite: Suite,
    *,
    docs_dir: Path | None = None,
    example_columns: list[str] | None = None,
) -> SuiteResult:
    """Validates the frame as one batch; with docs_dir, also renders GX Data Docs there.

    example_columns: columns shown for failing rows (default: the suite's id columns); the
    rule's own columns and source_file (when the frame has it) are always added.
    """
    if suite.prepare is not None:
        frame = suite.prepare(frame)
    # GX reports failing rows by index label: make labels unique positions (no copy under CoW).
    frame = _fast_datetimes(frame.reset_index(drop=True))
    engine = _engine(None if docs_dir is None else Path(docs_dir).resolve())
    gx_suite = engine.gx_suite(suite)
    batch = engine.batch_definition(suite.name).get_batch(batch_parameters={"dataframe": frame})
    validation = batch.validate(
        gx_suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": MAX_EXAMPLES}
    )
    docs_path = engine.publish(gx_suite, validation, suite.scope, batch.id) if docs_dir is not None else None

    by_rule = {r.expectation_config.meta["rule"]: r for r in validation.results}
    base_columns = list(suite.example_columns if example_columns is None else example_columns)
    results = [
        _rule_result(rule, by_rule[i], frame, [*base_columns, *rule.columns, "source_file"])
        for i, rule in enumerate(suite.rules)
    ]
    return SuiteResult(suite.name, results, docs_path)


# --- plain-Python rules -----------------------------------------------------------------------


def volume_rule(row_count: int, trailing_counts: Sequence[int], *, name: str = "rows") -> RuleResult:
    """WARN when the day's row count is below 0.5x or above 2x the median of the last 7 counts.

    A day with 0 rows after days with data fails too: a missing day must be noticed. Without
    history (or a zero median) there is nothing to compare with and the rule passes.
    """
    trailing = list(trailing_counts)[-VOLUME_TRAILING_DAYS:]
    median = statistics.median(trailing) if trailing else None
    ratio = row_count / median if median else None
    success = ratio is None or VOLUME_MIN_RATIO <= ratio <= VOLUME_MAX_RATIO
    return RuleResult(
        expectation="volume_within_trailing_median",
        column=None,
        kwargs={"min_ratio": VOLUME_MIN_RATIO, "max_ratio": VOLUME_MAX_RATIO, "trailing_days": VOLUME_TRAILING_DAYS},
        severity="warn",
        success=success,
        unexpected_count=None,
        unexpected_percent=None,
        observed_value={"row_count": row_count, "trailing_median": median, "ratio": ratio},
        description=f"{name} per day within {VOLUME_MIN_RATIO}x..{VOLUME_MAX_RATIO}x "
        f"of the trailing {VOLUME_TRAILING_DAYS}-day median",
    )


def reject_rate_rules(rows_read: int, rows_quarantined: int, max_reject_rate: float) -> list[RuleResult]:
    """WARN when more than 1% of the rows read were quarantined; ERROR above max_reject_rate."""
    rate = rows_quarantined / rows_read if rows_read else 0.0
    observed = {"rows_read": rows_read, "rows_quarantined": rows_quarantined, "reject_rate": rate}

    def rule(severity: Severity, limit: float) -> RuleResult:
        return RuleResult(
            expectation="reject_rate_at_most",
            column=None,
            kwargs={"max_rate": limit},
            severity=severity,
            success=rate <= limit,
            unexpected_count=rows_quarantined,
            unexpected_percent=100.0 * rate,
            observed_value=observed,
            description=f"at most {limit:.0%} of the rows read are quarantined",
        )

    return [rule("warn", REJECT_WARN_RATE), rule("error", max_reject_rate)]


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
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
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
        """One dataframe asset per suite, so Data Docs name the table that was validated."""
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
            self.context.build_data_docs(resource_identifiers=[key, suite_key])
        url = self.context.get_docs_sites_urls(resource_identifier=key, only_if_exists=False)[0]["site_url"]
        return unquote(urlparse(url).path)


@cache
def _engine(docs_dir: Path | None) -> _Engine:
    return _Engine(docs_dir)


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
    return RuleResult(
        expectation=rule.expectation,
        column=rule.column,
        kwargs={k: _jsonable(v) for k, v in rule.kwargs.items()},
        severity=rule.severity,
        success=bool(gx_result.success) and exception is None,
        unexpected_count=None if count is None else int(count),
        unexpected_percent=None if percent is None else float(percent),
        observed_value=_jsonable(result.get("observed_value")),
        description=rule.description,
        failing_examples=examples,
        exception=exception,
    )


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
