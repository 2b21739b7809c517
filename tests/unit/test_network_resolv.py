"""The container's resolv.conf (loopback resolvers replaced, as docker does) and /etc/hosts."""

import pytest

from minictr.errors import ConfigError
from minictr.network import resolv

HOST = "# made by resolvconf\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch example.org\noptions edns0\n"


def test_loopback_resolvers_are_dropped_and_the_rest_kept():
    assert resolv.resolv_conf(HOST) == "nameserver 192.0.2.1\nsearch example.org\noptions edns0\n"


def test_only_loopback_resolvers_fall_back_to_public_ones():
    assert resolv.resolv_conf("nameserver 127.0.0.53\nnameserver ::1\n") == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def test_dns_flags_replace_the_nameservers():
    assert resolv.resolv_conf(HOST, dns=("1.1.1.1",)) == "nameserver 1.1.1.1\nsearch example.org\noptions edns0\n"


def test_hosts_names_the_container_and_adds_hosts():
    text = resolv.hosts("abc123", "10.88.0.2", ("web",), extra=[("db", "192.0.2.7")], peers=[("srv", "10.88.0.3")])
    assert text.splitlines() == ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback",
                                 "10.88.0.2\tabc123 web", "192.0.2.7\tdb", "10.88.0.3\tsrv"]
    assert "127.0.1.1\tabc123" in resolv.hosts("abc123")


def test_add_host_parsing():
    assert resolv.parse_add_host("db:10.0.0.5") == ("db", "10.0.0.5")
    assert resolv.parse_add_host("db=10.0.0.5") == ("db", "10.0.0.5")
    for bad in ("db", "db:notanip", ":1.2.3.4"):
        with pytest.raises(ConfigError):
            resolv.parse_add_host(bad)
