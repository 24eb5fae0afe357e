# The two commands a newcomer runs on a fresh machine with only Python 3.11 and make:
#   make demo    simulate a campaign, scan it, print what was found and how well
#   make test    lint and the whole test suite (what CI runs)
# Both create .venv and install the pinned dependencies (constraints.txt) on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench browser java clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,spark]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/distillguard demo

# The report tests render in headless Chromium (Debian's package). As root we install it; otherwise
# those tests are skipped locally (and fail under CI=true, where it must be present).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "could not install chromium: report rendering tests will fail under CI"; \
	  else echo "chromium not installed (needs root): report rendering tests will be skipped"; fi; }

# The Spark parity test runs Spark in local mode, which needs a Java runtime: Debian's, installed as
# chromium is (skipped locally without it; under CI=true it fails).
java:
	@command -v java >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null) \
	      || echo "could not install Java: the Spark test will fail under CI"; \
	  else echo "java not installed (needs root): the Spark test will be skipped"; fi; }

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

test: $(STAMP) browser java
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -n 2 -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
