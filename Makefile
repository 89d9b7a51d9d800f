# The shop platform's one front door. CI (`.ci/run`) calls these same targets.
#
#   make up        build if needed, start everything, wait until healthy (Jaeger too, unless
#                  offline; TRACING=on|off)
#   make infra     the same for the infrastructure only (broker cluster, rabbitmq-init,
#                  postgres, flower): what integration tests need
#   make down      stop and remove containers (volumes kept; `make clean` drops them)
#   make build     build the images
#   make offline   build local base images (no registry reachable); afterwards every
#                  target passes infra/offline/offline.env to compose
#   make logs      follow the logs (SERVICES="rabbit1 flower" to pick)
#   make ps        list the containers
#
#   make test      every test: unit + integration (real RabbitMQ on loopback) of each package,
#                  each package's database tests again on the shop's PostgreSQL (db-tests:
#                  a scratch database per package), then e2e against
#                  the shop; installs the host tools it lacks (make deps) and starts the shop
#                  (make up) when it is not running
#   make unit | integration | db-tests | e2e | lint     one kind at a time
#                  (lint: ruff, mypy --strict, event-contracts' import contracts, template-check)
#   make template-check  each service's skeleton files = templates/service rendered with its
#                  .copier-answers.yml (templates/service/README.md); fails with a unified diff
#   make bench     `python -m bench` against the running shop (~15 min; bench/README.md)
#   make bench-baseline-image REF=<commit>  order-service's image at that commit, as
#                  shop/order-service:baseline: `--edge-baseline-image` for the edge-alone target
#   make bench-smoke  every benchmark phase for seconds, `--check`: runs end to end, loses
#                  nothing (CI runs it after the tests; its numbers mean nothing)
#   make deps      host tools the tests need (root): uv, chromium
#   make alerts-test  the Prometheus alert rules' unit tests (promtool test rules in the
#                  Prometheus base image; infra/prometheus/alerts.test.yml)
#   make broker-facts  the running cluster's RabbitMQ version and denied deprecated features
#   make k8s-validate  the Kubernetes manifests, offline (no cluster): render the overlays, validate
#                  every object (core: strict schemas; operators': their pinned CRDs), generated
#                  topology = committed (deploy/kubernetes, docs/deploy.md)
#   make swarm-up | swarm-down | swarm-e2e | swarm-test   the shop as a Docker Swarm stack
#                  (deploy/swarm/README.md); swarm-test = up, the Swarm scenarios, always down
#   make new-service NAME=stock   a new consumer service from templates/service, wired into the
#                  repository (docs/adding-a-service.md lists what is left to do by hand)
#   make new-service-e2e NAME=probe   a throwaway one added to the RUNNING shop without touching
#                  order-service, proven by e2e/test_new_service.py, then removed;
#                  CONTRACTS_VERSION=previous|newest|X.Y.Z: the event-contracts release it pins
#                  (default newest; CI: previous, next to services on the newest);
#                  TEMPLATE_AT_RELEASE=1: the template as it was at that release's commit
#   make contracts-release   release event-contracts at the version in its pyproject.toml, from
#                  HEAD: its wheel (reproducible) into event-contracts/wheelhouse, recorded in
#                  event-contracts/releases.toml (event-contracts/README.md, "Releasing")
#   make locks     every service's requirements.lock, with hashes, from its pyproject and the
#                  wheelhouse; UPGRADE=1 moves event-contracts to the newest release;
#                  LOCK_SERVICES="billing-service" picks services (default: all)
#   make token     a bearer token from the running shop's dev issuer for the edge:
#                  TOKEN=$(make token ROLE=customer SUB=c-1)   (ROLE=support for support)
#
# Project name: `shop` (compose.yml `name:`), or COMPOSE_PROJECT_NAME from the
# environment (CI uses shopci).

SHELL := /bin/bash

# .env first, then the offline image variables (later files win), each only if present.
ENV_FILES := $(foreach f,.env infra/offline/offline.env,$(if $(wildcard $(f)),--env-file $(f)))
COMPOSE ?= docker compose $(ENV_FILES)
SERVICES ?=
INFRA_SERVICES := rabbit1 rabbit2 rabbit3 rabbitmq-init postgres flower
WAIT_TIMEOUT ?= 600

