# The two README commands: `make demo` (set up + run the quick study) and `make test` (set up + all tests).
# Everything lands in ./.venv; datasets in $DD_TUNE_DATA (default ./.data when the offline copy in
# ../shared/datasets exists, else torchvision downloads into the per-user cache).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SHARED_DATASETS ?= $(CURDIR)/../shared/datasets
ifneq ($(wildcard $(SHARED_DATASETS)/MNIST/raw),)
export DD_TUNE_DATA ?= $(CURDIR)/.data
endif
export DD_TUNE_SHARED_DATASETS := $(SHARED_DATASETS)

.PHONY: setup data gpu-data demo compare test test-fast lint bench clean browser-check screenshots

setup: $(VENV)/.installed

# PIP_FIND_LINKS is cleared so pip takes torch and torchvision together from PyPI: a CPU-only torch
# wheel found locally breaks `import torchvision`.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	PIP_FIND_LINKS= $(VENV)/bin/pip install --upgrade pip
	PIP_FIND_LINKS= $(VENV)/bin/pip install -e '.[test]'
	@# the checkout on sys.path as a plain path entry: run from the folder above a clone named dd_tune,
	@# `python -m dd_tune.study` would otherwise import that folder (no __init__.py: a namespace package)
	$(VENV)/bin/python -c "import pathlib, site; pathlib.Path(site.getsitepackages()[0], 'dd_tune_checkout.pth').write_text(str(pathlib.Path.cwd()) + '\n')"
	touch $@

# Offline machines: copy the original MNIST/FashionMNIST files (never write into ../shared).
data:
ifneq ($(wildcard $(SHARED_DATASETS)/MNIST/raw),)
	@mkdir -p $(DD_TUNE_DATA)
	@for d in MNIST FashionMNIST; do \
	  [ -d "$(DD_TUNE_DATA)/$$d/raw" ] || { mkdir -p "$(DD_TUNE_DATA)/$$d" && cp -r "$(SHARED_DATASETS)/$$d/raw" "$(DD_TUNE_DATA)/$$d/"; }; \
	done
endif

# For bench/gpu_checks.sh on a lent GPU machine without internet: MNIST's four .gz files (11 MB) to carry.
gpu-data: data
	@src="$${DD_TUNE_DATA:-$(SHARED_DATASETS)}/MNIST/raw"; mkdir -p .gpu_data/MNIST/raw && install -m 0644 "$$src"/*.gz .gpu_data/MNIST/raw/
	@# CIFAR-10's unpacked batches too, where the data root has them (gpu_checks.sh generates them otherwise)
	@cifar="$${DD_TUNE_DATA:-$(SHARED_DATASETS)}/cifar-10-batches-py"; if [ -d "$$cifar" ]; then cp -r "$$cifar" .gpu_data/; fi

# never replaces an earlier result by itself: `make demo FORCE=1` runs it again, `make demo RESUME=1` continues
# an interrupted one
demo: setup data
	$(PY) -m dd_tune.study dm_mnist --profile quick $(if $(FORCE),--force) $(if $(RESUME),--resume)

# DM vs DataDAM vs PAD on MNIST under one protocol (quick profile: about 85 min on 2 CPU cores)
compare: setup data
	$(PY) -m dd_tune.compare mnist --profile quick $(if $(FORCE),--force) $(if $(RESUME),--resume)

test: setup
	$(PY) -m pytest -m "slow or not slow"

test-fast: setup
	$(PY) -m pytest

# report.html built from hostile names, loaded in headless Chromium (Debian's package, installed here if
# missing): exits 1 if any payload's script ran (tests/browser_check.py)
browser-check: setup
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	$(PY) tests/browser_check.py

# TensorBoard's board (scalars, HParams, images, text) and report.html of a smoke study, as a headless
# Chromium shows them, in ./screenshots (tests/screenshots.py; STUDY=runs/dm_mnist to picture that study)
screenshots: setup data
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	$(PY) tests/screenshots.py $(if $(STUDY),--study $(STUDY))

# ruff (pyflakes, pycodestyle, import order) and mypy, configured in pyproject.toml; the test suite runs
# both too (tests/test_lint.py)
lint: setup
	$(VENV)/bin/ruff check dd_tune tests bench
	$(VENV)/bin/mypy

bench: setup data
	$(PY) bench/evaluate.py --threads 1
	$(PY) bench/evaluate.py --threads 2
	$(PY) bench/test_pass.py --threads 1
	$(PY) bench/test_pass.py --threads 2
	$(PY) bench/dm_step.py
	$(PY) bench/datadam_step.py --preset code
	$(PY) bench/datadam_step.py --preset paper
	$(PY) bench/pad_step.py
	$(PY) bench/expert_epoch.py
	$(PY) bench/gemm_peak.py

clean:
	rm -rf $(VENV) .data runs
