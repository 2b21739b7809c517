"""cgroups on this real host (root), with a plain forked process as the "container".

Every group is made with a unique ``minictrtest-`` id, and the fixture destroys
it even when the test fails, killing whatever is left in it; a final check
asserts that no such group is left in any tree.
"""

import os
import signal
import time
import uuid

import pytest

from cpuload import Spinner, assert_about_half
from minictr import cgroups
from minictr.config import Resources
from minictr.syscalls import CloneFlags, linux

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create cgroups")]


def our_groups(prefix):
    """Every directory, in every tree, named minictr/<prefix...>."""
    layout = cgroups.detect()
    found = []
    for h in layout.hierarchies:
        for dirpath, dirs, _ in os.walk(h.mount):
            if os.path.basename(dirpath) == "minictr":
                found += [os.path.join(dirpath, d) for d in dirs if d.startswith(prefix)]
                dirs[:] = []
    return found


@pytest.fixture
def make_group():
    prefix = f"minictrtest-{uuid.uuid4().hex[:8]}"
    made = []

    def make(resources=Resources()):
        mgr = cgroups.create(f"{prefix}-{len(made)}", resources)
        made.append(mgr)
        return mgr

    yield make
    for mgr in made:
        mgr.destroy()
    assert our_groups(prefix) == []


def spawn_in(mgr, work):
    """Fork a child that waits until it is in ``mgr``'s groups, then runs ``work()``
    and exits with its return value. Returns the pid."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 1
        try:
            os.close(w)
            os.read(r, 1)
            code = work() or 0
        finally:
            os._exit(code)
    os.close(r)
    mgr.add(pid)
    os.write(w, b"x")
    os.close(w)
    return pid


def wait(pid, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"child {pid} did not finish in {timeout}s")


def test_detects_this_host():
    layout = cgroups.detect()
    assert layout.kind in ("v1", "v2", "hybrid")
    for c in ("memory", "pids", "cpu"):
        assert layout.backend(c) is not None, layout.describe()


def test_memory_limit_oom_kills_a_100mb_allocation(make_group):
    mgr = make_group(Resources(memory=32 << 20))

    def hog():
        b = bytearray(100 << 20)  # zero pages are not charged until touched
        for i in range(0, len(b), 4096):
            b[i] = 1
        return 0

    status = wait(spawn_in(mgr, hog))
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert mgr.oom_killed()
    assert mgr.stats().memory_limit == 32 << 20


def test_no_oom_under_the_limit(make_group):
    mgr = make_group(Resources(memory=64 << 20))

    def small():
        b = bytearray(8 << 20)
        for i in range(0, len(b), 4096):
            b[i] = 1
        return 7

    status = wait(spawn_in(mgr, small))
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 7
    assert not mgr.oom_killed()


def test_pids_limit_stops_a_fork_loop(make_group):
    mgr = make_group(Resources(pids_limit=10))
    r, w = os.pipe()

    def fork_loop():
        os.close(r)
        children = 0
        while children < 50:
            try:
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
            except BlockingIOError:  # EAGAIN: the pids controller said no
                break
            children += 1
        os.write(w, f"{children} {cgroups.open(mgr.id).stats().pids}".encode())
        return 0

    pid = spawn_in(mgr, fork_loop)
    os.close(w)
    children, seen = map(int, os.read(r, 100).split())
    os.close(r)
    assert children == 9  # the loop itself is the 10th process
    assert seen == 10
    assert len(mgr.pids()) <= 10
    mgr.kill()  # the sleepers
    wait(pid)


@pytest.mark.alone  # a share of a CPU: another worker's busy test would take the CPU the quota allows
def test_cpus_half_a_cpu(make_group):
    mgr = make_group(Resources(cpus=0.5))

    def busy():
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            pass
        return 0

    with Spinner() as control:
        c0, before = control.cpu_ns(), mgr.stats()
        wait(spawn_in(mgr, busy))
        c1, after = control.cpu_ns(), mgr.stats()
    wall = (after.time - before.time) * 1e9
    assert_about_half((after.cpu_usage_ns - before.cpu_usage_ns) / wall, (c1 - c0) / wall)


def test_cgroup_namespace_shows_root(make_group):
    mgr = make_group(Resources(pids_limit=20))
    r, w = os.pipe()

    def look():
        os.close(r)
        linux().unshare(CloneFlags.NEWCGROUP)  # after mgr.add(): rooted at our group
        with open("/proc/self/cgroup") as f:
            os.write(w, f.read().encode())
        return 0

    pid = spawn_in(mgr, look)
    os.close(w)
    text = os.read(r, 4096).decode()
    os.close(r)
    wait(pid)
    paths = {line.split(":", 2)[2] for line in text.splitlines()}
    assert paths == {"/"}, text


def test_destroy_kills_leftovers_and_open_finds_the_group(make_group):
    mgr = make_group(Resources(pids_limit=50))
    pids = [spawn_in(mgr, lambda: time.sleep(60)) for _ in range(3)]
    found = cgroups.open(mgr.id)
    assert found is not None and sorted(found.pids()) == sorted(pids)
    assert mgr.id in cgroups.leftovers(include_running=True)
    assert mgr.id not in cgroups.leftovers()  # it still runs: gc must leave it alone
    found.destroy()
    for pid in pids:
        status = wait(pid)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert cgroups.open(mgr.id) is None


def test_stats_and_sample_see_memory_climb(make_group):
    mgr = make_group(Resources(memory=64 << 20))

    def climb():
        chunks = []
        for _ in range(6):
            chunks.append(bytearray(b"x" * (4 << 20)))
            time.sleep(0.1)
        return 0

    pid = spawn_in(mgr, climb)
    readings = list(cgroups.sample(mgr, interval=0.05))
    wait(pid)
    peak = max(s.memory_usage for s in readings)
    assert 20 << 20 < peak < 64 << 20
    assert readings[-1].memory_limit == 64 << 20
    assert mgr.stats().pids == 0  # a zombie still counts in pids.current until it is reaped


def test_parallel_create_and_destroy_share_the_parent_safely():
    # containers start and stop at the same time: one's destroy() removes the
    # shared minictr/ parent just as another's create() needs it
    import threading

    prefix = f"minictrtest-{uuid.uuid4().hex[:8]}"
    errors = []

    def worker(n):
        for i in range(30):
            mgr = None
            try:
                mgr = cgroups.create(f"{prefix}-{n}-{i}", Resources(memory=32 << 20, pids_limit=5))
                assert all(os.path.isdir(g.path) for g in mgr.groups)
            except Exception as e:  # collected, the main thread asserts
                errors.append(e)
            finally:
                if mgr is not None:
                    mgr.destroy()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert our_groups(prefix) == []
