"""Issue 8, idempotency and order (SPEC 1.1): whatever the landing zone does between runs and
whatever days the runs load, in whatever order and how often, the warehouse ends up equal to
one clean load of what the warehouse was allowed to see.

Hypothesis writes a history of landing-zone changes and runs over 5 days, 3 customers and 8 ids
per source (orders and events):
- deliveries of a file (a new one, or the same name re-delivered with other rows; zero rows is
  a header-only file that empties the day on purpose), in .csv and .jsonl;
- re-deliveries with fewer rows, or with the same ids and other content;
- late files: a new file name for a day that already has files (loaded or not);
- an id moved to another day (its file re-delivered without it, a file of the other day with
  it), or copied there (the id delivered on several days);
- a correction of an id the warehouse holds on several days: the earliest day (and maybe some
  later ones) re-delivered without it, loaded at once or later;
- pruning: one file deleted, or a whole dt= folder deleted;
- runs: a random subset of the days, in random order, repeats allowed. A run loads orders,
  then events, each in its own transaction as the raw assets do, then rebuilds
  customer_daily_activity for its days plus the days whose raw rows moved (`load.moved`), as
  assets/core.py does with `_raw_days_changed_in_run`.
The first deliveries are loaded one day at a time in a random order. Rows mix offsets,
fractional seconds, 5-decimal amounts, cancelled and default statuses, optional columns left
blank, passive events and now and then a row outside its partition (quarantined).

At the end the days whose files changed since they were last loaded are loaded once more (the
landing-change sensor's job), one backfill of them or one day at a time in a random order. The
reference is a fresh landing zone holding, per (source, day), the files as they were at the day's
last load (a pruned day keeps its rows: that is what it keeps), loaded in one run of all days
into a fresh warehouse. The two warehouses must be equal as sorted multisets of rows: raw_orders,
raw_events, quarantine (with the `record` text: a duplicate_other_day record is built from
typed values, from the file on one path and from the warehouse on the other),
customer_daily_activity and the metric tables lifecycle_daily, reactivation_daily,
retention_daily and purchase_daily over all 5 days (N = 2, P = 1 and 3).

Metrics are computed once, at the end, over the whole range, on both warehouses, with the
refresh functions the metric assets call (assets.metrics.DAILY_METRICS). They are a function of
customer_daily_activity (and nothing else that a load changes), so computing them after every
run would only test that re-running a metric range is idempotent, at 4 more queries per run;
which partitions the metric assets re-run after a move is the sensors' concern, not this test's.

Because the reference runs the same code, a rule that is wrong but order-independent (say, the
latest day keeps an id) would pass that comparison; so the kept and parked (id, day) pairs are
also checked against a plain-Python oracle of "the earliest day keeps each id".
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from pg_schemas import drop_schema
from hypothesis import event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from assets.metrics import DAILY_METRICS
from rekindle import metrics
from rekindle.landing import partition_dir
from rekindle.raw_load import DUPLICATE_OTHER_DAY, load_days
from rekindle.sources import source as landing_source
from rekindle.settings import Settings
from resources.warehouse import WarehouseResource

DAYS = tuple(date(2025, 1, 1) + timedelta(days=i) for i in range(5))
SOURCES = ("orders", "events")
CUSTOMERS = ("c0", "c1", "c2")
IDS = {"orders": tuple(f"o{i}" for i in range(8)), "events": tuple(f"e{i}" for i in range(8))}
NAMES = ("part-0.csv", "part-1.csv", "part-2.jsonl")
# time of day appended to the day; the last is 23:00 UTC of the day before: outside_partition
TIMES = ("T12:00:00Z", "T00:00:00Z", "T23:59:59.5Z", "T08:30:00+02:00", "t09:15:00z", "T18:00:00",
         "T01:00:00+02:00")
OUTSIDE = TIMES[-1]
AMOUNTS = ("10", "12.50", "0", "1.23456", "99.99")
STATUSES = ("completed", "", "cancelled")  # "" is the default: completed
CURRENCIES = ("USD", "usd", "")  # "" is the default: REKINDLE_CURRENCY
EVENT_TYPES = ("page_view", "email_sent", "purchase")  # email_sent is passive
CHANNELS = ("web", "", " App ")  # optional text: missing, and stripped
HEADER = {"orders": ("order_id", "customer_id", "ordered_at", "amount", "status", "currency", "channel"),
          "events": ("event_id", "customer_id", "occurred_at", "event_type", "channel")}
SETTINGS = Settings(inactivity_days=(2,), period_days=(1, 3))
METRIC_TABLES = ("lifecycle_daily", "reactivation_daily", "retention_daily", "purchase_daily")
COMPARED_TABLES = ("raw_orders", "raw_events", "quarantine", "customer_daily_activity", *METRIC_TABLES)
MTIME_BASE_S = 1_700_000_000


# --- histories ----------------------------------------------------------------------------
# Days are indexes into DAYS and rows are tuples of text in HEADER order, the time without its
# day, so a counterexample reads short.


@dataclass(frozen=True)
class Write:
    source: str
    day: int
    name: str
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Delete:
    source: str
    day: int
    name: str


@dataclass(frozen=True)
class Prune:  # the whole dt= folder
    source: str
    day: int


@dataclass(frozen=True)
class Run:
    days: tuple[int, ...]


def row_of(source: str, row_id: str):
    rest = [st.sampled_from(CUSTOMERS), st.sampled_from(TIMES)]
    if source == "orders":
        rest += [st.sampled_from(AMOUNTS), st.sampled_from(STATUSES), st.sampled_from(CURRENCIES)]
    else:
        rest += [st.sampled_from(EVENT_TYPES)]
    return st.tuples(st.just(row_id), *rest, st.sampled_from(CHANNELS))


def rows_of(source: str):
    # ids may repeat inside a file and a day: the newest row wins within a day (superseded/duplicate)
    return st.lists(st.sampled_from(IDS[source]).flatmap(lambda i: row_of(source, i)), max_size=4).map(tuple)


# Weights by repetition. `run_touched` loads the days changed since the last run (what the
# landing-change sensor asks for), `run` any one to three days (a schedule, a manual re-run).
KINDS = ("run_touched", "withdraw", "deliver", "move", "run", "copy", "late", "redeliver_fewer",
         "run_touched", "prune", "redeliver_changed", "delete", "withdraw", "run", "move", "deliver")


@st.composite
def histories(draw) -> list:
    files: dict[tuple[str, int], dict[str, tuple]] = {}  # the landing zone as the steps leave it
    seen: dict[tuple[str, int], dict[str, tuple]] = {}  # the files of each day at its last load
    steps: list = []
    touched: set[int] = set()  # days changed since they were last run

    def write(step: Write) -> None:
        files.setdefault((step.source, step.day), {})[step.name] = step.rows
        steps.append(step)
        touched.add(step.day)

    def run(days) -> None:
        steps.append(Run(tuple(days)))
        touched.difference_update(days)
        for key in [(s, d) for s in SOURCES for d in days if files.get((s, d))]:
            seen[key] = dict(files[key])  # a day without files keeps what it had

    def days_of(source: str, row_id: str, landing) -> list[int]:
        return sorted({d for (s, d), names in landing.items() if s == source
                       for rows in names.values() for r in rows if r[0] == row_id})

    # a first delivery for some days, so that ids are shared from the start, loaded one day at a
    # time in any order (a backfill out of order, or days run late)
    for source in SOURCES:
        for day in range(len(DAYS)):
            if draw(st.booleans()):
                write(Write(source, day, NAMES[0], draw(rows_of(source))))
    for day in draw(st.permutations(sorted(touched))):
        run((day,))
    for _ in range(draw(st.integers(3, 9))):
        kind = draw(st.sampled_from(KINDS))
        existing = sorted((s, d, n) for (s, d), names in files.items() for n in names)
        with_rows = [(s, d, n) for s, d, n in existing if files[s, d][n]]
        # ids the warehouse has on several days: one kept, the others parked
        parked = sorted({(s, r[0]) for (s, d), names in seen.items() for rows in names.values() for r in rows
                         if len(days_of(s, r[0], seen)) > 1})
        if kind == "run_touched" and touched:  # in one run, or one run per day
            order = draw(st.permutations(sorted(touched)))
            for days in [order] if draw(st.booleans()) else [(day,) for day in order]:
                run(days)
            continue
        if kind in ("run", "run_touched"):
            run(draw(st.lists(st.integers(0, len(DAYS) - 1), min_size=1, max_size=3, unique=True)))
            continue
        if not existing or (kind in ("move", "copy") and not with_rows) or (kind == "withdraw" and not parked):
            kind = "deliver"
        if kind == "deliver":  # a new file, or a re-delivery of the name with any rows
            source = draw(st.sampled_from(SOURCES))
            day, name = draw(st.integers(0, len(DAYS) - 1)), draw(st.sampled_from(NAMES))
            write(Write(source, day, name, draw(rows_of(source))))
        elif kind == "late":  # a new file for a day that has files (or had: then it is a new delivery)
            source, day, _ = draw(st.sampled_from(existing))
            write(Write(source, day, f"late-{len(steps)}.csv", draw(rows_of(source))))
        elif kind == "redeliver_fewer":
            source, day, name = draw(st.sampled_from(existing))
            old = files[source, day][name]
            keep = draw(st.lists(st.booleans(), min_size=len(old), max_size=len(old)))
            if old and all(keep):
                keep[-1] = False
            write(Write(source, day, name, tuple(r for r, k in zip(old, keep) if k)))
        elif kind == "redeliver_changed":  # the same ids, other content
            source, day, name = draw(st.sampled_from(existing))
            write(Write(source, day, name, tuple(draw(row_of(source, r[0])) for r in files[source, day][name])))
        elif kind == "withdraw":  # an id loaded on several days: the earliest (maybe others) re-delivered without it
            source, row_id = draw(st.sampled_from(parked))
            first, *later = days_of(source, row_id, seen)
            withdrawn = (first, *(d for d in later if draw(st.booleans())))
            for day in withdrawn:
                for name, rows in sorted(files.get((source, day), {}).items()):
                    if any(r[0] == row_id for r in rows):
                        write(Write(source, day, name, tuple(r for r in rows if r[0] != row_id)))
            if draw(st.booleans()):  # the correction loaded at once, in one run
                run(withdrawn)
        elif kind in ("move", "copy"):  # an id delivered on another day, and (move) no longer here
            source, day, name = draw(st.sampled_from(with_rows))
            old = files[source, day][name]
            index = draw(st.integers(0, len(old) - 1))
            to_day = draw(st.sampled_from([d for d in range(len(DAYS)) if d != day]))
            to_name = draw(st.sampled_from(NAMES))
            if kind == "move":
                write(Write(source, day, name, old[:index] + old[index + 1:]))
            write(Write(source, to_day, to_name, files.get((source, to_day), {}).get(to_name, ()) + (old[index],)))
        elif kind == "delete":
            source, day, name = draw(st.sampled_from(existing))
            del files[source, day][name]
            steps.append(Delete(source, day, name))
            touched.add(day)
        elif kind == "prune":
            source, day, _ = draw(st.sampled_from(existing))
            del files[source, day]
            steps.append(Prune(source, day))
            touched.add(day)
    return steps


# --- the landing zone ---------------------------------------------------------------------


def render(source: str, day: date, name: str, rows) -> str:
    values = [(r[0], r[1], f"{day.isoformat()}{r[2]}", *r[3:]) for r in rows]
    if name.endswith(".jsonl"):
        lines = []
        for v in values:
            record = dict(zip(HEADER[source], v))
            if source == "orders":
                record["amount"] = float(record["amount"])  # a JSON number
            lines.append(json.dumps(record) + "\n")
        return "".join(lines)
    return ",".join(HEADER[source]) + "\n" + "".join(",".join(v) + "\n" for v in values)


class Landing:
    """A landing zone on disk plus what the warehouse has seen of it: per (source, day) the files
    (name -> (rows, mtime)) as they were when the day was last loaded with a data file."""

    def __init__(self, root: Path):
        self.root = root
        self.clock = 0
        self.current: dict[tuple[str, int], dict[str, tuple]] = {}
        self.seen: dict[tuple[str, int], dict[str, tuple]] = {}
        for source in SOURCES:
            (root / source).mkdir(parents=True, exist_ok=True)

    def write(self, source: str, day: int, name: str, rows, mtime_s: int | None = None) -> None:
        if mtime_s is None:
            self.clock += 1
            mtime_s = MTIME_BASE_S + self.clock  # every delivery is newer than the ones before
        path = partition_dir(self.root, source, DAYS[day]) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(source, DAYS[day], name, rows))
        os.utime(path, ns=(mtime_s * 10**9, mtime_s * 10**9))
        self.current.setdefault((source, day), {})[name] = (rows, mtime_s)

    def delete(self, source: str, day: int, name: str) -> None:
        (partition_dir(self.root, source, DAYS[day]) / name).unlink()
        del self.current[source, day][name]

    def prune(self, source: str, day: int) -> None:
        shutil.rmtree(partition_dir(self.root, source, DAYS[day]))
        del self.current[source, day]

    def loaded(self, days) -> None:
        for source in SOURCES:
            for day in days:
                if self.current.get((source, day)):  # a day without files keeps what it had
                    self.seen[source, day] = dict(self.current[source, day])

    def stale_days(self) -> list[int]:
        return sorted({d for (s, d), files in self.current.items() if files and files != self.seen.get((s, d))})


# --- runs ---------------------------------------------------------------------------------


def run(warehouse: WarehouseResource, settings: Settings, days, chunk_rows: int = 1) -> None:
    """The raw assets for `days`, then customer_daily_activity for them and the moved days.
    By default every day of a run is a chunk of its own (rekindle.raw_load.load_days), the most
    chunks a run can have; the clean reference load is one chunk."""
    rebuild = set(days)
    for source in SOURCES:
        with warehouse.begin() as conn:
            load = load_days(conn, warehouse, settings, source, days, chunk_rows=chunk_rows)
        rebuild |= set(load.moved)
        for demoted, restored in load.moved.values():  # how often the cross-day cases come up
            if demoted:
                event(f"{source}: a load moved another day's row to quarantine")
            if restored:
                event(f"{source}: a load gave a parked row back to another day")
    with warehouse.begin() as conn:
        for day in sorted(rebuild):
            metrics.refresh_customer_daily_activity(conn, warehouse.schema_name, day, day, settings.passive_event_types)


def refresh_metrics(warehouse: WarehouseResource, settings: Settings) -> None:
    with warehouse.begin() as conn:
        for name in METRIC_TABLES:
            DAILY_METRICS[name].refresh(conn, warehouse.schema_name, DAYS[0], DAYS[-1], settings)


def replay(history: list, data, root: Path, warehouse: WarehouseResource) -> Landing:
    landing = Landing(root)
    settings = replace(SETTINGS, landing_dir=root)
    for step in history:
        if isinstance(step, Run) and any(landing.seen.get((s, d)) and not landing.current.get((s, d))
                                         for s in SOURCES for d in step.days):
            event("a run met a pruned day that had been loaded")
        if isinstance(step, Write):
            landing.write(step.source, step.day, step.name, step.rows)
        elif isinstance(step, Delete):
            landing.delete(step.source, step.day, step.name)
        elif isinstance(step, Prune):
            landing.prune(step.source, step.day)
        else:
            run(warehouse, settings, [DAYS[d] for d in step.days])
            landing.loaded(step.days)
    stale = landing.stale_days()
    if stale:  # what the landing-change sensor would still load
        order = data.draw(st.permutations(stale), label="catch-up order")
        runs = [order] if data.draw(st.booleans(), label="catch-up in one run") else [[d] for d in order]
        for days in runs:
            run(warehouse, settings, [DAYS[d] for d in days])
            landing.loaded(days)
    refresh_metrics(warehouse, settings)
    return landing


def clean_load(seen: dict, root: Path, warehouse: WarehouseResource) -> None:
    """What the warehouse saw, as one landing zone, loaded in one run of every day."""
    landing = Landing(root)
    for (source, day), files in seen.items():
        for name, (rows, mtime_s) in files.items():
            landing.write(source, day, name, rows, mtime_s)
    settings = replace(SETTINGS, landing_dir=root)
    run(warehouse, settings, list(DAYS), chunk_rows=settings.raw_chunk_rows)
    refresh_metrics(warehouse, settings)


# --- comparing ----------------------------------------------------------------------------


def _plain(value):
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, float):
        return round(value, 9) + 0.0
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def table_rows(warehouse: WarehouseResource, table: str) -> list[tuple]:
    frame = warehouse.read_frame(f"SELECT * FROM {warehouse.qualified(table)}")
    return sorted((tuple(_plain(v) for v in row) for row in frame.itertuples(index=False)), key=repr)


def assert_same_rows(table: str, incremental: list[tuple], reference: list[tuple]) -> None:
    only_incremental = Counter(incremental) - Counter(reference)
    only_reference = Counter(reference) - Counter(incremental)
    assert not only_incremental and not only_reference, (
        f"{table} differs from one clean load of the same files\n"
        f"  only after the runs:     {sorted(only_incremental.elements(), key=repr)}\n"
        f"  only in the clean load:  {sorted(only_reference.elements(), key=repr)}"
    )


def earliest_day_keeps(seen: dict, source: str) -> tuple[set, set]:
    """The oracle: (id, day) kept in raw and (id, day) parked as duplicate_other_day."""
    days_of: dict[str, set[int]] = {}
    for (s, day), files in seen.items():
        if s == source:
            for rows, _ in files.values():
                for row in rows:
                    if row[2] != OUTSIDE:
                        days_of.setdefault(row[0], set()).add(day)
    kept = {(i, DAYS[min(days)].isoformat()) for i, days in days_of.items()}
    parked = {(i, DAYS[d].isoformat()) for i, days in days_of.items() for d in days if d != min(days)}
    return kept, parked


def assert_ids_unique_across_days(warehouse: WarehouseResource, seen: dict) -> None:
    quarantine = warehouse.read_frame(
        f"SELECT source, partition_date, record FROM {warehouse.qualified('quarantine')} WHERE reason = :reason",
        {"reason": DUPLICATE_OTHER_DAY},
    )
    for source, table in (("orders", "raw_orders"), ("events", "raw_events")):
        id_column = landing_source(source).id_column
        raw = warehouse.read_frame(f"SELECT {id_column}, partition_date FROM {warehouse.qualified(table)}")
        kept = [(i, _plain(d)) for i, d in raw.itertuples(index=False)]
        parked = [
            (json.loads(record)[id_column], _plain(d))
            for s, d, record in quarantine.itertuples(index=False) if s == source
        ]
        expected_kept, expected_parked = earliest_day_keeps(seen, source)
        assert len(kept) == len(set(kept)) and set(kept) == expected_kept, (source, sorted(kept), sorted(expected_kept))
        assert len(parked) == len(set(parked)) and set(parked) == expected_parked, (
            source, sorted(parked), sorted(expected_parked))


NewWarehouse = Callable[[str], AbstractContextManager[WarehouseResource]]


def check_history(history: list, data, workdir: Path, new_warehouse: NewWarehouse) -> None:
    """Replay `history` into one warehouse, load what it saw cleanly into another, compare."""
    with new_warehouse("incremental") as incremental, new_warehouse("reference") as reference:
        landing = replay(history, data, workdir / "landing", incremental)
        clean_load(landing.seen, workdir / "reference_landing", reference)
        for table in COMPARED_TABLES:
            assert_same_rows(table, table_rows(incremental, table), table_rows(reference, table))
        assert_ids_unique_across_days(incremental, landing.seen)


# --- the tests ----------------------------------------------------------------------------


def duckdb_factory(workdir: Path) -> NewWarehouse:
    @contextmanager
    def new_warehouse(role: str) -> Iterator[WarehouseResource]:
        warehouse = WarehouseResource(url=f"duckdb:///{workdir}/{role}.duckdb", schema_name="analytics")
        warehouse.ensure_tables()
        try:
            yield warehouse
        finally:
            warehouse.dispose()

    return new_warehouse


def postgres_factory(url: str) -> NewWarehouse:
    @contextmanager
    def new_warehouse(role: str) -> Iterator[WarehouseResource]:
        schema = f"rekindle_order_{role}_{uuid.uuid4().hex[:12]}"
        warehouse = WarehouseResource(url=url, schema_name=schema)
        try:
            warehouse.ensure_tables()
            yield warehouse
        finally:
            warehouse.dispose()
            drop_schema(url, schema)

    return new_warehouse


@hypothesis_settings(max_examples=25, deadline=None)
@given(history=histories(), data=st.data())
def test_any_history_of_deliveries_and_runs_equals_one_clean_load_duckdb(history, data):
    with tempfile.TemporaryDirectory() as tmp:
        check_history(history, data, Path(tmp), duckdb_factory(Path(tmp)))


@pytest.mark.postgres
@hypothesis_settings(max_examples=10, deadline=None)
@given(history=histories(), data=st.data())
def test_any_history_of_deliveries_and_runs_equals_one_clean_load_postgres(postgres_server, history, data):
    with tempfile.TemporaryDirectory() as tmp:
        check_history(history, data, Path(tmp), postgres_factory(postgres_server))
