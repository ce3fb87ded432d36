# Two commands do all setup: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-stamp
LANDING_DIR ?= $(or $(REKINDLE_LANDING_DIR),data/landing)

export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export GX_ANALYTICS_ENABLED := False

.PHONY: install run status test ui bench spark spark-stop clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(INSTALLED)

# Sample data is generated on first use only; an existing landing zone is never touched. With it,
# REKINDLE_START_DATE=<its first day> goes into .env, which `rekindle` and `dagster dev` (make ui)
# both read from this folder: the daily partitions start with the data, not on 2025-01-01.
run: $(INSTALLED)
	@if [ ! -d "$(LANDING_DIR)/orders" ]; then $(BIN)/rekindle generate --out "$(LANDING_DIR)" --env-file .env; fi
	$(BIN)/rekindle run

status: $(INSTALLED)
	$(BIN)/rekindle status

test: $(INSTALLED)
	$(BIN)/pytest

ui: $(INSTALLED)
	$(BIN)/dagster dev -w workspace.yaml

bench: $(INSTALLED)
	$(BIN)/python -m benchmarks.run

# A local Spark Connect server on 127.0.0.1:15002 (Java 17; pyspark's own jars, no download):
# REKINDLE_WAREHOUSE_URL=sc://127.0.0.1:15002 runs the pipeline on it. Its tables live in data/spark.
SPARK_MASTER ?= local[2]
spark: $(INSTALLED)
	$(BIN)/python -m pipelines.spark_server start --master '$(SPARK_MASTER)'

spark-stop: $(INSTALLED)
	$(BIN)/python -m pipelines.spark_server stop

clean:
	rm -rf data .dagster_home/storage .dagster_home/history .dagster_home/schedules .dagster_home/logs
