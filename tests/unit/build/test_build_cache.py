"""Cache keys: what changes them (content, mode, owner, link targets, args, parent) and what
does not (mtimes, line numbers, comments, flag order)."""

from __future__ import annotations

import hashlib
import os

import pytest

from minictr.build import cache, parser
from minictr.build.ignore import select_sources


def make_context(tmp_path):
    ctx = tmp_path / "ctx"
    (ctx / "src" / "pkg").mkdir(parents=True)
    (ctx / "src" / "app.py").write_text("print('hi')\n")
    (ctx / "src" / "pkg" / "mod.py").write_text("X = 1\n")
    (ctx / "src" / "latest").symlink_to("app.py")
    (ctx / "README").write_text("read me\n")
    return str(ctx)


def copy_key(ctx: str, text: str = "FROM busybox\nCOPY src /app/\n", parent: str = "sha256:base") -> str:
    ins = parser.parse(text).stages[0].instructions[-1]
    digest = cache.sources_digest(ctx, [m for src in ins.args[:-1] for m in select_sources(ctx, src)])
    return cache.cache_key(parent, ins, digest)


def test_a_content_change_changes_the_key_and_an_mtime_change_does_not(tmp_path):
    ctx = make_context(tmp_path)
    key = copy_key(ctx)
    assert copy_key(ctx) == key
    for path in ("src/app.py", "src/pkg", "src", "src/latest"):
        os.utime(os.path.join(ctx, path), (1, 2), follow_symlinks=False)
    assert copy_key(ctx) == key, "mtimes must not matter"
    with open(os.path.join(ctx, "src/pkg/mod.py"), "w") as f:
        f.write("X = 2\n")  # same size, other bytes
    assert copy_key(ctx) != key


@pytest.mark.parametrize("change", ["chmod", "chmod_dir", "relink", "add", "remove", "rename"])
def test_metadata_and_tree_changes_change_the_key(tmp_path, change):
    ctx = make_context(tmp_path)
    key = copy_key(ctx)
    def j(p):
        return os.path.join(ctx, p)
    if change == "chmod":
        os.chmod(j("src/app.py"), 0o755)
    elif change == "chmod_dir":
        os.chmod(j("src/pkg"), 0o700)
    elif change == "relink":
        os.unlink(j("src/latest"))
        os.symlink("pkg/mod.py", j("src/latest"))
    elif change == "add":
        open(j("src/pkg/__init__.py"), "w").close()
    elif change == "remove":
        os.unlink(j("src/pkg/mod.py"))
    elif change == "rename":
        os.rename(j("src/pkg/mod.py"), j("src/pkg/mod2.py"))
    assert copy_key(ctx) != key


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: chown to another user")
def test_an_owner_change_changes_the_key(tmp_path):
    ctx = make_context(tmp_path)
    key = copy_key(ctx)
    os.chown(os.path.join(ctx, "src/app.py"), 1234, 1234)
    assert copy_key(ctx) != key


def test_a_file_outside_the_sources_does_not_matter(tmp_path):
    ctx = make_context(tmp_path)
    key = copy_key(ctx)
    with open(os.path.join(ctx, "README"), "w") as f:
        f.write("changed\n")
    assert copy_key(ctx) == key
    assert copy_key(ctx, "FROM busybox\nCOPY README src /app/\n") != key


def test_the_instruction_parent_and_args(tmp_path):
    ctx = make_context(tmp_path)
    key = copy_key(ctx)
    assert copy_key(ctx, parent="sha256:other") != key
    assert copy_key(ctx, "FROM busybox\nCOPY src /srv/\n") != key
    assert copy_key(ctx, "FROM busybox\nCOPY --chmod=0644 src /app/\n") != key
    # line numbers, comments, continuations and flag order are not part of it
    assert copy_key(ctx, "FROM busybox\n# c\n\nCOPY \\\n  src /app/\n") == key
    a = copy_key(ctx, "FROM busybox\nCOPY --chown=1:1 --chmod=0644 src /app/\n")
    assert copy_key(ctx, "FROM busybox\nCOPY --chmod=0644 --chown=1:1 src /app/\n") == a


def run_key(text: str, **kw) -> str:
    return cache.cache_key("sha256:p", parser.parse(text, **kw).stages[0].instructions[-1])


def test_build_args_are_part_of_a_run_key():
    text = "FROM busybox\nARG V=1\nRUN make\n"
    assert run_key(text) == run_key(text)
    assert run_key(text, build_args={"V": "2"}) != run_key(text)
    assert run_key(text, build_args={"V": "1"}) == run_key(text)
    assert run_key("FROM busybox\nRUN make\n") != run_key(text)
    assert run_key("FROM busybox\nRUN make  \n") == run_key("FROM busybox\nRUN make\n")
    assert run_key('FROM busybox\nRUN ["make"]\n') != run_key("FROM busybox\nRUN make\n")


def test_copy_without_sources_is_a_mistake():
    ins = parser.parse("FROM busybox\nCOPY a /b\n").stages[0].instructions[-1]
    with pytest.raises(ValueError, match="COPY needs the digest of its sources"):
        cache.cache_key("p", ins)


def test_facts_of_one_file(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"abc")
    os.chmod(p, 0o640)
    st = os.lstat(p)
    assert cache.file_facts(str(p), "f") == cache.FileFacts(
        "f", "file", 0o640, st.st_uid, st.st_gid, 3, hashlib.sha256(b"abc").hexdigest())


def test_chain_id():
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    assert cache.chain_id([]) is None
    assert cache.chain_id([a]) == a
    assert cache.chain_id([a, b]) == "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
