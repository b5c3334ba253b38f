# Event capture. `make run` runs the whole service; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: help install test-tools xapi-client examples promtool run test test-postgres test-unit drills services services-down services-status lint format bench bench-pinned bench-smoke clean openapi clients image images-local compose-test

help:
	@echo "make run              the service with Kafka, Redis, worker and web on 127.0.0.1:8000"
	@echo "make test             the whole suite (starts Kafka and Redis when they are not running)"
	@echo "make test-postgres    the suite but the drills against PostgreSQL (also starts a local PostgreSQL)"
	@echo "make drills           only the fault drills (Kafka, Redis and workers stopped and killed on purpose)"
	@echo "make services         start Kafka and Redis only;  make services-down  stops them"
	@echo "make lint             ruff, mypy and the migrations check"
	@echo "make test-tools       what the tests drive besides the service: the xAPI client library, the consumer"
	@echo "                      examples, promtool, the API client generator and TypeScript (part of make test)"
	@echo "make openapi          regenerate openapi.json (the API document of the shipped catalogue)"
	@echo "make clients          generate the API's TypeScript and Python clients into clients/generated"
	@echo "make bench            measure the service against ceilings on this machine, with the web on a core"
	@echo "                      of its own (pinned) and with every process on every core (shared): docs/benchmarks.md"
	@echo "make bench-pinned     the pinned mode only (the shared table in docs/benchmarks.md stays as it was)"
	@echo "make image            build the image of docker/compose.yml (eventcapture:local) with this checkout's"
	@echo "                      version and commit (needs Docker)"
	@echo "make images-local     every image of docker/compose.local.yml built from Debian's packages and Maven"
	@echo "                      Central's Kafka jars (debootstrap; no registry of images needed), and the service's image"
	@echo "make compose-test     the compose stack run for real behind its TLS proxy, scaled out, with faults"
	@echo "                      (starts dockerd when none runs; tests/compose/)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

# What the service needs: the virtualenv and the Kafka jars.
install: $(VENV)/.installed
	scripts/stack fetch

# What the tests drive besides the service (Node.js, Maven and Go packages): not needed to run it.
test-tools: xapi-client examples promtool
	scripts/clients fetch

# promtool, Prometheus's checker, which tests/test_ops_pack.py runs on ops/prometheus/ (`check
# rules`, `test rules`, `check config`): built with Go from the Go module proxy at this pinned
# version (the module's v0.316.0 is Prometheus 3's promtool), once, into $(STACK_DIR)/tools/promtool.
PROMTOOL_VERSION := v0.316.0
PROMTOOL_DIR := $(or $(STACK_DIR),.stack)/tools/promtool
promtool: $(PROMTOOL_DIR)/.$(PROMTOOL_VERSION)

$(PROMTOOL_DIR)/.$(PROMTOOL_VERSION):
	rm -rf $(PROMTOOL_DIR) && mkdir -p $(PROMTOOL_DIR)
	GOBIN=$(abspath $(PROMTOOL_DIR)) GOFLAGS=-mod=mod go install github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)
	touch $@

# The xAPI client library tests/test_xapi_client.py drives (Node.js), exactly as its lock file pins
# it; reinstalled only when package.json or the lock file change.
XAPI_CLIENT := tests/xapi_client
xapi-client: $(XAPI_CLIENT)/node_modules/.package-lock.json

$(XAPI_CLIENT)/node_modules/.package-lock.json: $(XAPI_CLIENT)/package.json $(XAPI_CLIENT)/package-lock.json
	npm ci --prefix $(XAPI_CLIENT) --no-audit --no-fund
	touch $@

# The consumer examples (docs/consumers.md), which tests/test_consumer_examples.py runs: the Node.js
# one's packages, exactly as package-lock.json pins them, and the JVM one's jars (Maven Central, once)
# and classes. Redone only when their pins or sources change.
EXAMPLES := examples/consumers
examples: $(EXAMPLES)/node/node_modules/.package-lock.json $(EXAMPLES)/jvm/target/.built

$(EXAMPLES)/node/node_modules/.package-lock.json: $(EXAMPLES)/node/package.json $(EXAMPLES)/node/package-lock.json
	cd $(EXAMPLES)/node && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

$(EXAMPLES)/jvm/target/.built: $(EXAMPLES)/jvm/pom.xml $(shell find $(EXAMPLES)/jvm/src -name '*.java')
	cd $(EXAMPLES)/jvm && mvn -q -B dependency:copy-dependencies compile
	touch $@

run: install
	scripts/run

test: install test-tools
	scripts/test

# The fault drills test delivery, not the database engine: the SQLite run (make test) has them.
test-postgres: install test-tools
	TEST_DATABASE=postgres scripts/test -m "not drill"

drills: install
	scripts/test -m drill

# The tests that need nothing but the virtualenv (docs/development.md, Tests). Kafka and Redis are
# pointed at a closed port, so a test that needs them and is not marked `integration` fails here
# even on a machine where they run.
test-unit: $(VENV)/.installed
	CELERY_BROKER_URL=redis://127.0.0.1:1/0 RATELIMIT_CACHE_URL=redis://127.0.0.1:1/1 KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1 \
	  $(BIN)/python -m pytest -m "not integration"

services: install
	scripts/stack up

services-down:
	scripts/stack down

services-status:
	scripts/stack status

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	DEBUG=true SECRET_KEY=lint $(BIN)/python manage.py makemigrations --check --dry-run

openapi: $(VENV)/.installed
	scripts/openapi

clients:
	scripts/clients fetch
	scripts/clients generate clients/generated

# Both modes, shared then pinned (bench/run.py); `scripts/bench --mode pinned|shared` runs one.
bench: install
	scripts/bench

bench-pinned: install
	scripts/bench --mode pinned

bench-smoke: install
	scripts/bench --smoke

# The image docker/compose.yml runs (needs Docker), labelled with pyproject.toml's version and this
# checkout's commit, which /api/v0/info then reports. BASE_IMAGE=... builds on another Python 3.11 image
# (docker/Dockerfile). `docker compose -f docker/compose.yml up`
# uses it as it is (without --build).
IMAGE ?= eventcapture:local
image:
	docker build -f docker/Dockerfile -t $(IMAGE) $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) \
	  --build-arg VERSION="$$($(PYTHON) -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')" \
	  --build-arg GIT_SHA="$$(git rev-parse HEAD)" .

# The images of docker/compose.local.yml, from Debian's packages (debootstrap, docker import) and the
# Kafka jars of `scripts/stack fetch`; kept once built (scripts/images-local --force rebuilds them).
images-local: install
	scripts/images-local

# docker/compose.yml run for real: up, through the TLS proxy, faults, scale-out, down and up again.
compose-test: install
	scripts/compose-test

format: $(VENV)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	scripts/stack down kafka redis postgres
	rm -rf .stack/kafka/data .stack/redis .stack/postgres db.sqlite3
