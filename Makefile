# The README's two commands are `make demo` and `make test`; every target sets up .venv itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_DATE ?= 2026-12-03
NL     := $(BIN)/newsletter --config schedule.yaml

.PHONY: setup demo test lint bench preview dist clean messages

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

# The main job on the bundled sample content: local feeds, local outbox, SQLite state.
# DEMO_DATE is fixed so the demo gives the same full issue whatever day it runs.
demo: $(STAMP)
	$(NL) new $(DEMO_DATE)
	$(NL) collect $(DEMO_DATE)
	$(NL) check $(DEMO_DATE)
	$(NL) approve $(DEMO_DATE)
	$(NL) build $(DEMO_DATE)
	$(NL) send $(DEMO_DATE) --yes
	$(NL) status $(DEMO_DATE)
	@echo
	@echo "Demo done. The issue of $(DEMO_DATE), built and sent to the local outbox:"
	@echo "  HTML        $(CURDIR)/build/$(DEMO_DATE)/email.html"
	@echo "  Text part   $(CURDIR)/build/$(DEMO_DATE)/email.txt"
	@echo "  Messages    $(CURDIR)/.newsletter/outbox/$(DEMO_DATE)/  (one .eml per subscriber)"
	@echo "Open the HTML in a browser: file://$(CURDIR)/build/$(DEMO_DATE)/email.html"
	@echo "  (or: $(BIN)/python -m webbrowser file://$(CURDIR)/build/$(DEMO_DATE)/email.html)"
	@echo "Run 'make demo' again: the issue is already sent, so nothing is sent twice."

# The tests' system tools (Chromium, SpamAssassin): installed when run as root, else named.
# Two workers (pytest-xdist), a test file each at a time: most tests wait on loopback servers,
# Chromium or PostgreSQL, so two share two cores well. PYTEST_WORKERS=0 runs them in one process.
PYTEST_WORKERS ?= 2
test: $(STAMP)
	@bash .ci/render-deps.sh
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

bench: $(STAMP)
	$(BIN)/python -m bench

# The wheel and the sdist, in dist/ (what `pip install` or `pipx install` takes).
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --outdir dist

# The editors' messages (gettext domain `newsletter`): extract the English msgids from the code,
# merge them into the fr and en catalogs (then translate the new entries of fr's .po) and
# compile the .mo files the package ships. tests/test_i18n.py fails while one is out of date.
LOCALE := src/newsletter/locale
POT    := build/messages/newsletter.pot
messages: $(STAMP)
	@mkdir -p $(dir $(POT))
	$(BIN)/pybabel extract -F babel.cfg --ignore-dirs='.* ._ __pycache__ locale static templates' \
		--add-location=file --sort-by-file --project=newsletter --version=0.1.0 \
		--copyright-holder='newsletter contributors' --msgid-bugs-address='' \
		-o $(POT) src/newsletter
	for lang in fr en; do \
		test -f $(LOCALE)/$$lang/LC_MESSAGES/newsletter.po || \
		$(BIN)/pybabel init -D newsletter -i $(POT) -d $(LOCALE) -l $$lang; \
	done
	$(BIN)/pybabel update -D newsletter -i $(POT) -d $(LOCALE) \
		--no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date
	$(BIN)/pybabel compile -D newsletter -d $(LOCALE) --statistics

preview: $(STAMP)
	$(NL) preview

clean:
	rm -rf build dist .newsletter .pytest_cache .mypy_cache .ruff_cache