# Traces (infra/README.md#tracing): Jaeger (compose profile "tracing") and the services' OTLP
# endpoint, on unless offline (no registry serves Jaeger's image there). TRACING=on|off overrides.
comma := ,
TRACING ?= $(if $(wildcard infra/offline/offline.env),off,on)
ifeq ($(TRACING),on)
export COMPOSE_PROFILES := $(if $(COMPOSE_PROFILES),$(COMPOSE_PROFILES)$(comma))tracing
export OTEL_EXPORTER_OTLP_ENDPOINT ?= http://jaeger:4318
TRACING_NOTE = tracing: spans exported to Jaeger, UI at http://$${INFRA_BIND:-127.0.0.1}:$${JAEGER_UI_PORT:-16686}
else
TRACING_NOTE = tracing: Jaeger left out (TRACING=off, the default offline: no registry serves its image); $\
  trace ids still travel with every event and in the edge's traceresponse header, no spans are exported
endif

PACKAGES := event-contracts order-service billing-service logistic-service
VENV ?= .venv-test
PYTHON := $(CURDIR)/$(VENV)/bin/python
PYTEST_ARGS ?=
# Integration tests (and db-tests) start a throwaway broker: a container of the stack's own
# RabbitMQ base image (the offline stand-in once `make offline` ran, else the official image).
RABBITMQ_IMAGE ?= $(or $(shell sed -n 's/^RABBITMQ_IMAGE=//p' infra/offline/offline.env 2>/dev/null),rabbitmq:4.3-management)
export SHOP_TEST_RABBITMQ_IMAGE ?= $(RABBITMQ_IMAGE)
# promtool comes with the Prometheus base image (the official one, or Debian's offline).
PROMETHEUS_IMAGE ?= $(or $(shell sed -n 's/^PROMETHEUS_IMAGE=//p' infra/offline/offline.env 2>/dev/null),prom/prometheus:v3.14.0)

.PHONY: bench-baseline-image contracts-release locks template-check new-service new-service-e2e shop-running alerts-test swarm-stack swarm-up swarm-down swarm-e2e swarm-test broker-facts up infra down clean build offline logs ps config test unit integration db-tests e2e lint deps venv bench bench-smoke bench-venv k8s-venv k8s-validate token

up:
	@echo "$(TRACING_NOTE)"
	$(COMPOSE) up -d --build --wait --wait-timeout $(WAIT_TIMEOUT) $(SERVICES)

infra:
	$(COMPOSE) up -d --build --wait --wait-timeout $(WAIT_TIMEOUT) $(INFRA_SERVICES)

down:
	$(COMPOSE) down --remove-orphans

clean:
	$(COMPOSE) down --remove-orphans --volumes

build:
	$(COMPOSE) build $(SERVICES)

offline:
	infra/offline/build-bases

logs:
	$(COMPOSE) logs -f --tail=200 $(SERVICES)

ps:
	$(COMPOSE) ps -a

config:
	$(COMPOSE) config

deps:
	command -v uv >/dev/null || python3 -m pip install -q uv
	test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

# One venv with every package (editable), the e2e suite's pinned dependencies, the lint
# tools (requirements-lint.lock: ruff, mypy, import-linter) and copier (renders
# templates/service: make new-service).
COPIER := copier==9.19.1
venv: $(VENV)/.installed
$(VENV)/.installed: $(foreach p,$(PACKAGES),$(p)/pyproject.toml) e2e/requirements.lock requirements-lint.lock
	uv venv -q --allow-existing $(VENV) -p 3.11
	uv pip install -q --python $(PYTHON) -e 'event-contracts[test,sqlalchemy]' \
	  $(foreach p,$(filter-out event-contracts,$(PACKAGES)),-e '$(p)[test]') \
	  -r e2e/requirements.lock -r requirements-lint.lock $(COPIER)
	touch $@

unit: venv
	@set -e; for p in $(PACKAGES); do echo "== unit: $$p"; \
	  (cd $$p && $(PYTHON) -m pytest -m unit -q -p no:cacheprovider $(PYTEST_ARGS)); done
	@echo "== unit: repository (tests/)"
	@$(PYTHON) -m pytest tests -m unit -q -p no:cacheprovider $(PYTEST_ARGS)

