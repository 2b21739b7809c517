# minictr: two commands do everything (run as root on Debian or Ubuntu):
#   make lab    set up, then open JupyterLab at lesson 00
#   make test   set up, then run every test, notebooks included
# As an ordinary user, `make lab` serves the lessons that run rootless (00-02) once the
# Debian packages are there (`sudo make setup`, or `sudo make apt`): only installing them needs root.
# `make help` lists every target: the text after `## ` on each rule's line.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
# Debian's interpreter, not a pyenv shim: it is faster to start, and it is what learners have.
SYSTEM_PY   ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
# The store and the state: minictr/paths.py's defaults, /var/lib/minictr and /run/minictr for
# root, ~/.local/share/minictr and $XDG_RUNTIME_DIR/minictr for an ordinary user (MINICTR_ROOT
# and MINICTR_RUNTIME_DIR override them). Not set here, so that `make lab` as a user uses theirs.

# What the runtime and the lab need from Debian, and what the tests add.
# APT_LAB: the packages of the host commands the lessons run (each LESSON's `tools` in
# minictr/labs/lNN.py; tests/unit/test_make_lab_tools.py checks that every one is covered
# here or by an Essential package): ps (procps), nsenter/unshare/ipcmk (util-linux),
# ip (iproute2), ping (iputils-ping), skopeo and docker-registry (lesson 08), podman, conmon
# and runc (lesson 14: podman drives minictr-runtime, runc runs the same bundle).
# Rootless runs: newuidmap/newgidmap (uidmap) for subordinate id ranges, slirp4netns for their network.
APT_BASE := busybox-static iproute2 iputils-ping nftables python3-venv ca-certificates uidmap slirp4netns
APT_LAB  := procps util-linux skopeo docker-registry podman conmon runc
# nodejs: runs the hub test's configurable-http-proxy (make workshop-proxy fetches it with npm into build/).
APT_TEST := umoci podman buildah runc crun hyperfine bubblewrap chromium nodejs
# The workshop's hub (workshop/README.md) needs Node for configurable-http-proxy: Debian's
# nodejs and npm, unless an npm is there already (NodeSource's nodejs has its own, and conflicts
# with Debian's npm package). Rootless minictr's uidmap and slirp4netns are in APT_BASE.
NPM_APT  := command -v npm >/dev/null || bash .ci/apt-ensure nodejs npm
HUB_PREFIX ?= /opt/minictr-hub
USERS      ?= workshop/users.txt
# configurable-http-proxy 4.x: 5.x needs Node 20, and Debian 12 and Ubuntu 24.04 ship Node 18
# (22.04: 12; 4.6 runs on 10 and later). The hub test's copy (tests/integration/test_workshop_hub.py)
# is the one the VM gets (workshop/install_hub.py: CHP_SPEC), in build/, outside the venv.
CHP_SPEC   := configurable-http-proxy@4
CHP_DIR    := build/workshop/proxy-chp4
CHP        := $(CHP_DIR)/node_modules/.bin/configurable-http-proxy

.PHONY: help setup setup-test apt apt-test venv image lab lab-kernel test unit integration demo \
        notebooks check-notebooks bench site clean workshop-hub workshop-stop workshop-proxy

help:  ## list every target (this text)
	@echo "minictr: \`make lab\` and \`make test\` set up what they need first (as root, on Debian or Ubuntu)."
	@echo "As an ordinary user, \`make lab\` runs lessons 00-02 once \`sudo make setup\` has installed the packages."
	@awk -F ':.*## ' '/^[a-z][a-z0-9-]*:.*## / { printf "  make %-16s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

setup: apt venv image  ## the set-up that lab and test run first (idempotent: safe to run again)

setup-test: setup apt-test workshop-proxy  ## setup, plus the tools the tests compare against

apt:  ## install the Debian packages the runtime and every lesson need (only those missing)
	@bash .ci/apt-ensure $(APT_BASE) $(APT_LAB)

apt-test:  ## install the Debian packages the tests add (only those missing)
	@bash .ci/apt-ensure $(APT_TEST)

venv: $(VENV)/.installed  ## .venv: the dependencies from PyPI, with this checkout on its path

