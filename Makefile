# Two commands do all set-up on a fresh machine: `make run` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTHON ?= python3

.PHONY: run test install fonts chromium migrate lint typecheck pytest pytest-postgres locales clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) fonts

# A CJK font for the 红黑榜 poster (Debian/Ubuntu). Idempotent; without root (or apt) it only warns, and the
# poster is then skipped while the text posting still goes out.
fonts:
	@command -v fc-list >/dev/null && fc-list :lang=zh | grep -q . || \
	  ( [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    apt-get update -qq && apt-get install -y -qq fonts-noto-cjk fontconfig ) || \
	  echo "note: no CJK font installed (apt-get install fonts-noto-cjk as root); 红黑榜 posters are skipped"

# Debian's headless Chromium for the pages' browser test (tests/test_pages_browser.py), installed when missing;
# without root (or apt-get) it only warns, and that test is skipped.
chromium:
	@tests/chromium.sh

migrate: install
	$(VENV)/bin/linli migrate

# The console chat with the demo district, or the real platform when a token is in .env.
run: migrate
	$(VENV)/bin/linli run

lint: install
	$(VENV)/bin/ruff check bot handlers storage tests bench

typecheck: install
	$(VENV)/bin/mypy bot handlers storage bench

# pytest's exit code 5 ("no tests collected") is a failure here: there must be tests. The suite runs on every
# core (pytest-xdist), a test module to a worker, so a module's one `linli run` process is started once.
PYTEST_WORKERS ?= -n auto --dist loadfile
pytest: install chromium
	@$(PY) -m pytest $(PYTEST_WORKERS); rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests were collected"; fi; exit $$rc

# The same suite again on a real PostgreSQL server that the script installs, starts on loopback and stops.
pytest-postgres: install
	PY=$(PY) tests/postgres.sh $(PYTEST_WORKERS)

test: lint typecheck pytest pytest-postgres

# Adds texts found in the code to locales/*/LC_MESSAGES/*.po and lists those still untranslated.
locales: install
	$(PY) -m bot.core.i18n_tool

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