integration: venv
	@echo "== broker for integration tests: $(SHOP_TEST_RABBITMQ_IMAGE)"
	@set -e; for p in $(PACKAGES); do echo "== integration: $$p"; \
	  (cd $$p && $(PYTHON) -m pytest -m integration -q -p no:cacheprovider $(PYTEST_ARGS)); done

# The alert rules' unit tests; no stack needed.
alerts-test:
	docker run --rm --network none -v $(CURDIR)/infra/prometheus:/rules:ro -w /rules \
	  --entrypoint promtool $(PROMETHEUS_IMAGE) test rules alerts.test.yml

# A bearer token from the dev issuer (compose's order-service-dev-issuer, loopback only).
ROLE ?= customer
SUB ?= c-1
ISSUER_URL = http://$${DEV_ISSUER_BIND:-127.0.0.1}:$${DEV_ISSUER_PORT:-8001}
token:
	@answer=$$(curl -fsS "$(ISSUER_URL)/token?sub=$(SUB)&role=$(ROLE)") \
	  || { echo "make token: no dev issuer at $(ISSUER_URL) (is the shop up?)" >&2; exit 1; }; \
	  python3 -c 'import json, sys; print(json.loads(sys.argv[1])["access_token"])' "$$answer"

# What the running cluster is: the broker's version and the deprecated features it denies.
broker-facts:
	@echo "RabbitMQ $$($(COMPOSE) exec -T rabbit1 rabbitmqctl -q version)," \
	  "nodes: $$($(COMPOSE) exec -T rabbit1 rabbitmqctl -q eval 'rabbit_nodes:list_running().')"
	@for f in transient_nonexcl_queues global_qos queue_master_locator classic_queue_mirroring; do \
	  echo "  deprecated feature $$f permitted: $$($(COMPOSE) exec -T rabbit1 rabbitmqctl -q eval \
	    "rabbit_deprecated_features:is_permitted($$f)." 2>/dev/null)"; done

# Each package's tests once more on PostgreSQL (the running shop's server), each in a scratch
# database of its own, `<package>_tests` (created if missing), never a service's own: a service's
# unit and integration tests (order-service writes differently there: one statement per new
# order, ids from the sequence; all: PostgreSQL's locks and types), less its least-privilege test
# (broker only); event-contracts' `database` tests (the migration lock, on fresh databases).
# TEST_DATABASE_URL: order-service's database (as before); TEST_DATABASE_SERVER: the others' server.
TEST_DATABASE_SERVER ?= postgresql+psycopg://$${POSTGRES_USER:-postgres}:$${POSTGRES_PASSWORD:-postgres-dev}@$${INFRA_BIND:-127.0.0.1}:$${POSTGRES_PORT:-5432}
TEST_DATABASE_URL ?= $(TEST_DATABASE_SERVER)/order_service_tests
test_database_url = $(if $(filter order-service,$(1)),$(TEST_DATABASE_URL),$(TEST_DATABASE_SERVER)/$(subst -,_,$(1))_tests)
db_tests_selection = $(if $(filter event-contracts,$(1)),-m database,-m "unit or integration" --ignore tests/integration/test_least_privilege.py)
db-tests: venv
	@set -e; $(foreach p,$(PACKAGES),echo "== db-tests: $(p)"; url="$(call test_database_url,$(p))"; \
	  $(PYTHON) -c 'import sys; from event_contracts.testing import create_database; create_database(sys.argv[1])' "$$url"; \
	  (cd $(p) && TEST_DATABASE_URL="$$url" $(PYTHON) -m pytest $(call db_tests_selection,$(p)) -q -p no:cacheprovider $(PYTEST_ARGS));)

e2e: venv
	$(PYTHON) -m pytest e2e -p no:cacheprovider $(PYTEST_ARGS)

