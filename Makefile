# Set-up and the two commands the README starts with. Everything installs into .venv.
#   make demo   tune Caser on ml-100k (SQLite) and write the HTML report
#   make test   run the whole test suite
# On a GPU machine pick a CUDA build of torch, e.g.:
#   make demo TORCH_SPEC=torch TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126

PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX_URL ?=
PYTEST_ARGS ?=

PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test install test-deps clean

install: $(STAMP)

# torch first and on its own, so the pinned (or chosen) build is the one that satisfies the project's range.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH_SPEC)" $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	$(PY) -m pip install -q -e ".[test]"
	@# the C++ CPU kernels build now rather than inside the first training run (tuner/models/native.py)
	$(PY) -c "import logging, sys; logging.basicConfig(level=logging.INFO, format='%(message)s'); from tuner.models.native import cpu_kernels; sys.exit(cpu_kernels() is None)" \
	  || echo "C++ CPU kernels not built: training uses torch ops (slower on the CPU)"
	touch $@

demo: $(STAMP)
	$(VENV)/bin/tuner run studies/caser-ml100k.yaml --workers 2 -o reports/caser-ml100k.html

# The browser tests need Debian's chromium; install it when missing and we may (root, apt available).
test-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the report tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); \
	  else echo "chromium is missing: install Debian's 'chromium' package for the report tests" >&2; fi; }

test: $(STAMP) test-deps
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache reports test-artifacts
