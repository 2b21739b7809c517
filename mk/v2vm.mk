# The tests on a pure cgroup v2 host with systemd: a Debian 12 VM under qemu (included by the
# Makefile; see mk/v2vm.py and the README). Targets:
#   make test-v2                                   integration tests, tests/v2, notebooks, doctor
#   make test-v2 ARGS=tests/integration/test_run.py   one file (any pytest arguments)
#   make v2vm-image                                only build (or find) the cached image
# The image has every Debian package `make setup-test` installs but chromium: the browser
# test (tests/browser) runs on the host only. It is cached in build/v2vm/, keyed on this list.

V2VM_PACKAGES := $(APT_BASE) $(APT_LAB) $(filter-out chromium,$(APT_TEST))
V2VM_TOOLS    := mmdebstrap qemu-system-x86 qemu-utils e2fsprogs

.PHONY: test-v2 v2vm-image v2vm-tools

v2vm-tools:  ## install qemu and mmdebstrap, which the v2 VM needs
	@bash .ci/apt-ensure $(V2VM_TOOLS)

v2vm-image: venv v2vm-tools  ## build (or find) the cached pure cgroup v2 VM image
	$(PY) mk/v2vm.py build --packages "$(V2VM_PACKAGES)"

test-v2: venv v2vm-tools  ## the tests again in a pure cgroup v2 VM with systemd (qemu; ARGS=... for one file)
	$(PY) mk/v2vm.py run --packages "$(V2VM_PACKAGES)" -- $(ARGS)
