# Crontopus: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := schemas services/kit services/identity services/runs services/gitops services/agents services/alerting services/gateway services/server cli agent
PYPROJECTS := $(foreach p,$(PACKAGES),$(p)/pyproject.toml)

.DEFAULT_GOAL := help

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(STAMP): $(PYPROJECTS) requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(foreach p,$(PACKAGES),-e ./$(p)) -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install every package (editable) and the dev tools

run: install ## Start the whole platform on the embedded default (http://127.0.0.1:8080)
	$(BIN)/crontopus-server run all

test: install ## Run the whole test suite (real NATS, PostgreSQL, SQLite)
	$(BIN)/python -m pytest

lint: install ## ruff (format check + lint) and mypy
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: install ## Reformat the code with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install ## Run the benchmarks under bench/ and print ratios against their baselines
	$(BIN)/python -m bench

docs: install ## Regenerate the OpenAPI and AsyncAPI documents in docs/
	$(BIN)/crontopus-server docs --out docs

clean: ## Remove the virtualenv and caches (keeps .crontopus data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

.PHONY: help install run test lint format bench docs clean
