"""The quarantine, counted: rejected landing rows per day, source and reason.

The rows themselves are written by the raw loads (rekindle.raw_load), in the same transaction as
the accepted rows of their day; this module only reads them, with one aggregate over the days
asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.engine import Connection

from rekindle.sql import schema_prefix


@dataclass(frozen=True)
class RejectedRows:
    day: date  # partition_date: the landing folder's day
    source: str
    reason: str
    rows: int


def rejected_rows(conn: Connection, schema: str, start_date: date, end_date: date) -> list[RejectedRows]:
    """How many rows the quarantine holds for each day of [start_date, end_date], source and reason."""
    sql = f"""
        -- rejected landing rows of the days asked for, by day, source and reason
        SELECT partition_date, source, reason, COUNT(*) AS rejected_rows
        FROM {schema_prefix(conn, schema)}.quarantine
        WHERE partition_date BETWEEN :start_date AND :end_date
        GROUP BY partition_date, source, reason
        ORDER BY partition_date, source, reason
    """
    result = conn.execute(text(sql), {"start_date": start_date, "end_date": end_date})
    return [RejectedRows(day, source, reason, int(rows)) for day, source, reason, rows in result]


def day_summaries(
    rejected: Iterable[RejectedRows], days: Sequence[date], sources: Sequence[str]
) -> dict[date, dict[str, object]]:
    """For each day: the rejected rows in all (`dagster/row_count`, the quarantine's rows for that
    day), per source (`rejected_<source>`, 0 when none, so a plot has every day) and, for the
    sources with any, per reason (`reasons`, most frequent first)."""
    counts: dict[date, dict[str, dict[str, int]]] = {day: {source: {} for source in sources} for day in days}
    for row in rejected:
        counts[row.day].setdefault(row.source, {})[row.reason] = row.rows
    return {
        day: {
            "dagster/row_count": sum(rows for reasons in by_source.values() for rows in reasons.values()),
            **{f"rejected_{source}": sum(reasons.values()) for source, reasons in by_source.items()},
            "reasons": {
                source: dict(sorted(reasons.items(), key=lambda reason: (-reason[1], reason[0])))
                for source, reasons in by_source.items()
                if reasons
            },
        }
        for day, by_source in counts.items()
    }
