"""The build context: ignore rules (a table) and the files a COPY source selects."""

from __future__ import annotations

import os

import pytest

from minictr.build.ignore import Ignore, clean, read_ignore, resolve, select_sources, translate
from minictr.errors import BuildError

# (rules, path, ignored?)
TABLE = [
    (["*.pyc"], "x.pyc", True),
    (["*.pyc"], "sub/x.pyc", False),            # * does not cross /
    (["**/*.pyc"], "sub/deep/x.pyc", True),
    (["**/*.pyc"], "x.pyc", True),              # ** is zero directories too
    (["sub/**"], "sub/a/b", True),
    (["sub/**"], "sub", False),
    (["sub/**/x"], "sub/x", True),
    (["sub/**/x"], "sub/a/b/x", True),
    (["**"], "anything/at/all", True),
    (["build"], "build/out/a.o", True),         # a directory's pattern covers what is below
    (["build"], "src/build", False),
    (["/build"], "build", True),                # leading / stripped
    (["./build"], "build/x", True),             # leading ./ stripped
    (["a//b/../c"], "a/c", True),               # cleaned
    (["?.txt"], "a.txt", True),
    (["?.txt"], "ab.txt", False),
    (["[a-c].txt"], "b.txt", True),
    (["[^a-c].txt"], "b.txt", False),
    (["[^a-c].txt"], "d.txt", True),
    (["\\*.txt"], "*.txt", True),
    (["\\*.txt"], "a.txt", False),
    (["a.txt"], "a-txt", False),                # . is literal
    (["*.md", "!README.md"], "README.md", False),
    (["*.md", "!README.md"], "NOTES.md", True),
    (["!README.md", "*.md"], "README.md", True),  # the last matching rule wins
    (["docs", "!docs/keep"], "docs/keep", False),
    (["docs", "!docs/keep"], "docs/other", True),
    (["# comment", "", "  *.log  "], "x.log", True),
    (["# comment"], "# comment", False),
    (["*"], ".hidden", True),
    ([], "x", False),
]


@pytest.mark.parametrize("rules,path,want", TABLE)
def test_ignore_table(rules, path, want):
    assert Ignore(rules).ignored(path) is want


@pytest.mark.parametrize("pattern", ["[a-", "a\\", "[]"])
def test_bad_patterns_name_the_line(pattern):
    with pytest.raises(BuildError) as e:
        Ignore(["ok", pattern], source="ctx/.dockerignore")
    assert str(e.value).startswith(f"ctx/.dockerignore:2: bad pattern {pattern!r}")


def test_translate_and_clean():
    assert translate("a*?") == r"(?s:a[^/]*[^/])\Z"
    assert clean("/./a/../b/") == "b" and clean("../x") == "x" and clean("/") == ""


def make_context(tmp_path):
    ctx = tmp_path / "ctx"
    for rel, text in {"app.py": "print(1)", "lib/a.py": "a", "lib/b.txt": "b", "lib/sub/c.py": "c",
                      "docs/keep.md": "k", "docs/drop.md": "d", "x.pyc": "bin"}.items():
        (ctx / rel).parent.mkdir(parents=True, exist_ok=True)
        (ctx / rel).write_text(text)
    (ctx / "abs").symlink_to("/lib")           # absolute: resolved inside the context
    (ctx / "up").symlink_to("../../..")        # climbs: stops at the context root
    (ctx / "loop").symlink_to("loop")
    (tmp_path / "secret").write_text("s")
    return str(ctx)


def test_select_a_file_a_dir_and_a_glob(tmp_path):
    ctx = make_context(tmp_path)
    [m] = select_sources(ctx, "app.py")
    assert (m.src, m.path, m.is_dir, [(e.path, e.rel, e.kind) for e in m.entries]) == \
        ("app.py", "app.py", False, [("app.py", "app.py", "file")])
    [m] = select_sources(ctx, "/lib/")
    assert m.is_dir and [(e.path, e.rel, e.kind) for e in m.entries] == [
        ("lib/a.py", "a.py", "file"), ("lib/b.txt", "b.txt", "file"), ("lib/sub", "sub", "dir"),
        ("lib/sub/c.py", "sub/c.py", "file")]
    assert [m.src for m in select_sources(ctx, "lib/*.py")] == ["lib/a.py"]
    assert [m.src for m in select_sources(ctx, "**/*.py")] == ["app.py", "lib/a.py", "lib/sub/c.py"]
    assert [m.src for m in select_sources(ctx, "l?b")] == ["lib"]


