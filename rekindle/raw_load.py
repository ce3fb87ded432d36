"""Loading landing partitions into the raw tables under the rules of SPEC 1.1.

- Files, not their absence, change raw tables: a day whose folder holds no data file is *kept*.
- A day with a file whose rows are unknown (unreadable, a link out of the landing zone) is
  *blocked*: its rows stay as they were, one quarantine row per such file says why, and the
  blocking check fails naming the file.
- Every other day is *loaded*: its raw rows and quarantine are replaced from exactly its files.
- Ids are unique across days: the earliest day keeps an id, every later copy is quarantined as
  `duplicate_other_day`, whatever order the days are loaded in. So a load may also change days
  outside its own: a late file for an earlier day demotes a later day's row to quarantine, and a
  re-delivered file without the id restores the later day's parked copy.

The pure part (`resolve_duplicates_across_days`) decides from three sets of candidate rows;
`write_raw_load` applies the decision in one transaction; `load_days` runs a long range through
it a chunk of days at a time, in the caller's one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rekindle.landing import OUTSIDE_LANDING_ZONE, UNREADABLE_FILE, LandingFile, list_files
from rekindle.raw_validation import QUARANTINE_COLUMNS, ExtractedPartition, extract_partition, validate_frames
from rekindle.settings import Settings
from rekindle.sources import SOURCES
from rekindle.sources import source as landing_source

DUPLICATE_OTHER_DAY = "duplicate_other_day"
BLOCKING_REASONS = (UNREADABLE_FILE, OUTSIDE_LANDING_ZONE)


@dataclass
class RawLoad:
    """What one load of a source's days found, decided and wrote."""

    source: str
    loaded: dict[date, ExtractedPartition] = field(default_factory=dict)  # replaced from their files
    blocked: dict[date, ExtractedPartition] = field(default_factory=dict)  # kept; a file is unreadable
    kept: list[date] = field(default_factory=list)  # no data file: the warehouse keeps what it has
    # days outside `loaded` whose rows changed: day -> (rows moved to quarantine, rows restored)
    moved: dict[date, tuple[int, int]] = field(default_factory=dict)

    @property
    def rows_read(self) -> int:
        return sum(p.rows_read for p in self.loaded.values())

    @property
    def rows_loaded(self) -> int:  # read = loaded + quarantined, also once the accepted rows are dropped
        return self.rows_read - self.rows_quarantined

    @property
    def rows_quarantined(self) -> int:
        return sum(len(p.quarantined) for p in self.loaded.values())


def extract_days(settings: Settings, source: str, days: Iterable[date]) -> RawLoad:
    """Read and validate each day's files; sort the days into loaded, blocked and kept."""
    load = RawLoad(source)
    for day in days:
        _extract_day(settings, load, day)
    return load


def _extract_day(settings: Settings, load: RawLoad, day: date) -> None:
    files = list_files(settings.landing_dir, load.source, day)
    if not any(f.is_data for f in files):
        load.kept.append(day)
        return
    part = extract_partition(settings, load.source, day, files)
    if part.rows_read != len(part.accepted) + len(part.quarantined):  # the accounting contract
        raise RuntimeError(f"{load.source} {day}: rows read != rows loaded + rows quarantined")
    (load.blocked if part.blocking else load.loaded)[day] = part


