"""Asset checks: the Dagster face of rekindle.quality.

Every asset carries its checks in its own step (check_specs), so they run on exactly what the
step just wrote:
- `contract` (blocking, ERROR): rules whose failure would make the metrics wrong. A failure
  stops every downstream asset of the run, and the run's log says which rule failed on which file.
- `anomalies` (raw assets, WARN, not blocking): volume against the trailing 7 days and the same
  weekday, amounts far above the trailing distribution, unknown event types, more than 3% of a
  day's rows quarantined (and at least 10).

Each check validates and publishes its own Great Expectations page (the rules evaluated in Python
included), linked from its metadata as a path: the UI is served over http, and browsers do not
follow file:// links from an http page. The description is a few lines (a line per failed rule,
at most 3 days and 3 files each); every rule, day and example is in the metadata.
"""

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue

from rekindle import quality
from rekindle.quality import history, warehouse_rules
from rekindle.quality.runner import REJECT_WARN_MIN_ROWS, REJECT_WARN_RATE, VOLUME_HISTORY_DAYS, VOLUME_TRAILING_DAYS
from rekindle.raw_validation import validate_frames
from rekindle.sources import source as landing_source
from resources.warehouse import WarehouseResource

CONTRACT = "contract"
ANOMALIES = "anomalies"
MAX_DAYS_LISTED = 3
MAX_FILES_LISTED = 3
DATA_DOCS_NOTE = (
    "Great Expectations Data Docs (they work offline): open the path in a browser on this machine; "
    "the Dagster UI is served over http and browsers do not follow file:// links from it."
)


def raw_check_specs(table: str) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(
            CONTRACT, asset=table, blocking=True,
            description="Great Expectations contract on the loaded rows (types, required values, unique ids, "
            "value sets, amount >= 0, timestamps inside the partition day) and the share of quarantined rows "
            "below REKINDLE_MAX_REJECT_RATE. Failure blocks everything downstream.",
        ),
        AssetCheckSpec(
            ANOMALIES, asset=table, blocking=False,
            description=f"Warnings: a day's row count far from both the trailing {VOLUME_TRAILING_DAYS}-day median "
            "and the same weekday's (a missing day too), amounts far above the trailing distribution, unknown "
            f"event types, more than {REJECT_WARN_RATE:.0%} of a day's rows quarantined (and at least "
            f"{REJECT_WARN_MIN_ROWS} rows).",
        ),
    ]


def table_check_specs(table: str) -> list[AssetCheckSpec]:
    own_rules = quality.table_rules(table).summary
    return [
        AssetCheckSpec(
            CONTRACT, asset=table, blocking=True,
            description="Great Expectations contract: grain unique, required values present, counts and sums "
            ">= 0, rates in [0, 1] or NULL" + (f", {own_rules}" if own_rules else "") + ".",
        )
    ]


def _check_result(check: str, result: quality.SuiteResult, severity: AssetCheckSeverity, extra: dict) -> AssetCheckResult:
    metadata = {key: value for key, value in result.to_metadata().items() if value is not None}
    if result.docs_path:
        page = Path(result.docs_path).resolve()
        metadata["data_docs"] = MetadataValue.path(str(page))
        metadata["data_docs_index"] = MetadataValue.path(str(_docs_index(page)))
        metadata["data_docs_note"] = DATA_DOCS_NOTE
    return AssetCheckResult(
        check_name=check,
        passed=result.passed("warn" if severity == AssetCheckSeverity.WARN else "error"),
        severity=severity,
        metadata={**metadata, **extra},
        description=describe_failures(result) or None,
    )


def _docs_index(page: Path) -> Path:
    """The index.html of the Data Docs site a page belongs to (pages sit in validations/...)."""
    for folder in page.parents:
        if (folder / "index.html").is_file():
            return folder / "index.html"
    return page


def describe_failures(result: quality.SuiteResult) -> str:
    """One line per failed rule, at most 3 days and 3 files each: what failed, how often, where.

    A per-day rule (reject rate, volume) that failed on several days is one line naming the
    first days; the metadata lists them all.
    """
    groups: dict[tuple, list[quality.RuleResult]] = {}
    for rule in result.failures():
        groups.setdefault((rule.severity, rule.expectation, rule.description), []).append(rule)
    lines = []
    for (severity, expectation, description), rules in groups.items():
        places = list(dict.fromkeys(place for rule in rules for place in _places(rule)))
        where = f" in {', '.join(places[:MAX_FILES_LISTED])}" if places else ""
        if len(places) > MAX_FILES_LISTED:
            capped = any(len(r.failing_examples) >= quality.MAX_EXAMPLES for r in rules)  # there are more
            where += f" and {len(places) - MAX_FILES_LISTED}{'+' if capped else ''} more files"
        if len(rules) == 1:
            what = f"{rules[0].title} — {_observed(rules[0])}"
        else:
            days = ", ".join(f"{r.scope} {_observed(r)}" for r in rules[:MAX_DAYS_LISTED])
            more = f" and {len(rules) - MAX_DAYS_LISTED} more" if len(rules) > MAX_DAYS_LISTED else ""
            what = f"{description} — failed on {len(rules)} days: {days}{more}"
        lines.append(f"{severity.upper()} {expectation}: {what}{where}")
    return "\n".join(lines)


