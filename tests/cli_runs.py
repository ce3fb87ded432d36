"""`rekindle run` as an operator runs it: a real process with its own landing zone, DuckDB file,
Data Docs folder and Dagster instance under one temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path


def run_cli(
    landing: Path, tmp_path: Path, start: date, end: date, warehouse_url: str | None = None, schema: str = "analytics",
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "REKINDLE_LANDING_DIR": str(landing),
        "REKINDLE_WAREHOUSE_URL": warehouse_url or f"duckdb:///{tmp_path}/w.duckdb",
        "REKINDLE_SCHEMA": schema,
        "REKINDLE_START_DATE": "2026-01-01",
        "REKINDLE_QUALITY_DOCS_DIR": str(tmp_path / "docs"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        **(extra_env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "run", "--start", start.isoformat(), "--end", end.isoformat()],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