def load_days(
    conn: Connection,
    warehouse,
    settings: Settings,
    source: str,
    days: Iterable[date],
    on_chunk: Callable[[Connection, RawLoad], None] = lambda conn, chunk: None,
    chunk_rows: int | None = None,
) -> RawLoad:
    """Extract and write `days` (in date order) inside the caller's transaction, a chunk of about
    `chunk_rows` (default: settings.raw_chunk_rows) rows read at a time, so memory holds a chunk,
    not the range (a year at scale M is 20 M events, 11 GiB in one piece). `on_chunk` sees each
    chunk just written (its accepted rows are what it loaded), then those rows are dropped.
    Returns the whole load's account.

    The same final state as one write of all days: SPEC 1.1 makes loading days in several loads,
    in any order, end in the same tables. A chunk only moves rows of days after its own, so a day
    an earlier chunk moved and a later one reloads counts as loaded, not moved.
    """
    chunk_rows = chunk_rows or settings.raw_chunk_rows
    total, chunk = RawLoad(source), RawLoad(source)
    chunks = 0

    def flush() -> None:
        nonlocal chunks
        chunks += 1
        write_raw_load(conn, warehouse, chunk, settings.currency)
        on_chunk(conn, chunk)
        for part in chunk.loaded.values():  # new empty columns: an empty slice (or its pandas copy,
            # for Arrow strings) would keep the whole day's buffers alive
            part.accepted = pd.DataFrame(columns=part.accepted.columns).astype(part.accepted.dtypes)
        total.loaded.update(chunk.loaded)
        total.blocked.update(chunk.blocked)
        total.kept.extend(chunk.kept)
        for day, (demoted, restored) in chunk.moved.items():
            before = total.moved.get(day, (0, 0))
            total.moved[day] = (before[0] + demoted, before[1] + restored)

    for day in sorted(days):
        _extract_day(settings, chunk, day)
        if chunk.rows_read >= chunk_rows:
            flush()
            chunk = RawLoad(source)
    if chunk.loaded or chunk.blocked or not chunks:
        flush()  # the last chunk, or the only one (which may hold blocked days alone)
    else:
        total.kept.extend(chunk.kept)
    total.moved = {day: moved for day, moved in sorted(total.moved.items()) if day not in total.loaded}
    return total


# --- ids across days ----------------------------------------------------------------------


@dataclass
class CrossDayDecision:
    new_losers: dict[date, np.ndarray]  # loaded day -> positions in its accepted rows that lose
    demoted: pd.DataFrame  # raw rows of other days that lose (raw -> quarantine)
    restored: pd.DataFrame  # parked rows of other days that now win (quarantine -> raw), with `record`


def resolve_duplicates_across_days(
    id_column: str, new: dict[date, pd.DataFrame], existing: pd.DataFrame, parked: pd.DataFrame
) -> CrossDayDecision:
    """The earliest day keeps each id. Candidates: the newly loaded days' accepted rows, the raw
    rows of other days (`existing`) and the parked `duplicate_other_day` rows of other days
    (`parked`), each with `partition_date`. Within a day ids are unique already."""
    pieces = [
        pd.DataFrame({"id": frame[id_column].to_numpy(), "day": day, "origin": 0, "position": np.arange(len(frame)),
                      "new_day": day})
        for day, frame in new.items()
    ]
    for origin, frame in ((1, existing), (2, parked)):
        pieces.append(pd.DataFrame({
            "id": frame[id_column].to_numpy(), "day": frame["partition_date"].to_numpy(), "origin": origin,
            "position": np.arange(len(frame)), "new_day": None,
        }))
    candidates = pd.concat(pieces, ignore_index=True)
    # only ids on several days can lose; a parked row can win alone (its rival is gone)
    shared = candidates[_repeated(candidates["id"]) | (candidates["origin"] == 2).to_numpy()].copy()
    shared["day"] = pd.to_datetime(shared["day"])
    # earliest day first; on one day a loaded row stands for the whole day
    shared = shared.sort_values(["id", "day", "origin"], kind="stable")
    wins = ~shared["id"].duplicated(keep="first")

    losers = shared[~wins]
    new_losers = {
        day: np.sort(group["position"].to_numpy(dtype=np.int64))
        for day, group in losers[losers["origin"] == 0].groupby("new_day")
    }
    demoted = existing.iloc[losers.loc[losers["origin"] == 1, "position"].to_numpy(dtype=np.int64)]
    winners = shared[wins]
    restored = parked.iloc[winners.loc[winners["origin"] == 2, "position"].to_numpy(dtype=np.int64)]
    return CrossDayDecision(new_losers, demoted.reset_index(drop=True), restored.reset_index(drop=True))


def _id_array(ids: pd.Series) -> pa.Array:
    return pa.array(ids, pa.string(), from_pandas=True)  # a missing id is null


def _repeated(ids: pd.Series) -> np.ndarray:
    """True for every id that occurs more than once (pandas' duplicated(keep=False)), hashed by
    Arrow: a year of events is millions of ids, which pandas hashes as Python strings, 10x slower."""
    ids = _id_array(ids)
    counts = pc.value_counts(ids)
    repeated = pc.drop_null(counts.field("values").filter(pc.greater(counts.field("counts"), 1)))
    return pc.is_in(ids, value_set=repeated).to_numpy(zero_copy_only=False)


