"""Which downstream assets a change of input partitions left stale, and for which days: the pure
core of the downstream sensor.

Why "from the changed day through the latest day", and not "changed day + longest N + longest P":
a metric as of day D depends on ALL activity up to D. A late first-ever activity of a customer on
day d makes them "seen" from d on, so they count in inactive_customers for every D >= d + N,
forever; their lifetime orders, revenue and RFM segment move every later day too. So every dated
metric is recomputed for [earliest changed day, latest materialized day], which is cheap because
each metric computes a whole range in one linear pass, and every unpartitioned snapshot
(customers, cohorts, predictions, win-back list, campaigns) is rebuilt.

The one exception is a day-local asset such as customer_daily_activity: its day d is computed from
the raw rows of day d alone, so only that day of it goes stale.

Staleness is decided by event order, not by who launched what: an asset partition is stale for a
change when its latest materialization is older (smaller storage id) than the change's. A run
that already rebuilt everything downstream (`rekindle run`, the daily schedule) leaves nothing stale.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Change:
    """An input asset partition was (re-)materialized; storage ids order events in time."""

    asset: Hashable  # an asset key
    day: date
    storage_id: int


@dataclass(frozen=True)
class StaleWork:
    assets: frozenset[Hashable]
    start: date | None  # the days to recompute for the dated ones, inclusive; None when only
    end: date | None  # unpartitioned snapshots are stale


def stale_downstream(
    changes: Iterable[Change],
    descendants: Mapping[Hashable, Iterable[Hashable]],
    day_local: set[Hashable],
    latest_by_day: Mapping[Hashable, Mapping[date, int]],
    latest_unpartitioned: Mapping[Hashable, int | None],
) -> StaleWork:
    """`descendants`: each input asset's downstream assets. `latest_by_day`: for each dated
    downstream asset, the storage id of the latest materialization of each day (a day never
    materialized is stale). `latest_unpartitioned`: the same for snapshot assets."""
    changes = list(changes)
    if not changes:
        return StaleWork(frozenset(), None, None)
    first = min(c.day for c in changes)
    last = max([c.day for c in changes] + [day for by_day in latest_by_day.values() for day in by_day])
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    # per dated asset and day d: the oldest latest-materialization among days d..last
    oldest_from = {asset: _suffix_min([by_day.get(day, 0) for day in days]) for asset, by_day in latest_by_day.items()}

    stale: set[Hashable] = set()
    stale_days: list[date] = []
    for change in changes:
        for asset in descendants.get(change.asset, ()):
            if asset in day_local:
                is_stale = latest_by_day[asset].get(change.day, 0) < change.storage_id
            elif asset in latest_by_day:
                is_stale = oldest_from[asset][(change.day - first).days] < change.storage_id
            else:
                is_stale = (latest_unpartitioned.get(asset) or 0) < change.storage_id
            if is_stale:
                stale.add(asset)
                if asset in latest_by_day:
                    stale_days.append(change.day)
    if not stale_days:
        return StaleWork(frozenset(stale), None, None)
    return StaleWork(frozenset(stale), min(stale_days), last)


def _suffix_min(values: list[int]) -> list[int]:
    result = list(values)
    for i in range(len(result) - 2, -1, -1):
        result[i] = min(result[i], result[i + 1])
    return result
