# Paperfeed: `make run` sets everything up and serves http://127.0.0.1:8000/; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

-include .env
export

.PHONY: install install-dev chromium run setup test test-hosts lint format check clean

install: $(VENV)/.runtime var/secret_key

install-dev: install $(VENV)/.dev

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip==25.3
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt requirements-spark.txt
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

var/secret_key:
	mkdir -p var
	$(PY) -c "import secrets; print(secrets.token_urlsafe(50))" > $@
	chmod 600 $@

# Migrate, collect static files, import the bundled catalogue and the demo community, train a first model (all safe to repeat).
# The first run also writes .env for local development (DEBUG on, so emails land in var/mail/).
setup: install
	test -f .env || printf '# Local development (make run). See .env.example for every setting.\nDEBUG=1\nSITE_URL=http://$(HOST):$(PORT)\n' > .env
	$(PY) manage.py migrate --no-input
	$(PY) manage.py collectstatic --no-input --verbosity 0
	$(PY) manage.py import_papers data/trending_papers.txt
	$(PY) manage.py load_demo
	$(PY) manage.py refresh_trending
	$(PY) manage.py retrain --if-no-model

run: export DEBUG := $(if $(DEBUG),$(DEBUG),1)
run: export SITE_URL := $(if $(SITE_URL),$(SITE_URL),http://$(HOST):$(PORT))
run: setup
	@echo "Paperfeed on http://$(HOST):$(PORT)/  (demo log-in: demo / paperfeed-demo; emails land in var/mail/; health at /healthz and /status)"
	WEB_HOST=$(HOST) WEB_PORT=$(PORT) bin/run

test: install-dev chromium lint
	$(PY) -m pytest $(PYTEST_ARGS)

# The site as several hosts (docs/deploy.md): two gunicorn web hosts with their own model folders, a training worker,
# Redis and an S3-compatible bucket (moto) on loopback; also part of `make test`.
test-hosts: install-dev
	$(PY) -m pytest tests/integration/test_many_hosts.py tests/test_model_files.py $(PYTEST_ARGS)

# ruff: lint (pycodestyle, pyflakes, import order; 140 columns) and the formatter's check; `make format` applies both.
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The browser tests drive Debian's Chromium; installed here when missing (as root), never downloaded by Playwright.
chromium:
	@command -v chromium >/dev/null || { test "$$(id -u)" = 0 && { apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }; }; } \
	  || { echo "The browser tests need Chromium: run 'sudo apt-get install chromium'."; exit 1; }

check: install
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) var/static
