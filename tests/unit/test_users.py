"""USER / -u resolution against the image's own /etc/passwd and /etc/group, as docker (runc) does it."""

import pytest

from minictr.errors import ConfigError
from minictr.users import resolve_user

PASSWD = """root:x:0:0:root:/root:/bin/sh
learner:x:1000:1000:learner:/home/learner:/bin/sh
# a comment
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
GROUP = """root:x:0:
wheel:x:10:learner,other
users:x:100:learner
learner:x:1000:
nogroup:x:65534:
"""


@pytest.fixture
def root(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(PASSWD)
    (tmp_path / "etc" / "group").write_text(GROUP)
    return str(tmp_path)


@pytest.mark.parametrize("spec, uid, gid, groups, home", [
    (None, 0, 0, (0,), "/root"),                         # no USER: root
    ("root", 0, 0, (0,), "/root"),
    ("learner", 1000, 1000, (1000, 10, 100), "/home/learner"),   # name: passwd gid + memberships
    ("1000", 1000, 1000, (1000, 10, 100), "/home/learner"),      # a known uid counts as the name
    ("4242", 4242, 0, (0,), "/"),                         # unknown uid: allowed, gid 0
    ("1000:100", 1000, 100, (100,), "/home/learner"),     # explicit gid: no supplementary groups
    ("learner:users", 1000, 100, (100,), "/home/learner"),
    ("learner:65534", 1000, 65534, (65534,), "/home/learner"),
    ("4242:wheel", 4242, 10, (10,), "/"),
    ("nobody", 65534, 65534, (65534,), "/nonexistent"),
])
def test_forms(root, spec, uid, gid, groups, home):
    u = resolve_user(spec, root)
    assert (u.uid, u.gid, u.groups, u.home) == (uid, gid, groups, home)


@pytest.mark.parametrize("spec, field", [("ghost", "user"), ("learner:ghosts", "group"), ("-1", "user")])
def test_unknown_names_are_config_errors(root, spec, field):
    with pytest.raises(ConfigError) as e:
        resolve_user(spec, root)
    assert e.value.field == field


def test_an_image_without_etc_passwd(tmp_path):
    assert (resolve_user("1000", str(tmp_path)).uid, resolve_user("1000", str(tmp_path)).gid) == (1000, 0)
    with pytest.raises(ConfigError, match="no user 'root'"):
        resolve_user("root", str(tmp_path))


def test_default_image_users(tmp_path):
    """The default busybox image's /etc files give the USER tests a non-root user with groups."""
    from minictr.image import default
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(default.PASSWD)
    (tmp_path / "etc" / "group").write_text(default.GROUP)
    u = resolve_user("learner", str(tmp_path))
    assert (u.uid, u.gid, u.groups) == (1000, 1000, (1000, 10, 100))
