# Neural Morph developer commands. A fresh clone needs only `make demo` and `make test`.
# tools/ and bench/ are packages: their scripts run as modules from this folder (`-m`).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
READY := $(VENV)/.ready
CHECK_READY := $(VENV)/.check-ready
MODELS ?=

.PHONY: venv demo test test-quick check test-core test-blender test-lanes test-matrix bench strip extension check-install clean

venv: $(READY)

$(READY): requirements.txt requirements-base.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -c "import torch, sys; sys.exit('a CUDA build of torch was installed' if torch.version.cuda else 0)"
	touch $(READY)

$(CHECK_READY): $(READY) requirements-check.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-check.txt
	touch $(CHECK_READY)

demo: venv
	$(PY) -m tools.docs.demo

# mypy over core and the Blender side against the Blender 4.2 API stubs (mypy.ini), then
# ruff (ruff.toml)
check: $(CHECK_READY)
	$(PY) -m mypy
	$(PY) -m ruff check .

# Blender versions: 4.5 LTS is the default .venv; `BLENDER=4.2` (or 5.0) uses its own
# .venv-4.2, pinned by requirements-blender-4.2.txt and created on first use.
DEFAULT_BLENDER := 4.5
MATRIX ?= 4.2 4.5 5.0
BLENDER ?= $(DEFAULT_BLENDER)
BVENV := $(if $(filter $(DEFAULT_BLENDER),$(BLENDER)),$(VENV),.venv-$(BLENDER))

# core in plain Python (no bpy), then everything that needs bpy (`make test-blender
# BLENDER=4.2` runs the bpy tests in Blender 4.2)
# PYTEST_ARGS passes options on, e.g. PYTEST_ARGS="--durations=20" or "-k fit"
PYTEST_ARGS ?=

test-core: $(BVENV)/.ready
	$(BVENV)/bin/python -m pytest -q $(PYTEST_ARGS) tests/core

test-blender: $(BVENV)/.ready
	$(BVENV)/bin/python -m pytest -q $(PYTEST_ARGS) tests/blender

# both suites in two lanes side by side, one pytest process per group of files
# (tools/test_lanes.py); what `make test` and the matrix run
test-lanes: $(BVENV)/.ready
	$(BVENV)/bin/python -m tools.test_lanes $(BVENV)/bin/python $(PYTEST_ARGS)

.venv-%/.ready: requirements-blender-%.txt requirements-base.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv .venv-$*
	.venv-$*/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-blender-$*.txt
	touch $@

# core and bpy tests on every version in MATRIX; fails if any version failed
test-matrix:
	@failed=""; for v in $(MATRIX); do \
		echo "== Blender $$v"; \
		$(MAKE) --no-print-directory test-lanes BLENDER=$$v || failed="$$failed $$v"; \
	done; \
	if [ -n "$$failed" ]; then echo "test-matrix: failed on Blender$$failed"; exit 1; fi

test: check test-lanes

# the inner loop: mypy, then core and the bpy tests without those marked slow (fits with
# many iterations, subprocesses, zip builds, extension installs; tests/pytest.ini)
test-quick: $(CHECK_READY)
	$(PY) -m mypy
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS) tests/core
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS) tests/blender

bench: venv
	$(PY) -m bench.bench $(MODELS)

strip: venv
	$(PY) -m tools.docs.strip

extension: venv
	$(PY) -m tools.build.wheels

# the linux zip from `make extension`, installed by each Blender in MATRIX into a venv
# holding only that Blender (no torch): its own extension system installs the wheels
check-install: extension
	$(PY) -m tools.build.check_install $$(ls -t dist/neural_morph-*linux_x64.zip | head -1) --blender $(MATRIX)

clean:
	rm -rf out dist
