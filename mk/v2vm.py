"""The tests on a pure cgroup v2 host with systemd: a Debian 12 VM under qemu (`make test-v2`).

    python mk/v2vm.py build --packages "P1 P2 ..."                  # the cached image only
    python mk/v2vm.py run --packages "P1 P2 ..." [-- PYTEST ARGS]   # build if needed, boot, test
    (with no PYTEST ARGS: doctor, tests/v2 + tests/integration, every notebook under strict nbval)

The image (mk/v2vm_image.py; built once, cached in build/v2vm/image-KEY/; KEY hashes the
package list, the build code and mk/v2vm-boot.sh):
  mmdebstrap(1) makes a bookworm root with systemd, the kernel and the packages; mke2fs(8)
  -d turns the directory into base.img (raw ext4), with no loop mount; the image's own
  /boot/vmlinuz and initrd.img are kept next to it, for qemu's -kernel and -initrd.
A run (build/v2vm/run-PID/, removed at the end; the report stays in build/v2vm/last/):
  - root.qcow2: a copy-on-write overlay on base.img (qemu-img(1) create -b), so the
    cached image is never written;
  - payload.img: an ext4 disk made with mke2fs -d from the checkout's files (git
    ls-files) and the venv, each at its own absolute path, so the venv works as is
    (the VM's python is the same Debian 3.11); plus mk/v2vm-guest.sh and its settings;
  - results/: a host directory the VM mounts over 9p (virtio-9p), where the guest writes
    the exit status of each step and JUnit reports.
  qemu boots with TCG (-accel tcg,thread=multi -cpu max). KVM is tried first where
  /dev/kvm opens, and abandoned, for this host's kernel and qemu, when the kernel
  shows no sign of life within KVM_PROBE_S (nested KVM hangs after SeaBIOS on some hosts).
Limits: the boot (until the guest says "v2vm: start"), the whole run, and the host's free
disk space; past any of them qemu is killed by its PID, with the reason and the tail of
the serial log. Nothing is left behind: no qemu, no mount, no file outside build/v2vm/.

Environment: V2VM_ACCEL=auto|tcg|kvm, V2VM_BOOT_TIMEOUT, V2VM_TIMEOUT (seconds),
V2VM_STEP_TIMEOUT (seconds per step inside the VM), V2VM_SMP, V2VM_MEM (MiB).
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
GUEST_SCRIPT = os.path.join(HERE, "v2vm-guest.sh")
sys.path.insert(0, HERE)   # mk/ holds scripts, not a package: the import below needs this first

from v2vm_image import VMError, build, log, package_list, remove_tree

KVM_PROBE_S = 30
MIN_FREE_MB = 1024          # on the host's build filesystem, while the VM runs
START_MARK = "v2vm: start"
KERNEL_MARK = "Linux version"


def env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        raise VMError(f"{name}={os.environ[name]!r} is not a whole number of seconds (or MiB)") from None


# -- a run --------------------------------------------------------------------

#: Ignored by git but needed in the VM: `make workshop-proxy`'s configurable-http-proxy.
EXTRA_TREES = ("build/workshop",)


def checkout_files() -> list[str]:
    """The checkout as git sees it: tracked files and new ones that are not ignored."""
    r = subprocess.run(["git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                       capture_output=True, check=True)
    return [p for p in r.stdout.decode().split("\0") if p and os.path.lexists(os.path.join(REPO, p))]


def copy_tree(src: str, dst: str) -> None:
    """A copy of ``src`` at ``dst``: hard links when both are on one filesystem (instant)."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if subprocess.run(["cp", "-al", src, dst], capture_output=True).returncode != 0:
        remove_tree(dst)
        subprocess.run(["cp", "-a", src, dst], check=True)


def guest_env(checkout: str, venv: str, host_python: str, step_timeout: int, args: list[str]) -> str:
    """The settings mk/v2vm-guest.sh sources: bash assignments, every value quoted."""
    return (f"CHECKOUT={shlex.quote(checkout)}\nVENV={shlex.quote(venv)}\n"
            f"HOST_PYTHON={shlex.quote(host_python)}\nSTEP_TIMEOUT={int(step_timeout)}\n"
            f"ARGS=({' '.join(shlex.quote(a) for a in args)})\n")


