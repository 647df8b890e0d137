# Crontopus: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PACKAGES := schemas services/kit services/identity services/runs services/gitops services/agents services/alerting services/gateway services/server cli agent
PYPROJECTS := $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
# The web console (web/): built with node 20.19+ and npm; optional for the API.
NODE_OK := $(shell node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && echo yes)
NO_NODE := No web console: it needs Node.js 20.19+ with npm (https://nodejs.org or your package manager), then make run builds it; the API works without it.
WEB_DEPS := web/node_modules/.installed
WEB_STAMP := web/dist/.built
# Test processes at once: most of a test is waiting on NATS, a database or a subprocess.
TEST_WORKERS ?= 4
WEB_SOURCES := $(shell find web/src web/public web/scripts -type f 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json web/package.json

.DEFAULT_GOAL := help

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

$(STAMP): $(PYPROJECTS) requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(foreach p,$(PACKAGES),-e ./$(p)) -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install every package (editable) and the dev tools

run: install ## Start the whole platform on the embedded default (http://127.0.0.1:8080), with the console
ifeq ($(NODE_OK),yes)
	@$(MAKE) --no-print-directory web || echo "The web console could not be built (see above); the API starts without it. Fix it and run make web."
else
	@echo "$(NO_NODE)"
endif
	$(BIN)/crontopus-server run all

$(WEB_DEPS): web/package-lock.json web/package.json
	cd web && npm ci --no-audit --no-fund
	touch $(WEB_DEPS)

$(WEB_STAMP): $(WEB_DEPS) $(WEB_SOURCES)
	cd web && npm run build
	touch $(WEB_STAMP)

web: ## Build the web console into web/dist (npm ci when package-lock.json changed; only when web/ changed)
ifeq ($(NODE_OK),yes)
	@$(MAKE) --no-print-directory $(WEB_STAMP)
else
	@echo "$(NO_NODE)"; exit 1
endif

web-dev: ## Vite's dev server for the console on http://127.0.0.1:5173, /api and /ping proxied to :8080
ifeq ($(NODE_OK),yes)
	@$(MAKE) --no-print-directory $(WEB_DEPS)
	cd web && npm run dev
else
	@echo "$(NO_NODE)"; exit 1
endif

test: install ## Run the whole test suite (real NATS, PostgreSQL, SQLite, Chromium) and the console's unit tests
ifeq ($(NODE_OK),yes)
	@$(MAKE) --no-print-directory web
	cd web && npm test
else
	@echo "Skipping the web console's tests: $(NO_NODE)"
endif
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

screenshots: install ## Run the console's browser tests and save a screenshot of every page to docs/console/
	@$(MAKE) --no-print-directory web
	CRONTOPUS_SCREENSHOTS=docs/console $(BIN)/python -m pytest -n 2 tests/test_console_*.py

lint: install ## ruff (format check + lint), mypy, and the console's TypeScript check
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
ifeq ($(NODE_OK),yes)
	@$(MAKE) --no-print-directory $(WEB_DEPS)
	cd web && npm run --silent typecheck
endif

format: install ## Reformat the code with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install ## Run the benchmarks under bench/ and print ratios against their baselines
	$(BIN)/python -m bench

docs: install ## Regenerate docs/openapi.json, docs/asyncapi.json and the console's API types
	$(BIN)/crontopus-server docs --out docs
ifeq ($(NODE_OK),yes)
	@$(MAKE) --no-print-directory $(WEB_DEPS)
	cd web && npm run --silent api
else
	@echo "Not regenerating web/src/api/schema.d.ts: $(NO_NODE)"
endif

clean: ## Remove the virtualenv, caches and the console's build and node_modules (keeps .crontopus data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache web/dist web/node_modules

.PHONY: help install run web web-dev test screenshots lint format bench docs clean
