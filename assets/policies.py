"""How every asset runs against the warehouse, decided once for all of them (`warehouse_asset`):

- retried with exponential backoff when the warehouse is briefly unavailable (connection refused,
  server restarting, DuckDB file still locked after the resource's wait): WAREHOUSE_RETRY_POLICY;
- failed at once, with the cause, when retrying cannot help (SQL, programming or data errors):
  dagster.Failure(allow_retries=False);
- on DuckDB, in the `duckdb_warehouse` pool. The instance (.dagster_home/dagster.yaml) limits
  pools to one run at a time (`granularity: run`), so a second run that writes the DuckDB file
  waits in the queue however it was launched, ad-hoc materializations from the UI included.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta

from dagster import Backoff, Failure, FreshnessPolicy, Jitter, RetryPolicy, RetryRequested, asset

from rekindle.settings import Settings
from resources.warehouse import is_transient_error

# 15 s, 30 s, 60 s (each +/- jitter): rides out a database restart or a lock held past the wait.
WAREHOUSE_RETRY_POLICY = RetryPolicy(max_retries=3, delay=15, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)

DUCKDB_POOL = "duckdb_warehouse"

# Yesterday's numbers by 06:00 UTC: the daily schedule (00:30 UTC by default) has run since midnight.
# A dated metric not materialized between 00:00 and 06:00 UTC shows as overdue in the UI.
DAILY_METRIC_FRESHNESS = FreshnessPolicy.cron(deadline_cron="0 6 * * *", lower_bound_delta=timedelta(hours=6))


def warehouse_asset(settings: Settings, **asset_args) -> Callable[[Callable], object]:
    """`@asset` for a step that reads and writes the warehouse, with the policies above."""

    def decorate(compute: Callable):
        return asset(
            retry_policy=WAREHOUSE_RETRY_POLICY,
            pool=DUCKDB_POOL if settings.is_duckdb else None,
            **asset_args,
        )(fail_fast_on_permanent_errors(compute))

    return decorate


def fail_fast_on_permanent_errors(compute: Callable) -> Callable:
    """Let transient errors reach the retry policy; turn every other error into a Failure that
    skips it, so a broken statement fails in seconds instead of after every backoff."""

    @functools.wraps(compute)  # Dagster reads the parameters (context, resources) through the wrapper
    def run(*args, **kwargs):
        try:
            return compute(*args, **kwargs)
        except (Failure, RetryRequested):
            raise
        except Exception as error:
            if is_transient_error(error):
                raise
            raise Failure(
                description=f"{type(error).__name__}: {error} (a permanent error: not retried)",
                allow_retries=False,
            ) from error

    return run
