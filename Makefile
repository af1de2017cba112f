# Two commands for users: `make all` (the whole pipeline, offline quick scale) and `make test`.
# Both bootstrap .venv first; the bootstrap reruns only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Snakemake's cores: every core of this machine unless told (make all CORES=2).
CORES ?= all
# Test processes: the SLURM tests mostly wait on the scheduler, so two overlap them with the rest.
TEST_WORKERS ?= 2
# The rules call `python`: make it the venv's.
export PATH := $(abspath $(BIN)):$(PATH)
# A CPU build of torch lies on some machines; installing it first keeps pip from
# pulling a multi-GB CUDA build to satisfy the `torch>=2.4` requirement.
LOCAL_TORCH_WHEEL := $(firstword $(wildcard /opt/wheels/torch-*+cpu-*.whl))

.PHONY: all test venv clean-venv

all: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) all

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
ifneq ($(LOCAL_TORCH_WHEEL),)
	$(BIN)/python -m pip install --quiet "$(LOCAL_TORCH_WHEEL)"
endif
	$(BIN)/python -m pip install --quiet -e ".[pipeline,test,docs,lint,lightning,hf,tensorboard]"
	touch $(STAMP)

clean-venv:
	rm -rf $(VENV)