def _unique_ids(ids: pd.Series) -> pa.Array:
    """The distinct ids, missing ones left out."""
    return pc.unique(pc.drop_null(_id_array(ids)))


def quarantine_rows(source: str, rows: pd.DataFrame, reason: str) -> pd.DataFrame:
    """Typed raw rows as quarantine rows; the record is the row's values as text."""
    columns = landing_source(source).column_names
    records = [json.dumps({c: _as_text(v) for c, v in zip(columns, values)}, ensure_ascii=False)
               for values in rows[columns].itertuples(index=False, name=None)]
    return pd.DataFrame({
        "source": pd.Series([source] * len(rows), dtype=object),
        "partition_date": pd.Series(list(rows["partition_date"]), dtype=object),
        "source_file": pd.Series(list(rows["source_file"]), dtype=object),
        "reason": pd.Series([reason] * len(rows), dtype=object),
        "record": pd.Series(records, dtype=object),
    }, columns=QUARANTINE_COLUMNS)


def revalidate_parked(source: str, parked: pd.DataFrame, currency: str) -> pd.DataFrame:
    """Typed raw rows back from parked quarantine records (they passed every row rule when they
    were parked), with their `record` to find them again in quarantine."""
    landing = landing_source(source)
    id_column = landing.id_column
    typed = []
    for (day, source_file), group in parked.groupby(["partition_date", "source_file"], sort=True):
        frame = pd.DataFrame([json.loads(r) for r in group["record"]], dtype=object)
        file = LandingFile(Path(source_file), source_file, 0, 0)
        accepted = validate_frames(source, _as_date(day), [(file, frame)], currency).accepted
        by_id = dict(zip((json.loads(r).get(id_column) for r in group["record"]), group["record"]))
        typed.append(accepted.assign(record=[by_id.get(i) for i in accepted[id_column]]))
    columns = [*landing.column_names, "partition_date", "source_file", "record"]
    return pd.concat([pd.DataFrame(columns=columns), *typed], ignore_index=True)


def park_cross_day_duplicates(conn: Connection, schema: str) -> dict[str, list[date]]:
    """Bring raw tables loaded before ids were unique across days under the rule: every later
    copy of an id moves to quarantine as duplicate_other_day. Returns, per raw table, the days
    whose rows moved (their activity and metrics need a re-run). Cost: one GROUP BY per table."""
    from rekindle.tables import build_metadata

    metadata = build_metadata(schema)
    inspector = sa.inspect(conn)
    moved: dict[str, list[date]] = {}
    for landing in SOURCES:
        table_name, id_column = landing.table, landing.id_column
        if not inspector.has_table(table_name, schema=schema):
            continue
        table = metadata.tables[f"{schema}.{table_name}"]
        repeated = (
            sa.select(table.c[id_column]).group_by(table.c[id_column])
            .having(sa.func.count(sa.distinct(table.c.partition_date)) > 1)
        )
        result = conn.execute(sa.select(table).where(table.c[id_column].in_(repeated)))
        rows = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        if rows.empty:
            continue
        rows = rows.sort_values([id_column, "partition_date"], kind="stable")
        later = rows[rows[id_column].duplicated(keep="first")]
        for day, group in later.groupby("partition_date"):
            conn.execute(table.delete().where(
                table.c.partition_date == day, table.c[id_column].in_(list(group[id_column]))))
        parked = quarantine_rows(landing.name, later, DUPLICATE_OTHER_DAY)
        conn.execute(metadata.tables[f"{schema}.quarantine"].insert(), parked.to_dict("records"))
        moved[table_name] = sorted({_as_date(d) for d in later["partition_date"]})
    return moved


# --- writing ------------------------------------------------------------------------------


