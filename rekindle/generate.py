"""A realistic, seeded, synthetic landing zone (SPEC section 1): `rekindle generate`.

Customers behave like a shop's: a base active from day 1 plus a steady stream of new ones;
each is active in bursts of a few days separated by pauses, some of them longer than 30, 60
and 90 days; after each burst some customers leave for good. Segments differ: frequent
buyers, regular buyers, one-time buyers and browse-only visitors. Weekly newsletters and
push messages (passive events) also reach inactive customers. Win-back campaigns target
customers inactive for 30+ days, split 80/20 into treatment and control, and the treatment
really brings more of them back within 14 days.

About `dirty_rate` of the rows are deliberately bad, one kind per row, each kind named
after the quarantine reason it must get (see DIRTY_KINDS). Files mix every supported
format, header spelling and typed/text parquet columns. The same seed writes the same bytes.
"""

from __future__ import annotations

import gzip
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Integer, Numeric

from rekindle.settings import DEFAULT_PASSIVE_EVENT_TYPES
from rekindle.sources import COMPLETED, ORDER_STATUSES, SOURCES, Source
from rekindle.sources import source as landing_source

FORMATS = ("parquet", "csv", "csv.gz", "jsonl", "jsonl.gz")
_FORMAT_WEIGHTS = (0.70, 0.10, 0.07, 0.08, 0.05)

# Dirty kinds; each equals the quarantine reason the pipeline gives (without ":<column>"). The
# source kinds are reasons of the source's value rules (rekindle.sources; a test checks), those
# that _spoil knows how to cause.
_COMMON_KINDS = ("missing_value", "invalid_timestamp", "outside_partition", "duplicate", "superseded")
_SOURCE_KINDS = {
    "orders": ("invalid_amount", "negative_amount", "currency_mismatch", "invalid_status"),
    "events": (),
    "campaign_touches": ("invalid_group", "negative_cost"),
    "surveys": ("invalid_nps_score",),
}
DIRTY_KINDS = (
    *_COMMON_KINDS,
    *(kind for kinds in _SOURCE_KINDS.values() for kind in kinds),
    "missing_column",
)
# Dirty rows never exceed this share of a partition (or dirty_rate, when higher), so that a
# default zone stays well clear of the pipeline's 10% reject threshold.
_MAX_PARTITION_DIRTY_SHARE = 0.075
_MISSING_COLUMN_ROWS = 4  # rows of the single events file that lacks occurred_at
_SPLIT_FOLDER_SHARE = 0.10  # folders delivered as two files; only they carry corrections

# --- customer behaviour, per segment: frequent, regular, one-time buyers, browse-only -------
_ONE_TIME = 2  # index of the one-time buyers
_SEGMENT_SHARE = np.array([0.14, 0.30, 0.32, 0.24])
_BURST_EXTRA_DAYS = np.array([4.0, 2.0, 1.0, 1.0])  # active days per burst = 1 + Poisson(this)
_SHORT_PAUSE_DAYS = np.array([3.0, 7.0, 10.0, 9.0])  # a short pause lasts 1 + Exp(this) days
_LONG_PAUSE_SHARE = np.array([0.10, 0.30, 0.45, 0.40])  # share of pauses that are long
_LONG_PAUSE_DAYS = (15.0, 55.0)  # a long pause lasts 15 + Exp(55) days: often past 30, 60, 90
_CHURN_AFTER_BURST = np.array([0.015, 0.05, 0.30, 0.20])  # never to come back
_ORDER_DAY_SHARE = np.array([0.65, 0.40, 0.0, 0.0])  # one-time buyers order on their first day
_EVENTS_PER_DAY = np.array([1.8, 1.6, 1.4, 2.0])  # activity events per active day = 1 + Poisson
_BASE_SHARE = 0.40  # customers from before the period, active from its first days

# The activity types of organic active days, with their weights; campaign comebacks add sms_click.
# All are known types of the events source (rekindle.sources.ACTIVITY_EVENT_TYPES; a test checks).
ACTIVITY_WEIGHTS = {"page_view": 0.38, "app_open": 0.20, "search": 0.15, "add_to_cart": 0.11,
                    "email_open": 0.11, "email_click": 0.05}
_ACTIVITY_TYPES = tuple(ACTIVITY_WEIGHTS)
# Messages we send: the pipeline's default passive types, so the sample data needs no setting.
PASSIVE_EVENT_TYPES = DEFAULT_PASSIVE_EVENT_TYPES
_EVENT_TYPES = (*_ACTIVITY_TYPES, "sms_click", *PASSIVE_EVENT_TYPES)
_TYPE = {name: i for i, name in enumerate(_EVENT_TYPES)}
_FIXED_CHANNEL = {"app_open": "app", "email_open": "email", "email_click": "email", "sms_click": "sms",
                  "email_sent": "email", "email_delivered": "email", "sms_sent": "sms", "push_sent": "push"}

# --- win-back campaigns ----------------------------------------------------------------------
_WINBACK_FIRST_DAY = 35  # first send, days after the start: enough history to be inactive
_WINBACK_EVERY_DAYS = 30
_WINBACK_INACTIVE_DAYS = 30
_ATTRIBUTION_DAYS = 14
_TREATMENT_SHARE = 0.8
_WINBACK_LIFT = {"email": 0.25, "sms": 0.20}  # extra chance a treated customer comes back

