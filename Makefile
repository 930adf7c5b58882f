# crossvault — every target sets up the project-local virtual environment first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: run check test test-sqlite test-postgres bench lint clean chromium

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

HOST ?= 127.0.0.1
PORT ?= 8000

run: $(STAMP)  ## serve the API on the embedded default (demo data) at HOST:PORT (make run PORT=8080)
	CROSSVAULT_DEMO=1 $(VENV)/bin/crossvault serve --host $(HOST) --port $(PORT)

# Both cores: pytest-xdist, work stealing so the few long tests do not end a run alone.
XDIST := -n auto --dist worksteal
# The developer loop: lint plus the pure and vault tests (no server, no PostgreSQL).
FAST := tests/policies tests/vault tests/test_layers.py tests/test_house.py tests/api/test_errors_table.py

check: lint $(STAMP)  ## lint + the fast subset (policies, vault, the layers): the loop to run often
	$(PY) -m pytest $(XDIST) -q $(FAST)

test: test-sqlite test-postgres  ## the whole suite, on SQLite and then on a real PostgreSQL

# The browser tests drive Debian's chromium (through Playwright): installed if missing.
chromium:
	@command -v chromium >/dev/null || { export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }; }

test-sqlite: $(STAMP) chromium
	$(PY) -m pytest $(XDIST) --db=sqlite

test-postgres: $(STAMP) chromium
	$(PY) -m pytest $(XDIST) --db=postgresql

bench: $(STAMP)  ## benchmarks: ratios measured side by side in one run
	$(VENV)/bin/crossvault bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
