# Affitrack: `make run` to try it, `make test` to test it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
# Printed links (links page, link builder, postback URLs, seed_demo) use it: `make run PORT=8204` follows.
SITE_URL ?= http://$(HOST):$(PORT)

# PostgreSQL and Redis: DATABASE_URL / REDIS_URL when set (CI, production); any that is unset is an
# embedded server under .data/ (core/embedded_services.py), started here if it is not running yet.
EMBEDDED := $(PY) -m core.embedded_services

.PHONY: run test services stop lint format bench bench-full soak cluster venv dev-venv clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(PIP) install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed
dev-venv: $(VENV)/.installed-dev

services: venv
	$(EMBEDDED) start

# Stops the embedded servers (their data stays in .data/; `rm -rf .data` forgets it).
stop: venv
	$(EMBEDDED) stop

# The production topology under honcho (Procfile): web, RQ worker, click flusher, conversion writer, scheduler.
# A local run only: production sets its own SECRET_KEY, and the app refuses to start without one. On the
# embedded servers every command of this checkout uses their random key (.data/secret_key); on yours, a dev key.
ifdef DATABASE_URL
run: export SECRET_KEY ?= dev-only-insecure-key-change-me
endif
run: services
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --base-url $(SITE_URL)
	LOG_FORMAT=$${LOG_FORMAT:-console} HOST=$(HOST) PORT=$(PORT) SITE_URL=$(SITE_URL) \
		$(EMBEDDED) serve -- $(VENV)/bin/honcho start -f Procfile

# Tests use Redis database 15 of the embedded server (they empty it), never make run's database 0.
test: dev-venv
	$(EMBEDDED) exec --redis-db 15 -- $(VENV)/bin/pytest $(PYTEST_ARGS)

lint: dev-venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

format: dev-venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# W1/W2 under wrk, then W3, W4 and W5 at quick sizes: a few minutes. bench-full: the issue's sizes.
bench: dev-venv
	$(PY) bench/run.py $(BENCH_ARGS)
	$(PY) bench/soak.py --duration 60 $(SOAK_ARGS)

bench-full: dev-venv
	$(PY) bench/run.py --size full $(BENCH_ARGS)
	$(PY) bench/soak.py $(SOAK_ARGS)

# Ten minutes at a fixed rate on the click and postback endpoints: 0 errors, nothing lost, no backlog.
soak: dev-venv
	$(PY) bench/soak.py $(SOAK_ARGS)

# Several nodes on loopback under a fixed-rate soak while one web node, the active flusher, a worker and the Redis
# master are killed (bench/cluster.py, docs/scaling.md): about 6 minutes; fails on anything lost or doubled.
# Ports 17600-17640 and /tmp/cluster-*; CLUSTER_ARGS passes flags (--duration, rates, --redis-fault, --port-base).
cluster: dev-venv
	.ci/install-cluster-packages.sh
	$(PY) bench/cluster.py $(CLUSTER_ARGS)

clean:
	rm -rf $(VENV) staticfiles
