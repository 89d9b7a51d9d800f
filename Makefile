# The shop platform's one front door. CI (`.ci/run`) calls these same targets.
#
#   make up        build if needed, start everything, wait until healthy
#   make infra     the same for the infrastructure only (broker cluster, rabbitmq-init,
#                  postgres, flower): what integration tests need
#   make down      stop and remove containers (volumes kept; `make clean` drops them)
#   make build     build the images
#   make offline   build local base images (no registry reachable); afterwards every
#                  target passes infra/offline/offline.env to compose
#   make logs      follow the logs (SERVICES="rabbit1 flower" to pick)
#   make ps        list the containers
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

.PHONY: up infra down clean build offline logs ps config test

up:
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

# Placeholder: the packages' unit tests, integration and e2e hook in here.
test:
	@echo "make test: no test targets yet"
