# crossvault — every target sets up the project-local virtual environment first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: run check test test-sqlite test-postgres bench lint clean chromium catalogues screenshots

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

# The browser tests (the web app, /docs offline) drive Debian's chromium through Playwright
# (Playwright's own download is not used); a CJK font so the 繁體中文 pages render.
chromium:
	@command -v chromium >/dev/null && fc-list 2>/dev/null | grep -qi microhei || { \
	  export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && \
	  apt-get install -y -qq chromium fonts-wqy-microhei; }

test-sqlite: $(STAMP) chromium
	$(PY) -m pytest $(XDIST) --db=sqlite

screenshots: $(STAMP) chromium  ## refresh docs/screenshots (the web app, both languages) from the browser tests
	CROSSVAULT_SCREENSHOTS=docs/screenshots $(PY) -m pytest -p no:xdist -q tests/web/test_web_app.py --db=sqlite

catalogues: $(STAMP)  ## re-extract the web app's strings and update the 繁體中文 catalogue
	$(VENV)/bin/pybabel extract -F api/web/babel.cfg -k N_ -k _ -o api/web/messages.pot .
	$(VENV)/bin/pybabel update -i api/web/messages.pot -d api/web/locale -l zh_Hant --no-fuzzy-matching
	rm api/web/messages.pot

test-postgres: $(STAMP)
	$(PY) -m pytest $(XDIST) --db=postgresql

bench: $(STAMP)  ## benchmarks: ratios measured side by side in one run
	$(VENV)/bin/crossvault bench

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