# Not `pip install -e .`: the dependencies only, then a plain .pth line and the
# `minictr` script (mk/devinstall.py says why): no build backend, and no
# import-hook finder that every interpreter start would pay for.
$(VENV)/.installed: pyproject.toml mk/devinstall.py
	test -x $(PY) || $(SYSTEM_PY) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) mk/devinstall.py lab test site workshop
	touch $@

image: venv  ## build the default busybox image offline
	$(PY) -m minictr image build-default

LAB_PORT ?= 8888
lab: setup  ## set everything up and open JupyterLab at lesson 00 (LAB_PORT=8888: the next free one if taken)
	$(VENV)/bin/jupyter lab --allow-root --ip=127.0.0.1 --port=$(LAB_PORT) --no-browser \
	    --ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/notebooks/00-a-container-is-a-process.ipynb

# Every step of `make test` is named here: the notebook check (mk/notebooks.mk), then ONE pytest
# run of strict nbval on every notebook (the same options as `make nbval`) and of tests/ (unit,
# integration, browser), on TEST_WORKERS processes (pytest-xdist). --dist loadfile keeps a file on one
# worker (a notebook's cells share one kernel; a module's fixtures start once); a test that runs
# lesson NN holds a lock so the same lesson never runs twice at once (conftest.py).
# --no-loadscope-reorder: files go out in collection order, so tests/browser/test_lab.py (the longest
# file: every lesson in JupyterLab) starts first, not after every file with more tests.
# TEST_WORKERS=0: one process, as before. TEST_ARGS: more pytest arguments (e.g. --durations=30).
TEST_WORKERS ?= 2
test: setup-test check-notebooks  ## set up, check the notebooks, then one run on 2 workers: strict nbval + tests/ (unit, integration, browser)
	$(NB_ENV) $(PY) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder \
	    --nbval --nbval-current-env --nbval-sanitize-with tests/notebooks/nbval.cfg \
	    tests $(NB_DIR)/ $(TEST_ARGS)

unit: venv  ## the unit tests only (no root needed)
	$(PY) -m pytest -q tests/unit

integration: venv  ## the integration tests only (real containers, root)
	$(PY) -m pytest -q tests/integration

demo: setup  ## run a container and print from inside it
	$(PY) -m minictr run --rm busybox -- sh -c 'echo "hello from PID $$$$ in $$(hostname), and / holds: $$(ls / | tr "\n" " ")"'

# Benchmarks, not tests: start latency side by side, then scaling (about 5 minutes, root).
# Writes bench/results/latest.md and latest.png; see bench/README.md.
bench: venv apt-test  ## minictr side by side with runc, crun, bwrap and unshare
	$(PY) -m bench.run $(BENCH_ARGS)

stress: venv  ## the store under concurrent use and runs killed at random moments (root, ~3 min)
	$(PY) -m bench.stress $(STRESS_ARGS)

# The readings and the executed notebooks as a static site (Jupyter Book 1.x, offline; notebooks
# are not run: their stored outputs are shown). mk/site.py generates the table of contents from
# the lessons that exist. The `site` extra is in the venv (`make venv`), since tests/browser builds it too.
site: venv  ## build the lesson site into build/site/_build/html (README: "The lesson site")
	$(PY) mk/site.py --out build/site

# A JupyterHub for a room: every participant a Unix user with rootless minictr (workshop/README.md).
workshop-hub:  ## install and start the workshop's JupyterHub on this VM for USERS=file (root; idempotent)
	@bash .ci/apt-ensure $(APT_BASE) $(APT_LAB)
	@$(NPM_APT)
	$(SYSTEM_PY) workshop/install_hub.py --users $(USERS) --prefix $(HUB_PREFIX) $(HUB_ARGS)

workshop-stop:  ## stop the workshop's hub (and every participant's server)
	$(SYSTEM_PY) workshop/install_hub.py stop --prefix $(HUB_PREFIX)

workshop-proxy:  ## configurable-http-proxy 4 from the npm registry into build/workshop/ (the hub test's)
	@$(NPM_APT)
	@test -x $(CHP) || npm install --prefix $(CHP_DIR) --no-fund --no-audit -q $(CHP_SPEC)

clean:  ## remove the venv
	rm -rf $(VENV) *.egg-info .pytest_cache

include mk/notebooks.mk
include mk/v2vm.mk