lint: venv bench-venv
	@set -e; for p in $(PACKAGES) e2e deploy/kubernetes; do echo "== lint: $$p"; \
	  (cd $$p && $(CURDIR)/$(VENV)/bin/ruff check . && $(CURDIR)/$(VENV)/bin/ruff format --check .); done
	@echo "== lint: tests, deploy, templates"
	@$(VENV)/bin/ruff check --config e2e/ruff.toml tests deploy templates/new_service.py templates/template_check.py && $(VENV)/bin/ruff format --check --config e2e/ruff.toml tests deploy templates/new_service.py templates/template_check.py
	@$(VENV)/bin/mypy --strict deploy/swarm/swarm.py templates/new_service.py templates/template_check.py event-contracts/release.py
	@set -e; for p in $(PACKAGES); do echo "== mypy: $$p"; \
	  (cd $$p && $(CURDIR)/$(VENV)/bin/mypy src); done
	@echo "== import contracts: event-contracts (the contracts never import the Celery adapter; no cycles)"
	@cd event-contracts && $(CURDIR)/$(VENV)/bin/lint-imports --no-cache
	@echo "== lint: bench"
	@$(VENV)/bin/ruff check --config bench/ruff.toml bench
	@$(VENV)/bin/ruff format --check --config bench/ruff.toml bench
	@$(VENV)/bin/mypy --python-executable $(BENCH_PYTHON) --ignore-missing-imports bench
	@$(MAKE) --no-print-directory template-check

# The drift check: every service's skeleton files are the template's, rendered with its answers.
template-check: venv
	@echo "== template-check: skeleton files = templates/service rendered with each service's answers"
	@$(PYTHON) templates/template_check.py

# On a fresh machine `make test` alone passes: the host tools it lacks, then the shop (started and
# waited for only when its edge is not running; left running), then every kind of test.
test: deps shop-running unit integration db-tests e2e

shop-running:
	@if [ -n "$$($(COMPOSE) ps --status running -q order-service 2>/dev/null)" ]; then \
	  echo "== the shop is running"; else echo "== starting the shop (make up)"; $(MAKE) up; fi

# A new consumer service from templates/service (docs/adding-a-service.md lists what is left).
# new-service-e2e: a throwaway one added to the RUNNING stack (COMPOSE_PROJECT_NAME) without
# touching order-service, proven by e2e/test_new_service.py, then removed (templates/README.md).
NAME ?=
PYTHON_IMAGE ?= $(or $(shell sed -n 's/^PYTHON_IMAGE=//p' infra/offline/offline.env 2>/dev/null),python:3.13-slim)
new-service: venv
	@test -n "$(NAME)" || { echo "usage: make new-service NAME=<name>" >&2; exit 2; }
	$(PYTHON) templates/new_service.py create $(if $(CONTRACTS_VERSION),--contracts-version $(CONTRACTS_VERSION)) $(NAME)

new-service-e2e: venv
	@test -n "$(NAME)" || { echo "usage: make new-service-e2e NAME=<name>" >&2; exit 2; }
	PYTHON_IMAGE=$(PYTHON_IMAGE) $(PYTHON) templates/new_service.py e2e \
	  $(if $(CONTRACTS_VERSION),--contracts-version $(CONTRACTS_VERSION)) \
	  $(if $(TEMPLATE_AT_RELEASE),--template-at-release) $(NAME) -- $(PYTEST_ARGS)

# event-contracts' releases and the services' locks (event-contracts/README.md, "Releasing").
LOCK_SERVICES ?=
UPGRADE ?=
contracts-release: venv
	$(PYTHON) event-contracts/release.py cut

locks: venv
	$(PYTHON) event-contracts/release.py lock $(LOCK_SERVICES) $(if $(UPGRADE),--upgrade)

# The benchmark's own venv (it starts Celery workers of its own; py-spy for --profile).
BENCH_VENV ?= bench/.venv
BENCH_PYTHON := $(CURDIR)/$(BENCH_VENV)/bin/python
# The stack's endpoints, from the same variables compose reads.
BENCH_TARGET = --edge-url http://$${EDGE_BIND:-127.0.0.1}:$${EDGE_PORT:-8000} \
  --issuer-url http://$${DEV_ISSUER_BIND:-127.0.0.1}:$${DEV_ISSUER_PORT:-8001} \
  --management http://$${INFRA_BIND:-127.0.0.1}:$${RABBITMQ_MANAGEMENT_PORT:-15672} \
  --admin $${RABBITMQ_ADMIN_USER:-admin}:$${RABBITMQ_ADMIN_PASSWORD:-admin-dev} \
  --amqp-ports $${RABBIT1_AMQP_PORT:-5672},$${RABBIT2_AMQP_PORT:-5673},$${RABBIT3_AMQP_PORT:-5674} \
  --order-db postgresql://order_service:$${ORDER_SERVICE_DB_PASSWORD:-order-service-db-dev}@$${INFRA_BIND:-127.0.0.1}:$${POSTGRES_PORT:-5432}/order_service
