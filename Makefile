# Affitrack: `make run` to try it, `make test` to test it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

# Tests run against real PostgreSQL and Redis on localhost; override as you need.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/affitrack
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test lint format bench bench-full soak venv dev-venv clean

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

# A local run only: production sets its own SECRET_KEY, and the app refuses to start without one.
run: export SECRET_KEY ?= dev-only-insecure-key-change-me
run: venv
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --base-url http://$(HOST):$(PORT)
	@if [ -n "$$REDIS_URL" ]; then \
		LOG_FORMAT=$${LOG_FORMAT:-console} HOST=$(HOST) PORT=$(PORT) $(VENV)/bin/honcho start -f Procfile; \
	else \
		DEBUG=$${DEBUG:-1} LOG_FORMAT=$${LOG_FORMAT:-console} $(PY) manage.py runserver $(HOST):$(PORT); \
	fi

test: dev-venv
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: dev-venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

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

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
