"""Rekindle: pure, Dagster-free logic (settings, landing zone, validation, metric SQL)."""
