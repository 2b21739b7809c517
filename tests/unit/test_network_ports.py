"""-p parsing, the ps column, and the refusal of a host port in use (before anything is made)."""

import pytest

from minictr.errors import ConfigError
from minictr.network import ports


@pytest.mark.parametrize("spec, want", [
    ("8081:80", ("", 8081, 80, "tcp")),
    ("127.0.0.1:8081:80/udp", ("127.0.0.1", 8081, 80, "udp")),
    ("0.0.0.0:8081:80", ("", 8081, 80, "tcp")),
    ("80", ("", 0, 80, "tcp")),
    ("127.0.0.1::80", ("127.0.0.1", 0, 80, "tcp")),
])
def test_parse(spec, want):
    assert ports.parse(spec) == want


@pytest.mark.parametrize("bad", ["8081:80/sctp", "x:80", "8081:0", "8081:70000", "1:2:3:4", "300.0.0.1:1:2"])
def test_bad_specs_are_one_clear_error(bad):
    with pytest.raises(ConfigError):
        ports.parse(bad)


def test_the_ps_column_and_exposed_ports():
    assert ports.show(("", 8081, 80, "tcp")) == "0.0.0.0:8081->80/tcp"
    assert ports.show(("127.0.0.1", 53, 53, "udp")) == "127.0.0.1:53->53/udp"
    assert ports.exposed({"ExposedPorts": {"80/tcp": {}, "53/udp": {}}}) == [("", 0, 53, "udp"), ("", 0, 80, "tcp")]


def test_resolve_picks_free_ports_and_refuses_taken_ones():
    picks = iter([40000, 40001, 40002])
    never = lambda ip, port, proto: False
    got = ports.resolve([("", 0, 80, "tcp"), ("", 8081, 81, "tcp")], published_elsewhere=[("", 40000, 1, "tcp")],
                        bind_fails=never, pick=lambda proto: next(picks))
    assert got == [("", 40001, 80, "tcp"), ("", 8081, 81, "tcp")]
    with pytest.raises(ports.PortInUse, match="8081/tcp is already in use"):
        ports.resolve([("", 8081, 80, "tcp")], published_elsewhere=[("", 8081, 80, "tcp")], bind_fails=never)
    with pytest.raises(ports.PortInUse):
        ports.resolve([("", 8082, 80, "tcp")], bind_fails=lambda ip, port, proto: True)
    with pytest.raises(ports.PortInUse):  # the same host port twice in one run
        ports.resolve([("", 8083, 80, "tcp"), ("", 8083, 81, "tcp")], bind_fails=never)
    assert ports.resolve([("", 8083, 80, "tcp"), ("", 8083, 80, "udp")], bind_fails=never)  # tcp and udp differ


def test_a_port_held_by_a_socket_on_loopback_is_seen(tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        port = s.getsockname()[1]
        assert ports._bind_fails("127.0.0.1", port, "tcp")
    finally:
        s.close()
