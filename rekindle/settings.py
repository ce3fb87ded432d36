"""The one settings object: every REKINDLE_* variable of SPEC section 2, read and checked here.

A bad value stops with a message that names the variable, before anything touches data.
"""

from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_PASSIVE_EVENT_TYPES = ("email_sent", "email_delivered", "sms_sent", "push_sent")
SUPPORTED_URL_SCHEMES = ("duckdb", "postgresql", "postgresql+psycopg", "sc")
WAREHOUSE_URL_VARIABLE = "REKINDLE_WAREHOUSE_URL"
# PostgreSQL keeps the first 63 bytes of a name (NAMEDATALEN - 1) and silently drops the rest
MAX_SCHEMA_BYTES = 63
# query parameters that carry a secret: ?password= (libpq), ?motherduck_token= (DuckDB), ...
SECRET_QUERY_WORDS = ("pass", "token", "secret")


class SettingsError(ValueError):
    """A configuration value is unusable; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    landing_dir: Path = Path("data/landing")
    # may hold a password: kept out of repr, shown through warehouse_url_for_display
    warehouse_url: str = field(default="duckdb:///data/warehouse.duckdb", repr=False)
    schema: str = "analytics"
    start_date: date = date(2025, 1, 1)
    inactivity_days: tuple[int, ...] = (30, 60, 90)
    period_days: tuple[int, ...] = (1, 7, 30)
    passive_event_types: tuple[str, ...] = DEFAULT_PASSIVE_EVENT_TYPES
    attribution_days: int = 14
    currency: str = "USD"
    max_reject_rate: float = 0.10
    # rows read per chunk when a raw asset loads a range of days: memory against per-chunk queries
    raw_chunk_rows: int = 2_000_000
    quality_docs_dir: Path = Path("data/quality_docs")
    # None: `reports/` beside the Data Docs folder (data/reports by default), so a run that puts
    # its Data Docs elsewhere (a test's temporary folder) puts its report there too
    report_dir: Path | None = None
    schedule_cron: str = "30 0 * * *"
    schedule_timezone: str = "UTC"

    @property
    def primary_inactivity_days(self) -> int:
        return self.inactivity_days[0]

    @property
    def metrics_report_path(self) -> Path:
        """The HTML metrics report that the `metrics_report` asset writes, its charts beside it."""
        return (self.report_dir or self.quality_docs_dir.parent / "reports") / "metrics_report.html"

    @property
    def warehouse_dialect(self) -> str:
        """"duckdb", "postgresql" or "spark" (see warehouse_dialect): the run tag rekindle/warehouse."""
        return warehouse_dialect(self.warehouse_url)

    @property
    def is_duckdb(self) -> bool:
        return self.warehouse_dialect == "duckdb"

    @property
    def warehouse_kind(self) -> str:
        """The warehouse as the kind tag of the assets that write it (Dagster's icon names are
        "duckdb", "postgres" and "spark")."""
        return {"duckdb": "duckdb", "postgresql": "postgres", "spark": "spark"}[self.warehouse_dialect]

    @property
    def warehouse_url_for_display(self) -> str:
        return redact_url(self.warehouse_url)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() != "" else None

        kwargs: dict = {}
        if (v := get("REKINDLE_LANDING_DIR")) is not None:
            kwargs["landing_dir"] = Path(v)
        if (v := get("REKINDLE_QUALITY_DOCS_DIR")) is not None:
            kwargs["quality_docs_dir"] = Path(v)
        if (v := get("REKINDLE_REPORT_DIR")) is not None:
            kwargs["report_dir"] = Path(v)
        if (v := get(WAREHOUSE_URL_VARIABLE)) is not None:
            kwargs["warehouse_url"] = _parse_url(WAREHOUSE_URL_VARIABLE, v)
        if (v := get("REKINDLE_SCHEMA")) is not None:
            if not v.replace("_", "").isalnum() or v[0].isdigit():
                raise SettingsError(
                    f"REKINDLE_SCHEMA={v!r}: use letters, digits and underscores, not starting with a digit"
                )
            if len(v.lower().encode()) > MAX_SCHEMA_BYTES:
                raise SettingsError(
                    f"REKINDLE_SCHEMA={v!r}: {len(v.lower().encode())} bytes long; PostgreSQL names hold at most "
                    f"{MAX_SCHEMA_BYTES} bytes and would cut it short"
                )
            kwargs["schema"] = v.lower()
        if (v := get("REKINDLE_START_DATE")) is not None:
            try:
                kwargs["start_date"] = date.fromisoformat(v)
            except ValueError:
                raise SettingsError(f"REKINDLE_START_DATE={v!r}: expected a date as YYYY-MM-DD") from None
        if (v := get("REKINDLE_INACTIVITY_DAYS")) is not None:
            kwargs["inactivity_days"] = _parse_day_list("REKINDLE_INACTIVITY_DAYS", v)
        if (v := get("REKINDLE_PERIOD_DAYS")) is not None:
            kwargs["period_days"] = _parse_day_list("REKINDLE_PERIOD_DAYS", v)
        if (v := get("REKINDLE_PASSIVE_EVENT_TYPES")) is not None:
            kwargs["passive_event_types"] = tuple(t.strip() for t in v.split(",") if t.strip())
        if (v := get("REKINDLE_ATTRIBUTION_DAYS")) is not None:
            kwargs["attribution_days"] = _parse_day_list("REKINDLE_ATTRIBUTION_DAYS", v, single=True)[0]
        if (v := get("REKINDLE_CURRENCY")) is not None:
            if len(v) != 3 or not v.isalpha():
                raise SettingsError(f"REKINDLE_CURRENCY={v!r}: expected a three-letter ISO 4217 code such as USD")
            kwargs["currency"] = v.upper()
        if (v := get("REKINDLE_MAX_REJECT_RATE")) is not None:
            try:
                rate = float(v)
            except ValueError:
                raise SettingsError(f"REKINDLE_MAX_REJECT_RATE={v!r}: expected a number between 0 and 1") from None
            if not 0 <= rate <= 1:
                raise SettingsError(f"REKINDLE_MAX_REJECT_RATE={v!r}: expected a number between 0 and 1")
            kwargs["max_reject_rate"] = rate
        if (v := get("REKINDLE_RAW_CHUNK_ROWS")) is not None:
            if not v.strip().isdigit() or int(v) < 1:
                raise SettingsError(f"REKINDLE_RAW_CHUNK_ROWS={v!r}: expected a whole number of rows, at least 1")
            kwargs["raw_chunk_rows"] = int(v)
        if (v := get("REKINDLE_SCHEDULE_CRON")) is not None:
            kwargs["schedule_cron"] = _parse_cron("REKINDLE_SCHEDULE_CRON", v)
        if (v := get("REKINDLE_SCHEDULE_TIMEZONE")) is not None:
            kwargs["schedule_timezone"] = _parse_timezone("REKINDLE_SCHEDULE_TIMEZONE", v)
        settings = cls(**kwargs)
        settings._check_duckdb_names()
        return settings

    def _check_duckdb_names(self) -> None:
        # DuckDB names the catalog after the file: schema `x` in `x.duckdb` makes every name ambiguous
        if self.is_duckdb and Path(make_url(self.warehouse_url).database or "").stem.lower() == self.schema:
            raise SettingsError(
                f"REKINDLE_SCHEMA={self.schema!r} has the same name as the DuckDB file in "
                f"REKINDLE_WAREHOUSE_URL={self.warehouse_url_for_display!r}; DuckDB would confuse the two: rename one"
            )


def _parse_url(name: str, value: str) -> str:
    """The URL, checked part by part and normalized; every message shows it without its password."""
    shown = f"{name}={redact_url(value)!r}"
    scheme = _url_scheme(value)
    if scheme not in SUPPORTED_URL_SCHEMES:
        raise SettingsError(
            f"{shown}: unsupported URL scheme {scheme!r}; "
            "use duckdb:///path/to/file.duckdb, postgresql+psycopg://user@host:port/database "
            "or sc://host:port (Spark Connect)"
        )
    try:
        url = make_url(value)
    except ValueError:  # SQLAlchemy's int(port) failed; the text may be a mistyped password: not echoed
        raise SettingsError(f"{shown}: the port must be a number from 1 to 65535") from None
    except ArgumentError:
        raise SettingsError(f"{shown}: not a URL; expected scheme://user:password@host:port/database") from None
    if url.host and "@" in url.host:
        raise SettingsError(f"{shown}: write an @ inside the user name or password as %40")
    if url.port is not None and not 1 <= url.port <= 65535:
        raise SettingsError(f"{shown}: the port must be a number from 1 to 65535")
    if scheme == "duckdb" and (not url.database or url.host or url.username or url.password or url.port):
        raise SettingsError(
            f"{shown}: a DuckDB URL is a file path: duckdb:///relative/path.duckdb or duckdb:////absolute/path.duckdb"
        )
    if scheme == "sc" and (not url.host or url.username or url.password):
        raise SettingsError(
            f"{shown}: a Spark Connect URL is sc://host:port, with options after a slash: sc://host:port/;token=..."
        )
    return normalize_warehouse_url(value)


def normalize_warehouse_url(url: str) -> str:
    """The URL the engine is created with: SQLAlchemy's bare postgresql:// means psycopg2, which we
    do not ship; psycopg 3 it is."""
    url = url.strip()
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def warehouse_dialect(url: str) -> str:
    """The SQLAlchemy dialect a warehouse URL opens: "duckdb", "spark" (sc://, rekindle.spark) or
    "postgresql" (the only other scheme Settings accepts)."""
    url = normalize_warehouse_url(url)
    return "duckdb" if url.startswith("duckdb") else "spark" if url.startswith("sc:") else "postgresql"


def redact_url(url: str) -> str:
    """`url` safe to print, log or store: the password and secret query values become ***.
    When the URL cannot be split into its parts (a port that is not a number, an @ left unescaped
    in the password), any part of it could be the password, so only the scheme is shown."""
    if _url_scheme(url) == "sc":  # Spark Connect keeps its options after the slash: ;token=...
        return re.sub(r"(;[^;=/]*(?:pass|token|secret)[^;=]*=)[^;]*", r"\1***", url, flags=re.I)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        parsed = None
    if parsed is None or (parsed.host and "@" in parsed.host):
        scheme = _url_scheme(url)
        return f"{scheme}://***" if scheme else "***"
    secret_keys = [key for key in parsed.query if any(word in key.lower() for word in SECRET_QUERY_WORDS)]
    if parsed.password is None and not secret_keys:
        return url
    hidden = parsed.update_query_dict({key: "***" for key in secret_keys}).render_as_string(hide_password=True)
    return hidden.replace("=%2A%2A%2A", "=***")  # the query's *** comes back percent-encoded


def _url_scheme(url: str) -> str:
    """The part before ://, when it looks like a scheme (not a user:password@host typed first)."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    return scheme if re.fullmatch(r"[A-Za-z][A-Za-z0-9+._-]*", scheme) else ""


def _parse_cron(name: str, value: str) -> str:
    # the very check Dagster applies to a schedule's cron string, so a value accepted here loads
    from dagster._utils.schedules import is_valid_cron_string

    value = " ".join(value.split())
    if not is_valid_cron_string(value):
        raise SettingsError(f"{name}={value!r}: expected a cron expression with five fields such as '30 0 * * *'")
    return value


def _parse_timezone(name: str, value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"{name}={value!r}: expected an IANA time zone such as UTC or Europe/Berlin") from None
    return value


def _parse_day_list(name: str, value: str, single: bool = False) -> tuple[int, ...]:
    parts = [p.strip() for p in value.split(",")]
    try:
        days = tuple(int(p) for p in parts)
    except ValueError:
        expected = "a whole number of days" if single else "comma-separated whole numbers of days such as 30,60,90"
        raise SettingsError(f"{name}={value!r}: expected {expected}") from None
    if single and len(days) != 1:
        raise SettingsError(f"{name}={value!r}: expected a single whole number of days")
    if any(d <= 0 for d in days):
        raise SettingsError(f"{name}={value!r}: every number of days must be at least 1")
    if len(set(days)) != len(days):
        raise SettingsError(f"{name}={value!r}: a window is listed twice")
    return days
