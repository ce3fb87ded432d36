"""The metrics report: one self-contained HTML page of charts, and a copy of each chart beside it.

Three steps, each testable alone:
- `load_report_data` runs a handful of small SELECTs through a `read_frame(sql, params)` callable
  (the warehouse resource's): the daily rates of the last HISTORY_DAYS days, the lifecycle counts
  of the primary N, the cohort table, the latest day's inactive segments and the campaigns;
- `render_report` turns those frames into SVG charts (matplotlib) and one HTML page; it never
  touches the warehouse, so tests hand it frames made by hand;
- `write_report` writes the page and the charts' SVG files.

Offline by construction: every chart is an SVG drawn by matplotlib and inlined into the page, text
drawn as glyph outlines (svg.fonttype "path") so it looks the same without the fonts installed;
there is no JavaScript, no stylesheet and no font to fetch, and the page holds no http(s) address.
"""

from __future__ import annotations

import html
import io
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.collections import PolyCollection
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from rekindle.segments import bucket_labels

HISTORY_DAYS = 365  # the rate and lifecycle charts show the last year of days, one point a day
COHORTS_SHOWN = 24  # the heatmap's latest cohorts (rows)
ReadFrame = Callable[[str, Mapping[str, Any]], pd.DataFrame]

# chart file name (without .svg) -> its title; also the order of the page
CHART_TITLES: dict[str, str] = {
    "reactivation_rate": "Reactivation rate",
    "churn_rate": "Churn rate",
    "retention_rate": "Retention rate",
    "lifecycle": "Customer lifecycle",
    "cohort_retention": "Cohort retention",
    "inactive_segments": "Inactive segments",
    "campaign_lift": "Campaign lift",
}

# one look for every chart; text is not parsed as math, so a campaign called "$5 off" stays text
STYLE = {
    "svg.fonttype": "path",
    "svg.hashsalt": "rekindle",  # the same data gives the same file
    "font.family": "DejaVu Sans",
    "font.size": 9.5,
    "axes.titlesize": 10.5,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e3e6ea",
    "grid.linewidth": 0.8,
    "axes.axisbelow": True,
    "axes.edgecolor": "#9aa3ad",
    "xtick.color": "#4a5561",
    "ytick.color": "#4a5561",
    "legend.frameon": False,
    "text.parse_math": False,
}
# one colour per inactivity window N (first = primary), and per lifecycle kind
WINDOW_COLORS = ("#1f6fb4", "#e08a1e", "#6a4c93", "#2a9d8f", "#8d99ae")
KIND_COLORS = {"returning": "#a9c4dd", "new": "#1f6fb4", "reactivated": "#2a9d5c", "dormant": "#d1495b"}
BUCKET_COLORS = ("#f4c27a", "#e07b39", "#9c3b1c")  # longer inactive, darker
HEAT = LinearSegmentedColormap.from_list("rekindle_heat", ["#f5f9fd", "#9ecae1", "#2171b5", "#08306b"])


@dataclass(frozen=True)
class ReportData:
    """What the report shows; every frame may be empty (a warehouse without data yet)."""

    inactivity_days: tuple[int, ...]
    period_days: tuple[int, ...]
    currency: str = "USD"
    as_of: date | None = None  # the latest day of lifecycle_daily
    # as_of_date, inactivity_days, period_days, reactivation_rate
    reactivation: pd.DataFrame = field(default_factory=pd.DataFrame)
    # as_of_date, inactivity_days, period_days, churn_rate, retention_rate
    retention: pd.DataFrame = field(default_factory=pd.DataFrame)
    # as_of_date and the lifecycle counts of the primary N
    lifecycle: pd.DataFrame = field(default_factory=pd.DataFrame)
    # cohort_month, months_since_first, cohort_size, retention_rate
    cohorts: pd.DataFrame = field(default_factory=pd.DataFrame)
    # as_of_date, inactivity_bucket, rfm_segment, customers, lifetime_revenue (latest day, primary N)
    segments: pd.DataFrame = field(default_factory=pd.DataFrame)
    # campaign_id, channel, group, inactive_targeted, reactivated, reactivation_rate, lift, lift_ci_low, lift_ci_high
    campaigns: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def primary_inactivity_days(self) -> int:
        return self.inactivity_days[0]

    @property
    def is_empty(self) -> bool:
        return all(f.empty for f in (self.reactivation, self.retention, self.lifecycle, self.cohorts,
                                     self.segments, self.campaigns))


