# The two commands of the README: `make demo` and `make test`. Each creates the
# virtualenv it needs (.venv) on first use.
PYTHON ?= python3
VENV ?= .venv
SHARED ?= $(abspath ../shared)
BIN = $(VENV)/bin
# Model files are never committed: tests and CI use the shared copies.
export FACEDB_WEIGHTS ?= $(SHARED)/weights
MODELS = weights/.installed

.PHONY: demo test lint bench bench-quick clean-venv

# Exact versions from constraints.txt (tools/update_constraints.py writes it), so that
# every machine runs the same onnxruntime, OpenCV and numpy builds.
$(BIN)/facedb: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# The shared model files, verified and copied into weights/ (git-ignored), the folder
# a clone's facedb searches: later commands find them with no variable set. The
# shared copies are the project's research copies (licence: weights/README.md).
$(MODELS): $(BIN)/facedb weights/manifest.toml
	$(BIN)/facedb models fetch --from $(SHARED)/weights --dest weights --accept-licence
	touch $@

# The demo runs in a home of its own (`facedb demo --clean` removes it).
demo: $(BIN)/facedb $(MODELS)
	$(BIN)/facedb demo --people $(SHARED)/faces/celeba

lint: $(BIN)/facedb
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy facedb

test: lint
	$(BIN)/pytest

# Benchmarks also need the "bench" extra (faiss-cpu, matplotlib); the full run takes
# 15-40 min on 2 cores and writes docs/BENCHMARKS.md (docs/BENCHMARKS.md says more).
$(VENV)/.bench: $(BIN)/facedb
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

# The generated block, then the sections each written by a script of its own.
bench: $(VENV)/.bench
	$(BIN)/python -m benchmarks.run --full
	$(BIN)/python -m benchmarks.cold_verify --write docs/BENCHMARKS.md
	$(BIN)/python -m benchmarks.frames --write docs/BENCHMARKS.md
	$(BIN)/python -m benchmarks.timesheet --write docs/BENCHMARKS.md
	$(BIN)/python -m benchmarks.watch --threads 0 --write docs/BENCHMARKS.md
	$(BIN)/python -m benchmarks.matching_policy --sizes 100000 --probes 2000 --write docs/BENCHMARKS.md
	$(BIN)/python -m benchmarks.two_stage --sizes 100000,1000000 --probes 300 --keep benchmarks/cache/galleries --write docs/BENCHMARKS.md
	$(BIN)/python -m benchmarks.run --full --render

bench-quick: $(VENV)/.bench
	$(BIN)/python -m benchmarks.run --quick

clean-venv:
	rm -rf $(VENV)