def _places(rule: quality.RuleResult) -> list[str]:
    return list(dict.fromkeys(
        f"{r['source_file']} ({r['reason']}: {r['rows']} rows)" if "reason" in r else str(r["source_file"])
        for r in rule.failing_examples
        if r.get("source_file")
    ))


def _observed(rule: quality.RuleResult) -> str:
    """What was seen, in a few words: rows and share, or the volume against its baselines."""
    if rule.unexpected_count:
        percent = f" ({rule.unexpected_percent:.1f}%)" if rule.unexpected_percent is not None else ""
        return f"{rule.unexpected_count} rows{percent}"
    observed = rule.observed_value
    if isinstance(observed, dict) and "row_count" in observed:
        labels = (("trailing_median", f"{VOLUME_TRAILING_DAYS}-day median"), ("same_weekday_median", "same weekday"))
        baselines = [f"{label} {observed[key]:,.0f}" for key, label in labels if observed.get(key) is not None]
        return f"{observed['row_count']:,} rows" + (f" vs {', '.join(baselines)}" if baselines else "")
    text = f"observed {observed}"
    return text if len(text) <= 200 else text[:197] + "..."


class RawChecks:
    """A raw asset's two checks on exactly the rows it loaded. A long load arrives a chunk of days
    at a time (rekindle.raw_load.load_days): one chunk is validated as one batch with its own GX
    page, as before; several are validated one by one and their results merged into what one
    validation of all rows counts (rekindle.quality.merge_batch_results), so memory holds a chunk."""

    def __init__(self, *, source: str, table: str, schema: str, currency: str, passive_event_types: Sequence[str]):
        self.source, self.table, self.schema, self.currency = source, table, schema, currency
        self.event_types = quality.known_event_types(passive_event_types)
        self._history: tuple[float | None, dict[date, int]] | None = None
        self._pending: tuple[quality.Suite, pd.DataFrame] | None = None  # the first chunk, kept until a second comes
        self._batches: dict[str, list[quality.SuiteResult]] = {CONTRACT: [], ANOMALIES: []}

    def validate_chunk(self, conn, chunk) -> None:
        """`chunk` (a RawLoad) was just written on `conn`: its accepted rows are what it loaded."""
        days = sorted(chunk.loaded)
        if not days:
            return
        self._read_history(conn, days[0])
        accepted = pd.concat([chunk.loaded[day].accepted for day in days], ignore_index=True)
        suite = self._suite(days[0], days[-1])
        if self._pending is None and not self._batches[CONTRACT]:
            self._pending = (suite, accepted)
            return
        if self._pending is not None:
            self._validate_batch(*self._pending)
            self._pending = None
        self._validate_batch(suite, accepted)

    def results(
        self,
        warehouse: WarehouseResource,
        *,
        days: Sequence[tuple[date, int, pd.DataFrame]],  # loaded days: (day, rows_read, quarantined rows of that day)
        blocked: Sequence[tuple[date, Sequence[str]]],  # days not loaded: (day, the files whose rows are unknown)
        notices: Sequence[str],  # entries under the source folder that are not loaded
        first_day: date,
        last_day: date,
        max_reject_rate: float,
        docs_dir: Path,
    ) -> list[AssetCheckResult]:
        start, end = (days[0][0], days[-1][0]) if days else (first_day, last_day)
        if self._history is None:  # nothing loaded
            with warehouse.engine.connect() as conn:
                self._read_history(conn, start)
        loaded_by_day = dict(self._history[1])
        suite = self._suite(start, end)

        # per day, in Python: the reject rate against the thresholds, the volume against the trailing days
        reject_errors, reject_warnings, volume_warnings = [], [], []
        for day, read, quarantined in days:
            examples = _quarantine_examples(quarantined)
            warn_rule, error_rule = (
                replace(rule, failing_examples=examples)
                for rule in quality.reject_rate_rules(read, len(quarantined), max_reject_rate, scope=str(day))
            )
            reject_errors.append(error_rule)
            reject_warnings.append(warn_rule)
            trailing = [loaded_by_day.get(day - timedelta(days=i), 0) for i in range(VOLUME_HISTORY_DAYS, 0, -1)]
            loaded_by_day[day] = read - len(quarantined)
            volume_warnings.append(
                quality.volume_rule(loaded_by_day[day], trailing, name=f"{self.table} rows", scope=str(day)))
        plain = {
            CONTRACT: [*_failed_or_first(reject_errors), quality.readable_files_rule(blocked)],
            ANOMALIES: [*_failed_or_first(reject_warnings), *_failed_or_first(volume_warnings),
                        quality.landing_entries_rule(notices)],
        }
        # each check its own validation, so its Data Docs page shows its rules (Python ones included)
        checked = {}
        if not self._batches[CONTRACT]:  # one batch (or none): GX validates it and renders its page
            accepted = (self._pending[1] if self._pending
                        else validate_frames(self.source, start, [], self.currency).accepted)
            for check, severity in ((CONTRACT, "error"), (ANOMALIES, "warn")):
                checked[check] = quality.validate_frame(accepted, suite.only(severity, f"{suite.name}.{check}"),
                                                        docs_dir=docs_dir, plain_results=plain[check])
        else:  # several: ids may repeat across chunks, so uniqueness is counted where the rows were loaded
            id_column = landing_source(self.source).id_column
            with warehouse.engine.connect() as conn:
                repeated = history.repeated_id_rows(
                    conn, self.schema, self.table, id_column, [day for day, _, _ in days])
            for check, severity in ((CONTRACT, "error"), (ANOMALIES, "warn")):
                whole = suite.only(severity, f"{suite.name}.{check}")
                batches = self._batches[check]
                merged = quality.merge_batch_results([b.results for b in batches], {id_column: repeated})
                # each chunk held its rows to its own days (stricter); the page states the whole range
                merged = [replace(r, kwargs=quality.rule_kwargs(rule), description=rule.description)
                          for r, rule in zip(merged, whole.rules, strict=True)]
                page = quality.report_results(whole, [*merged, *plain[check]], docs_dir=docs_dir)
                checked[check] = replace(page, gx_seconds=(page.gx_seconds or 0.0) + sum(b.gx_seconds for b in batches))
        extra = {"days_checked": len(days), "days_blocked": len(blocked),
                 "batches_validated": max(1, len(self._batches[CONTRACT]))}
        return [
            _check_result(CONTRACT, checked[CONTRACT], AssetCheckSeverity.ERROR, extra),
            _check_result(ANOMALIES, checked[ANOMALIES], AssetCheckSeverity.WARN, extra),
        ]

    def _read_history(self, conn, start: date) -> None:
        """What the anomaly rules compare with: the days before the first loaded day, which a load
        never changes (it moves rows of later days only), so read once, on the load's own connection."""
        if self._history is not None:
            return
        spike_column = landing_source(self.source).spike_column
        amount_max = (
            quality.amount_bound(history.trailing_p999(conn, self.schema, self.table, spike_column, start))
            if spike_column else None
        )
        self._history = (amount_max, history.trailing_row_counts(conn, self.schema, self.table, start))

    def _suite(self, start: date, end: date) -> quality.Suite:
        return quality.raw_suite(self.source, start, end, currency=self.currency, amount_max=self._history[0],
                                 event_types=self.event_types)

    def _validate_batch(self, suite: quality.Suite, accepted: pd.DataFrame) -> None:
        for check, severity in ((CONTRACT, "error"), (ANOMALIES, "warn")):
            self._batches[check].append(
                quality.validate_frame(accepted, suite.only(severity, f"{suite.name}.{check}")))


