# The notebook machinery (included by the Makefile). Targets:
#   make notebooks        execute every notebook as this user (root in the lab/CI), then normalise it
#   make check-notebooks  fail if a notebook is stale (code changed since executed) or not normalised
#   make nbval            strict nbval: every cell run again, outputs compared through notebooks/nbval.cfg
#   make lab-kernel       install the kernelspec "minictr (root via sudo)" for a user with sudo
# `make test` runs check-notebooks and nbval as well (tests/browser runs inside `pytest tests`).

NB_DIR    := notebooks
NOTEBOOKS  = $(sort $(wildcard $(NB_DIR)/*.ipynb))
# The kernels must import minictr from this checkout.
NB_ENV    := PYTHONPATH=$(CURDIR)

.PHONY: nbval

notebooks: venv image
	$(NB_ENV) $(PY) mk/nbtool.py execute $(NOTEBOOKS)

check-notebooks: venv
	$(NB_ENV) $(PY) mk/nbtool.py check $(NOTEBOOKS)

nbval: venv image
	$(NB_ENV) $(PY) -m pytest -q -p no:cacheprovider --nbval --nbval-current-env \
	    --nbval-sanitize-with $(NB_DIR)/nbval.cfg $(NB_DIR)/

# Run as the user who starts JupyterLab (not with sudo): the kernelspec goes to ~/.local/share/jupyter.
lab-kernel: venv
	$(PY) mk/lab_kernel.py --user

test: check-notebooks nbval
