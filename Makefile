# Everything a fresh machine needs: `make test` creates .venv, installs devenv with its
# test extras, and runs the suite; `make demo` renders the embedded platform.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: venv test unit integration reliability demo bench lint clean lab lab-down lab-status lab-test opensearch-image

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/pytest tests

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

reliability: $(STAMP)
	$(BIN)/pytest tests/reliability

demo: $(STAMP)
	$(BIN)/devenv render demo --explain

bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/render_bench.py
	$(BIN)/python bench/up_bench.py
	$(BIN)/python bench/fixture_bench.py
	$(BIN)/python bench/search_bench.py
	$(BIN)/python bench/warm_bench.py

# A real OpenSearch node as an offline image (Maven Central + Debian; cached: seconds when nothing changed).
# Prints the tag last: export DEVENV_OPENSEARCH_IMAGE=$$(make -s opensearch-image)
opensearch-image:
	tests/lab/opensearch/build-image.sh $(OPENSEARCH_IMAGE)

# moto's server mode (the `aws` service's stand-in) as an offline image (PyPI + Debian; cached by a build key).
# Prints the tag last: export DEVENV_AWS_IMAGE=$$(make -s moto-image)
.PHONY: moto-image
moto-image:
	tests/lab/moto/build-image.sh $(MOTO_IMAGE)

# devenv's offline kind node image (Go modules + Debian; cached by a build key: seconds when nothing changed).
# Prints the tag last: export DEVENV_KIND_NODE_IMAGE=$$(make -s kind-node-image)
.PHONY: kind-node-image
kind-node-image:
	$(PYTHON) tests/lab/kindnode/build.py $(KIND_NODE_IMAGE)

lint: $(STAMP)
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

# The lab (tests/lab/): a real API server, Flux's controllers and an OCI registry built from Go modules.
lab:
	$(PYTHON) tests/lab/lab.py up

lab-down:
	$(PYTHON) tests/lab/lab.py down

lab-status:
	$(PYTHON) tests/lab/lab.py status

lab-test: $(STAMP)
	$(BIN)/pytest tests/lab