# Hour-of-day weights (UTC): quiet nights, a midday and an evening peak.
_HOUR_WEIGHTS = np.array([2, 1, 1, 1, 1, 2, 3, 5, 6, 7, 7, 8, 9, 9, 8, 8, 8, 9, 10, 11, 11, 9, 6, 4], float)
_HOUR_WEIGHTS /= _HOUR_WEIGHTS.sum()
_UTC_OFFSETS_MINUTES = np.array([60, 120, 330, 540, -180, -240, -300])


class LandingZoneExistsError(FileExistsError):
    """The target landing zone already holds data and overwrite was not asked for."""


@dataclass
class GenerateSummary:
    root: Path
    start_date: date
    end_date: date
    files: list[Path] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # per source, dirty rows included
    dirty: dict[str, int] = field(default_factory=dict)  # per kind (DIRTY_KINDS), all sources
    dirty_by_source: dict[str, dict[str, int]] = field(default_factory=dict)
    partition_rows: dict[tuple[str, date], int] = field(default_factory=dict)
    partition_dirty: dict[tuple[str, date], int] = field(default_factory=dict)
    campaigns: list[str] = field(default_factory=list)

    @property
    def dirty_rows(self) -> int:
        return sum(self.dirty.values())

    @property
    def max_partition_dirty_share(self) -> float:
        return max((n / self.partition_rows[key] for key, n in self.partition_dirty.items()), default=0.0)


START_DATE_VARIABLE = "REKINDLE_START_DATE"
_START_DATE_COMMENT = "# first day of the sample data in the landing zone, set by `rekindle generate --env-file`"


def write_start_date(env_file: Path, start_date: date) -> None:
    """Set REKINDLE_START_DATE in a .env file, keeping its other lines. The daily partitions then
    begin on the first generated day instead of 2025-01-01: without it a fresh UI shows every
    daily asset mostly empty (180 days of data among every day since 2025-01-01)."""
    env_file = Path(env_file)
    lines = env_file.read_text().splitlines() if env_file.exists() else []
    kept = [
        line for line in lines
        if line != _START_DATE_COMMENT
        and line.strip().removeprefix("export ").split("=", 1)[0].strip() != START_DATE_VARIABLE
    ]
    lines = [*kept, _START_DATE_COMMENT, f"{START_DATE_VARIABLE}={start_date.isoformat()}"]
    env_file.write_text("\n".join(lines) + "\n")


# --- entry point -------------------------------------------------------------------------------


def generate_landing_zone(
    root: Path,
    *,
    customers: int = 20000,
    days: int = 180,
    end_date: date | None = None,
    seed: int = 7,
    dirty_rate: float = 0.01,
    campaigns: bool = True,
    surveys: bool = True,
    overwrite: bool = False,
) -> GenerateSummary:
    """Write `days` daily partitions ending at `end_date` (default yesterday, UTC) under `root`."""
    if customers < 1 or days < 1:
        raise ValueError(f"customers and days must be at least 1, got {customers} and {days}")
    if not 0 <= dirty_rate < 1:
        raise ValueError(f"dirty_rate must be in [0, 1), got {dirty_rate}")
    root = Path(root)
    folders = [root / source.name for source in SOURCES]
    existing = [p for folder in folders if folder.is_dir() for p in folder.rglob("*") if p.is_file()]
    if existing and not overwrite:
        raise LandingZoneExistsError(
            f"{root} already holds landing data ({len(existing)} files); use --overwrite "
            "(or overwrite=True) to replace it"
        )
    for folder in folders:
        if folder.exists():
            shutil.rmtree(folder)

    end_date = end_date or datetime.now(timezone.utc).date() - timedelta(days=1)
    start_date = end_date - timedelta(days=days - 1)
    # Independent streams per stage, so e.g. --no-surveys leaves orders and events unchanged.
    rng_people, rng_activity, rng_campaigns, rng_rows, rng_surveys, rng_dirt, rng_files = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)
    )
    world = _World(rng_people, customers, days, start_date)
    activity = _organic_activity(rng_activity, world)
    touches, campaign_events = None, None
    campaign_ids: list[str] = []
    if campaigns:
        activity, touches, campaign_events, campaign_ids = _winback_campaigns(rng_campaigns, world, activity)
    orders, order_frame = _orders(rng_rows, world, activity)
    frames = {"orders": order_frame, "events": _events(rng_rows, world, activity, campaign_events, campaign_ids)}
    if campaigns:
        frames["campaign_touches"] = touches
    if surveys:
        frames["surveys"] = _surveys(rng_surveys, world, orders)

    summary = GenerateSummary(root=root, start_date=start_date, end_date=end_date, campaigns=campaign_ids)
    for source, frame in frames.items():
        frame, counts = _add_dirt(rng_dirt, source, frame, world, dirty_rate)
        summary.files += _write_source(rng_files, root, source, frame, world)
        summary.rows[source] = len(frame)
        summary.dirty_by_source[source] = counts
        days_of = frame["day"].to_numpy()
        rows = np.bincount(days_of, minlength=days)
        bad = np.bincount(days_of[frame["dirty"].notna().to_numpy()], minlength=days)
        for d in np.flatnonzero(rows):
            summary.partition_rows[(source, world.dates[d])] = int(rows[d])
            summary.partition_dirty[(source, world.dates[d])] = int(bad[d])
    totals = Counter()
    for counts in summary.dirty_by_source.values():
        totals.update(counts)
    summary.dirty = {kind: totals[kind] for kind in DIRTY_KINDS}
    summary.files.sort()
    return summary


