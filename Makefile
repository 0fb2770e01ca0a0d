# Every user-facing target sets itself up first: `make demo` and `make test` are all a
# fresh machine needs. Setup reruns only when .venv is missing or a requirements file changed.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Use the MNIST copy beside the project when there is one (machines without internet).
SHARED_MNIST := $(abspath ../shared/data/mnist)
ifeq ($(strip $(DIGIT_STUDIO_DATA)),)
  ifneq ($(wildcard $(SHARED_MNIST)/train-images-idx3-ubyte.gz),)
    export DIGIT_STUDIO_DATA := $(SHARED_MNIST)
  endif
endif

.PHONY: setup demo test test-fast lint format train train-classifier train-vae train-line-reader train-style-vae evaluate figures bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements.txt -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(PY) demo.py

test: $(STAMP)
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not integration and not browser"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

train-classifier: $(STAMP)
	$(PY) train_classifier.py --config config_classifier.yaml

train-vae: $(STAMP)
	$(PY) train_vae.py --config config_vae.yaml

train-line-reader: $(STAMP)
	$(PY) train_line_reader.py --config config_line_reader.yaml

train-style-vae: $(STAMP)
	$(PY) train_style_vae.py --config config_style_vae.yaml

train: train-classifier train-vae train-line-reader train-style-vae

evaluate: $(STAMP)
	$(PY) evaluate_classifier.py --config config_classifier.yaml --checkpoint checkpoints/classifier.pth

# The shipped models' figures in docs/: training curves from each checkpoint's history,
# the classifier's confusion matrix, reliability diagram and sample grid on MNIST test.
figures: $(STAMP)
	$(PY) scripts/model_figures.py --out docs/figures
	$(PY) evaluate_classifier.py --config config_classifier.yaml --checkpoint checkpoints/classifier.pth --set output.results_dir=docs/figures

bench: $(STAMP)
	for script in benchmarks/bench_*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
