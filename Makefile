# minictr: two commands do everything (run as root on Debian or Ubuntu):
#   make lab    set up, then open JupyterLab at lesson 00
#   make test   set up, then run every test, notebooks included
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
# Debian's interpreter, not a pyenv shim: it is faster to start, and it is what learners have.
SYSTEM_PY   ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
export MINICTR_ROOT ?= /var/lib/minictr

# What the runtime and the lab need from Debian, and what the tests add.
APT_BASE := busybox-static iproute2 iputils-ping python3-venv ca-certificates
APT_TEST := skopeo umoci docker-registry podman buildah runc crun hyperfine bubblewrap chromium

.PHONY: help setup setup-test apt apt-test venv image lab lab-kernel test unit integration demo \
        notebooks check-notebooks bench clean

help:
	@echo "make lab     set everything up and open JupyterLab at lesson 00"
	@echo "make test    set everything up and run every test (unit, integration, notebooks)"
	@echo "make test-v2 the same tests in a pure cgroup v2 VM with systemd (qemu; see README)"
	@echo "make demo    run a container and print from inside it"
	@echo "make bench   minictr side by side with runc, crun, bwrap and unshare"

setup: apt venv image            ## idempotent: safe to run again

setup-test: setup apt-test

apt:
	@bash .ci/apt-ensure $(APT_BASE)

apt-test:
	@bash .ci/apt-ensure $(APT_TEST)

venv: $(VENV)/.installed

# Editable in compat mode: a plain .pth line puts the checkout on sys.path, with no
# setuptools import-hook finder (that one costs every interpreter start about 12 ms).
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(SYSTEM_PY) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[lab,test]' --config-settings editable_mode=compat
	touch $@

image: venv
	$(PY) -m minictr image build-default

lab: setup
	$(VENV)/bin/jupyter lab --allow-root --ip=127.0.0.1 --no-browser \
	    --ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/notebooks/00-a-container-is-a-process.ipynb

test: setup-test
	$(PY) -m pytest -q -p no:cacheprovider tests

unit: venv
	$(PY) -m pytest -q tests/unit

integration: venv
	$(PY) -m pytest -q tests/integration

demo: setup
	$(PY) -m minictr run --rm busybox -- sh -c 'echo "hello from PID $$$$ in $$(hostname), and / holds: $$(ls / | tr "\n" " ")"'

# Benchmarks, not tests: start latency side by side, then scaling (about 5 minutes, root).
# Writes bench/results/latest.md and latest.png; see bench/README.md.
bench: venv apt-test
	$(PY) -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache

include mk/notebooks.mk
include mk/v2vm.mk
