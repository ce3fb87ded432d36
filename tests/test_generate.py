"""The synthetic landing zone: deterministic, laid out per SPEC section 1, realistic enough that
customers lapse and come back, with a win-back effect, and dirty rows of every kind.

The files are read back with plain pandas here, independently of the pipeline's reader.
"""

import re
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.cli import build_parser, main
from rekindle.generate import (
    DIRTY_KINDS,
    FORMATS,
    PASSIVE_EVENT_TYPES,
    LandingZoneExistsError,
    generate_landing_zone,
)
from rekindle.quality import known_event_types
from rekindle.sources import EVENTS, SOURCES
from rekindle.sources import source as landing_source

END = date(2025, 6, 30)
DAYS = 90
TIMESTAMP = {"orders": "ordered_at", "events": "occurred_at", "campaign_touches": "sent_at", "surveys": "responded_at"}
ID = {"orders": "order_id", "events": "event_id", "campaign_touches": "touch_id", "surveys": "response_id"}
SOURCE_NAMES = tuple(source.name for source in SOURCES)


@pytest.fixture(scope="module")
def zone(tmp_path_factory):
    root = tmp_path_factory.mktemp("landing")
    return root, generate_landing_zone(root, customers=3000, days=DAYS, end_date=END, seed=3)


def read_source(root: Path, source: str) -> pd.DataFrame:
    """Every row of a source as text ("" when missing), lower-case columns, plus _dt, _file, _mtime."""
    frames = []
    for path in sorted((root / source).glob("dt=*/*")):
        if path.name.endswith(".parquet"):
            frame = pd.read_parquet(path)
        elif ".csv" in path.name:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        else:
            frame = pd.read_json(path, lines=True, dtype=False)
        frame.columns = [c.lower() for c in frame.columns]
        for column in frame.columns:
            if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
                frame[column] = frame[column].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        frame = frame.astype(object).where(frame.notna(), "").astype(str)
        frames.append(frame.assign(_dt=path.parent.name[3:], _file=str(path.relative_to(root)),
                                   _mtime=path.stat().st_mtime_ns))
    return pd.concat(frames, ignore_index=True)


def utc_day(values: pd.Series) -> pd.Series:
    """The UTC day of each ISO-8601 text, NaT when it does not parse."""
    return pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce").dt.tz_convert(None).dt.normalize()


