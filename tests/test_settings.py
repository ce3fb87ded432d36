"""Settings: every SPEC section 2 variable, its default, and a clear error naming a bad one."""

from datetime import date
from pathlib import Path

import pytest

from rekindle.settings import Settings, SettingsError


def test_defaults_match_the_spec():
    s = Settings.from_env({})
    assert s.landing_dir == Path("data/landing")
    assert s.warehouse_url == "duckdb:///data/warehouse.duckdb"
    assert s.schema == "analytics"
    assert s.start_date == date(2025, 1, 1)
    assert s.inactivity_days == (30, 60, 90)
    assert s.primary_inactivity_days == 30
    assert s.period_days == (1, 7, 30)
    assert s.passive_event_types == ("email_sent", "email_delivered", "sms_sent", "push_sent")
    assert s.attribution_days == 14
    assert s.currency == "USD"
    assert s.max_reject_rate == 0.10
    assert s.schedule_cron == "30 0 * * *"
    assert s.schedule_timezone == "UTC"
    assert s.is_duckdb


def test_every_variable_is_read():
    s = Settings.from_env(
        {
            "REKINDLE_LANDING_DIR": "/srv/landing",
            "REKINDLE_WAREHOUSE_URL": "postgresql://u@db:5432/wh",
            "REKINDLE_SCHEMA": "Rekindle_Test",
            "REKINDLE_START_DATE": "2024-06-01",
            "REKINDLE_INACTIVITY_DAYS": "14, 28",
            "REKINDLE_PERIOD_DAYS": "7",
            "REKINDLE_PASSIVE_EVENT_TYPES": "email_sent, push_sent",
            "REKINDLE_ATTRIBUTION_DAYS": "21",
            "REKINDLE_CURRENCY": "eur",
            "REKINDLE_MAX_REJECT_RATE": "0.25",
            "REKINDLE_SCHEDULE_CRON": "15  2 * * *",
            "REKINDLE_SCHEDULE_TIMEZONE": "Europe/Berlin",
        }
    )
    assert s.landing_dir == Path("/srv/landing")
    # bare postgresql:// means psycopg2 to SQLAlchemy; we ship psycopg 3
    assert s.warehouse_url == "postgresql+psycopg://u@db:5432/wh"
    assert not s.is_duckdb
    assert s.schema == "rekindle_test"
    assert s.start_date == date(2024, 6, 1)
    assert s.inactivity_days == (14, 28)
    assert s.period_days == (7,)
    assert s.passive_event_types == ("email_sent", "push_sent")
    assert s.attribution_days == 21
    assert s.currency == "EUR"
    assert s.max_reject_rate == 0.25
    assert s.schedule_cron == "15 2 * * *"
    assert s.schedule_timezone == "Europe/Berlin"


def test_blank_values_fall_back_to_defaults():
    assert Settings.from_env({"REKINDLE_SCHEMA": "  ", "REKINDLE_PERIOD_DAYS": ""}) == Settings()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REKINDLE_INACTIVITY_DAYS", "abc"),
        ("REKINDLE_INACTIVITY_DAYS", "30,0"),
        ("REKINDLE_INACTIVITY_DAYS", "30,30"),
        ("REKINDLE_PERIOD_DAYS", "7;30"),
        ("REKINDLE_WAREHOUSE_URL", "mysql://root@localhost/db"),
        ("REKINDLE_WAREHOUSE_URL", "warehouse.duckdb"),
        ("REKINDLE_START_DATE", "01/02/2025"),
        ("REKINDLE_ATTRIBUTION_DAYS", "7,14"),
        ("REKINDLE_CURRENCY", "dollars"),
        ("REKINDLE_MAX_REJECT_RATE", "1.5"),
        ("REKINDLE_MAX_REJECT_RATE", "ten percent"),
        ("REKINDLE_SCHEMA", "drop table;"),
        ("REKINDLE_SCHEDULE_CRON", "30 0 * *"),
        ("REKINDLE_SCHEDULE_CRON", "0 24 * * *"),
        ("REKINDLE_SCHEDULE_CRON", "every day"),
        ("REKINDLE_SCHEDULE_TIMEZONE", "Mars/Olympus"),
        ("REKINDLE_SCHEDULE_TIMEZONE", "../../etc/passwd"),
    ],
)
def test_bad_value_names_the_variable(variable, value):
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: value})


def test_schema_named_like_the_duckdb_file_is_refused():
    with pytest.raises(SettingsError, match="REKINDLE_SCHEMA"):
        Settings.from_env({"REKINDLE_WAREHOUSE_URL": "duckdb:///data/analytics.duckdb"})


def test_cli_reports_a_bad_setting_and_exits_2(capsys, monkeypatch):
    from pipelines.cli import main

    monkeypatch.setenv("REKINDLE_INACTIVITY_DAYS", "abc")
    assert main(["run"]) == 2
    assert "REKINDLE_INACTIVITY_DAYS" in capsys.readouterr().err
