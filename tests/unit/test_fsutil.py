"""fsutil.remove_tree: rm -rf without shutil, never following a symlink out of the tree."""

import os

from minictr.fsutil import remove_tree


def test_removes_a_tree_but_not_what_a_symlink_points_to(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("host data")
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "f").write_text("x")
    (tree / "link-to-outside").symlink_to(outside)
    (tree / "a" / "dangling").symlink_to(tmp_path / "nowhere")
    remove_tree(tree)
    assert not tree.exists() and (outside / "keep").read_text() == "host data"


def test_read_only_dirs_and_missing_paths(tmp_path):
    tree = tmp_path / "ro"
    (tree / "d").mkdir(parents=True)
    (tree / "d" / "f").write_text("x")
    os.chmod(tree / "d", 0o555)
    os.chmod(tree, 0o555)
    remove_tree(tree)
    assert not tree.exists()
    remove_tree(tmp_path / "never-was")  # not an error
    f = tmp_path / "file"
    f.write_text("x")
    remove_tree(f)  # a plain file goes too
    assert not f.exists()