def clean(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Roughly the rows a pipeline accepts: ids present, timestamp in the partition, one row
    per id from the newest file. Enough for checks of behaviour."""
    day = utc_day(frame[TIMESTAMP[source]])
    ok = (frame["customer_id"] != "") & (frame[ID[source]] != "") & (day == pd.to_datetime(frame["_dt"]))
    newest = frame[ok].assign(day=day[ok]).sort_values("_mtime", kind="stable")
    return newest.drop_duplicates(ID[source], keep="last").sort_index()


@pytest.fixture(scope="module")
def landed(zone) -> dict[str, pd.DataFrame]:
    root, _ = zone
    return {source: read_source(root, source) for source in SOURCE_NAMES}


@pytest.fixture(scope="module")
def activity(landed) -> pd.DataFrame:
    """Customer x active day, per SPEC section 5: completed orders and non-passive events."""
    orders = clean(landed["orders"], "orders")
    events = clean(landed["events"], "events")
    active = pd.concat([
        orders.loc[orders["status"] == "completed", ["customer_id", "day"]],
        events.loc[~events["event_type"].isin(PASSIVE_EVENT_TYPES), ["customer_id", "day"]],
    ])
    return active.drop_duplicates().sort_values(["customer_id", "day"], ignore_index=True)


def test_the_same_seed_writes_the_same_bytes(tmp_path):
    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    kwargs = dict(customers=300, days=45, end_date=END)
    generate_landing_zone(tmp_path / "a", seed=5, **kwargs)
    generate_landing_zone(tmp_path / "b", seed=5, **kwargs)
    generate_landing_zone(tmp_path / "c", seed=6, **kwargs)
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert files(tmp_path / "a") != files(tmp_path / "c")


def test_layout_formats_and_headers(zone, landed):
    root, summary = zone
    assert summary.start_date == END - timedelta(days=DAYS - 1) and summary.end_date == END
    files = [p for p in root.rglob("*") if p.is_file()]
    assert sorted(files) == summary.files
    days = {summary.start_date + timedelta(days=i) for i in range(DAYS)}
    names = set()
    for path in files:
        source, folder, name = path.relative_to(root).parts
        assert source in SOURCE_NAMES
        assert date.fromisoformat(re.fullmatch(r"dt=(\d{4}-\d{2}-\d{2})", folder).group(1)) in days
        names.add(name)
    for source in ("orders", "events"):  # a partition for every day
        assert {p.name for p in (root / source).iterdir()} == {f"dt={d}" for d in days}
    for fmt in FORMATS:
        assert any(n.endswith(f"part-0001.{fmt}") for n in names), fmt
    assert any(n.startswith("part-0002.") for n in names)  # some folders arrive as two files

    headers = [p.read_text().splitlines()[0] for p in files if p.name.endswith(".csv")]
    assert any(h != h.lower() and "export_batch" in h.lower() for h in headers)  # case + extra column
    for source in SOURCE_NAMES:
        frame = landed[source]
        assert set(landing_source(source).column_names) <= set(frame.columns)
        assert summary.rows[source] == len(frame)
        per_folder = frame.groupby("_dt").size()
        assert {(source, date.fromisoformat(d)): n for d, n in per_folder.items()} == {
            key: n for key, n in summary.partition_rows.items() if key[0] == source
        }


def test_values_look_like_the_contract(landed):
    orders = clean(landed["orders"], "orders")
    assert orders["customer_id"].str.fullmatch(r"C\d{6}").all()
    amount = pd.to_numeric(orders["amount"], errors="coerce")
    good = orders[(orders["currency"] == "USD") & (amount >= 0)]
    assert 0.95 < len(good) / len(orders)
    assert 20 < amount[good.index].median() < 80 and amount[good.index].max() > 200
    assert good["status"].value_counts(normalize=True)["completed"] > 0.85
    assert {"cancelled", "refunded"} <= set(good["status"]) and set(good["channel"]) == {"web", "app", "store"}
    # offsets appear, and the UTC day is still the partition's
    stamps = orders["ordered_at"]
    assert stamps.str.endswith("Z").any() and stamps.str.contains(r"[+-]\d\d:\d\d$").any()
    local_date_differs = stamps.str[:10] != orders["_dt"]
    assert local_date_differs.any()

    events = landed["events"]
    assert set(PASSIVE_EVENT_TYPES) <= set(events["event_type"])
    assert set(events["event_type"]) - {""} <= set(known_event_types())  # the events suite warns on others
    assert {"page_view", "app_open", "search", "add_to_cart", "email_open", "email_click"} <= set(events["event_type"])
    assert events.loc[events["event_type"] == "email_sent", "campaign_id"].ne("").all()

    surveys = clean(landed["surveys"], "surveys")
    nps = pd.to_numeric(surveys["nps_score"], errors="coerce")
    assert nps.between(0, 10).mean() > 0.95 and nps[nps.between(0, 10)].nunique() == 11
    assert (surveys["csat_score"] == "").any() and set(surveys["csat_score"]) - {""} <= {"1", "2", "3", "4", "5"}


def test_every_dirty_kind_is_there_and_can_be_found(zone, landed):
    _, summary = zone
    for kind in DIRTY_KINDS:
        assert summary.dirty[kind] > 0, kind
    common = {"missing_value", "invalid_timestamp", "outside_partition", "duplicate", "superseded", "missing_column"}
    for source, counts in summary.dirty_by_source.items():  # a source's own kinds are reasons of its rules
        assert set(counts) - common <= set(landing_source(source).reasons), source
    orders = landed["orders"]
    amount = pd.to_numeric(orders["amount"], errors="coerce")
    assert (orders["order_id"] == "").any() or (orders["customer_id"] == "").any()
    assert (amount < 0).any() and (amount.isna() & (orders["amount"] != "")).any()
    assert orders["currency"].isin(["EUR", "GBP"]).any()
    assert (~orders["status"].isin(["completed", "cancelled", "refunded"])).any()
    day = utc_day(orders["ordered_at"])
    assert day.isna().any()  # unparseable
    assert (day.notna() & (day != pd.to_datetime(orders["_dt"]))).any()  # outside_partition

    touches = landed["campaign_touches"]
    assert (touches["group"] == "holdout").any()
    assert (pd.to_numeric(touches["cost"], errors="coerce") < 0).any()
    surveys = landed["surveys"]
    assert (~surveys["nps_score"].isin([str(i) for i in range(11)])).any()

    # exactly one file in the zone lacks a required column: a small events CSV without occurred_at
    lacking = [p for p in summary.files if p.name.endswith(".csv") and "occurred_at" not in p.read_text().lower()
               and p.parts[-3] == "events"]
    assert len(lacking) == 1 and len(pd.read_csv(lacking[0])) == summary.dirty["missing_column"] <= 5

    events = landed["events"]
    events = events[events["event_id"] != ""]
    content = EVENTS.column_names
    repeated = events[events.duplicated("event_id", keep=False)]
    exact = repeated[repeated.duplicated(content, keep=False)]
    assert len(exact) > 0
    conflicting = repeated.drop_duplicates(content).groupby("event_id")
    versions = conflicting.agg(files=("_file", "nunique"), mtimes=("_mtime", "nunique"), n=("_file", "size"))
    versions = versions[versions["n"] > 1]
    assert len(versions) > 0 and (versions["files"] == 2).all() and (versions["mtimes"] == 2).all()


def test_no_partition_is_close_to_the_reject_threshold(zone):
    _, summary = zone
    assert 0 < summary.max_partition_dirty_share <= 0.075
    assert sum(summary.partition_dirty.values()) == summary.dirty_rows


def test_customers_lapse_for_long_and_differ(landed, activity):
    gaps = activity.groupby("customer_id")["day"].apply(lambda d: d.diff().dt.days.max()).dropna()
    assert (gaps > 30).mean() > 0.15 and (gaps > 60).any()
    first_days = activity.groupby("customer_id")["day"].min()
    assert (first_days == first_days.min()).sum() > 100  # a base active from day 1
    assert first_days.dt.to_period("M").nunique() >= 3  # and newcomers all along

    orders = clean(landed["orders"], "orders")
    per_buyer = orders[orders["status"] == "completed"].groupby("customer_id").size()
    assert (per_buyer == 1).mean() > 0.2 and (per_buyer >= 8).mean() > 0.05
    browsers = set(activity["customer_id"]) - set(per_buyer.index)
    assert len(browsers) / activity["customer_id"].nunique() > 0.1


def test_passive_messages_also_reach_inactive_customers(landed, activity):
    events = clean(landed["events"], "events")
    sent = events[events["event_type"] == "email_sent"]
    last = activity.groupby("customer_id")["day"].max()
    after_last = sent["day"] > sent["customer_id"].map(last) + pd.Timedelta(days=30)
    assert after_last.sum() > 100


def test_winback_treatment_comes_back_more_than_control(landed, activity):
    touches = clean(landed["campaign_touches"], "campaign_touches")
    touches = touches[touches["group"].isin(["treatment", "control"])].drop_duplicates(["campaign_id", "customer_id"])
    assert touches["campaign_id"].str.fullmatch(r"winback_(email|sms)_\d{4}_\d{2}").all()
    assert touches["campaign_id"].nunique() == 2
    assert (touches.loc[touches["group"] == "control", "cost"].astype(float) == 0).all()
    cost = touches.loc[touches["group"] == "treatment", "cost"].astype(float)
    assert cost[cost >= 0].between(0.05, 0.50).all()  # negative ones are dirty
    assert 0.75 < (touches["group"] == "treatment").mean() < 0.85

    joined = touches[["campaign_id", "customer_id", "group", "day"]].merge(
        activity.rename(columns={"day": "active"}), on="customer_id"
    )
    before = joined[joined["active"] < joined["day"]].groupby(["campaign_id", "customer_id"])["active"].max()
    days_inactive = (touches.set_index(["campaign_id", "customer_id"])["day"] - pd.Timedelta(days=1) - before).dt.days
    # every target was inactive for 30+ days (a few have only dirty earlier rows: NaN here)
    assert (days_inactive.dropna() >= 30).all() and days_inactive.isna().mean() < 0.01

    window = (joined["active"] >= joined["day"]) & (joined["active"] < joined["day"] + pd.Timedelta(days=14))
    back = set(zip(joined.loc[window, "campaign_id"], joined.loc[window, "customer_id"]))
    touches["back"] = [key in back for key in zip(touches["campaign_id"], touches["customer_id"])]
    rate = touches.groupby("group")["back"].mean()
    assert rate["treatment"] > 2 * rate["control"] and rate["treatment"] - rate["control"] > 0.1

    # the send is a passive event of the treatment group only
    events = clean(landed["events"], "events")
    winback = events["campaign_id"].str.startswith("winback")
    sends = events[events["event_type"].isin(["email_sent", "sms_sent"]) & winback]
    sent_to = set(zip(sends["campaign_id"], sends["customer_id"]))
    group_of = {(c, k): g for c, k, g in zip(touches["campaign_id"], touches["customer_id"], touches["group"])}
    assert {group_of[key] for key in sent_to if key in group_of} == {"treatment"}


def test_options_and_refusing_to_overwrite(tmp_path):
    root = tmp_path / "zone"
    summary = generate_landing_zone(root, customers=200, days=60, end_date=END, dirty_rate=0,
                                    campaigns=False, surveys=False)
    assert {p.name for p in root.iterdir()} == {"orders", "events"}
    assert summary.dirty_rows == 0 and summary.max_partition_dirty_share == 0
    assert not any(p.name == "manual-export.csv" for p in summary.files)
    with pytest.raises(LandingZoneExistsError, match="overwrite"):
        generate_landing_zone(root, customers=200, days=60, end_date=END)
    again = generate_landing_zone(root, customers=200, days=60, end_date=END, overwrite=True)
    assert {p.name for p in root.iterdir()} == set(SOURCE_NAMES)
    assert sorted(p for p in root.rglob("*") if p.is_file()) == again.files


def test_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("REKINDLE_LANDING_DIR", str(tmp_path / "from_env"))
    parser = build_parser()
    defaults = parser.parse_args(["generate"])
    assert (defaults.out, defaults.customers, defaults.days, defaults.end, defaults.seed, defaults.dirty_rate) == (
        tmp_path / "from_env", 20000, 180, None, 7, 0.01
    )
    assert not (defaults.no_campaigns or defaults.no_surveys or defaults.overwrite)
    with pytest.raises(SystemExit):
        parser.parse_args(["generate", "--end", "30-06-2025"])

    argv = ["generate", "--out", str(tmp_path / "cli"), "--customers", "150", "--days", "60",
            "--end", "2025-06-30", "--no-surveys"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "orders" in out and "dirty rows" in out and "surveys" not in out
    assert main(argv) == 1  # the zone exists now
    assert "--overwrite" in capsys.readouterr().err
    assert np.isin(["orders", "events", "campaign_touches"], [p.name for p in (tmp_path / "cli").iterdir()]).all()