def test_symlinks_are_resolved_inside_the_context(tmp_path):
    ctx = make_context(tmp_path)
    [m] = select_sources(ctx, "abs/a.py")              # /lib -> ctx/lib, not the host's /lib
    assert (m.path, m.entries[0].rel) == ("lib/a.py", "a.py")
    [m] = select_sources(ctx, "up/app.py")             # ../../.. stops at the context root
    assert m.path == "app.py"
    with pytest.raises(BuildError) as e:
        select_sources(ctx, "up/secret", file="Containerfile", line=4)
    assert str(e.value) == ("Containerfile:4: COPY source 'up/secret' does not exist in the build context "
                            "(hint: check the path relative to the context, and the .containerignore/.dockerignore)")
    assert resolve(ctx, "abs", follow_last=False) == "abs"
    assert resolve(ctx, "abs") == "lib"


@pytest.mark.parametrize("src,msg", [
    ("../secret", "Containerfile:3: COPY source '../secret' is outside the build context "
                  "(hint: copy the file into the context directory first)"),
    ("lib/../../secret", "Containerfile:3: COPY source 'lib/../../secret' is outside the build context "
                         "(hint: copy the file into the context directory first)"),
    ("nope", "Containerfile:3: COPY source 'nope' does not exist in the build context "
             "(hint: check the path relative to the context, and the .containerignore/.dockerignore)"),
    ("*.nope", "Containerfile:3: COPY source '*.nope' matches no file in the build context "
               "(hint: check the path relative to the context, and the .containerignore/.dockerignore)"),
    ("loop", "Containerfile:3: COPY source 'loop': Too many levels of symbolic links "
             "(hint: a symbolic link loop in the context)"),
])
def test_refused_sources(tmp_path, src, msg):
    ctx = make_context(tmp_path)
    with pytest.raises(BuildError) as e:
        select_sources(ctx, src, line=3)
    assert str(e.value) == msg


def test_ignore_file_applies_to_sources(tmp_path):
    ctx = make_context(tmp_path)
    with open(os.path.join(ctx, ".dockerignore"), "w") as f:
        f.write("*.pyc\nlib/sub\ndocs\n!docs/keep.md\n")
    ign = read_ignore(ctx)
    [m] = select_sources(ctx, ".", ign)
    paths = [e.path for e in m.entries]
    assert "x.pyc" not in paths and "lib/sub" not in paths and "docs/drop.md" not in paths
    assert "docs" in paths and "docs/keep.md" in paths and ".dockerignore" in paths
    with pytest.raises(BuildError) as e:
        select_sources(ctx, "x.pyc", ign, line=2)
    assert str(e.value).startswith("Containerfile:2: COPY source 'x.pyc' is excluded by .dockerignore")
    # .containerignore wins over .dockerignore
    with open(os.path.join(ctx, ".containerignore"), "w") as f:
        f.write("app.py\n")
    ign = read_ignore(ctx)
    assert ign.ignored("app.py") and not ign.ignored("x.pyc")


def test_a_stage_rootfs_as_the_source_root(tmp_path):
    root = tmp_path / "rootfs"
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/libc.so.6").write_text("elf")
    (root / "lib").symlink_to("usr/lib")
    [m] = select_sources(str(root), "/lib/libc.so.6", what="COPY --from=build", place="stage build")
    assert (m.path, m.entries[0].rel) == ("usr/lib/libc.so.6", "libc.so.6")
    with pytest.raises(BuildError) as e:
        select_sources(str(root), "/etc/passwd", what="COPY --from=build", place="stage build", line=9)
    assert str(e.value) == ("Containerfile:9: COPY --from=build source '/etc/passwd' does not exist "
                            "in stage build (hint: check the path in stage build)")
