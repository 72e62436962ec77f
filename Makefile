# CMP developer commands. `make run` and `make test` are the two a newcomer needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUNTIME_VENV := .venv-runtime
RUNTIME_STAMP := $(RUNTIME_VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: stop run test lint fmt migrate worker beat bench schema install clean-data

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

$(RUNTIME_STAMP): runtime/requirements.txt
	test -x $(RUNTIME_VENV)/bin/python || $(PYTHON) -m venv $(RUNTIME_VENV)
	$(RUNTIME_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(RUNTIME_VENV)/bin/python -m pip install --quiet -r runtime/requirements.txt
	touch $(RUNTIME_STAMP)

install: $(STAMP) $(RUNTIME_STAMP)

# Migrate, add the demo marketplace (idempotent; prints the demo sign-ins), then serve on HOST:PORT.
run: $(STAMP) $(RUNTIME_STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py runtime start
	$(PY) manage.py seed_demo --base-url http://$(HOST):$(PORT)
	$(PY) manage.py runserver $(HOST):$(PORT)

test: $(STAMP) $(RUNTIME_STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

worker: $(STAMP)
	$(VENV)/bin/celery -A cmp worker --loglevel=info

beat: $(STAMP)
	$(VENV)/bin/celery -A cmp beat --loglevel=info

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

schema: $(STAMP)
	$(PY) manage.py spectacular --validate --fail-on-warn --file schema.yaml

bench: $(STAMP)
	$(PY) bench/catalogue.py

# Stop the background services make run leaves running (the local runtime; the embedded Postgres).
stop: $(STAMP)
	-$(PY) manage.py runtime stop
	-$(PY) -c "import pathlib, cmp.embedded as e; e.stop_embedded_database(pathlib.Path('.data/postgres'))"

clean-data:
	rm -rf .data
