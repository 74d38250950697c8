# policykb: the two set-up commands are `make demo` and `make test`.
# Each installs what it needs on a fresh Debian 12 machine with Python 3.11:
# SWI-Prolog (Debian's swi-prolog-nox) when swipl is missing, a virtual
# environment in .venv, and the package with its test extras; `make test`
# also Node.js (Debian's nodejs and npm), FHIR.js and axe-core for the
# service's tests, and Debian's Chromium for the page's browser tests.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# FHIR.js, the tests' independent FHIR validator (tests/js), from npm.
NODE_STAMP := tests/js/node_modules/.installed

.PHONY: demo test test-fast test-wide lint typecheck unit bench mutation reference docs-exit-codes docs-policies screenshots system-deps test-system-deps clean

demo: $(STAMP)
	$(BIN)/policykb evaluate examples/denied-no-order.json
	$(BIN)/policykb evaluate examples/covered-initial.json --format json
	$(BIN)/policykb why examples/bariatric-bmi-below-35.json
	$(BIN)/policykb why examples/defibrillator-mi-waiting-period.json --max-changes 3
	$(BIN)/policykb impact massage-therapy examples/revision/massage-therapy examples/massage-history.jsonl --examples 3

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy and import-linter (the import rules in pyproject.toml) read the
# import package policykb/ (its subpackages are committed links to the folders).
typecheck: $(STAMP)
	$(BIN)/mypy -p policykb
	$(BIN)/lint-imports --no-cache

# Three test processes (pytest-xdist) on two cores: each loads the policies
# once; many tests wait (timeouts, servers starting, sockets), and the third
# process uses the core a waiting one leaves idle. An idle process takes
# tests from the others' queues (worksteal), so a long test at the end does
# not leave a core idle.
unit: $(STAMP) $(NODE_STAMP)
	$(BIN)/pytest -n 3 --dist worksteal

# The property tests at the full widths they state (make test draws a share:
# POLICYKB_TEST_SCALE, tests/sampling.py). Long: not part of make test.
test-wide: $(STAMP) $(NODE_STAMP)
	POLICYKB_TEST_SCALE=1 $(BIN)/pytest -n 3 --dist worksteal

# The inner loop (under a minute): unit and knowledge-base tests and the YAML
# suites, without what needs SWI-Prolog, Node or a browser (tests/conftest.py
# marks those). make test stays the full run.
FAST_LAYERS := tests/unit tests/kb tests/fixtures kb tools
test-fast: $(STAMP)
	$(BIN)/pytest -n 2 -q -m "not prolog and not node and not browser" $(FAST_LAYERS)

bench: $(STAMP)
	$(BIN)/python bench/why_synthetic.py
	$(BIN)/python bench/check_diff.py
	$(BIN)/python bench/batch.py
	$(BIN)/python bench/catalogue_batch.py
	$(BIN)/python bench/batch_scaling.py
	$(BIN)/python bench/impact.py
	$(BIN)/python bench/serve.py
	$(BIN)/python bench/page.py
	$(BIN)/python bench/fhir_facts.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/covered_from.py

# Mutation testing (long: not part of make test). MUTATION_ARGS=--resume
# tests again only what the last run did not kill; see tools/mutation.
MUTATION_STAMP := $(VENV)/.installed-mutation
mutation: $(MUTATION_STAMP)
	$(BIN)/python -m tools.mutation $(MUTATION_ARGS)

$(MUTATION_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[serve,lake,report,test,mutation]'
	touch $(MUTATION_STAMP)

# The page's screenshots in docs/images/ (the documentation shows them), from its browser tests.
screenshots: $(STAMP) $(NODE_STAMP)
	POLICYKB_UPDATE_SCREENSHOTS=1 $(BIN)/pytest tests/browser/test_page.py -q

reference: $(STAMP)
	$(BIN)/policykb reference -o kb/REFERENCE.md

# docs/cli.md's "Exit codes" table, from the one table of them (policykb.cli.exit_codes).
docs-exit-codes: $(STAMP)
	$(BIN)/python -m policykb.cli.exit_codes docs/cli.md

# docs/policies.md: each bundled policy's document, versions, criteria tree,
# facts and readings, from the KB itself (policykb.explain.policies_page).
docs-policies: $(STAMP)
	$(BIN)/python -m policykb.explain.policies_page docs/policies.md

# SWI-Prolog and the venv module come from Debian when missing; for the tests
# also Node.js and Chromium (Playwright drives Debian's build: it downloads none).
# Installs the Debian packages that the checks in $(1) find missing.
define debian_packages
	@missing=""; \
	$(1); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "policykb needs these Debian packages:$$missing"; \
	    echo "run as root, or first: sudo apt-get install -y --no-install-recommends$$missing"; \
	    exit 1; \
	  fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

system-deps:
	$(call debian_packages,command -v swipl >/dev/null 2>&1 || missing="$$missing swi-prolog-nox"; \
	  $(PYTHON) -c "import ensurepip; import venv" >/dev/null 2>&1 || missing="$$missing python3-venv")

test-system-deps:
	$(call debian_packages,command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	  [ -x /usr/bin/chromium ] || missing="$$missing chromium")

$(STAMP): pyproject.toml | system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[serve,lake,report,test]'
	touch $(STAMP)

$(NODE_STAMP): tests/js/package.json tests/js/package-lock.json | test-system-deps
	npm ci --prefix tests/js --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

clean:
	rm -rf $(VENV) tests/js/node_modules build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis .mutation