def make_payload(run: str, venv: str, args: list[str], step_timeout: int) -> str:
    """payload.img: the checkout and the venv at their absolute paths, and the guest script."""
    stage = os.path.join(run, "stage")
    root = os.path.join(stage, "root")
    co = os.path.join(root, REPO.lstrip("/"))
    for rel in checkout_files():
        dst = os.path.join(co, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(os.path.join(REPO, rel), dst, follow_symlinks=False)
    copy_tree(venv, os.path.join(root, venv.lstrip("/")))
    for rel in EXTRA_TREES:   # built by make, ignored by git, needed inside (the hub tests' proxy)
        if os.path.isdir(os.path.join(REPO, rel)):
            copy_tree(os.path.join(REPO, rel), os.path.join(co, rel))
    host_python = subprocess.run([os.path.join(venv, "bin", "python"), "-c",
                                  "import platform; print(platform.python_version())"],
                                 capture_output=True, text=True, check=True).stdout.strip()
    os.makedirs(os.path.join(stage, "v2vm"))
    shutil.copy(GUEST_SCRIPT, os.path.join(stage, "v2vm", "guest.sh"))
    with open(os.path.join(stage, "v2vm", "env"), "w") as f:
        f.write(guest_env(REPO, venv, host_python, step_timeout, args))
    used = int(subprocess.run(["du", "-sm", stage], capture_output=True, text=True, check=True).stdout.split()[0])
    img = os.path.join(run, "payload.img")
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "v2vm-payload", "-d", stage, img,
                    f"{used + used // 2 + 1024}M"], check=True, stdout=subprocess.DEVNULL)
    remove_tree(stage)
    return img


def kvm_probe_file(cache: str) -> str:
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    key = hashlib.sha256(f"{os.uname().release}\0{qemu}".encode()).hexdigest()[:12]
    return os.path.join(cache, f"kvm-{key}")


def accelerators(cache: str) -> list[str]:
    choice = os.environ.get("V2VM_ACCEL", "auto")
    if choice in ("tcg", "kvm"):
        return [choice]
    if choice != "auto":
        raise VMError(f"V2VM_ACCEL={choice!r}: use auto, tcg or kvm")
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError:
        return ["tcg"]
    probe = kvm_probe_file(cache)
    if os.path.exists(probe):
        with open(probe) as f:
            if f.read().strip() != "works":
                return ["tcg"]
    return ["kvm", "tcg"]


def qemu_argv(image: str, run: str, accel: str) -> list[str]:
    smp, mem = env_int("V2VM_SMP", 2), env_int("V2VM_MEM", 4096)
    cpu = ["-accel", "kvm", "-cpu", "host"] if accel == "kvm" else ["-accel", "tcg,thread=multi", "-cpu", "max"]
    return [
        "qemu-system-x86_64", "-nodefaults", "-no-user-config", "-no-reboot", "-display", "none",
        *cpu, "-smp", str(smp), "-m", str(mem),
        "-kernel", os.path.join(image, "vmlinuz"), "-initrd", os.path.join(image, "initrd.img"),
        "-append", "root=/dev/vda rw rootfstype=ext4 console=ttyS0 panic=-1 "
                   "systemd.unified_cgroup_hierarchy=1 systemd.show_status=error",
        # a write error (the host's disk is full) reaches the guest as EIO instead of pausing the VM
        "-drive", f"file={os.path.join(run, 'root.qcow2')},if=virtio,format=qcow2,werror=report,rerror=report",
        "-drive", f"file={os.path.join(run, 'payload.img')},if=virtio,format=raw,werror=report",
        "-virtfs", f"local,path={os.path.join(run, 'results')},mount_tag=results,security_model=none,id=results",
        "-nic", "none", "-serial", f"file:{os.path.join(run, 'serial.log')}", "-monitor", "none",
    ]


