# One-command entry points: `make run`, `make test`, `make bench`. Nothing needs to be installed
# beforehand except Python >= 3.11; everything else goes into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps over one venv: `make run` installs only what the server needs; `make test` (and
# lint) add the dev extras (pytest, Playwright, moto, mypy ...) on top.
STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
PORT ?= 8000
# One base URL for every process `make run` starts: honcho gives each process its own PORT, so
# workers (e-mails, callbacks) would otherwise build links to a port nobody listens on. Read by
# honcho after .env, so it wins over an empty DEFAULT_BASE_URL= copied from .env.example.
RUN_ENV := var/make-run.env
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install install-dev run run-env test bench lint format clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

install: $(STAMP)

install-dev: $(DEV_STAMP)

run-env:
	@mkdir -p $(dir $(RUN_ENV))
	@printf 'DEFAULT_BASE_URL=http://127.0.0.1:%s\n' '$(PORT)' > $(RUN_ENV)

run: install run-env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@echo "--------------------------------------------------------------------------"
	@$(BIN)/python manage.py ensuredemo | tail -n 2 | sed '2s/^/Demo API key: /'
	@echo "Serving on http://127.0.0.1:$(PORT)  (web + workers + beat; Ctrl-C stops all)"
	@echo "--------------------------------------------------------------------------"
	BIND_HOST=$${BIND_HOST:-127.0.0.1} $(BIN)/honcho start --env .env,$(RUN_ENV) --port $(PORT) web worker callbacks beat

test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var
