# `make test` builds the platform and runs every test: Rust unit tests, then the integration
# suite, which drives the real binary with boto3 and the aws CLI from a local virtualenv.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: test build venv sam-venv unit integration integration-postgres fuzz runtime-sdks

# A PostgreSQL database URL (e.g. from `scripts/postgres-dev start`): the unit tests of the
# stores then run on PostgreSQL as well as SQLite, and `integration-postgres` can run.
TEST_DATABASE ?=
TEST_BLOB_STORE ?=

test: build unit integration

build:
	cargo build --release --locked

unit:
	$(if $(TEST_DATABASE),STRATUS_TEST_DATABASE="$(TEST_DATABASE)") cargo test --release --workspace --locked

venv: $(VENV)/.installed

$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r tests/requirements.txt
	touch $@

# aws-sam-cli, for tests/test_sam_cli.py, in a virtualenv of its own: it pins its own boto3 and
# botocore, which the test venv's must not be held to. The tests find its `sam` through
# STRATUS_TEST_SAM.
SAM_VENV ?= .venv-sam
SAM := $(abspath $(SAM_VENV))/bin/sam

sam-venv: $(SAM_VENV)/.installed

$(SAM_VENV)/.installed: tests/sam-requirements.txt
	python3 -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet -r tests/sam-requirements.txt
	touch $@

# The runtimes' AWS SDKs (boto3, the AWS SDK for JavaScript v3), installed from the package
# registries once into the directory every test server shares (tests/conftest.py).
RUNTIME_SDK_DIR ?= target/runtime-sdks

runtime-sdks:
	target/release/stratus runtimes install --sdk-dir $(RUNTIME_SDK_DIR)

# The venv comes first on PATH so that the aws CLI is the venv's.
integration: venv sam-venv runtime-sdks
	env -u STRATUS_TEST_DATABASE STRATUS_TEST_SAM="$(SAM)" PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pytest -q

# The integration suite with every server's state on PostgreSQL (a database per server) and,
# when TEST_BLOB_STORE names one (an s3:// URL with its credentials), bytes in that store.
# The end-to-end runs of the SAM CLI and of the browser add nothing about storage that the
# CloudFormation and API tests do not cover on this pass, and take minutes: they run in
# `integration` only.
ONE_PASS_ONLY := --ignore=tests/test_sam_cli.py --ignore=tests/test_console.py --ignore=tests/test_console_data.py
integration-postgres: venv runtime-sdks
	@test -n "$(TEST_DATABASE)" || { echo "set TEST_DATABASE to a postgres:// URL"; exit 2; }
	$(if $(TEST_BLOB_STORE),STRATUS_BLOB_STORE="$(TEST_BLOB_STORE)") STRATUS_TEST_DATABASE="$(TEST_DATABASE)" PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pytest -q $(ONE_PASS_ONLY)

# Fuzzing (not part of `make test`): every fuzz target under fuzz/ for FUZZ_SECONDS each
# (default 60); installs cargo-fuzz first if it is missing.
fuzz:
	fuzz/run
