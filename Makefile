# The course's two entry points: `make lab` (set up, open the course) and `make test` (set up, run
# every test and re-execute every lesson under strict nbval). Both create ./.venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.dat_edu-installed
# The CPU build of PyTorch is installed first, so that pip does not pull a CUDA build for the package.
# On a GPU machine, use e.g. `make lab TORCH="torch==2.13.0"` with your CUDA index configured.
TORCH  ?= torch==2.13.0
JOBS   ?= 2

.PHONY: setup lab test notebooks exercises check-exercises grade clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install "$(TORCH)"
	$(BIN)/python -m pip install -e ".[course,dev]"
	touch $(STAMP)

# Extra JupyterLab options, e.g. make lab LAB_ARGS="--allow-root --no-browser" in a container.
LAB_ARGS ?=
lab: $(STAMP)
	$(BIN)/jupyter lab $(LAB_ARGS) notebooks/00_start_here.ipynb

# Unit tests, then lessons and solutions re-executed and compared cell by cell (strict nbval).
# --dist loadfile keeps every notebook's cells in one worker, in order. One thread per worker:
# two workers with two threads each oversubscribe a 2-core machine (tiny float64 ops get ~100x slower).
test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n $(JOBS) --dist loadfile --nbval tests notebooks solutions

# Re-execute every lesson and solution in place from a fresh kernel, then regenerate exercises/.
notebooks: $(STAMP)
	$(BIN)/python -m dat_edu.course.execute --all
	$(BIN)/python -m dat_edu.course.exercises

# Regenerate exercises/ from solutions/ (the single source).
exercises: $(STAMP)
	$(BIN)/python -m dat_edu.course.exercises

check-exercises: $(STAMP)
	$(BIN)/python -m dat_edu.course.exercises --check

# make grade SUBMISSIONS=path/to/class OUT=gradebook.csv
SUBMISSIONS ?= submissions
OUT ?= gradebook.csv
grade: $(STAMP)
	$(BIN)/python -m dat_edu.course.grade $(SUBMISSIONS) --solutions solutions --out $(OUT) --summary $(basename $(OUT)).md

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
