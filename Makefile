# The two commands the README gives users: `make demo` and `make test`.
# Both create and use repo-local virtualenvs and install what they need themselves.

PYTHON ?= python3
VENV := .venv
CHECKOV_VENV := .venv-checkov
PY := $(VENV)/bin/python
# The region the local default (moto, tests, demo) renders for; users pass their own to build.py.
REGION ?= us-east-1
# Always the repo-local CLI config (offline provider mirror, or TF_PROVIDER_MIRROR=registry); an inherited
# TF_CLI_CONFIG_FILE (some machines point it at a missing ~/.terraformrc) must not win.
TF_CLI_CONFIG_FILE := $(shell $(PYTHON) -m tools.tfcli config)
ifeq ($(TF_CLI_CONFIG_FILE),)
$(error could not write the Terraform CLI config: run `$(PYTHON) -m tools.tfcli config` to see why)
endif
export TF_CLI_CONFIG_FILE
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: demo test venv lint tf-check tf-test checkov docs-check pytest build clean

venv: $(VENV)/.installed

$(VENV)/.installed: requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip==26.3
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	touch $@

$(CHECKOV_VENV)/.installed: requirements/checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip==26.3
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/checkov.txt
	touch $@

build: venv
	$(PY) build.py --region $(REGION)

demo: venv
	$(PY) demo.py $(DEMO_ARGS)

# Everything CI runs: lint, Terraform checks, security scan, Python tests.
test: lint tf-check tf-test checkov docs-check pytest

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

tf-check: venv
	terraform fmt -check -recursive terraform
	$(PY) -m tools.terraform validate terraform terraform/examples/complete

tf-test: build
	cd terraform && terraform init -backend=false -input=false >/dev/null && terraform test

checkov: $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework terraform -d terraform

docs-check: venv
	$(PY) -m tools.tfdocs --check

pytest: build
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf build .terraform-cli $(VENV) $(CHECKOV_VENV)