# --- the simulated shop ------------------------------------------------------------------------


class _World:
    """Customers and their fixed traits, plus the calendar of the generated period."""

    def __init__(self, rng: np.random.Generator, customers: int, days: int, start_date: date):
        self.n, self.days = customers, days
        self.dates = [start_date + timedelta(days=d) for d in range(days)]
        self.day_text = np.array([d.isoformat() for d in self.dates])
        self.start_epoch = int(np.datetime64(start_date, "s").astype(np.int64))
        self.customer_ids = np.array([f"C{i:06d}" for i in range(1, customers + 1)], dtype=object)
        self.segment = rng.choice(4, size=customers, p=_SEGMENT_SHARE)
        base = rng.random(customers) < _BASE_SHARE
        # The base shows up within the first days; the others are acquired evenly over the period.
        self.first_day = np.where(base, rng.exponential(4.0, customers), rng.uniform(0, days, customers)).astype(int)
        self.known_from = np.where(base, 0, self.first_day)  # marketing reaches the base all along
        self.order_propensity = np.clip(rng.gamma(3.0, 1 / 3, customers), 0.2, 1.6)
        self.basket_log_mean = np.log(42.0) + rng.normal(0, 0.35, customers)
        self.email_ok = rng.random(customers) < 0.75
        self.newsletter = self.email_ok & (rng.random(customers) < 0.4)
        self.sms_ok = rng.random(customers) < 0.45
        self.app_user = rng.random(customers) < 0.50


@dataclass
class _Activity:
    """Customer-days with activity: organic bursts and campaign comebacks (camp >= 0)."""

    customer: np.ndarray
    day: np.ndarray
    camp: np.ndarray  # campaign index, -1 for organic
    camp_first: np.ndarray  # first day of a campaign comeback

    def extend(self, customer, day, camp, camp_first) -> _Activity:
        return _Activity(*(np.concatenate(pair) for pair in (
            (self.customer, customer), (self.day, day), (self.camp, camp), (self.camp_first, camp_first))))


