"""Settings: every SPEC section 2 variable, its default, and a clear error naming a bad one."""

from datetime import date
from pathlib import Path

import pytest

from rekindle.settings import Settings, SettingsError, warehouse_dialect


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


@pytest.mark.parametrize(("url", "dialect", "kind"), [
    ("duckdb:///data/warehouse.duckdb", "duckdb", "duckdb"),
    ("postgresql://u@db:5432/wh", "postgresql", "postgres"),  # as typed, before Settings normalizes it
    ("postgresql+psycopg://u@db:5432/wh", "postgresql", "postgres"),
])
def test_the_warehouse_is_named_once_for_tags_and_kinds(url, dialect, kind):
    # the run tag rekindle/warehouse takes the dialect, the asset kinds Dagster's icon name
    s = Settings(warehouse_url=url)
    assert warehouse_dialect(url) == s.warehouse_dialect == dialect
    assert s.warehouse_kind == kind
    assert s.is_duckdb == (dialect == "duckdb")


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
            "REKINDLE_RAW_CHUNK_ROWS": "500000",
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
    assert s.raw_chunk_rows == 500_000
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
        ("REKINDLE_RAW_CHUNK_ROWS", "0"),
        ("REKINDLE_RAW_CHUNK_ROWS", "2e6"),
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
    with pytest.raises(SettingsError, match="REKINDLE_SCHEMA"):  # DuckDB options are not part of the name
        Settings.from_env({"REKINDLE_WAREHOUSE_URL": "duckdb:///data/analytics.duckdb?memory_limit=4GB"})


def test_cli_reports_a_bad_setting_and_exits_2(capsys, monkeypatch):
    from pipelines.cli import main

    monkeypatch.setenv("REKINDLE_INACTIVITY_DAYS", "abc")
    assert main(["run"]) == 2
    assert "REKINDLE_INACTIVITY_DAYS" in capsys.readouterr().err


# =========================================================================================
# the warehouse URL: checked part by part, its password never shown (issue 8)
# =========================================================================================

SECRET = "S3cretPW-xyz"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://u:{SECRET}@host:abc/db",  # port not a number: SQLAlchemy's int() failed
        f"postgresql://u:{SECRET}@host:0/db",
        f"postgresql://u:{SECRET}@host:70000/db",
        f"postgresql://u:{SECRET}@host:5432:6/db",
        f"postgresql://u:{SECRET}/db",  # host forgotten: the password reads as the port
        f"postgresql://u:{SECRET}@@host/db",  # an unescaped @: where does the password end?
        f"postgres://u:{SECRET}@host/db",  # a scheme we do not support
        f"mysql://u:{SECRET}@host/db",
        f"u:{SECRET}@host/db",
        "duckdb://",  # a DuckDB URL needs a path
        "duckdb:///",
        "duckdb://data/w.duckdb",  # a host where the path should be: the file would land elsewhere
    ],
)
def test_bad_warehouse_url_is_a_settings_error_without_the_password(url):
    with pytest.raises(SettingsError, match="REKINDLE_WAREHOUSE_URL") as error:
        Settings.from_env({"REKINDLE_WAREHOUSE_URL": url})
    assert SECRET not in str(error.value)
    assert SECRET[1:-1] not in str(error.value)  # not even in part


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgresql+psycopg://u:{SECRET}@host:5432/db", "postgresql+psycopg://u:***@host:5432/db"),
        (f"postgresql+psycopg://u:{SECRET.replace('-', '%40')}@host/db", "postgresql+psycopg://u:***@host/db"),
        (f"postgresql+psycopg://u@host/db?password={SECRET}&sslmode=require",
         "postgresql+psycopg://u@host/db?password=***&sslmode=require"),
        (f"duckdb:///md:db?motherduck_token={SECRET}", "duckdb:///md%3Adb?motherduck_token=***"),
        (f"postgresql://u:{SECRET}@host:abc/db", "postgresql://***"),
        (f"postgresql://u:{SECRET}@@host/db", "postgresql://***"),
        (f"u:{SECRET}@host/db", "***"),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/test", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
        ("duckdb:///data/warehouse.duckdb", "duckdb:///data/warehouse.duckdb"),
        (f"sc://spark:443/;use_ssl=true;token={SECRET};user_id=etl", "sc://spark:443/;use_ssl=true;token=***;user_id=etl"),
        ("sc://127.0.0.1:15002", "sc://127.0.0.1:15002"),
    ],
)
def test_redact_url_hides_the_password_whatever_the_shape(url, shown):
    from rekindle.settings import redact_url

    assert redact_url(url) == shown


def test_a_valid_url_is_normalized_and_shown_without_its_password():
    s = Settings.from_env({"REKINDLE_WAREHOUSE_URL": f" postgresql://u:{SECRET}@db.example:6543/wh "})
    assert s.warehouse_url == f"postgresql+psycopg://u:{SECRET}@db.example:6543/wh"
    assert s.warehouse_url_for_display == "postgresql+psycopg://u:***@db.example:6543/wh"
    assert SECRET not in repr(s)  # a traceback or log line showing the settings shows no password
    absolute = "duckdb:////srv/w.duckdb"
    assert Settings.from_env({"REKINDLE_WAREHOUSE_URL": absolute}).warehouse_url == absolute


def test_schema_longer_than_postgres_names_is_refused():
    assert Settings.from_env({"REKINDLE_SCHEMA": "s" * 63}).schema == "s" * 63
    with pytest.raises(SettingsError, match="REKINDLE_SCHEMA.*63 bytes"):
        Settings.from_env({"REKINDLE_SCHEMA": "s" * 64})
    with pytest.raises(SettingsError, match="REKINDLE_SCHEMA"):  # 32 letters, 64 bytes in UTF-8
        Settings.from_env({"REKINDLE_SCHEMA": "é" * 32})


def test_cli_reports_a_bad_port_and_exits_2_without_the_password(capsys, monkeypatch):
    from pipelines.cli import main

    monkeypatch.setenv("REKINDLE_WAREHOUSE_URL", f"postgresql://u:{SECRET}@host:abc/db")
    assert main(["run"]) == 2
    out, err = capsys.readouterr()
    assert "REKINDLE_WAREHOUSE_URL" in err and "port" in err
    assert SECRET not in out + err


def test_a_spark_connect_url_selects_spark():
    settings = Settings.from_env({"REKINDLE_WAREHOUSE_URL": "sc://127.0.0.1:15002"})
    assert (settings.warehouse_dialect, settings.warehouse_kind) == ("spark", "spark")
    with pytest.raises(SettingsError, match="sc://host:port"):
        Settings.from_env({"REKINDLE_WAREHOUSE_URL": "sc:///no-host"})
