# Two commands do all the set-up: `make demo` and `make test`.
# Every install comes from requirements.lock (exact versions and hashes, transitive ones
# included); pyproject.toml keeps the honest ranges for people who install the library.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LOCK := requirements.lock
# The worker image's lock: runtime dependencies and the build backend only (no dev tools,
# no embedded broker), at the versions of $(LOCK).
IMAGE_LOCK := deploy/requirements.image.lock
LATEST := .venv-latest
LOCK_FLAGS := --all-extras --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28

.PHONY: demo test chaos lint fuzz lock lock-upgrade image-lock test-latest schemas bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The lock holds hatchling too, so the editable install needs no build isolation and
# fetches nothing unpinned.
$(STAMP): $(LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e '.[dev,embedded]'
	$(BIN)/python -m pip check
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/docstream demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Fault scenarios (kill -9, rebalances, SIGSTOP, 401, spend cap, hangs, replay, poison,
# broker restart) with invariants I1-I4 and a table at the end; a few minutes, so not
# part of `make test` (tests/chaos, marker `chaos`).
chaos: $(STAMP)
	$(BIN)/python -m pytest -q -m chaos tests/chaos

lint: $(STAMP)
	$(BIN)/ruff check stream tests
	$(BIN)/ruff format --check stream tests
	$(BIN)/mypy --strict stream

# Property tests with many random examples (CI runs them derandomized, see conftest.py).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q -m hypothesis

# `make lock` after changing a dependency in pyproject.toml (same commit): keeps every
# other pin. `make lock-upgrade` takes the newest allowed versions; run `make test-latest`
# first to see what they do.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) -o $(LOCK)
	$(MAKE) image-lock

lock-upgrade: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) --upgrade -o $(LOCK)
	$(MAKE) image-lock

image-lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml deploy/image-build.in -c $(LOCK) --generate-hashes \
		--python-version 3.11 --python-platform x86_64-manylinux_2_28 -o $(IMAGE_LOCK)

# The newest versions pyproject.toml allows, in a separate venv: a breaking upstream
# release shows here before it reaches the lock. Not part of .ci/run.
test-latest:
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet --upgrade -e '.[dev,embedded,bench,faust]'
	$(LATEST)/bin/python -m pip list --format=freeze > $(LATEST)/versions.txt
	$(LATEST)/bin/python -m pytest -q -p no:cacheprovider

schemas: $(STAMP)
	$(BIN)/docstream schemas export

clean:
	rm -rf $(VENV) $(LATEST) .pytest_cache .mypy_cache .ruff_cache
