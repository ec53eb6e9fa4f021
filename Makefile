# One-command entry points: `make run`, `make test`, `make bench`. Nothing needs to be installed
# beforehand except Python >= 3.11; everything else goes into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps over one venv: `make run` installs only what the server needs; `make test` (and
# lint) add the dev extras (pytest, Playwright, moto, mypy ...) on top.
STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
# Benchmark peers (LiteLLM) live in a venv of their own: they are never our dependencies.
PEERS := .venv-peers
PEERS_STAMP := $(PEERS)/.installed
PORT ?= 8000
# One base URL for every process `make run` starts: honcho gives each process its own PORT, so
# workers (e-mails, callbacks) would otherwise build links to a port nobody listens on. Read by
# honcho after .env, so it wins over an empty DEFAULT_BASE_URL= copied from .env.example.
RUN_ENV := var/make-run.env
export PATH := $(abspath $(BIN)):$(PATH)

# Tests run on every core (pytest-xdist) in random order (pytest-randomly; the header prints
# "Using --randomly-seed=N": reproduce an order with PYTEST_ARGS="-p randomly --randomly-seed=N").
# `make test XDIST=` runs in one process; PYTEST_ARGS adds pytest options.
XDIST ?= -n auto
# The type-checked packages: veosaas and whichever apps exist.
TYPED := $(wildcard veosaas accounts outbound billing generation dashboard)
# The settings module is imported by the django-stubs plugin; any key will do for that.
MYPY = SECRET_KEY="$${SECRET_KEY:-typecheck-only}" $(BIN)/mypy $(TYPED)

# The settings refuse to start without SECRET_KEY unless DEBUG is on. The local entry points
# (`make run`, `make bench`) use the environment's key, else one generated once into
# $VAR_DIR/secret_key (default var/), the same file DEBUG=1 uses.
KEY_FILE = "$${VAR_DIR:-var}/secret_key"
LOCAL_KEY = SECRET_KEY="$${SECRET_KEY:-$$(cat $(KEY_FILE))}"

.PHONY: install install-dev run run-env test test-fast bench bench-peers lint typecheck format clean local-key

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

local-key:
	@[ -n "$$SECRET_KEY" ] || [ -s $(KEY_FILE) ] || { mkdir -p "$${VAR_DIR:-var}" && umask 077 && \
		$(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))' > $(KEY_FILE); }

run-env:
	@mkdir -p $(dir $(RUN_ENV))
	@printf 'DEFAULT_BASE_URL=http://127.0.0.1:%s\n' '$(PORT)' > $(RUN_ENV)

run: install local-key run-env
	$(LOCAL_KEY) $(BIN)/python manage.py migrate --noinput
	$(LOCAL_KEY) $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@echo "--------------------------------------------------------------------------"
	@$(LOCAL_KEY) $(BIN)/python manage.py ensuredemo | tail -n 2 | sed '2s/^/Demo API key: /'
	@echo "Serving on http://127.0.0.1:$(PORT)  (web + workers + beat; Ctrl-C stops all)"
	@echo "--------------------------------------------------------------------------"
	$(LOCAL_KEY) LOG_FORMAT=$${LOG_FORMAT:-text} BIND_HOST=$${BIND_HOST:-127.0.0.1} $(BIN)/honcho start --env .env,$(RUN_ENV) --port $(PORT) web worker callbacks beat

# The whole suite (README's command).
test: install-dev
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

# Everything except end-to-end process tests (`e2e`) and real video encoding (`slow`).
test-fast: install-dev
	$(BIN)/python -m pytest $(XDIST) -m "not e2e and not slow" $(PYTEST_ARGS)

bench: install local-key
	$(LOCAL_KEY) $(BIN)/python bench/run.py $(BENCH_ARGS)

# The optional peers of `make bench` (bench/peers.txt: LiteLLM's proxy) in a venv of their own,
# $(PEERS); `make bench` uses them when installed and prints "skipped" rows otherwise.
$(PEERS_STAMP): bench/peers.txt
	test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS)/bin/python -m pip install --quiet -r bench/peers.txt
	touch $(PEERS_STAMP)

bench-peers: $(PEERS_STAMP)

# Ruff (lint and format check), then mypy.
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MYPY)

typecheck: install-dev
	$(MYPY)

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(PEERS) var
