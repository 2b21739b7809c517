"""Where the store and the state live: root's dirs, a user's XDG dirs, and the overrides."""

import os

from minictr import paths


def test_root_uses_the_host_dirs():
    assert paths.store_root({}, 0) == "/var/lib/minictr"
    assert paths.runtime_dir({}, 0) == "/run/minictr"


def test_the_overrides_win_for_everyone():
    env = {"MINICTR_ROOT": "/x/store//", "MINICTR_RUNTIME_DIR": "/x/run", "XDG_DATA_HOME": "/ignored"}
    for uid in (0, 1000):
        assert paths.store_root(env, uid) == "/x/store"
        assert paths.runtime_dir(env, uid) == "/x/run"


def test_a_user_gets_the_xdg_dirs():
    env = {"XDG_DATA_HOME": "/home/a/data", "XDG_RUNTIME_DIR": "/run/user/1000", "HOME": "/home/a"}
    assert paths.store_root(env, 1000) == "/home/a/data/minictr"
    assert paths.runtime_dir(env, 1000) == "/run/user/1000/minictr"


def test_without_xdg_data_home_the_store_is_under_local_share():
    assert paths.store_root({"HOME": "/home/a"}, 1000) == "/home/a/.local/share/minictr"
    # the spec: a relative XDG path is invalid and ignored
    assert paths.store_root({"HOME": "/home/a", "XDG_DATA_HOME": "rel"}, 1000) == "/home/a/.local/share/minictr"


def test_without_xdg_runtime_dir_it_is_run_user_when_that_is_the_users(tmp_path):
    mine = tmp_path / "4343"
    mine.mkdir()
    os.chown(mine, 4343, 4343)  # pam_systemd makes /run/user/UID the user's
    assert paths.runtime_dir({}, 4343, run_user=str(tmp_path)) == str(mine / "minictr")


def test_otherwise_a_private_dir_in_the_tmp_dir(tmp_path):
    # /run/user/4242 does not exist (or is not 4242's): podman's fallback, a dir named for the uid
    assert paths.runtime_dir({"TMPDIR": "/scratch"}, 4242, run_user=str(tmp_path)) == "/scratch/minictr-run-4242"
    (tmp_path / "4242").mkdir()  # root's dir, not 4242's
    assert paths.runtime_dir({}, 4242, run_user=str(tmp_path)) == "/tmp/minictr-run-4242"


def test_state_and_both_stores_follow_paths(monkeypatch, tmp_path):
    from minictr import state
    from minictr.image import quick, store
    monkeypatch.setenv("MINICTR_ROOT", str(tmp_path / "s"))
    monkeypatch.setenv("MINICTR_RUNTIME_DIR", str(tmp_path / "r"))
    assert quick.store_root() == str(store.store_root()) == paths.store_root()
    assert state.runtime_dir() == paths.runtime_dir()