def tail(path: str, n: int = 40) -> str:
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return "(no serial log)"
    return "\n".join("  | " + line for line in lines[-n:])


def free_mb(path: str) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize // (1 << 20)


def boot(image: str, run: str, accel: str) -> str:
    """Boot once and follow the serial log until qemu exits. Returns "done", or "no-kvm"
    when KVM showed no sign of life; raises VMError on a time limit."""
    boot_limit, total_limit = env_int("V2VM_BOOT_TIMEOUT", 300), env_int("V2VM_TIMEOUT", 2400)
    serial = os.path.join(run, "serial.log")
    open(serial, "w").close()
    qemu = subprocess.Popen(qemu_argv(image, run, accel), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    log(f"qemu started (PID {qemu.pid}, {accel}); serial log: {serial}")
    t0 = time.monotonic()
    started = alive = False
    pos, partial = 0, ""
    try:
        while qemu.poll() is None:
            time.sleep(0.5)
            with open(serial, "rb") as f:
                f.seek(pos)
                chunk = f.read()
            pos += len(chunk)
            lines = (partial + chunk.decode(errors="replace")).split("\n")
            partial = lines.pop()
            for line in lines:
                line = line.rstrip("\r")
                alive = alive or KERNEL_MARK in line
                if START_MARK in line and not started:
                    started = True
                    log(f"the VM booted in {time.monotonic() - t0:.0f} s; the tests run")
                if started and "v2vm-boot[" in line:  # the guest's output, as journald forwards it
                    print("  | " + line.split("]: ", 1)[-1], flush=True)
                elif started and not line.startswith("["):  # not the kernel's, nor systemd's
                    print("  | " + line, flush=True)
            elapsed = time.monotonic() - t0
            why = None
            if accel == "kvm" and not alive and elapsed > KVM_PROBE_S:
                log(f"KVM: no kernel output after {KVM_PROBE_S} s; using TCG from now on")
                return "no-kvm"
            if not started and elapsed > boot_limit:
                why = f"the VM did not boot within {boot_limit} s (V2VM_BOOT_TIMEOUT)"
            elif elapsed > total_limit:
                why = f"the VM did not finish within {total_limit} s (V2VM_TIMEOUT)"
            elif free_mb(run) < MIN_FREE_MB:
                why = f"the host's disk is nearly full (less than {MIN_FREE_MB} MiB free in {run})"
            if why:
                raise VMError(f"{why}; qemu (PID {qemu.pid}) killed. The serial log ends:\n{tail(serial)}")
        out = qemu.stdout.read().decode(errors="replace").strip()
        if accel == "kvm" and not alive:
            log(f"KVM failed ({out.splitlines()[-1] if out else 'no output'}); using TCG from now on")
            return "no-kvm"
        if qemu.returncode != 0:
            raise VMError(f"qemu failed with status {qemu.returncode}: {out}\n{tail(serial)}")
        return "done"
    finally:
        if qemu.poll() is None:
            os.kill(qemu.pid, signal.SIGKILL)
        qemu.wait()
        if qemu.stdout:
            qemu.stdout.close()


def report(results: str, serial: str) -> int:
    """Print what ran and how it ended; the status for make."""
    steps_file = os.path.join(results, "steps")
    if not os.path.exists(os.path.join(results, "exit")):
        raise VMError(f"the VM powered off without a result (see {serial}). The serial log ends:\n{tail(serial)}")
    with open(steps_file) as f:
        steps = [line.split() for line in f if line.strip()]
    log("steps on pure cgroup v2:")
    failed = 0
    for name, rc, secs in steps:
        counts = junit_counts(os.path.join(results, f"junit-{name}.xml"))
        print(f"  {name:10} {'ok' if rc == '0' else 'FAILED (status ' + rc + ')':20} {secs:>5} s  {counts}")
        failed |= rc != "0"
    return 1 if failed else 0


def junit_counts(path: str) -> str:
    if not os.path.exists(path):
        return ""
    import xml.etree.ElementTree as ET

    total = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in ET.parse(path).getroot().iter("testsuite"):
        for k in total:
            total[k] += int(suite.get(k, 0))
    passed = total["tests"] - total["failures"] - total["errors"] - total["skipped"]
    return (f"{passed} passed, {total['failures']} failed, {total['errors']} errors, "
            f"{total['skipped']} skipped")


def clean_stale_runs(cache: str) -> None:
    """Run directories of earlier runs whose process is gone (killed with SIGKILL, say)."""
    for name in os.listdir(cache):
        if name.startswith(("run-", "tmp-build-")):
            pid = name.rsplit("-", 1)[-1]
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                remove_tree(os.path.join(cache, name))


def run_vm(cache: str, image: str, venv: str, args: list[str]) -> int:
    run = os.path.join(cache, f"run-{os.getpid()}")
    remove_tree(run)
    os.makedirs(os.path.join(run, "results"))
    last = os.path.join(cache, "last")
    remove_tree(last)
    t0 = time.monotonic()
    try:
        if free_mb(cache) < MIN_FREE_MB + 2048:
            raise VMError(f"less than {MIN_FREE_MB + 2048} MiB free in {cache}: make room first")
        make_payload(run, venv, args, env_int("V2VM_STEP_TIMEOUT", 1500))
        log(f"payload disk made in {time.monotonic() - t0:.0f} s")
        for accel in accelerators(cache):
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                            os.path.join(image, "base.img"), os.path.join(run, "root.qcow2")], check=True)
            outcome = boot(image, run, accel)
            if accel == "kvm":
                with open(kvm_probe_file(cache), "w") as f:
                    f.write("works\n" if outcome == "done" else "hangs or fails\n")
            if outcome == "done":
                break
            os.unlink(os.path.join(run, "root.qcow2"))
        os.makedirs(last)
        shutil.copy(os.path.join(run, "serial.log"), last)
        for name in os.listdir(os.path.join(run, "results")):
            shutil.copy(os.path.join(run, "results", name), last)
        status = report(last, os.path.join(last, "serial.log"))
        log(f"{'passed' if status == 0 else 'FAILED'} in {time.monotonic() - t0:.0f} s; "
            f"reports and the serial log are in {last}/")
        return status
    finally:
        if not os.path.exists(os.path.join(last, "serial.log")) and os.path.exists(os.path.join(run, "serial.log")):
            os.makedirs(last, exist_ok=True)   # a run that failed early: keep its serial log
            shutil.copy(os.path.join(run, "serial.log"), last)
        remove_tree(run)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("command", choices=("build", "run"))
    p.add_argument("--packages", default="", help="Debian packages the image needs besides the base")
    p.add_argument("--venv", default=sys.prefix, help="the venv to copy in (default: this python's)")
    p.add_argument("--cache", default=os.path.join(REPO, "build", "v2vm"))
    argv = sys.argv[1:] if argv is None else argv
    rest = argv[argv.index("--") + 1:] if "--" in argv else []   # pytest's arguments
    a = p.parse_args(argv[:len(argv) - len(rest) - (1 if "--" in argv else 0)])
    if os.geteuid() != 0:
        print("v2vm: needs root (mmdebstrap, and the tests inside run as root): sudo make test-v2",
              file=sys.stderr)
        return 1
    if not os.path.isfile(os.path.join(a.venv, "pyvenv.cfg")):
        print(f"v2vm: {a.venv} is not a venv: run me with the venv's python (make test-v2 does)",
              file=sys.stderr)
        return 1
    # make's or CI's SIGTERM unwinds like Ctrl-C, so the finally clauses kill qemu and clean up
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGHUP, signal.default_int_handler)
    os.makedirs(a.cache, exist_ok=True)
    with open(os.path.join(a.cache, "lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"v2vm: another make test-v2 is using {a.cache}; wait for it", file=sys.stderr)
            return 1
        try:
            clean_stale_runs(a.cache)
            image = build(a.cache, package_list(a.packages))
            if a.command == "build":
                return 0
            return run_vm(a.cache, image, os.path.abspath(a.venv), rest)
        except VMError as e:
            print(f"v2vm: error: {e}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("v2vm: interrupted; qemu killed and the run removed", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
