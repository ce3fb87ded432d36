"""The landing zone of SPEC section 1: finding partition folders and files, reading one file.

Layout: ``<landing_dir>/<source>/dt=YYYY-MM-DD/<file>``. Everything here is plain file access;
validation of the rows lives in :mod:`rekindle.raw_validation`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SOURCES = ("orders", "events", "campaign_touches", "surveys")
REQUIRED_SOURCES = ("orders", "events")
FILE_SUFFIXES = (".parquet", ".csv", ".csv.gz", ".jsonl", ".jsonl.gz")

_PARTITION_RE = re.compile(r"dt=(\d{4}-\d{2}-\d{2})")


class LandingFileError(Exception):
    """A landing file cannot be read at all; the message names the file."""

    def __init__(self, path: Path | str, cause: BaseException | str):
        self.path = Path(path)
        self.cause = cause
        detail = f"{type(cause).__name__}: {cause}" if isinstance(cause, BaseException) else cause
        super().__init__(f"cannot read landing file {self.path}: {detail}")


@dataclass(frozen=True)
class LandingFile:
    path: Path
    relative_path: str  # posix, relative to the landing root: "orders/dt=2025-01-03/part-0001.csv"
    size: int
    mtime_ns: int


def partition_dir(landing_dir: Path, source: str, day: date) -> Path:
    return Path(landing_dir) / source / f"dt={day.isoformat()}"


def list_partition_dates(landing_dir: Path, source: str | None = None) -> list[date]:
    """Days that have at least one data file, for one source or (None) for any source."""
    sources = SOURCES if source is None else (_check_source(source),)
    days: set[date] = set()
    for src in sources:
        for day, folder in _partition_folders(Path(landing_dir) / src):
            if day not in days and _data_entries(folder):
                days.add(day)
    return sorted(days)


def list_files(landing_dir: Path, source: str, day: date) -> list[LandingFile]:
    """Data files of one partition folder, oldest first by (mtime, name); [] if there is none."""
    _check_source(source)
    folder = partition_dir(landing_dir, source, day)
    return _scan_folder(str(folder), f"{source}/{folder.name}/")


def list_all_files(landing_dir: Path) -> list[LandingFile]:
    """Every data file of every source, by source, then day, then oldest first."""
    files: list[LandingFile] = []
    for source in SOURCES:
        for day, folder in _partition_folders(Path(landing_dir) / source):
            files.extend(_scan_folder(folder, f"{source}/dt={day.isoformat()}/"))
    return files


def read_file(file: LandingFile) -> pd.DataFrame:
    """All columns as text (object dtype, None for missing), names stripped and lower-cased.

    Typed values (parquet, JSON numbers) are rendered as text too, so that validation coerces
    every format the same way. Raises LandingFileError when the file cannot be read.
    """
    name = file.path.name.lower()
    compression = "gzip" if name.endswith(".gz") else None
    try:
        if name.endswith(".parquet"):
            frame = _read_parquet(file.path)
        elif name.endswith((".csv", ".csv.gz")):
            frame = _read_csv(file.path, compression)
        elif name.endswith((".jsonl", ".jsonl.gz")):
            frame = _read_jsonl(file.path, compression)
        else:
            raise ValueError(f"unsupported file type; expected one of {', '.join(FILE_SUFFIXES)}")
    except Exception as exc:  # any reader failure (corrupt, truncated, bad encoding...) means unusable
        raise LandingFileError(file.path, exc) from exc

    frame.columns = [str(c).strip().lower() for c in frame.columns]
    duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
    if duplicated:
        # Two columns that differ only by case would make every row ambiguous.
        raise LandingFileError(file.path, f"duplicate column names (case-insensitive): {', '.join(duplicated)}")
    return frame


# --- helpers ------------------------------------------------------------------------------


def _check_source(source: str) -> str:
    if source not in SOURCES:
        raise ValueError(f"unknown landing source {source!r}; expected one of {', '.join(SOURCES)}")
    return source


def _is_data_file(name: str) -> bool:
    # Writers stage files as ".name"/"_name" or with an extra suffix (".tmp") before renaming.
    return not name.startswith((".", "_")) and name.lower().endswith(FILE_SUFFIXES)


def _partition_folders(source_dir: Path) -> list[tuple[date, str]]:
    """(day, folder path) of the well-formed dt= folders of one source, by day."""
    folders = []
    try:
        with os.scandir(source_dir) as entries:
            for entry in entries:
                match = _PARTITION_RE.fullmatch(entry.name)
                if match and entry.is_dir():
                    try:
                        folders.append((date.fromisoformat(match.group(1)), entry.path))
                    except ValueError:  # dt=2025-02-30 and friends
                        pass
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(folders)


def _data_entries(folder: str) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as entries:
            return [e for e in entries if _is_data_file(e.name) and e.is_file()]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _scan_folder(folder: str, relative_prefix: str) -> list[LandingFile]:
    files = []
    for entry in _data_entries(folder):
        stat = entry.stat()
        files.append(LandingFile(Path(entry.path), relative_prefix + entry.name, stat.st_size, stat.st_mtime_ns))
    files.sort(key=lambda f: (f.mtime_ns, f.path.name))
    return files


def _read_csv(path: Path, compression: str | None) -> pd.DataFrame:
    # Only an empty field is missing: "NA" or "null" may be legitimate ids and stay text.
    try:
        frame = pd.read_csv(
            path,
            dtype=object,
            keep_default_na=False,
            na_values=[""],
            encoding="utf-8-sig",
            compression=compression,
        )
    except pd.errors.EmptyDataError:  # zero-byte file: no header, no rows
        return pd.DataFrame()
    return frame.where(frame.notna(), None)


def _read_jsonl(path: Path, compression: str | None) -> pd.DataFrame:
    # precise_float: the fast parser reads 0.3 as 0.30000000000000004.
    frame = pd.read_json(
        path, lines=True, dtype=False, precise_float=True, compression=compression, encoding="utf-8"
    )
    return pd.DataFrame({name: _series_to_text(frame[name]) for name in frame.columns}, dtype=object)


def _read_parquet(path: Path) -> pd.DataFrame:
    table = pq.read_table(path)
    return pd.DataFrame({name: _arrow_to_text(table.column(name)) for name in table.column_names}, dtype=object)


def _arrow_to_text(column: pa.ChunkedArray):
    """Object ndarray of str/None. Timestamps become ISO text (tz-aware ones end in "Z")."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        try:
            column = pc.cast(column, pa.string())
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):  # nested or binary values
            column = pa.array([None if v is None else json.dumps(v, default=str) for v in column.to_pylist()])
    return column.to_numpy(zero_copy_only=False)


def _series_to_text(series: pd.Series):
    if series.dtype != object:  # numbers, booleans, text
        return _arrow_to_text(pa.chunked_array([pa.array(series, from_pandas=True)]))
    if pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty"):
        # A JSON key holding mixed types (numbers here, strings there, objects): render each value.
        series = series.map(_value_to_text, na_action="ignore").astype(object)
    return series.where(series.notna(), None).to_numpy(dtype=object)


def _value_to_text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # as Arrow renders a float column: 9.0 -> "9"
    if isinstance(value, (dict, list, bool)):
        return json.dumps(value)
    return str(value)
