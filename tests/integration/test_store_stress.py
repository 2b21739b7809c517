"""The store under concurrent use, and `run` killed at random moments (short, non-timed versions
of `make stress`; issue 13 items 1-3). Each uses its own private store and runtime dir."""

import pytest

from bench import stress


@pytest.fixture
def private(tmp_path):
    s = stress.Store(tmp_path)
    yield s
    left = s("ps", "-aq", "--no-trunc").stdout.split()
    if left:
        s("rm", "-f", *left)


def test_concurrent_load_rmi_prune_run_never_fail_each_other(private, tmp_path):
    archives = stress.make_archives(private, tmp_path, n=2)
    out = stress.concurrency(private, archives, seconds=4, workers=6, seed=13)
    assert out["failures"] == []
    assert out["counts"]["load"] >= 2 and out["counts"]["rmi"] >= 1 and out["counts"]["prune"] >= 1
    assert out["check_rc"] == 0, out["check"]


def test_runs_killed_at_random_moments_leave_nothing_after_ps_rm_prune(private):
    assert private("image", "build-default").returncode == 0
    out = stress.kills(private, n=12, fresh_every=3, seed=13)
    assert out["errors"] == []
    assert {k: v for k, v in out["leftovers"].items() if v} == {}
    assert out["check"] == 0


def test_a_killed_load_leaves_no_partial_blobs_after_the_next_prune(private, tmp_path):
    import signal
    import time
    archives = stress.make_archives(private, tmp_path, n=1)
    for delay in (0.05, 0.15, 0.3):
        p = private.popen("load", "-i", str(archives[0][1]))
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert private("image", "prune").returncode == 0
    left = stress.leftovers(private, set())
    assert left["tmp"] == [] and left["leases"] == []
    from minictr.image import Store
    from minictr.image.gc import referenced_blobs
    store = Store(private.root)
    on_disk = {"sha256:" + p.name for p in store.blobs_dir.iterdir()}
    assert on_disk == referenced_blobs(store)  # only busybox's: the killed loads' blobs are gone
    assert private("image", "check").returncode == 0
