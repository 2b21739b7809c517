"""`minictr run EVIL.tar`: every malicious tarball is refused with one clean line (exit 125)
or contained, and nothing outside the container's root changes."""

import hashlib
import os

import pytest

from minictr import tarcorpus


def tree_digest(top) -> str:
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(top)):
        dirnames.sort()
        for name in sorted(filenames + dirnames):
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            h.update(f"{p} {st.st_mode} {st.st_size}".encode())
            if os.path.isfile(p) and not os.path.islink(p):
                h.update(open(p, "rb").read())
    return h.hexdigest()


CASES = tarcorpus.build("/nonexistent-sentinel")  # only the names and expectations here


@pytest.mark.parametrize("name", [c.name for c in CASES if c.whiteouts == "keep"])
def test_run_refuses_or_contains(mc, tmp_path, name):
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    (sentinel / "secret").write_bytes(tarcorpus.SENTINEL_SECRET)
    case = next(c for c in tarcorpus.build(str(sentinel)) if c.name == name)
    evil = tmp_path / "evil.tar"
    evil.write_bytes(case.data)
    before = tree_digest(sentinel)

    r = mc("run", "--rm", str(evil), "/bin/true", timeout=30)

    assert tree_digest(sentinel) == before, f"{name} changed a file outside the root"
    if case.expect == "refuse":
        assert r.returncode == 125
        assert r.stderr.startswith("minictr: refusing tar member") and r.stderr.count("\n") == 1, r.stderr
        assert "Traceback" not in r.stderr
    else:  # contained: unpacked inside; the rootfs has no /bin/true, so exec fails cleanly
        assert r.returncode in (125, 127), r.stderr
        assert "Traceback" not in r.stderr
    store = tmp_path / "store" / "containers"
    assert not store.exists() or os.listdir(store) == [], "a refused tarball left a half-made root"
