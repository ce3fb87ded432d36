"""Export of the win-back list (inactive_customers) for CRM tools."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import text

from resources.warehouse import WarehouseResource

COLUMNS = ["as_of_date", "customer_id", "last_active_date", "days_inactive", "inactivity_bucket",
           "lifetime_orders", "lifetime_revenue", "rfm_segment", "p_alive", "expected_purchases_90d"]
BATCH_ROWS = 10_000


def export_inactive_customers(warehouse: WarehouseResource, path: Path) -> int:
    """Write inactive_customers to `path` as CSV with a header, most valuable customers first
    (lifetime_revenue descending, then customer_id); returns the number of data rows.
    Rows are streamed in batches, so the list may be larger than memory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sql = text(f"SELECT {', '.join(COLUMNS)} FROM {warehouse.qualified('inactive_customers')} "
               f'ORDER BY lifetime_revenue DESC, customer_id COLLATE "C"')
    rows = 0
    with warehouse.engine.connect() as conn, path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        result = conn.execute(sql)
        while batch := result.fetchmany(BATCH_ROWS):
            writer.writerows(batch)
            rows += len(batch)
    return rows
