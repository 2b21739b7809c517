"""minictr's nft table as data: the script, the elements of published ports, teardown on a fake."""

from minictr.network import attach, nft
from minictr.network.runner import FakeRunner


def test_the_table_is_minictrs_own_and_never_flushes_anything_else():
    text = nft.script_ensure()
    assert text.startswith("table ip minictr {")
    flushes = [line for line in text.splitlines() if line.startswith(("flush", "delete"))]
    assert flushes and all(line.startswith("flush chain ip minictr ") for line in flushes)
    assert "flush ruleset" not in text and "table inet filter" not in text
    rules = [line for line in text.splitlines() if line.startswith("add rule")]
    assert all(line.startswith("add rule ip minictr ") for line in rules)
    assert "add rule ip minictr postrouting ip saddr @subnets oifname != @bridges masquerade" in rules
    assert "add rule ip minictr output fib daddr type local jump ports" in rules  # 127.0.0.1:PORT from the host
    assert "add rule ip minictr postrouting ip saddr 127.0.0.0/8 oifname @bridges masquerade" in rules


def test_published_ports_are_map_elements():
    ports = [("", 8081, 80, "tcp"), ("127.0.0.1", 5353, 53, "udp")]
    assert nft.port_elements("add", ports, "10.88.0.2") == [
        "add element ip minictr tcp_any { 8081 : 10.88.0.2 . 80 }",
        "add element ip minictr udp_addr { 127.0.0.1 . 5353 : 10.88.0.2 . 53 }",
    ]
    assert nft.port_elements("delete", ports[:1], "10.88.0.2") == ["delete element ip minictr tcp_any { 8081 : 10.88.0.2 . 80 }"]
    assert nft.network_elements("add", "10.88.0.0/16", "minictr0") == [
        'add element ip minictr subnets { 10.88.0.0/16 }', 'add element ip minictr bridges { "minictr0" }']


def test_a_failed_delete_transaction_falls_back_to_one_line_at_a_time():
    fake = FakeRunner(fail={("nft", "-f", "-"): "Error: No such file or directory"})
    lines = nft.port_elements("delete", [("", 1, 2, "tcp"), ("", 3, 4, "udp")], "10.88.0.2")
    assert nft.apply_quietly(lines, fake) is False
    assert [i for _a, i, _n in fake.ran] == [lines[0] + "\n", lines[1] + "\n"]


def test_the_veth_scripts():
    rec = {"veth": "mcabc", "bridge": "minictr0", "ip": "10.88.0.5", "subnet": "10.88.0.0/16", "gateway": "10.88.0.1"}
    assert attach.host_script(rec, 42) == ("link add mcabc type veth peer name eth0 netns 42\n"
                                           "link set mcabc master minictr0\nlink set mcabc up\n")
    assert attach.inside_script(rec) == ("addr add 10.88.0.5/16 dev eth0\nlink set eth0 up\n"
                                         "route add default via 10.88.0.1\n")
    assert attach.veth_name("0123456789abcdef" * 4) == "mc0123456789abc" and len(attach.veth_name("f" * 64)) == 15
