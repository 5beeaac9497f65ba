# Neural Morph developer commands. A fresh clone needs only `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
READY := $(VENV)/.ready
CHECK_READY := $(VENV)/.check-ready
MODELS ?=

.PHONY: venv demo test check test-core test-blender bench strip extension clean

venv: $(READY)

$(READY): requirements.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -c "import torch, sys; sys.exit('a CUDA build of torch was installed' if torch.version.cuda else 0)"
	touch $(READY)

$(CHECK_READY): $(READY) requirements-check.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-check.txt
	touch $(CHECK_READY)

demo: venv
	$(PY) tools/docs/demo.py

# mypy over the Blender side against the Blender 4.2 API stubs (mypy.ini)
check: $(CHECK_READY)
	$(PY) -m mypy

# core in plain Python (no bpy), then everything that needs bpy
test-core: venv
	$(PY) -m pytest -q tests/core

test-blender: venv
	$(PY) -m pytest -q tests/blender

test: check test-core test-blender

bench: venv
	$(PY) bench/bench.py --seed-quality $(MODELS)

strip: venv
	$(PY) tools/docs/strip.py

extension: venv
	$(PY) tools/build/wheels.py

clean:
	rm -rf out dist
