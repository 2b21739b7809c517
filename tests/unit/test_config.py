"""docker's image-config rules, and validation before anything forks."""

import pytest

from minictr.config import ContainerConfig, Rootfs, command_line, merge_env
from minictr.errors import ConfigError

CID = "a" * 64


def cfg(**kw):
    base = dict(id=CID, name="eager_tesla", image="busybox", rootfs=Rootfs("/r"), args=("sh",))
    base.update(kw)
    return ContainerConfig(**base)


@pytest.mark.parametrize("entrypoint,cmd,args,cli_ep,expected", [
    (None, ["sh"], [], None, ("sh",)),
    (None, ["sh"], ["ls", "-l"], None, ("ls", "-l")),
    (["/init"], ["--serve"], [], None, ("/init", "--serve")),
    (["/init"], ["--serve"], ["--debug"], None, ("/init", "--debug")),
    (["/init"], ["--serve"], [], "/bin/sh", ("/bin/sh",)),          # --entrypoint clears Cmd
    (["/init"], ["--serve"], ["-c", "id"], "/bin/sh", ("/bin/sh", "-c", "id")),
    (["/init"], ["--serve"], [], "", ()),                           # --entrypoint "" clears both
])
def test_entrypoint_and_cmd(entrypoint, cmd, args, cli_ep, expected):
    assert command_line(entrypoint, cmd, args, cli_ep) == expected


def test_env_image_first_then_flags_in_order():
    assert merge_env(["PATH=/bin", "A=1"], ["A=2", "B=3", "A=4"]) == ("PATH=/bin", "A=4", "B=3")


def test_env_key_alone_is_the_host_value_as_in_docker():
    # docker run -e KEY: the host's KEY if set, else KEY is unset in the container
    assert merge_env(["KEY=img"], ["KEY"], host_env={"KEY": "host"}) == ("KEY=host",)
    assert merge_env(["KEY=img"], ["KEY"], host_env={}) == ()
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        merge_env([], ["=nokey"])


@pytest.mark.parametrize("field,kw", [
    ("container id", {"id": "xyz"}),
    ("container name", {"name": "-bad name"}),
    ("command", {"args": ()}),
    ("hostname", {"hostname": "no_underscores"}),
    ("working dir", {"cwd": "relative"}),
    ("namespaces", {"namespaces": frozenset({"mount", "bogus"})}),
])
def test_validation_names_the_field(field, kw):
    with pytest.raises(ConfigError) as info:
        cfg(**kw).validate()
    assert info.value.field == field


def test_a_good_config_validates():
    assert cfg(hostname="web-1.local", env=("A=1",)).validate().name == "eager_tesla"
