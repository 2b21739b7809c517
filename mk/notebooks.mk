# The notebook machinery (included by the Makefile). Targets:
#   make notebooks        execute every notebook as this user (root in the lab/CI), then normalise it
#   make check-notebooks  fail if a notebook is stale (code changed since executed) or not normalised
#   make nbval            strict nbval: every cell run again, outputs compared through tests/notebooks/nbval.cfg
#                         (the nbval hooks: conftest.py at the top of the checkout; notebooks/ holds only lessons)
#   make lab-kernel       install the kernelspec "minictr (root via sudo)" for a user with sudo
# The Makefile's `test` rule runs check-notebooks, then strict nbval with these same options in its one
# pytest run (tests/ too, on 2 workers); `make nbval` is that part alone, in one process.

NB_DIR    := notebooks
NOTEBOOKS  = $(sort $(wildcard $(NB_DIR)/*.ipynb))
# The kernels must import minictr from this checkout.
NB_ENV    := PYTHONPATH=$(CURDIR)

.PHONY: nbval

notebooks: venv image  ## execute every notebook again and normalise it (after editing one)
	$(NB_ENV) $(PY) mk/nbtool.py execute $(NOTEBOOKS)

check-notebooks: venv  ## fail when a notebook is stale or not normalised
	$(NB_ENV) $(PY) mk/nbtool.py check $(NOTEBOOKS)

nbval: venv image  ## strict nbval: run every notebook cell again, compare the outputs
	$(NB_ENV) $(PY) -m pytest -q -p no:cacheprovider --nbval --nbval-current-env \
	    --nbval-sanitize-with tests/notebooks/nbval.cfg $(NB_DIR)/

# Run as the user who starts JupyterLab (not with sudo): the kernelspec goes to ~/.local/share/jupyter.
lab-kernel: venv  ## install the "minictr (root via sudo)" Jupyter kernel for your user
	$(PY) mk/lab_kernel.py --user
