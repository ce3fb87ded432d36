"""The downstream rule: a changed input day leaves every later day of every dated metric stale,
a day-local asset only on that day, every snapshot; what was rebuilt after the change is not."""

from datetime import date, timedelta

from rekindle.staleness import Change, StaleWork, stale_downstream

RAW, ACTIVITY, METRIC, SNAPSHOT = "raw_orders", "customer_daily_activity", "lifecycle_daily", "customers"
DESCENDANTS = {RAW: {ACTIVITY, METRIC, SNAPSHOT}, ACTIVITY: {METRIC, SNAPSHOT}}
DAY_LOCAL = {ACTIVITY}
DAYS = [date(2025, 1, 1) + timedelta(days=i) for i in range(100)]
FIRST, LAST = DAYS[0], DAYS[-1]


def by_day(storage_id: int) -> dict[date, int]:
    return {day: storage_id for day in DAYS}


def stale(changes, activity=None, metric=None, snapshot=None) -> StaleWork:
    return stale_downstream(
        changes,
        DESCENDANTS,
        DAY_LOCAL,
        latest_by_day={ACTIVITY: activity if activity is not None else by_day(10),
                       METRIC: metric if metric is not None else by_day(10)},
        latest_unpartitioned={SNAPSHOT: snapshot if snapshot is not None else 10},
    )


def test_nothing_changed_nothing_stale():
    assert stale([]) == StaleWork(frozenset(), None, None)


def test_a_full_run_leaves_nothing_stale():
    # `rekindle run`/the schedule: raw (1..), activity (2..) then metrics and snapshots later (10)
    changes = [Change(RAW, day, 1) for day in DAYS] + [Change(ACTIVITY, day, 2) for day in DAYS]
    assert stale(changes).assets == frozenset()


def test_a_late_day_makes_every_later_metric_day_stale_not_just_a_window():
    late = DAYS[20]
    # the landing run rebuilt raw and activity of that day only (ids 20, 21)
    activity = {**by_day(10), late: 21}
    work = stale([Change(RAW, late, 20), Change(ACTIVITY, late, 21)], activity=activity)
    assert work == StaleWork(frozenset({METRIC, SNAPSHOT}), late, LAST)
    # 80 days later than the change, far beyond any N + P: still recomputed
    assert (work.end - work.start).days == 79


def test_only_the_changed_day_of_a_day_local_asset_is_stale():
    # an ad-hoc run materialized raw only: activity of that day is stale, the metrics from it on
    work = stale([Change(RAW, DAYS[50], 20)])
    assert work == StaleWork(frozenset({ACTIVITY, METRIC, SNAPSHOT}), DAYS[50], LAST)
    activity = {**by_day(10), DAYS[50]: 30}  # activity of that day rebuilt later, metrics not
    assert stale([Change(RAW, DAYS[50], 20)], activity=activity).assets == frozenset({METRIC, SNAPSHOT})


def test_metric_days_rebuilt_after_the_change_are_not_stale():
    late = DAYS[20]
    metric = {**by_day(10), **{day: 30 for day in DAYS[20:]}}  # a downstream run covered late..last
    assert stale([Change(ACTIVITY, late, 21)], metric=metric, snapshot=31).assets == frozenset()
    metric = {**metric, DAYS[60]: 10}  # ...except one day
    assert stale([Change(ACTIVITY, late, 21)], metric=metric, snapshot=31) == StaleWork(
        frozenset({METRIC}), late, LAST
    )


def test_a_new_latest_day_extends_the_range_and_counts_as_stale():
    new = LAST + timedelta(days=1)
    work = stale([Change(ACTIVITY, new, 21)], snapshot=5)
    assert work == StaleWork(frozenset({METRIC, SNAPSHOT}), new, new)


def test_only_snapshots_stale_gives_no_days():
    touches = "raw_campaign_touches"
    work = stale_downstream(
        [Change(touches, DAYS[3], 40)], {touches: {"campaign_performance"}}, DAY_LOCAL,
        latest_by_day={}, latest_unpartitioned={"campaign_performance": 12},
    )
    assert work == StaleWork(frozenset({"campaign_performance"}), None, None)


def test_the_earliest_of_several_changes_starts_the_range():
    work = stale([Change(ACTIVITY, DAYS[70], 21), Change(ACTIVITY, DAYS[30], 22)])
    assert (work.start, work.end) == (DAYS[30], LAST)