def _failed_or_first(rules: list[quality.RuleResult]) -> list[quality.RuleResult]:
    """The failed per-day rules, or one passing rule so the metadata still shows it was evaluated."""
    return [r for r in rules if not r.success] or rules[:1]


def _quarantine_examples(quarantined: pd.DataFrame) -> list[dict]:
    """Why rows were rejected, by file: the first thing an engineer asks about a failing day."""
    if quarantined.empty:
        return []
    counts = quarantined.groupby(["source_file", "reason"]).size().sort_values(ascending=False)
    return [{"source_file": f, "reason": r, "rows": int(n)} for (f, r), n in counts.head(quality.MAX_EXAMPLES).items()]


def table_check_result(
    warehouse: WarehouseResource,
    table: str,
    docs_dir: Path,
    start: date | None = None,
    end: date | None = None,
    date_column: str = "as_of_date",
) -> AssetCheckResult:
    """Validate what the step just wrote: the run's days of a daily table, or a whole snapshot,
    counted in the warehouse (no table is read into pandas)."""
    suite = quality.table_suite(table)
    with warehouse.engine.connect() as conn:
        results, rows_checked = warehouse_rules.validate_table(
            conn, warehouse.schema_name, table, suite, start, end, date_column
        )
    result = quality.report_results(suite, results, docs_dir=docs_dir)
    return _check_result(CONTRACT, result, AssetCheckSeverity.ERROR, {"rows_checked": rows_checked})