BENCH_ARGS ?=

bench-venv: $(BENCH_VENV)/.installed
$(BENCH_VENV)/.installed: bench/requirements.lock event-contracts/pyproject.toml
	uv venv -q --allow-existing $(BENCH_VENV) -p 3.11
	uv pip install -q --python $(BENCH_PYTHON) -r bench/requirements.lock -e ./event-contracts
	touch $@

bench: bench-venv
	$(BENCH_PYTHON) -m bench $(BENCH_TARGET) $(BENCH_ARGS)

# order-service's image as of another commit (REF, default HEAD), for the edge-alone target's
# baseline: `make bench BENCH_ARGS="--edge-baseline-image shop/order-service:baseline"`.
REF ?= HEAD
bench-baseline-image:
	rm -rf artifacts/bench-baseline && mkdir -p artifacts/bench-baseline
	git archive $(REF) | tar -x -C artifacts/bench-baseline
	docker build -q -t shop/order-service:baseline --build-arg PYTHON_IMAGE=$(PYTHON_IMAGE) \
	  -f artifacts/bench-baseline/order-service/Dockerfile artifacts/bench-baseline
	rm -rf artifacts/bench-baseline

bench-smoke: bench-venv
	$(BENCH_PYTHON) -m bench $(BENCH_TARGET) --check --seconds 2 --paced-seconds 3 --warmup 1 \
	  --pairs 1 --drain-pairs 1 --edge-seconds 0.5 --edge-alone-seconds 0.25 --edge-alone-rounds 2 --edge-connections 1 \
	  --edge-baseline-image shop/order-service:$${SHOP_IMAGE_TAG:-dev} \
	  --out artifacts/bench-smoke --label smoke $(BENCH_ARGS)

# The Kubernetes manifests, validated with no cluster (deploy/kubernetes/README.md): its own venv
# with the pinned kubectl, kubernetes-validate and jsonschema, and event-contracts (the topology).
K8S_VENV ?= .venv-k8s
K8S_PYTHON := $(CURDIR)/$(K8S_VENV)/bin/python

k8s-venv: $(K8S_VENV)/.installed
$(K8S_VENV)/.installed: deploy/kubernetes/requirements.lock event-contracts/pyproject.toml
	uv venv -q --allow-existing $(K8S_VENV) -p 3.11
	uv pip install -q --python $(K8S_PYTHON) -r deploy/kubernetes/requirements.lock -e './event-contracts[kubernetes]'
	touch $@

k8s-validate: k8s-venv
	cd deploy/kubernetes && $(K8S_PYTHON) -m pytest -q $(PYTEST_ARGS)

# Docker Swarm (deploy/swarm/README.md). Never on an engine where a compose project runs:
# joining or leaving a swarm breaks its containers' name resolution (swarm-up refuses).
SWARM_STACK ?= shopswarm
SWARM = $(PYTHON) deploy/swarm/swarm.py

swarm-stack: venv
	$(SWARM) generate
	$(SWARM) generate --routing-mesh -o deploy/swarm/shop-stack.routing-mesh.yml

swarm-up: venv build
	$(SWARM) up --stack $(SWARM_STACK) $(ENV_FILES) --compose "$(COMPOSE)"

swarm-down: venv
	$(SWARM) down --stack $(SWARM_STACK)

swarm-e2e: venv
	E2E_SWARM_STACK=$(SWARM_STACK) $(PYTHON) -m pytest e2e/test_submit.py e2e/swarm -p no:cacheprovider $(PYTEST_ARGS)

swarm-test:
	@rc=0; $(MAKE) swarm-up && $(MAKE) swarm-e2e || rc=$$?; $(MAKE) swarm-down || rc=1; exit $$rc
