# FitFlow developer commands. Everything runs through fitflow/devstack.py, which uses
# DATABASE_URL / REDIS_URL when set and otherwise embedded PostgreSQL and Redis in .data/.
#
#   make run                      migrate, seed the demo gym, web + worker + beat on :8000 (PORT=...)
#   make test PYTEST_ARGS="-k x"  the test suite
#   make test-e2e                 only the end-to-end scenarios (pytest -m e2e)
#   make fuzz                     Schemathesis over /api/schema/ as a member and as staff (FUZZ_EXAMPLES=...)
#   make tour                     README tour screenshots (static/tour/) with Playwright against a seeded demo
#   make lint                     ruff check, ruff format --check, mypy (.ruff.toml, .mypy.ini)
#   make bench                    every bench/*.py in turn (BENCH=provision for one; BENCH_ARGS="--quick")
#   make bench-report             every bench plus first_run, figures against targets into bench/RESULTS.md
#   make clean                    stop embedded servers and delete .data/

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
DEVSTACK := $(PY) -m fitflow.devstack
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: venv run test test-e2e fuzz tour lint bench bench-report clean chromium

venv: $(STAMP)

# Re-installs only when a requirements file changed since the last install.
$(STAMP): requirements/base.txt requirements/local.txt requirements/production.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements/local.txt -r requirements/production.txt
	touch $@

run: venv
	$(DEVSTACK) run

test: venv chromium
	$(DEVSTACK) test -- $(PYTEST_ARGS)

test-e2e: venv chromium
	$(DEVSTACK) test -- -m e2e $(PYTEST_ARGS)

# The same Schemathesis tests `make test` runs, with many more examples per operation.
fuzz: venv
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200} $(DEVSTACK) test -- -m fuzz $(PYTEST_ARGS)

tour: venv chromium
	$(DEVSTACK) exec -- $(PY) -m fitflow.tour

lint: venv
	$(VENV)/bin/ruff check apps fitflow
	$(VENV)/bin/ruff format --check apps fitflow
	$(VENV)/bin/mypy apps fitflow

BENCH ?= provision members member_import booking_contention checkin_live billing_run reminders

bench: venv
	for b in $(BENCH); do $(DEVSTACK) exec -- $(PY) bench/$$b.py $(BENCH_ARGS) || exit 1; done

bench-report: venv
	$(DEVSTACK) exec -- $(PY) bench/report.py $(BENCH_ARGS)

clean:
	if [ -x $(PY) ]; then $(DEVSTACK) stop; fi
	rm -rf .data

# Browser tests drive Debian's Chromium (/usr/bin/chromium), never a Playwright download;
# the invoice PDF tests read PDFs back with poppler's pdftotext (Debian poppler-utils).
chromium:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v pdftotext >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing Debian chromium and poppler-utils for the browser and PDF tests"; \
			apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium poppler-utils; \
		else \
			echo "warning: chromium or pdftotext not found; tests need them (sudo apt-get install -y chromium poppler-utils)"; \
		fi; \
	fi
