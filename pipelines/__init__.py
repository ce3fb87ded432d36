"""Dagster wiring: Definitions, jobs, schedules, sensors and the `rekindle` command line."""