@dataclass(frozen=True)
class Chart:
    name: str  # file name without .svg
    title: str
    svg: str  # a standalone SVG document


@dataclass(frozen=True)
class RenderedReport:
    html: str
    charts: list[Chart]


# --- reading --------------------------------------------------------------------------------
def load_report_data(
    read_frame: ReadFrame, table: Callable[[str], str], inactivity_days: tuple[int, ...],
    period_days: tuple[int, ...], currency: str = "USD",
) -> ReportData:
    """The report's frames, through `read_frame(sql, params)`; `table(name)` is the qualified name."""
    n = inactivity_days[0]
    as_of = read_frame(f"SELECT MAX(as_of_date) AS as_of FROM {table('lifecycle_daily')}", {})["as_of"].iloc[0]
    as_of = None if pd.isna(as_of) else pd.Timestamp(as_of).date()
    since = as_of - timedelta(days=HISTORY_DAYS - 1) if as_of else date.min
    dated = {"since": since, "n": n}
    reactivation = read_frame(
        f"""SELECT as_of_date, inactivity_days, period_days, reactivation_rate
            FROM {table('reactivation_daily')} WHERE as_of_date >= :since""", dated)
    retention = read_frame(
        f"""SELECT as_of_date, inactivity_days, period_days, churn_rate, retention_rate
            FROM {table('retention_daily')} WHERE as_of_date >= :since""", dated)
    lifecycle = read_frame(
        f"""SELECT as_of_date, new_customers, returning_customers, reactivated_customers, dormant_customers,
                   active_customers, inactive_customers
            FROM {table('lifecycle_daily')} WHERE as_of_date >= :since AND inactivity_days = :n""", dated)
    cohorts = read_frame(
        f"SELECT cohort_month, months_since_first, cohort_size, retention_rate FROM {table('cohort_retention')}", {})
    segments = read_frame(
        f"""SELECT as_of_date, inactivity_bucket, rfm_segment, customers, lifetime_revenue
            FROM {table('inactive_segments')}
            WHERE inactivity_days = :n
              AND as_of_date = (SELECT MAX(as_of_date) FROM {table('inactive_segments')})""", {"n": n})
    campaigns = read_frame(
        f"""SELECT campaign_id, channel, "group", inactive_targeted, reactivated, reactivation_rate,
                   lift, lift_ci_low, lift_ci_high
            FROM {table('campaign_performance')}""", {})
    return ReportData(
        inactivity_days=tuple(inactivity_days), period_days=tuple(period_days), currency=currency, as_of=as_of,
        reactivation=reactivation, retention=retention, lifecycle=lifecycle, cohorts=cohorts,
        segments=segments, campaigns=campaigns,
    )


# --- rendering ------------------------------------------------------------------------------
def render_report(data: ReportData, generated_at: datetime | None = None) -> RenderedReport:
    """The page and its charts. A chart whose data is empty is left out and its section says so."""
    generated_at = generated_at or datetime.now(timezone.utc)
    sections: list[str] = []
    charts: list[Chart] = []
    with matplotlib.rc_context(STYLE):
        for name, (caption, draw) in _SECTIONS.items():
            title = CHART_TITLES[name]
            figure = draw(data)
            if figure is None:
                body = f'<p class="empty">{_empty_note(name)}</p>'
            else:
                chart = Chart(name, title, _svg(figure))
                charts.append(chart)
                body = f"<figure>{_inline_svg(chart)}</figure>"
            sections.append(_section(name, title, caption(data), body + _extra_html(name, data)))
    return RenderedReport(_page(data, sections, charts, generated_at), charts)


