"""Export of the win-back list (inactive_customers) for CRM tools."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from rekindle.sql import schema_prefix

COLUMNS = ["as_of_date", "customer_id", "last_active_date", "days_inactive", "inactivity_bucket",
           "lifetime_orders", "lifetime_revenue", "rfm_segment", "p_alive", "expected_purchases_90d"]
BATCH_ROWS = 10_000
# OWASP CSV injection: a spreadsheet runs a text cell starting with one of these as a formula
# (=HYPERLINK(...), @SUM(...), +cmd|...), and customer ids come from the landing zone.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell that would start a formula gets a leading ' (shown as text); numbers, dates
    and other text are written as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def export_inactive_customers(conn: Connection, schema: str, path: Path) -> int:
    """Write `schema`.inactive_customers to `path` as CSV with a header, most valuable customers
    first (lifetime_revenue descending, then customer_id); returns the number of data rows.
    Rows are streamed in batches, so the list may be larger than memory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sql = text(f"SELECT {', '.join(COLUMNS)} FROM {schema_prefix(conn, schema)}.inactive_customers "
               f'ORDER BY lifetime_revenue DESC, customer_id COLLATE "C"')
    rows = 0
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        result = conn.execute(sql)
        while batch := result.fetchmany(BATCH_ROWS):
            writer.writerows([spreadsheet_safe(value) for value in row] for row in batch)
            rows += len(batch)
    return rows
