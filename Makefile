# The course's two entry points: `make lab` (set up, open the course) and `make test` (set up, run
# every test and re-execute every lesson under strict nbval). Both create ./.venv on first use.
# More: `make data` (fetch the data sets), `make test-env` and `make test-browser` (what CI adds).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.dat_edu-installed
# The CPU build of PyTorch is installed first, so that pip does not pull a CUDA build for the package.
# On a GPU machine, use e.g. `make lab TORCH="torch==2.13.0"` with your CUDA index configured.
TORCH  ?= torch==2.13.0
JOBS   ?= 2

.PHONY: setup lab data test test-env test-browser notebooks exercises check-exercises grade clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install "$(TORCH)"
	$(BIN)/python -m pip install -e ".[course,dev]"
	touch $(STAMP)

# JupyterLab with the repository as its root (notebooks/, exercises/, solutions/ all reachable),
# opening lesson 00. The lessons are marked trusted (in your Jupyter data folder; the files are not
# changed), so that their saved widgets show before the kernel runs. Extra options, e.g.
# make lab LAB_ARGS="--allow-root --no-browser" in a container.
LAB_ARGS ?=
lab: $(STAMP)
	$(BIN)/jupyter trust --log-level=WARN notebooks/*.ipynb > /dev/null
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb $(LAB_ARGS)

# Fetch every data set a learner may want (Fashion-MNIST, CIFAR-10) into $$DAT_EDU_DATA (~/.cache/dat_edu).
data: $(STAMP)
	$(BIN)/python -m dat_edu.data

# Unit tests, then lessons and solutions re-executed and compared cell by cell (strict nbval).
# --dist loadfile keeps every notebook's cells in one worker, in order. One thread per worker:
# two workers with two threads each oversubscribe a 2-core machine (tiny float64 ops get ~100x slower).
test: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n $(JOBS) --dist loadfile --nbval --ignore=tests/browser tests notebooks solutions

# What can depend on the machine's data sets: the lessons that call dat_edu.modes.run_mode and the
# tests of the data code. CI runs `make test` with the data sets hidden, then this with them present.
ENV_NOTEBOOKS = $(shell grep -l '"from dat_edu.modes import' notebooks/*.ipynb solutions/*.ipynb)
test-env: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n $(JOBS) --dist loadfile --nbval tests/test_modes.py tests/test_data_*.py $(ENV_NOTEBOOKS)

# Lessons 03-05 and an exercise in JupyterLab, in headless Chromium (Debian's /usr/bin/chromium,
# driven by Playwright; no browser download).
BROWSER_STAMP := $(VENV)/.dat_edu-browser
$(BROWSER_STAMP): $(STAMP)
	$(BIN)/python -m pip install -e ".[course,dev,browser]"
	touch $(BROWSER_STAMP)
test-browser: $(BROWSER_STAMP)
	DAT_EDU_BROWSER_TESTS=required $(BIN)/python -m pytest -p no:cacheprovider tests/browser

# Re-execute every lesson and solution in place from a fresh kernel, then regenerate exercises/.
notebooks: $(STAMP)
	$(BIN)/python -m dat_edu.course.execute --all
	$(BIN)/python -m dat_edu.course.exercises

# Regenerate exercises/ from solutions/ (the single source).
exercises: $(STAMP)
	$(BIN)/python -m dat_edu.course.exercises

check-exercises: $(STAMP)
	$(BIN)/python -m dat_edu.course.exercises --check

# make grade SUBMISSIONS=path/to/class OUT=gradebook.csv [GRADE_ARGS="--cell-timeout 120"]
# Every notebook runs in a bubblewrap sandbox (see README, "Exercises and grading").
SUBMISSIONS ?= submissions
OUT ?= gradebook.csv
GRADE_ARGS ?=
grade: $(STAMP)
	$(BIN)/python -m dat_edu.course.grade $(SUBMISSIONS) --solutions solutions --out $(OUT) --summary $(basename $(OUT)).md --jobs $(JOBS) $(GRADE_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache *.egg-info
