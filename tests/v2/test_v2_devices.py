"""The device allow list on a pure cgroup v2 host: no devices controller there, so minictr attaches
an eBPF BPF_CGROUP_DEVICE program to the container's group (bpf(2); the kernel's
Documentation/admin-guide/cgroup-v2.rst, "Device controller").

Harmless even if the program were missing: the block node is opened read-only and nothing is
read from it past one byte, inside the container's own /tmp.
"""

import os

# The root filesystem is a directory used in place (as runc uses a bundle), shared by the tests:
# the node gets a name of its own and is removed again.
PROBE = """
mkdir -p /tmp
node=/tmp/disk.$$
mknod $node b {major} {minor} && echo mknod=ok || echo mknod=refused
head -c1 $node >/dev/null 2>&1 && echo blockopen=ok || echo blockopen=refused
rm -f $node
head -c1 /dev/zero >/dev/null && echo x > /dev/null && echo null=ok
"""


def host_disk() -> tuple[int, int]:
    dev = os.stat("/").st_dev
    return (os.major(dev), os.minor(dev)) if os.major(dev) else (8, 0)


def results(r) -> dict:
    assert r.returncode == 0, r.stderr
    return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)


def test_a_default_container_makes_a_block_node_but_cannot_open_it(v2, mc, rootfs_dir):
    major, minor = host_disk()
    got = results(mc("run", "--rm", rootfs_dir, "sh", "-c", PROBE.format(major=major, minor=minor)))
    assert got == {"mknod": "ok", "blockopen": "refused", "null": "ok"}


def test_privileged_gets_every_device(v2, mc, rootfs_dir):
    major, minor = host_disk()
    got = results(mc("run", "--rm", "--privileged", rootfs_dir, "sh", "-c", PROBE.format(major=major, minor=minor)))
    assert got == {"mknod": "ok", "blockopen": "ok", "null": "ok"}
