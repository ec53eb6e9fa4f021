# One-command entry points: `make run`, `make test`, `make bench`. Nothing needs to be installed
# beforehand except Python >= 3.11; everything else goes into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install run test bench lint format clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (set PYTHON=...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@echo "--------------------------------------------------------------------------"
	@$(BIN)/python manage.py ensuredemo | tail -n 2 | sed '2s/^/Demo API key: /'
	@echo "Serving on http://127.0.0.1:$(PORT)  (web + workers + beat; Ctrl-C stops all)"
	@echo "--------------------------------------------------------------------------"
	LOG_FORMAT=$${LOG_FORMAT:-text} BIND_HOST=$${BIND_HOST:-127.0.0.1} $(BIN)/honcho start --port $(PORT) web worker callbacks beat

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var
