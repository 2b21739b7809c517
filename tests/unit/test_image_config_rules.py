"""docker's rules for turning an image config plus run flags into argv and env (config.py)."""

import pytest

from minictr.config import command_line, merge_env
from minictr.errors import ConfigError


@pytest.mark.parametrize("entrypoint, cmd, args, cli_ep, argv", [
    (None, ["sh"], [], None, ("sh",)),                                   # Cmd alone
    (None, ["sh"], ["ls", "-l"], None, ("ls", "-l")),                    # args replace Cmd
    (["/init"], ["--serve"], [], None, ("/init", "--serve")),            # Entrypoint + Cmd
    (["/init"], ["--serve"], ["--debug"], None, ("/init", "--debug")),   # args replace Cmd, keep Entrypoint
    (["/init"], ["--serve"], [], "/bin/sh", ("/bin/sh",)),               # --entrypoint clears Cmd
    (["/init"], ["--serve"], ["-c", "id"], "/bin/sh", ("/bin/sh", "-c", "id")),
    (["/init"], ["--serve"], ["ls"], "", ("ls",)),                       # --entrypoint "" resets it
    (["/init"], ["--serve"], [], "", ()),                                # ... and Cmd is gone too
    ([], [], [], None, ()),
    (None, None, ["echo", "hi"], None, ("echo", "hi")),
])
def test_command_line(entrypoint, cmd, args, cli_ep, argv):
    assert command_line(entrypoint, cmd, args, cli_ep) == argv


def test_env_image_first_then_flags_in_order():
    image = ["PATH=/usr/bin:/bin", "LANG=C", "HOME=/root"]
    got = merge_env(image, ["LANG=C.UTF-8", "NEW=1", "NEW=2", "EMPTY="], host_env={})
    assert got == ("PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/root", "NEW=2", "EMPTY=")


def test_env_value_may_contain_equals_signs():
    assert merge_env([], ["OPTS=a=b=c"], host_env={}) == ("OPTS=a=b=c",)


def test_env_key_only_takes_the_host_value_or_removes_it():
    host = {"TERM": "xterm", "USER": "me"}
    got = merge_env(["TERM=dumb", "LANG=C", "HOME=/root"], ["TERM", "LANG", "USER"], host_env=host)
    assert got == ("TERM=xterm", "HOME=/root", "USER=me")


@pytest.mark.parametrize("bad", ["=x", "", "A\0B=1"])
def test_env_bad_flags(bad):
    with pytest.raises(ConfigError) as e:
        merge_env([], [bad], host_env={})
    assert e.value.hint == "use -e KEY=VALUE"


def test_env_broken_image_env():
    with pytest.raises(ConfigError, match="image environment variable"):
        merge_env(["NOEQUALS"], [], host_env={})


def test_image_config_problems_name_the_field_and_allow_nulls():
    from minictr.config import image_config_problems

    assert image_config_problems(None) == []
    assert image_config_problems({"Cmd": None, "Env": None, "Entrypoint": ["sh"], "Labels": {"a": "b"},
                                  "ExposedPorts": {"80/tcp": {}}, "WorkingDir": "/", "Unknown": 1}) == []
    assert image_config_problems("x") == ["config must be an object, not a string"]
    assert image_config_problems({"Env": "A=1", "Cmd": 3, "User": 0}) == [
        "Cmd must be a list of strings, not a number (3)", "Env must be a list of strings, not a string",
        "User must be a string, not a number (0)"]
    assert image_config_problems({"Env": ["=x"]}) == ["Env entry '=x' is not KEY=VALUE"]


def test_run_refuses_an_image_whose_config_has_wrong_types(tmp_path):
    """An image in the store from before load checked configs: refused with the field, not a TypeError."""
    from minictr import container
    from minictr.errors import InvalidImage
    from minictr.image import Store
    from minictr.image.synthetic import add_image

    store = Store()
    add_image(store, [{"a": "1"}], name="bad:1", config={"Cmd": 42, "Env": "A=1"})
    with pytest.raises(InvalidImage, match=r"image bad:1: bad image config: Cmd must be a list of strings"):
        container.prepare("bad:1")
    assert not (store.root / "containers").exists() or list((store.root / "containers").iterdir()) == []