def write_report(report: RenderedReport, path: Path) -> Path:
    """Write the page to `path` and each chart as NAME.svg beside it; a chart file the report
    no longer has (its data is gone) is removed rather than left behind, out of date."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = {chart.name for chart in report.charts}
    for chart in report.charts:
        _write_atomically(path.parent / f"{chart.name}.svg", chart.svg)
    for name in CHART_TITLES.keys() - written:
        (path.parent / f"{name}.svg").unlink(missing_ok=True)
    _write_atomically(path, report.html)
    return path


def _write_atomically(path: Path, text: str) -> None:
    """A browser (or a second run) never sees half a file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values)


def _numbers(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Counts, rates and money as floats (NUMERIC comes back as Decimal; NULL as None)."""
    frame = frame.copy()
    for column in columns:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    return frame


def _date_axis(ax) -> None:
    locator = AutoDateLocator(minticks=4, maxticks=9)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator, show_offset=False))


def _pct_axis(ax) -> None:
    """Rates as percentages on round steps (0%, 5%, 10%), a decimal only where the steps need one."""
    ax.yaxis.set_major_locator(MaxNLocator(5, steps=[1, 2, 2.5, 5, 10]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{round(100 * v, 2):g}%"))


def _legend_above(ax, **kwargs) -> None:
    """The legend at the top right, above the plot: it never hides a bar or a line."""
    ax.legend(loc="lower right", bbox_to_anchor=(1, 1), borderaxespad=0.2, **kwargs)


# rate over time: one panel per P, one line per N
def _rate_figure(frame: pd.DataFrame, column: str, data: ReportData, title: str, from_zero: bool = True
                 ) -> Figure | None:
    if frame.empty or frame[column].isna().all():
        return None
    frame = _numbers(frame, [column]).assign(as_of_date=lambda f: _dates(f["as_of_date"]))
    periods = [p for p in data.period_days if p in set(frame["period_days"])]
    windows = [n for n in data.inactivity_days if n in set(frame["inactivity_days"])]
    if not periods or not windows:  # the tables were computed for other N or P than configured now
        return None
    figure = Figure(figsize=(11, 3.1), layout="constrained")
    axes = figure.subplots(1, len(periods), sharex=True, squeeze=False)[0]
    for ax, p in zip(axes, periods):
        for i, n in enumerate(windows):
            series = frame[(frame["period_days"] == p) & (frame["inactivity_days"] == n)].sort_values("as_of_date")
            ax.plot(series["as_of_date"], series[column], color=WINDOW_COLORS[i % len(WINDOW_COLORS)],
                    linewidth=1.6 if i == 0 else 1.1, label=f"N = {n} days" + (" (primary)" if i == 0 else ""))
        ax.set_title(f"over {_period(p)}")
        if from_zero:
            ax.set_ylim(bottom=0)
        _pct_axis(ax)
        _date_axis(ax)
    axes[0].set_ylabel(title.lower())
    figure.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=len(windows))
    return figure


def _period(p: int) -> str:
    return "1 day" if p == 1 else f"{p} days"


def _reactivation(data: ReportData) -> Figure | None:
    return _rate_figure(data.reactivation, "reactivation_rate", data, "Reactivation rate")


def _churn(data: ReportData) -> Figure | None:
    return _rate_figure(data.retention, "churn_rate", data, "Churn rate")


def _retention(data: ReportData) -> Figure | None:
    # retention sits near the top: the axis follows the data rather than start at 0 (see its labels)
    return _rate_figure(data.retention, "retention_rate", data, "Retention rate", from_zero=False)


def _bars(ax, days: pd.Series, heights, bottom, width: float, color: str, label: str) -> None:
    """Daily bars as one PolyCollection: ax.bar makes an artist per bar, and a year of days in
    four series took seconds to lay out and draw; one collection takes milliseconds."""
    x = date2num(days)
    left, right = x - width / 2, x + width / 2
    bottom = np.asarray(bottom, dtype=float)
    top = bottom + np.asarray(heights, dtype=float)
    corners = [np.column_stack(pair) for pair in ((left, bottom), (left, top), (right, top), (right, bottom))]
    ax.add_collection(PolyCollection(np.stack(corners, axis=1), facecolors=color, edgecolors="none", label=label))
    ax.xaxis_date()
    ax.autoscale_view()


def _lifecycle(data: ReportData) -> Figure | None:
    frame = data.lifecycle
    if frame.empty:
        return None
    counts = ["new_customers", "returning_customers", "reactivated_customers", "dormant_customers",
              "active_customers", "inactive_customers"]
    frame = _numbers(frame, counts).assign(as_of_date=lambda f: _dates(f["as_of_date"])).sort_values("as_of_date")
    days = frame["as_of_date"]
    width = 0.8 if len(frame) < 120 else 1.0  # a day's width: bars touch once there are many
    figure = Figure(figsize=(11, 7.2), layout="constrained")
    active, flows, stock = figure.subplots(3, 1, sharex=True, height_ratios=[3, 2.4, 2.4])

    # who was active on the day, by kind (stacked)
    bottom = np.zeros(len(frame))
    for kind in ("returning", "new", "reactivated"):
        values = frame[f"{kind}_customers"].to_numpy()
        _bars(active, days, values, bottom, width, KIND_COLORS[kind], kind)
        bottom += values
    active.set_title("Active on the day, by kind")
    active.set_ylabel("customers")
    _legend_above(active, ncols=3)

    # flows into the active base (up) and out of it (down)
    new, back = frame["new_customers"].to_numpy(), frame["reactivated_customers"].to_numpy()
    _bars(flows, days, new, 0 * new, width, KIND_COLORS["new"], "new")
    _bars(flows, days, back, new, width, KIND_COLORS["reactivated"], "reactivated")
    _bars(flows, days, -frame["dormant_customers"].to_numpy(), 0 * new, width, KIND_COLORS["dormant"],
          f"turned dormant ({data.primary_inactivity_days} days without activity)")
    flows.axhline(0, color="#4a5561", linewidth=0.8)
    flows.set_title("Into the active base (up) and out of it (down)")
    flows.set_ylabel("customers")
    flows.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{abs(v):,.0f}"))
    _legend_above(flows, ncols=3)
    _clip_warm_up(flows, days, new + back, data.primary_inactivity_days)

    # the two stocks
    stock.plot(days, frame["active_customers"], color=KIND_COLORS["new"], linewidth=1.8, label="active base")
    stock.plot(days, frame["inactive_customers"], color=KIND_COLORS["dormant"], linewidth=1.8,
               label="inactive pool")
    stock.set_title("Active base and inactive pool")
    stock.set_ylabel("customers")
    stock.set_ylim(bottom=0)
    _legend_above(stock, ncols=2)
    for ax in (active, stock):
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    _date_axis(stock)
    return figure


def _clip_warm_up(ax, days: pd.Series, inflow: np.ndarray, n: int) -> None:
    """In the first N days of the data everybody is new (nobody was seen before), a burst that
    would flatten every later bar: the axis follows the days after it, and says what is cut."""
    later = days >= days.min() + pd.Timedelta(days=n)
    if later.sum() < 7 or inflow[later.to_numpy()].max() <= 0:
        return
    top = inflow[later.to_numpy()].max() * 1.3
    if inflow.max() <= top:
        return
    ax.set_ylim(top=top)
    ax.text(date2num(days.min() + pd.Timedelta(days=n)), 0.97,
            f"\u2190 first {n} days cut (everybody is new then): up to {inflow.max():,.0f} a day",
            transform=ax.get_xaxis_transform(), va="top", fontsize=8.5, color="#4a5561",
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.5})


def _cohorts(data: ReportData) -> Figure | None:
    frame = data.cohorts
    if frame.empty:
        return None
    frame = _numbers(frame, ["cohort_size", "retention_rate"])
    frame["cohort_month"] = _dates(frame["cohort_month"]).dt.strftime("%Y-%m")
    frame = frame[frame["cohort_month"].isin(sorted(set(frame["cohort_month"]))[-COHORTS_SHOWN:])]
    grid = frame.pivot_table(index="cohort_month", columns="months_since_first", values="retention_rate",
                             aggfunc="first").sort_index()
    grid = grid.reindex(columns=range(int(frame["months_since_first"].max()) + 1))
    sizes = frame.groupby("cohort_month")["cohort_size"].max()
    rows, columns = grid.shape
    figure = Figure(figsize=(min(11.0, 3.6 + 0.8 * columns), 1.3 + 0.36 * rows), layout="constrained")
    ax = figure.subplots()
    ax.grid(False)
    later = grid.iloc[:, 1:].to_numpy(dtype=float)
    # month 0 is 100% by definition: the colour scale is set by the later months, so they show
    top = np.nanmax(later) if np.isfinite(later).any() else 1.0
    values = grid.to_numpy(dtype=float)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=HEAT, vmin=0, vmax=max(top, 0.01), aspect="auto")
    for (r, c), value in np.ndenumerate(values if columns <= 18 else []):  # beyond, cells are too narrow
        if np.isfinite(value):
            dark = value / max(top, 0.01) > 0.55
            ax.text(c, r, f"{value:.0%}" if value >= 0.095 or value == 0 else f"{value:.1%}", ha="center",
                    va="center", fontsize=8.5 if columns <= 12 else 7, color="white" if dark else "#1b2631")
    ax.set_xticks(range(columns), [str(c) for c in range(columns)])
    ax.set_yticks(range(rows), [f"{month}  ({int(sizes[month]):,})" for month in grid.index])
    ax.set_xlabel("months since first activity (0 = the first month)")
    ax.set_ylabel("cohort (customers)")
    ax.tick_params(length=0)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    bar = figure.colorbar(image, ax=ax, shrink=0.8, pad=0.02)
    bar.ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
    bar.set_label("active in the month")
    bar.outline.set_visible(False)
    return figure


def _segments(data: ReportData) -> Figure | None:
    frame = data.segments
    if frame.empty:
        return None
    frame = _numbers(frame, ["customers", "lifetime_revenue"])
    table = frame.pivot_table(index="rfm_segment", columns="inactivity_bucket", values="customers",
                              aggfunc="sum", fill_value=0)
    if table.to_numpy().sum() == 0:
        return None
    buckets = [b for b in bucket_labels(data.primary_inactivity_days) if b in table.columns]
    buckets += [b for b in table.columns if b not in buckets]
    table = table[buckets]
    table = table[table.sum(axis=1) > 0]
    table = table.loc[table.sum(axis=1).sort_values().index]  # largest on top
    revenue = frame.groupby("rfm_segment")["lifetime_revenue"].sum()
    figure = Figure(figsize=(11, 1.4 + 0.36 * len(table)), layout="constrained")
    ax = figure.subplots()
    ax.grid(axis="y", visible=False)
    left = np.zeros(len(table))
    labels = [name.replace("_", " ") for name in table.index]
    for i, bucket in enumerate(buckets):
        ax.barh(labels, table[bucket], left=left, color=BUCKET_COLORS[i % len(BUCKET_COLORS)],
                label=f"{bucket} days inactive", height=0.7)
        left += table[bucket].to_numpy()
    most = left.max()
    for y, (segment, total) in enumerate(zip(table.index, left)):
        ax.text(total + most * 0.01, y, f"{total:,.0f}  ·  {_money(revenue.get(segment, 0), data.currency)} lifetime",
                va="center", fontsize=8.5, color="#4a5561")
    ax.set_xlim(0, most * 1.28)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlabel("inactive customers")
    ax.tick_params(axis="y", length=0)
    ax.legend(loc="lower right", ncols=1)
    return figure


def _money(value: float, currency: str) -> str:
    value = float(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:,.1f}{suffix} {currency}"
    return f"{value:,.0f} {currency}"


def _treatments(data: ReportData) -> pd.DataFrame:
    """One row per treatment group, with its control's rate beside it."""
    frame = data.campaigns
    if frame.empty:
        return frame
    frame = _numbers(frame, ["inactive_targeted", "reactivated", "reactivation_rate", "lift", "lift_ci_low",
                             "lift_ci_high"])
    control = frame[frame["group"] == "control"][["campaign_id", "reactivation_rate", "inactive_targeted"]]
    treated = frame[frame["group"] == "treatment"]
    return treated.merge(control, on="campaign_id", how="left", suffixes=("", "_control")).sort_values("campaign_id")


def _campaigns(data: ReportData) -> Figure | None:
    frame = _treatments(data)
    if frame.empty or frame["lift"].isna().all():
        return None
    frame = frame[frame["lift"].notna()].iloc[::-1]  # first campaign on top
    figure = Figure(figsize=(11, 1.3 + 0.4 * len(frame)), layout="constrained")
    ax = figure.subplots()
    ax.grid(axis="y", visible=False)
    labels = [f"{c}  ({ch})" if isinstance(ch, str) and ch else str(c)
              for c, ch in zip(frame["campaign_id"], frame["channel"])]
    y = np.arange(len(frame))
    low, high, lift = (frame[c].to_numpy() for c in ("lift_ci_low", "lift_ci_high", "lift"))
    colors = ["#2a9d5c" if lo > 0 else "#d1495b" if hi < 0 else "#8d99ae" for lo, hi in zip(low, high)]
    ax.hlines(y, low, high, color=colors, linewidth=2.4)
    ax.scatter(lift, y, color=colors, s=38, zorder=3)
    ax.axvline(0, color="#4a5561", linewidth=0.9)
    span = max(np.nanmax(np.abs(np.r_[low, high])), 0.01)
    for yi, (l, lo, hi) in enumerate(zip(lift, low, high)):
        ax.text(hi + span * 0.03, yi, f"{_pp(l)}  [{_pp(lo)}, {_pp(hi)}]", va="center", fontsize=8.5,
                color="#4a5561")
    ax.set_xlim(min(-span * 0.1, np.nanmin(low) - span * 0.05), np.nanmax(high) + span * 0.55)
    ax.set_yticks(y, labels)
    ax.set_ylim(-0.6, len(frame) - 0.4)
    ax.tick_params(axis="y", length=0)
    ax.xaxis.set_major_locator(MaxNLocator(8, steps=[1, 2, 2.5, 5, 10]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{round(100 * v, 2):+g} pp" if round(v, 6) else "0"))
    ax.set_xlabel("lift = treatment reactivation rate - control rate (percentage points), with its 95% interval")
    return figure


def _pp(value: float) -> str:
    return f"{100 * value:+.1f} pp"


# --- the page -------------------------------------------------------------------------------
def _rate_caption(what: str) -> Callable[[ReportData], str]:
    return lambda data: (
        f"{what}, one panel per period P, one line per inactivity window N; one point per day, "
        f"the last {HISTORY_DAYS} days at most."
    )


_SECTIONS: dict[str, tuple[Callable[[ReportData], str], Callable[[ReportData], Figure | None]]] = {
    "reactivation_rate": (
        _rate_caption("Of the customers inactive (N+ days without activity) at the start of the period, "
                      "the share who came back within it"),
        _reactivation,
    ),
    "churn_rate": (
        _rate_caption("Of the active base at the start of the period, the share inactive at its end"),
        _churn,
    ),
    "retention_rate": (_rate_caption("Of the active base at the start of the period, the share still in it"),
                       _retention),
    "lifecycle": (
        lambda data: f"Per day, for the primary window N = {data.primary_inactivity_days} days: who was active "
        "and why, what moved into and out of the active base, and the resulting base and inactive pool.",
        _lifecycle,
    ),
    "cohort_retention": (
        lambda data: f"Customers grouped by the month of their first activity (the latest {COHORTS_SHOWN} "
        "cohorts): the share of each cohort active in each later calendar month (the colour scale follows "
        "months 1 and later; month 0 is 100%).",
        _cohorts,
    ),
    "inactive_segments": (
        lambda data: "Inactive customers (primary window N = "
        f"{data.primary_inactivity_days} days) on the latest day{_on(data.segments)}, by RFM segment and how "
        "long they have been inactive, with their lifetime revenue: whom to win back first.",
        _segments,
    ),
    "campaign_lift": (
        lambda data: "Win-back campaigns: the treatment group's reactivation rate minus the control group's, "
        "with a 95% interval. Green: the interval is above 0 (the campaign worked); grey: not distinguishable "
        "from no effect.",
        _campaigns,
    ),
}


def _on(frame: pd.DataFrame) -> str:
    if frame.empty:
        return ""
    return f" ({pd.Timestamp(frame['as_of_date'].iloc[0]).date()})"


def _empty_note(name: str) -> str:
    return {
        "campaign_lift": "No campaign with a control group yet: lift needs both groups.",
        "inactive_segments": "No inactive customers yet.",
        "cohort_retention": "No cohorts yet.",
    }.get(name, "No data yet.")


def _section(name: str, title: str, caption: str, body: str) -> str:
    return (f'<section id="{name}"><h2>{html.escape(title)}</h2>'
            f'<p class="caption">{html.escape(caption)}</p>{body}</section>')


def _inline_svg(chart: Chart) -> str:
    """The SVG as an element of the page: without its XML prologue and namespace declarations
    (HTML needs neither), its ids prefixed with the chart name so charts cannot share one,
    and titled for screen readers."""
    svg = chart.svg[chart.svg.index("<svg"):]
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{chart.name}-\1"', svg)
    svg = re.sub(r'(href="#|url\(#)([^")]+)', rf"\g<1>{chart.name}-\2", svg)
    svg = svg.replace("<svg", f'<svg role="img" aria-labelledby="{chart.name}-title"', 1)
    opening = svg.index(">") + 1
    return f'{svg[:opening]}<title id="{chart.name}-title">{html.escape(chart.title)}</title>{svg[opening:]}'


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    # no metadata block: it would carry the date (files differ run to run) and web addresses
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    return buffer.getvalue()


def _extra_html(name: str, data: ReportData) -> str:
    """The numbers behind the campaign chart, and the campaigns it cannot show."""
    if name != "campaign_lift":
        return ""
    frame = _treatments(data)
    rows = []
    for r in frame.itertuples():
        control = (f"{_rate(r.reactivation_rate_control)} of {_count(r.inactive_targeted_control)}"
                   if pd.notna(r.inactive_targeted_control) else "no control group")
        lift = (f"{_pp(r.lift)} [{_pp(r.lift_ci_low)}, {_pp(r.lift_ci_high)}]" if pd.notna(r.lift) else "n/a")
        rows.append(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
                r.campaign_id, r.channel if isinstance(r.channel, str) else "",
                f"{_rate(r.reactivation_rate)} of {_count(r.inactive_targeted)}", control, lift,
            )) + "</tr>"
        )
    return ('<table><thead><tr><th>campaign</th><th>channel</th><th>treatment: reactivated of inactive targeted'
            '</th><th>control</th><th>lift [95% interval]</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def _rate(value) -> str:
    return "n/a" if pd.isna(value) else f"{100 * float(value):.1f}%"


def _count(value) -> str:
    return "0" if pd.isna(value) else f"{int(value):,}"


def _headline(data: ReportData) -> str:
    """The latest day's numbers for the primary N, as `rekindle run` prints them."""
    if data.as_of is None or data.lifecycle.empty:
        return ""
    n, day = data.primary_inactivity_days, pd.Timestamp(data.as_of)
    life = data.lifecycle[_dates(data.lifecycle["as_of_date"]) == day]
    cells = []
    if not life.empty:
        row = life.iloc[0]
        for label, column in (("active base", "active_customers"), ("inactive pool", "inactive_customers"),
                              ("new", "new_customers"), ("reactivated", "reactivated_customers"),
                              ("turned dormant", "dormant_customers")):
            cells.append(f'<div class="kpi"><b>{_count(row[column])}</b><span>{label}</span></div>')
    def latest(frame: pd.DataFrame, p: int, column: str):
        if frame.empty:
            return None
        hit = frame[(_dates(frame["as_of_date"]) == day) & (frame["inactivity_days"] == n)
                    & (frame["period_days"] == p)]
        return hit[column].iloc[0] if len(hit) else None

    rows = [
        f"<tr><td>{_period(p)}</td><td>{_rate(latest(data.reactivation, p, 'reactivation_rate'))}</td>"
        f"<td>{_rate(latest(data.retention, p, 'churn_rate'))}</td>"
        f"<td>{_rate(latest(data.retention, p, 'retention_rate'))}</td></tr>"
        for p in data.period_days
    ]
    return (f'<section id="latest"><h2>Latest day: {data.as_of}</h2>'
            f'<p class="caption">Primary window N = {n} days.</p><div class="kpis">{"".join(cells)}</div>'
            '<table class="rates"><thead><tr><th>period</th><th>reactivation rate</th><th>churn rate</th>'
            f'<th>retention rate</th></tr></thead><tbody>{"".join(rows)}</tbody></table></section>')


CSS = """
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: #1b2631; margin: 0;
       background: #f4f6f8; }
main { max-width: 1140px; margin: 0 auto; padding: 24px 28px 48px; }
header h1 { font-size: 26px; margin: 0 0 4px; }
header p { margin: 2px 0; color: #4a5561; }
nav { margin: 14px 0 6px; font-size: 14px; }
nav a { color: #1f6fb4; margin-right: 14px; text-decoration: none; }
section { background: #fff; border-radius: 8px; padding: 16px 20px 18px; margin: 18px 0;
          box-shadow: 0 1px 2px rgba(0,0,0,.08); }
h2 { font-size: 19px; margin: 0 0 4px; }
.caption { color: #4a5561; margin: 0 0 10px; font-size: 14px; line-height: 1.4; }
figure { margin: 0; }
figure svg { max-width: 100%; height: auto; display: block; }
.empty { font-size: 15px; color: #8a4b00; background: #fff6e5; padding: 10px 14px; border-radius: 6px; }
table { border-collapse: collapse; font-size: 13.5px; margin-top: 12px; }
th, td { text-align: left; padding: 5px 14px 5px 0; border-bottom: 1px solid #e3e6ea; }
th { color: #4a5561; font-weight: 600; }
.kpis { display: flex; gap: 28px; flex-wrap: wrap; margin: 6px 0 4px; }
.kpi b { display: block; font-size: 24px; }
.kpi span { color: #4a5561; font-size: 13px; }
"""


def _page(data: ReportData, sections: list[str], charts: list[Chart], generated_at: datetime) -> str:
    windows = ", ".join(str(n) for n in data.inactivity_days)
    periods = ", ".join(str(p) for p in data.period_days)
    if data.is_empty:
        intro = ('<section id="no-data"><h2>No data yet</h2><p class="caption">The warehouse holds no metrics '
                 "yet: load some days with <code>rekindle run</code> (or <code>make run</code>) and the charts "
                 "appear here.</p></section>")
        body = intro
    else:
        links = "".join(f'<a href="#{c.name}">{html.escape(c.title)}</a>' for c in charts)
        body = f"<nav>{links}</nav>{_headline(data)}{''.join(sections)}"
    as_of = f"as of {data.as_of}" if data.as_of else "no data yet"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Rekindle metrics report, {html.escape(as_of)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<header>
<h1>Rekindle metrics report</h1>
<p>{html.escape(as_of.capitalize())}. Inactivity windows N = {windows} days (the first is the primary one);
periods P = {periods} days. Rates as defined in the metric tables: reactivated / inactive at the period start,
churned / active base at the period start.</p>
<p>Generated {generated_at:%Y-%m-%d %H:%M} UTC; {len(charts)} chart(s), each also saved as an SVG file beside
this page. Works offline: no scripts, nothing fetched.</p>
</header>
{body}
</main>
</body>
</html>
"""
