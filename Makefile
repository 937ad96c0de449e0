# Front door: every documented command is a target here. ARGS="..." is passed through
# (Hydra overrides for run/sweep/validate, the command's own options otherwise).
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=
PORT   ?= 8765
SWEEP  ?=

.PHONY: setup run test validate calibrate sweep sensitivity brief attribute noise bench explore browse lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt model/_market_kernel.pyx model/_kernels.pyx
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev,explore,ema]"
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m experiments.report $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(ARGS)

validate: $(STAMP)
	$(PY) -m experiments.validate $(ARGS)

calibrate: $(STAMP)
	$(PY) -m experiments.calibrate $(ARGS)

sweep: $(STAMP)
	$(PY) -m experiments.sweep $(ARGS)

sensitivity: $(STAMP)
	$(PY) -m experiments.sensitivity $(ARGS)

brief: $(STAMP)
	$(PY) -m experiments.brief $(ARGS)

attribute: $(STAMP)
	$(PY) -m experiments.attribute $(ARGS)

noise: $(STAMP)
	$(PY) -m experiments.noise_check $(ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks.bench $(ARGS)

explore: $(STAMP)
	$(PY) -m experiments.app --port $(PORT) $(ARGS)

browse: $(STAMP)
	$(PY) -m experiments.browser "$(SWEEP)" \
	  --port $(if $(filter command line,$(origin PORT)),$(PORT),8766) $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf outputs multirun .pytest_cache .ruff_cache