def _burst_offsets(rng: np.random.Generator, n_active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For bursts of n_active days: (burst index, day offset from the burst's first day) per active day."""
    burst = np.repeat(np.arange(len(n_active)), n_active)
    step = rng.geometric(0.6, len(burst))  # mostly consecutive days, sometimes a day or two apart
    first = np.cumsum(n_active) - n_active
    step[first] = 0
    walked = np.cumsum(step)
    return burst, walked - walked[first][burst]


def _organic_activity(rng: np.random.Generator, world: _World) -> _Activity:
    n, days = world.n, world.days
    k = max(16, days // 4)  # bursts simulated per customer: more than fit in the period
    seg = world.segment[:, None]
    n_active = 1 + rng.poisson(_BURST_EXTRA_DAYS[seg], (n, k))
    burst, offset = _burst_offsets(rng, n_active.ravel())
    span = offset[np.cumsum(n_active.ravel()) - 1].reshape(n, k)
    pause = np.where(
        rng.random((n, k)) < _LONG_PAUSE_SHARE[seg],
        _LONG_PAUSE_DAYS[0] + rng.exponential(_LONG_PAUSE_DAYS[1], (n, k)),
        1 + rng.exponential(_SHORT_PAUSE_DAYS[seg], (n, k)),
    ).astype(np.int64)
    # Burst j starts `pause` days after the last day of burst j-1; the first on the first day.
    start = np.cumsum(np.concatenate([world.first_day[:, None], span[:, :-1] + pause[:, 1:]], axis=1), axis=1)
    churn = rng.random((n, k)) < _CHURN_AFTER_BURST[seg]
    alive = np.concatenate([np.ones((n, 1), bool), np.cumprod(~churn[:, :-1], axis=1).astype(bool)], axis=1)
    day = start.ravel()[burst] + offset
    keep = alive.ravel()[burst] & (day < days)
    customer = (burst // k)[keep]
    return _Activity(customer, day[keep], np.full(len(customer), -1), np.zeros(len(customer), bool))


def _winback_campaigns(rng: np.random.Generator, world: _World, activity: _Activity):
    """Send each win-back to the reachable customers inactive for 30+ days; treated ones come back more."""
    schedule = range(_WINBACK_FIRST_DAY, world.days - _ATTRIBUTION_DAYS, _WINBACK_EVERY_DAYS)
    touch_parts, event_parts, names = [], [], []
    for index, t in enumerate(schedule):
        channel = "email" if index % 2 == 0 else "sms"
        names.append(f"winback_{channel}_{world.dates[t]:%Y_%m}")
        # Inactivity as of the end of day t-1, with earlier campaigns' comebacks included.
        last = np.full(world.n, -1)
        before = activity.day < t
        np.maximum.at(last, activity.customer[before], activity.day[before])
        reachable = world.email_ok if channel == "email" else world.sms_ok
        audience = np.flatnonzero((last >= 0) & (t - 1 - last >= _WINBACK_INACTIVE_DAYS) & reachable)
        treated = rng.random(len(audience)) < _TREATMENT_SHARE
        sec = 9 * 3600 + rng.integers(0, 2 * 3600, len(audience))
        if channel == "email":
            cost = np.where(treated, 0.05, 0.0)
        else:
            cost = np.where(treated, np.round(rng.uniform(0.25, 0.50, len(audience)), 2), 0.0)
        touch_parts.append(pd.DataFrame({
            "customer": audience, "day": t, "sec": sec, "camp": index, "channel": channel,
            "group": np.where(treated, "treatment", "control"), "cost": cost,
        }))
        # The send itself is a passive event, only for the treatment group.
        sent = audience[treated]
        sent_sec = sec[treated]
        kind = _TYPE["email_sent"] if channel == "email" else _TYPE["sms_sent"]
        event_parts.append((sent, np.full(len(sent), t), sent_sec, np.full(len(sent), kind), index))
        if channel == "email":
            delivered = rng.random(len(sent)) < 0.97
            event_parts.append((sent[delivered], np.full(delivered.sum(), t),
                                sent_sec[delivered] + rng.integers(2, 300, delivered.sum()),
                                np.full(delivered.sum(), _TYPE["email_delivered"]), index))
        # The real effect: some treated customers come back within the attribution window.
        back = sent[rng.random(len(sent)) < _WINBACK_LIFT[channel]]
        first = t + np.minimum(_ATTRIBUTION_DAYS - 1, rng.exponential(2.5, len(back)).astype(int))
        burst, offset = _burst_offsets(rng, 1 + rng.poisson(1.0, len(back)))
        day = first[burst] + offset
        keep = day < world.days
        activity = activity.extend(back[burst][keep], day[keep], np.full(keep.sum(), index), (offset == 0)[keep])

    touches = pd.concat(touch_parts, ignore_index=True) if touch_parts else pd.DataFrame(
        {"customer": [], "day": [], "sec": [], "camp": [], "channel": [], "group": [], "cost": []})
    frame = _touch_frame(rng, world, touches, names)
    return activity, frame, event_parts, names


def _touch_frame(rng, world: _World, touches: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    order = np.lexsort((touches["customer"].to_numpy(), touches["sec"].to_numpy(), touches["day"].to_numpy()))
    touches = touches.iloc[order].reset_index(drop=True)
    day = touches["day"].to_numpy(dtype=np.int64)
    return pd.DataFrame({
        "touch_id": _ids("T", len(touches), 7),
        "customer_id": _text(world.customer_ids[touches["customer"].to_numpy(dtype=np.int64)]),
        "campaign_id": _text(np.array(names, dtype=object)[touches["camp"].to_numpy(dtype=np.int64)]),
        "channel": _text(touches["channel"].to_numpy(dtype=object)),
        "sent_at": _timestamps(rng, world, day, touches["sec"].to_numpy(dtype=np.int64)),
        "group": _text(touches["group"].to_numpy(dtype=object)),
        "cost": _money(touches["cost"].to_numpy(dtype=float)),
        "day": day,
    })


def _orders(rng: np.random.Generator, world: _World, activity: _Activity):
    """Orders on active days; returns the typed orders (for surveys) and the landing frame."""
    order = np.lexsort((activity.day, activity.customer))
    cust, day, camp_first = activity.customer[order], activity.day[order], activity.camp_first[order]
    seg = world.segment[cust]
    first_active = np.r_[True, cust[1:] != cust[:-1]] if len(cust) else np.zeros(0, bool)
    p = np.clip(_ORDER_DAY_SHARE[seg] * world.order_propensity[cust], 0, 0.95)
    p = np.where(camp_first, np.maximum(p, 0.5), p)  # a comeback often comes with an order
    buys = (rng.random(len(cust)) < p) | ((seg == _ONE_TIME) & first_active)
    count = buys * (1 + (rng.random(len(cust)) < 0.1))
    row = np.repeat(np.arange(len(cust)), count)
    n = len(row)
    o_cust, o_day = cust[row], day[row]
    o_sec = _time_of_day(rng, n)
    amount = np.round(np.exp(world.basket_log_mean[o_cust] + rng.normal(0, 0.55, n)), 2)
    amount = np.where(rng.random(n) < 0.003, 0.0, np.maximum(amount, 0.5))  # a few free orders
    status = rng.choice(np.array(ORDER_STATUSES, dtype=object), n, p=[0.9, 0.06, 0.04])
    channel = rng.choice(np.array(["web", "app", "store"], dtype=object), n, p=[0.5, 0.35, 0.15])
    channel = np.where(camp_first[row] & (channel == "store"), "web", channel)  # a link was clicked

    by_time = np.lexsort((o_cust, o_sec, o_day))
    o_cust, o_day, o_sec, amount, status, channel = (
        a[by_time] for a in (o_cust, o_day, o_sec, amount, status, channel))
    typed = pd.DataFrame({"customer": o_cust, "day": o_day, "sec": o_sec, "status": status})
    frame = pd.DataFrame({
        "order_id": _ids("O", n, 8),
        "customer_id": _text(world.customer_ids[o_cust]),
        "ordered_at": _timestamps(rng, world, o_day, o_sec),
        "amount": _money(amount),
        "currency": pd.Series(["USD"] * n, dtype="str"),
        "status": _text(status),
        "channel": _text(channel),
        "day": o_day,
    })
    return typed, frame


def _events(rng: np.random.Generator, world: _World, activity: _Activity, campaign_events, names) -> pd.DataFrame:
    seg = world.segment[activity.customer]
    count = 1 + rng.poisson(_EVENTS_PER_DAY[seg])  # every active day has at least one activity event
    row = np.repeat(np.arange(len(activity.day)), count)
    parts = [(activity.customer[row], activity.day[row], _time_of_day(rng, len(row)),
              rng.choice(len(_ACTIVITY_TYPES), len(row), p=list(ACTIVITY_WEIGHTS.values())),
              np.full(len(row), -1))]

    # A campaign comeback starts with a click on the message, tagged with the campaign; after
    # 11:00 UTC, when every send of the day is out.
    first = np.flatnonzero(activity.camp_first)
    for index, name in enumerate(names):
        mine = first[activity.camp[first] == index]
        cust, day = activity.customer[mine], activity.day[mine]
        sec = 11 * 3600 + rng.integers(0, 13 * 3600 - 60, len(mine))
        if name.startswith("winback_email"):
            parts.append((cust, day, sec, np.full(len(mine), _TYPE["email_open"]), np.full(len(mine), index)))
            click = rng.random(len(mine)) < 0.6
            parts.append((cust[click], day[click], np.minimum(sec[click] + 30, 86399),
                          np.full(click.sum(), _TYPE["email_click"]), np.full(click.sum(), index)))
        else:
            parts.append((cust, day, sec, np.full(len(mine), _TYPE["sms_click"]), np.full(len(mine), index)))
    for cust, day, sec, kind, index in campaign_events or []:
        parts.append((cust, day, sec, kind, np.full(len(cust), index)))

    # Passive messages reach everyone subscribed, active or not: weekly newsletter, push.
    newsletter_names = []
    for d in range(world.days):
        if world.dates[d].weekday() != 1:  # Tuesdays
            continue
        to = np.flatnonzero(world.newsletter & (world.known_from <= d))
        index = len(names) + len(newsletter_names)
        newsletter_names.append(f"newsletter_{world.dates[d]:%Y%m%d}")
        sec = 7 * 3600 + rng.integers(0, 3600, len(to))
        parts.append((to, np.full(len(to), d), sec, np.full(len(to), _TYPE["email_sent"]), np.full(len(to), index)))
        ok = rng.random(len(to)) < 0.96
        parts.append((to[ok], np.full(ok.sum(), d), sec[ok] + rng.integers(2, 600, ok.sum()),
                      np.full(ok.sum(), _TYPE["email_delivered"]), np.full(ok.sum(), index)))
    app = np.flatnonzero(world.app_user)
    pushes = rng.poisson(0.015 * (world.days - world.known_from[app]).clip(0))
    cust = np.repeat(app, pushes)
    day = world.known_from[cust] + (rng.random(len(cust)) * (world.days - world.known_from[cust])).astype(int)
    parts.append((cust, day, _time_of_day(rng, len(cust)), np.full(len(cust), _TYPE["push_sent"]),
                  np.full(len(cust), -1)))

    cust, day, sec, kind, camp = (np.concatenate([p[i] for p in parts]) for i in range(5))
    by_time = np.lexsort((kind, cust, sec, day))
    cust, day, sec, kind, camp = (a[by_time] for a in (cust, day, sec, kind, camp))
    channel_of_type = np.array([_FIXED_CHANNEL.get(t, "") for t in _EVENT_TYPES], dtype=object)
    channel = channel_of_type[kind]
    free = channel == ""
    channel[free] = rng.choice(np.array(["web", "app"], dtype=object), free.sum(), p=[0.55, 0.45])
    campaign_names = np.array([*names, *newsletter_names, None], dtype=object)  # -1 -> None
    return pd.DataFrame({
        "event_id": _ids("E", len(cust), 9),
        "customer_id": _text(world.customer_ids[cust]),
        "occurred_at": _timestamps(rng, world, day, sec),
        "event_type": _text(np.array(_EVENT_TYPES, dtype=object)[kind]),
        "channel": _text(channel),
        "campaign_id": _text(campaign_names[camp]),
        "day": day,
    })


def _surveys(rng: np.random.Generator, world: _World, orders: pd.DataFrame) -> pd.DataFrame:
    """A post-purchase NPS survey: some completed orders get a response within a few days."""
    done = orders[orders["status"] == COMPLETED]
    done = done[rng.random(len(done)) < 0.12]
    delay = rng.choice(4, len(done), p=[0.6, 0.2, 0.12, 0.08])
    day = done["day"].to_numpy() + delay
    sec = np.where(delay == 0, np.minimum(done["sec"].to_numpy() + rng.integers(600, 7200, len(done)), 86399),
                   _time_of_day(rng, len(done)))
    keep = day < world.days
    cust, day, sec = done["customer"].to_numpy()[keep], day[keep], sec[keep]
    n = len(cust)
    nps = rng.choice(11, n, p=[0.02, 0.01, 0.02, 0.03, 0.03, 0.05, 0.07, 0.12, 0.18, 0.22, 0.25])
    csat = np.clip(np.round(1 + 0.4 * nps + rng.normal(0, 0.6, n)), 1, 5).astype(int)
    by_time = np.lexsort((cust, sec, day))
    cust, day, sec, nps, csat = (a[by_time] for a in (cust, day, sec, nps, csat))
    csat_text = np.where(rng.random(n) < 0.7, csat.astype(str).astype(object), None)  # optional
    return pd.DataFrame({
        "response_id": _ids("R", n, 7),
        "customer_id": _text(world.customer_ids[cust]),
        "responded_at": _timestamps(rng, world, day, sec),
        "nps_score": _text(nps.astype(str)),
        "csat_score": _text(csat_text),
        "day": day,
    })


# --- rendering values ------------------------------------------------------------------------


def _text(values) -> pd.Series:
    return pd.Series(values, dtype="str")


def _ids(prefix: str, n: int, width: int) -> pd.Series:
    return prefix + pd.Series(np.arange(1, n + 1)).astype("str").str.zfill(width)


def _money(values: np.ndarray) -> pd.Series:
    return _text(np.char.mod("%.2f", values) if len(values) else np.array([], dtype=str))


def _time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(24, n, p=_HOUR_WEIGHTS) * 3600 + rng.integers(0, 3600, n)


def _timestamps(rng: np.random.Generator, world: _World, day: np.ndarray, sec: np.ndarray) -> pd.Series:
    """ISO-8601 text: mostly naive UTC or "Z"; some with a UTC offset, still on the same UTC day."""
    utc = world.start_epoch + day.astype(np.int64) * 86400 + sec
    style = rng.choice(3, len(utc), p=[0.55, 0.30, 0.15])  # naive, Z, offset
    offset = np.where(style == 2, rng.choice(_UTC_OFFSETS_MINUTES, len(utc)), 0)
    local = _iso_seconds(utc + offset * 60)
    suffix = np.where(style == 0, "", np.where(style == 1, "Z", _offset_text(offset)))
    return _text(local) + _text(suffix)


def _iso_seconds(epoch_seconds: np.ndarray) -> np.ndarray:
    """"YYYY-MM-DDTHH:MM:SS" of epoch seconds (without an offset)."""
    return np.datetime_as_string(epoch_seconds.astype("datetime64[s]"), unit="s")


def _offset_text(offset_minutes: np.ndarray) -> np.ndarray:
    values, inverse = np.unique(offset_minutes, return_inverse=True)
    labels = np.array([f"{'-' if m < 0 else '+'}{abs(m) // 60:02d}:{abs(m) % 60:02d}" for m in values])
    return labels[inverse] if len(values) else np.array([], dtype=str)


# --- dirty rows --------------------------------------------------------------------------------


def _add_dirt(rng: np.random.Generator, source: str, frame: pd.DataFrame, world: _World, dirty_rate: float):
    """Spoil about dirty_rate of the rows, one kind each, capped per partition.

    Adds columns `dirty` (the kind, or missing) and `part` (1/2: older/newer file of a folder
    delivered in two files, 3: the file without occurred_at). Duplicates and superseded
    versions are extra rows; the other kinds spoil an existing row.
    """
    frame = frame.assign(dirty=pd.Series([None] * len(frame), dtype=object), part=np.int8(1))
    counts = dict.fromkeys((*_COMMON_KINDS, *_SOURCE_KINDS[source]), 0)
    if source == "events":
        counts["missing_column"] = 0
    day = frame["day"].to_numpy()
    split = rng.random(world.days) < _SPLIT_FOLDER_SHARE
    if dirty_rate <= 0 or len(frame) == 0:
        return _assign_parts(rng, frame, split, pinned_new=np.zeros(0, int)), counts

    # Candidates in random order, at most the cap of each partition: partitions of a few rows get none.
    cap = np.floor(np.bincount(day, minlength=world.days) * max(_MAX_PARTITION_DIRTY_SHARE, dirty_rate)).astype(int)
    split[cap.argmax()] = True  # so that even a small zone has a folder for a correction
    shuffled = rng.permutation(len(frame))
    rank = pd.Series(shuffled).groupby(day[shuffled]).cumcount().to_numpy()
    candidates = shuffled[rank < cap[day[shuffled]]]

    if source == "events":  # the one file without occurred_at, in the busiest partition
        busiest = np.bincount(day).argmax()
        lost = candidates[day[candidates] == busiest][:_MISSING_COLUMN_ROWS]
        frame.loc[lost, ["dirty", "part"]] = ["missing_column", 3]
        counts["missing_column"] = len(lost)
        candidates = np.setdiff1d(candidates, lost, assume_unique=True)
        candidates = candidates[rng.permutation(len(candidates))]

    # Source-specific kinds first, so that small zones still show them; then about equal shares.
    kinds = [str(k) for group in (_SOURCE_KINDS[source], _COMMON_KINDS) for k in rng.permutation(group)]
    wanted = max(len(kinds), round(dirty_rate * len(frame)))
    labels = np.array([*kinds, *rng.choice(kinds, wanted - len(kinds))], dtype=object)
    # Corrections need a two-file folder; every other kind goes anywhere.
    in_split = split[day[candidates]]
    superseded = candidates[in_split][: min((labels == "superseded").sum(), in_split.sum())]
    rest = candidates[~np.isin(candidates, superseded)]
    other_labels = labels[labels != "superseded"][: len(rest)]
    chosen = {kind: np.sort(rest[: len(other_labels)][other_labels == kind]) for kind in kinds}
    chosen["superseded"] = np.sort(superseded)

    extras, pinned_new = [], np.zeros(0, int)
    for kind in kinds:
        rows = chosen[kind]
        counts[kind] = len(rows)
        if kind == "duplicate":
            extras.append(frame.loc[rows].assign(dirty=kind))
        elif kind == "superseded":  # an older version in an older file; the current row is newer
            extras.append(_stale_versions(rng, source, frame.loc[rows]).assign(dirty=kind, part=np.int8(1)))
            pinned_new = rows
        else:
            _spoil(rng, kind, source, frame, rows, world)
            frame.loc[rows, "dirty"] = kind
    frame = pd.concat([frame, *extras], ignore_index=True)  # appended: `pinned_new` positions still hold
    return _assign_parts(rng, frame, split, pinned_new), counts


def _spoil(rng: np.random.Generator, kind: str, source: str, frame: pd.DataFrame, rows: np.ndarray, world: _World):
    n = len(rows)
    if n == 0:
        return
    pick = lambda options: rng.choice(np.array(options, dtype=object), n)  # noqa: E731
    day_text = world.day_text[frame.loc[rows, "day"].to_numpy()]
    ts = landing_source(source).timestamp_column
    if kind == "missing_value":
        blanked = _blanked_columns(landing_source(source))
        column = rng.choice(blanked, n)
        for name in blanked:
            frame.loc[rows[column == name], name] = None
    elif kind == "invalid_timestamp":
        frame.loc[rows, ts] = np.where(rng.random(n) < 0.5, "not-a-timestamp", day_text + "T25:61:00")
    elif kind == "outside_partition":
        # Half on a neighbouring day; half carry the partition's date in local time but an
        # offset that puts them on another UTC day (the trap of reading local dates).
        shift = rng.choice([-3, -2, -1, 1, 2, 3], n)
        other = world.start_epoch + (frame.loc[rows, "day"].to_numpy() + shift) * 86400 + _time_of_day(rng, n)
        neighbour = np.char.add(_iso_seconds(other), pick(["", "Z"]).astype(str))
        late = rng.random(n) < 0.5  # -05:00 in the local evening is tomorrow in UTC; +09:00 early is yesterday
        clock = np.where(late, rng.integers(19 * 3600, 86400, n), rng.integers(0, 9 * 3600, n))
        wall = world.start_epoch + frame.loc[rows, "day"].to_numpy() * 86400 + clock
        local = np.char.add(_iso_seconds(wall), np.where(late, "-05:00", "+09:00"))
        frame.loc[rows, ts] = np.where(rng.random(n) < 0.5, neighbour, local)
    elif kind == "invalid_amount":
        frame.loc[rows, "amount"] = pick(["twelve", "12,99", "1O.50", "USD 12.00"])
    elif kind == "negative_amount":
        amount = frame.loc[rows, "amount"].to_numpy(dtype=object)
        frame.loc[rows, "amount"] = np.where(amount == "0.00", "-1.00", "-" + amount)
    elif kind == "currency_mismatch":
        frame.loc[rows, "currency"] = pick(["EUR", "GBP"])
    elif kind == "invalid_status":
        frame.loc[rows, "status"] = pick(["pending", "shipped", "on_hold"])
    elif kind == "invalid_group":
        frame.loc[rows, "group"] = "holdout"
    elif kind == "negative_cost":
        cost = frame.loc[rows, "cost"].to_numpy(dtype=object)
        frame.loc[rows, "cost"] = np.where(cost == "0.00", "-0.10", "-" + cost)
    elif kind == "invalid_nps_score":
        frame.loc[rows, "nps_score"] = pick(["11", "x", "-1"])


def _blanked_columns(source: Source) -> list[str]:
    """The columns a missing_value row leaves empty: the required ones other than the timestamp
    (invalid_timestamp) and those with a value rule (their bad values are kinds of their own)."""
    return [c.name for c in source.columns
            if c.required and c.rule is None and c.name != source.timestamp_column]


def _stale_versions(rng: np.random.Generator, source: str, rows: pd.DataFrame) -> pd.DataFrame:
    """The same ids with one valid value different, as an earlier delivery had them."""
    stale = rows.copy()
    n = len(stale)
    if source == "orders":
        amount = stale["amount"].astype(float).to_numpy()
        stale["amount"] = _money(amount + np.round(rng.uniform(1, 20, n), 2)).to_numpy()
    elif source == "events":
        other = (stale["event_type"].map(_TYPE).to_numpy() + 1 + rng.integers(0, 3, n)) % len(_ACTIVITY_TYPES)
        # astype: with no rows to spoil the mapped column is an empty float array, not a valid index
        stale["event_type"] = np.array(_EVENT_TYPES, dtype=object)[other.astype(np.int64)]
    elif source == "campaign_touches":
        stale["cost"] = _money(stale["cost"].astype(float).to_numpy() + 0.05).to_numpy()
    else:
        stale["nps_score"] = ((stale["nps_score"].astype(int) + rng.integers(1, 4, n)) % 11).astype(str).to_numpy()
    return stale


def _assign_parts(rng: np.random.Generator, frame: pd.DataFrame, split: np.ndarray, pinned_new: np.ndarray):
    """Spread split folders' rows over two files; stale versions go to the older, their
    corrections (`pinned_new`) to the newer one."""
    day = frame["day"].to_numpy()
    part = frame["part"].to_numpy().copy()
    free = split[day] & (part == 1) & frame["dirty"].ne("superseded").to_numpy()
    part[free] = 1 + (rng.random(free.sum()) < 0.5)
    part[pinned_new] = 2
    return frame.assign(part=part)


# --- writing files -----------------------------------------------------------------------------


def _write_source(rng: np.random.Generator, root: Path, source: str, frame: pd.DataFrame, world: _World) -> list[Path]:
    formats = rng.choice(len(FORMATS), world.days, p=_FORMAT_WEIGHTS)
    if world.days >= 20:  # every format shows up at least once per source
        formats[rng.choice(world.days, len(FORMATS), replace=False)] = np.arange(len(FORMATS))
    typed = rng.random(world.days) < 0.7  # parquet with natural types, else all text
    # Files land shortly after their day, some days late; never in the future.
    late = (rng.random(world.days) < 0.04) * rng.uniform(1, 6, world.days) * 86400
    delay = 300 + rng.exponential(5400, world.days) + late
    newest = int(time.time()) - 3600

    if frame.empty:  # e.g. no campaign fits in a short period
        return []
    frame = frame.iloc[np.lexsort((frame["part"].to_numpy(), frame["day"].to_numpy()))]
    text = frame[landing_source(source).column_names].reset_index(drop=True)
    natural = _natural_values(text, source)
    day, part = frame["day"].to_numpy(), frame["part"].to_numpy()
    # each (day, part) is one file: a contiguous slice
    bounds = np.flatnonzero(np.r_[True, (day[1:] != day[:-1]) | (part[1:] != part[:-1]), True])
    written = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        d, p = int(day[lo]), int(part[lo])
        folder = root / source / f"dt={world.dates[d].isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        rows = text.iloc[lo:hi].reset_index(drop=True)
        if p == 3:
            path = folder / "manual-export.csv"
            _write_csv(path, rows.drop(columns=[landing_source(source).timestamp_column]), rng, gz=False,
                       variant=False)
        else:
            fmt = FORMATS[formats[d]]
            path = folder / f"part-{p:04d}.{fmt}"
            if fmt == "parquet":
                if typed[d]:  # a column that a dirty value keeps from its natural type stays text
                    rows = rows.assign(**{name: values.iloc[lo:hi].reset_index(drop=True)
                                          for name, (values, ok) in natural.items() if ok[lo:hi].all()})
                pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), path)
            elif fmt.startswith("csv"):
                _write_csv(path, rows, rng, gz=fmt.endswith(".gz"), variant=rng.random() < 0.35)
            else:
                data = rows.to_json(orient="records", lines=True).encode()
                path.write_bytes(gzip.compress(data, compresslevel=6, mtime=0) if fmt.endswith(".gz") else data)
        # part-0002 is newer than part-0001: "newest file wins" has a clear winner
        stamp = (min(world.start_epoch + (d + 1) * 86400 + int(delay[d]), newest) + 600 * p) * 1_000_000_000
        os.utime(path, ns=(stamp, stamp))
        written.append(path)
    return written


def _write_csv(path: Path, rows: pd.DataFrame, rng: np.random.Generator, gz: bool, variant: bool):
    """Some exports spell the headers differently and carry a column nobody asked for."""
    if variant:
        upper = rng.random() < 0.5
        rows = rows.rename(columns=lambda c: c.upper() if upper else "_".join(w.capitalize() for w in c.split("_")))
        rows.insert(int(rng.integers(0, len(rows.columns) + 1)), "Export_Batch", f"batch-{path.parent.name[3:]}")
    data = rows.to_csv(index=False, lineterminator="\n").encode()
    path.write_bytes(gzip.compress(data, compresslevel=6, mtime=0) if gz else data)


def _natural_values(text: pd.DataFrame, source: str) -> dict[str, tuple[pd.Series, np.ndarray]]:
    """Timestamps and numbers in their natural types, with a mask of the rows where the text
    converted cleanly (a missing value stays missing)."""
    landing = landing_source(source)
    natural = {}
    for name in text.columns:
        warehouse_type = landing.column(name).type
        if name == landing.timestamp_column:
            values = pd.to_datetime(text[name], utc=True, format="ISO8601", errors="coerce")
        elif isinstance(warehouse_type, (Integer, Numeric)):
            values = pd.to_numeric(text[name], errors="coerce")
            if isinstance(warehouse_type, Integer):
                values = values.where(values % 1 == 0).astype("Int64")
        else:
            continue
        natural[name] = (values, (values.isna() == text[name].isna()).to_numpy())
    return natural