def write_raw_load(conn: Connection, warehouse, load: RawLoad, currency: str) -> None:
    """Apply a load inside the caller's transaction: loaded days replaced, blocked days' file
    errors recorded, and the cross-day decision applied to every day it touches."""
    landing = landing_source(load.source)
    source, table, id_column = landing.name, landing.table, landing.id_column
    raw, quarantine = warehouse.table(table), warehouse.table("quarantine")
    loaded_days = sorted(load.loaded)
    other_day = raw.c.partition_date.not_in(loaded_days) if loaded_days else sa.true()

    new = {day: part.accepted for day, part in load.loaded.items()}
    new_ids = pd.concat([pd.Series(f[id_column], dtype=object) for f in new.values()] or [pd.Series(dtype=object)])
    parked_rows = pd.DataFrame(
        conn.execute(
            sa.select(quarantine.c.partition_date, quarantine.c.source_file, quarantine.c.record).where(
                quarantine.c.source == source, quarantine.c.reason == DUPLICATE_OTHER_DAY,
                quarantine.c.partition_date.not_in(loaded_days) if loaded_days else sa.true(),
            )
        ).fetchall(),
        columns=["partition_date", "source_file", "record"],
    )
    parked = revalidate_parked(source, parked_rows, currency)
    ids = _unique_ids(pd.concat([new_ids, parked[id_column]], ignore_index=True))
    existing = warehouse.select_where_in(conn, table, id_column, ids, where=other_day)
    decision = resolve_duplicates_across_days(id_column, new, existing, parked)

    for day, part in load.loaded.items():
        lose = decision.new_losers.get(day, np.zeros(0, dtype=np.int64))
        keep = np.ones(len(part.accepted), dtype=bool)
        keep[lose] = False
        # the partition's own accounting: a cross-day loser is read and quarantined on its day
        losers = quarantine_rows(source, part.accepted.iloc[lose], DUPLICATE_OTHER_DAY)
        part.quarantined = pd.concat([part.quarantined, losers], ignore_index=True)
        part.accepted = part.accepted[keep].reset_index(drop=True)
    accepted = [part.accepted for part in load.loaded.values()]
    rejected = [part.quarantined for part in load.loaded.values()]

    if loaded_days:
        conn.execute(raw.delete().where(raw.c.partition_date.in_(loaded_days)))
        conn.execute(quarantine.delete().where(
            quarantine.c.source == source, quarantine.c.partition_date.in_(loaded_days)))
    if load.blocked:
        # the day stays as it was; only its file errors are (re)recorded
        conn.execute(quarantine.delete().where(
            quarantine.c.source == source, quarantine.c.partition_date.in_(sorted(load.blocked)),
            quarantine.c.reason.in_(BLOCKING_REASONS)))
        rejected.extend(p.quarantined[p.quarantined["reason"].isin(BLOCKING_REASONS)] for p in load.blocked.values())

    moved: dict[date, list[int]] = {}
    for day, rows in decision.demoted.groupby("partition_date"):
        conn.execute(raw.delete().where(raw.c.partition_date == day, raw.c[id_column].in_(list(rows[id_column]))))
        rejected.append(quarantine_rows(source, rows, DUPLICATE_OTHER_DAY))
        moved.setdefault(_as_date(day), [0, 0])[0] += len(rows)
    for (day, record), _ in decision.restored.groupby(["partition_date", "record"]):
        conn.execute(quarantine.delete().where(
            quarantine.c.source == source, quarantine.c.reason == DUPLICATE_OTHER_DAY,
            quarantine.c.partition_date == day, quarantine.c.record == record))
    for day, rows in decision.restored.groupby("partition_date"):
        moved.setdefault(_as_date(day), [0, 0])[1] += len(rows)
    accepted.append(decision.restored.drop(columns=["record"]))

    raw_columns = [*landing.column_names, "partition_date", "source_file"]
    warehouse.bulk_insert(conn, table, _concat(accepted, raw_columns))
    warehouse.bulk_insert(conn, "quarantine", _concat(rejected, QUARANTINE_COLUMNS))
    load.moved = {day: (demoted, restored) for day, (demoted, restored) in sorted(moved.items())}


def _concat(frames: Sequence[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f[columns] for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _as_text(value) -> str | None:
    if value is None or pd.isna(value):
        return None
    if isinstance(value, (datetime, pd.Timestamp)):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, (Decimal, float)):  # 42.5 and Decimal("42.5000") alike: "42.5"
        return format(Decimal(repr(value) if isinstance(value, float) else value).normalize(), "f")
    return str(value)


def _as_date(value) -> date:
    return value if isinstance(value, date) and not isinstance(value, datetime) else pd.Timestamp(value).date()
