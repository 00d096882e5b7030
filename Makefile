# Two commands a user needs: `make demo` and `make test`. Both create (or reuse) the virtual
# environment in $(VENV) and install the package into it first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Renders the synthetic SYSU-MM01 tree, trains DANet on it from scratch (a few minutes on 2 CPU
# cores), evaluates with the SYSU protocol and prints the table (also in workdir/danet/results.json).
demo: $(STAMP)
	$(BIN)/python -m vireid_jax.main --config=configs/danet.py:synthetic --workdir=workdir/danet \
	    --config.data.data_dir=workdir/data

# Two worker processes: most of the suite's time is compiling, which runs on one core.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

clean:
	rm -rf $(VENV) workdir
