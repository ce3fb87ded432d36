"""What changed in the landing zone since the last look: the pure core of the landing sensor.

A file is identified by its path; its state is (size, mtime_ns). New, changed and removed files
all change their partition, because extraction always re-reads the whole dt= folder.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from collections.abc import Iterable, Mapping
from datetime import date

from rekindle.landing import LandingFile

FileStates = dict[str, tuple[int, int]]  # relative path -> (size, mtime_ns)


def file_states(files: Iterable[LandingFile]) -> FileStates:
    return {f.relative_path: (f.size, f.mtime_ns) for f in files}


def partition_of(relative_path: str) -> tuple[str, date]:
    """'orders/dt=2025-01-03/part-0001.csv' -> ('orders', date(2025, 1, 3))."""
    source, folder = relative_path.split("/")[:2]
    return source, date.fromisoformat(folder.removeprefix("dt="))


def changed_partitions(current: Mapping[str, tuple[int, int]], previous: Mapping[str, tuple[int, int]]) -> dict[tuple[str, date], list[str]]:
    """(source, day) -> the paths that are new, changed or gone since `previous`."""
    changed: dict[tuple[str, date], list[str]] = {}
    for path in sorted(set(current) | set(previous)):
        if current.get(path) != previous.get(path):
            changed.setdefault(partition_of(path), []).append(path)
    return changed


def fingerprint(states: Mapping[str, tuple[int, int]], paths: Iterable[str]) -> str:
    """A short digest of these files' states: the same files in the same state give the same
    run key, so a repeated tick cannot launch the same work twice."""
    digest = hashlib.sha1()
    for path in sorted(paths):
        digest.update(f"{path}\0{states.get(path)}\n".encode())
    return digest.hexdigest()[:12]


def encode_cursor(states: Mapping[str, tuple[int, int]]) -> str:
    # compressed: a landing zone of thousands of files must still fit a sensor cursor
    raw = json.dumps({p: list(s) for p, s in sorted(states.items())}, separators=(",", ":")).encode()
    return base64.b64encode(zlib.compress(raw, 6)).decode()


def decode_cursor(cursor: str | None) -> FileStates | None:
    if not cursor:
        return None
    raw = json.loads(zlib.decompress(base64.b64decode(cursor)))
    return {path: (int(size), int(mtime)) for path, (size, mtime) in raw.items()}


def already_loaded(states: Mapping[str, tuple[int, int]], loaded_at: Mapping[tuple[str, date], float]) -> FileStates:
    """The files a load has seen: not modified since their partition was last loaded
    (`loaded_at`: epoch seconds, when the loading run started)."""
    seen: FileStates = {}
    for path, (size, mtime_ns) in states.items():
        loaded = loaded_at.get(partition_of(path))
        if loaded is not None and mtime_ns <= loaded * 1e9:
            seen[path] = (size, mtime_ns)
    return seen


def day_ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Consecutive days grouped: [1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges and (day - ranges[-1][1]).days == 1:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges
