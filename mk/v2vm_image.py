"""The cached VM image of `make test-v2` (used by mk/v2vm.py, which documents the whole).

mmdebstrap(1) makes a Debian bookworm root with systemd, the kernel and the packages;
mke2fs(8) -d turns the directory into base.img (raw ext4) with no loop mount; the image's own
/boot/vmlinuz and initrd.img are kept next to it. The directory build/v2vm/image-KEY/ is
reused while KEY, a hash of the package list, this build code and mk/v2vm-boot.sh, stays.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BOOT_SCRIPT = os.path.join(HERE, "v2vm-boot.sh")
#: Always in the image, whatever the Makefile adds: a booting systemd host and its kernel.
BASE_PACKAGES = ("systemd", "systemd-sysv", "udev", "linux-image-amd64", "initramfs-tools", "kmod",
                 "procps", "python3", "python3-venv",
                 "dbus",             # systemd-run --wait, as on any install
                 "libpam-systemd")   # pam_systemd: a user's session, XDG_RUNTIME_DIR, user@UID.service
IMAGE_SIZE = "8G"           # sparse: about 1 GB of it is used


class VMError(Exception):
    """A failure of the VM machinery (not of a test): one line, printed without a traceback."""


def log(msg: str) -> None:
    print(f"v2vm: {msg}", flush=True)


# -- the image ----------------------------------------------------------------

def package_list(packages: str) -> list[str]:
    return sorted(set(BASE_PACKAGES) | set(packages.split()))


def image_key(packages: list[str]) -> str:
    """What the image is made of: the packages, the code that builds it, the boot script.
    (Not mk/v2vm.py: changing how a run works does not rebuild the image.)"""
    import inspect

    h = hashlib.sha256()
    for part in (" ".join(packages), IMAGE_SIZE, inspect.getsource(build), inspect.getsource(customize)):
        h.update(part.encode() + b"\0")
    with open(BOOT_SCRIPT, "rb") as f:
        h.update(f.read())
    return h.hexdigest()[:16]


def sources_file() -> str | None:
    """The host's own Debian sources, so the VM gets the same mirror and security updates."""
    for path in ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"):
        if os.path.isfile(path) and os.path.getsize(path) > 0:
            return path
    return None


def customize(root: str) -> None:
    """What mmdebstrap's customize hook would do, done from here on the finished root."""
    def write(rel: str, text: str, mode: int = 0o644) -> None:
        path = os.path.join(root, rel.lstrip("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)

    def mask(unit: str) -> None:
        link = os.path.join(root, "etc/systemd/system", unit)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink("/dev/null", link)

    write("/etc/hostname", "minictr-v2vm\n")
    write("/etc/hosts", "127.0.0.1 localhost\n127.0.1.1 minictr-v2vm\n::1 localhost ip6-localhost\n")
    write("/etc/fstab", "/dev/vda / ext4 rw,errors=remount-ro 0 1\n")
    # A fixed machine id: every boot of an overlay is then not a "first boot" (no prompts).
    write("/etc/machine-id", hashlib.md5(b"minictr-v2vm").hexdigest() + "\n", 0o444)
    with open(BOOT_SCRIPT) as f:
        write("/usr/local/sbin/v2vm-boot", f.read(), 0o755)
    write("/etc/systemd/system/v2vm.service", """\
[Unit]
Description=minictr tests on pure cgroup v2 (mk/v2vm.py)
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/v2vm-boot
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity
[Install]
WantedBy=multi-user.target
""")
    wants = os.path.join(root, "etc/systemd/system/multi-user.target.wants")
    os.makedirs(wants, exist_ok=True)
    if not os.path.lexists(os.path.join(wants, "v2vm.service")):
        os.symlink("/etc/systemd/system/v2vm.service", os.path.join(wants, "v2vm.service"))
    # Nothing else runs: no registry on :5000 (the tests start their own), no timers, no logins.
    for unit in ("docker-registry.service", "apt-daily.timer", "apt-daily-upgrade.timer",
                 "man-db.timer", "e2scrub_all.timer", "fstrim.timer", "systemd-timesyncd.service",
                 "serial-getty@ttyS0.service", "getty@tty1.service", "systemd-firstboot.service"):
        mask(unit)


def mounts_under(path: str) -> list[str]:
    path = os.path.realpath(path)
    with open("/proc/self/mounts") as f:
        points = [line.split()[1].replace("\\040", " ") for line in f]
    return [p for p in points if p == path or p.startswith(path + "/")]


def remove_tree(path: str) -> None:
    """rm -rf that never crosses into a mount (mmdebstrap binds /dev, /proc and /sys in)."""
    if not os.path.lexists(path):
        return
    for point in sorted(mounts_under(path), key=len, reverse=True):
        if subprocess.run(["umount", point], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True)
    if mounts_under(path):
        raise VMError(f"cannot unmount {mounts_under(path)}: not removing {path}")
    subprocess.run(["rm", "-rf", "--one-file-system", path], check=True)


def build(cache: str, packages: list[str]) -> str:
    """The image directory for this package list: made now, or found in the cache."""
    key = image_key(packages)
    image = os.path.join(cache, f"image-{key}")
    if os.path.isfile(os.path.join(image, "ready")):
        return image
    for tool in ("mmdebstrap", "mke2fs", "qemu-img", "qemu-system-x86_64"):
        if shutil.which(tool) is None:
            raise VMError(f"{tool} is missing: apt-get install mmdebstrap e2fsprogs qemu-utils qemu-system-x86")
    tmp = os.path.join(cache, f"tmp-build-{os.getpid()}")
    remove_tree(tmp)
    os.makedirs(tmp)
    t0 = time.monotonic()
    try:
        root = os.path.join(tmp, "root")
        log(f"building the image {key} ({len(packages)} packages from Debian; 1-3 minutes)")
        argv = ["mmdebstrap", "--variant=apt", "--include=" + ",".join(packages), "bookworm", root]
        if sources_file():
            argv.append(sources_file())
        with open(os.path.join(tmp, "mmdebstrap.log"), "w") as out:
            r = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            with open(os.path.join(tmp, "mmdebstrap.log")) as f:
                tail = f.read().splitlines()[-15:]
            raise VMError("mmdebstrap failed:\n" + "\n".join(tail))
        customize(root)
        boot = os.path.join(root, "boot")
        kernels = sorted(n for n in os.listdir(boot) if n.startswith("vmlinuz-"))
        if not kernels:
            raise VMError("the image has no /boot/vmlinuz-*: is linux-image-amd64 in the list?")
        version = kernels[-1][len("vmlinuz-"):]
        shutil.copy(os.path.join(boot, f"vmlinuz-{version}"), os.path.join(tmp, "vmlinuz"))
        shutil.copy(os.path.join(boot, f"initrd.img-{version}"), os.path.join(tmp, "initrd.img"))
        subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", "v2vm-root", "-d", root,
                        os.path.join(tmp, "base.img"), IMAGE_SIZE], check=True, stdout=subprocess.DEVNULL)
        remove_tree(root)
        with open(os.path.join(tmp, "info.json"), "w") as f:
            json.dump({"key": key, "kernel": version, "packages": packages,
                       "built_s": round(time.monotonic() - t0, 1)}, f, indent=1)
        with open(os.path.join(tmp, "ready"), "w") as f:
            f.write("ok\n")
        os.rename(tmp, image)
    finally:
        remove_tree(tmp)
    for name in os.listdir(cache):  # one image is enough: drop the ones of older package lists
        if name.startswith("image-") and name != f"image-{key}":
            remove_tree(os.path.join(cache, name))
    log(f"image built in {time.monotonic() - t0:.0f} s: {image}")
    return image
