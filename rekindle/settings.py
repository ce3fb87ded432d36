"""The one settings object: every REKINDLE_* variable of SPEC section 2, read and checked here.

A bad value stops with a message that names the variable, before anything touches data.
"""

from __future__ import annotations

import os
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

DEFAULT_PASSIVE_EVENT_TYPES = ("email_sent", "email_delivered", "sms_sent", "push_sent")
SUPPORTED_URL_SCHEMES = ("duckdb", "postgresql", "postgresql+psycopg")


class SettingsError(ValueError):
    """A configuration value is unusable; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    landing_dir: Path = Path("data/landing")
    warehouse_url: str = "duckdb:///data/warehouse.duckdb"
    schema: str = "analytics"
    start_date: date = date(2025, 1, 1)
    inactivity_days: tuple[int, ...] = (30, 60, 90)
    period_days: tuple[int, ...] = (1, 7, 30)
    passive_event_types: tuple[str, ...] = DEFAULT_PASSIVE_EVENT_TYPES
    attribution_days: int = 14
    currency: str = "USD"
    max_reject_rate: float = 0.10
    quality_docs_dir: Path = Path("data/quality_docs")
    schedule_cron: str = "30 0 * * *"
    schedule_timezone: str = "UTC"

    @property
    def primary_inactivity_days(self) -> int:
        return self.inactivity_days[0]

    @property
    def is_duckdb(self) -> bool:
        return self.warehouse_url.startswith("duckdb")

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
        if (v := get("REKINDLE_WAREHOUSE_URL")) is not None:
            kwargs["warehouse_url"] = _parse_url("REKINDLE_WAREHOUSE_URL", v)
        if (v := get("REKINDLE_SCHEMA")) is not None:
            if not v.replace("_", "").isalnum() or v[0].isdigit():
                raise SettingsError(
                    f"REKINDLE_SCHEMA={v!r}: use letters, digits and underscores, not starting with a digit"
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
        if (v := get("REKINDLE_SCHEDULE_CRON")) is not None:
            kwargs["schedule_cron"] = _parse_cron("REKINDLE_SCHEDULE_CRON", v)
        if (v := get("REKINDLE_SCHEDULE_TIMEZONE")) is not None:
            kwargs["schedule_timezone"] = _parse_timezone("REKINDLE_SCHEDULE_TIMEZONE", v)
        settings = cls(**kwargs)
        settings._check_duckdb_names()
        return settings

    def _check_duckdb_names(self) -> None:
        # DuckDB names the catalog after the file: schema `x` in `x.duckdb` makes every name ambiguous
        if self.is_duckdb and Path(self.warehouse_url.split("///", 1)[-1]).stem.lower() == self.schema:
            raise SettingsError(
                f"REKINDLE_SCHEMA={self.schema!r} has the same name as the DuckDB file in "
                f"REKINDLE_WAREHOUSE_URL={self.warehouse_url!r}; DuckDB would confuse the two: rename one"
            )


def _parse_url(name: str, value: str) -> str:
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in SUPPORTED_URL_SCHEMES:
        raise SettingsError(
            f"{name}={value!r}: unsupported URL scheme {scheme!r}; "
            "use duckdb:///path/to/file.duckdb or postgresql+psycopg://user@host:port/database"
        )
    if scheme == "postgresql":
        # SQLAlchemy's bare postgresql:// means psycopg2, which we do not ship; psycopg 3 it is.
        value = "postgresql+psycopg://" + value.split("://", 1)[1]
    return value


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
