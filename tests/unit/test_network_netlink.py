"""rtnetlink requests as bytes: the layout rtnetlink(7) gives, read back field by field; errors; the fake."""

import errno
import struct

import pytest

from minictr.network import netlink as nl


def one(data: bytes):
    (msg,) = nl.parse(data)
    return msg


def test_a_veth_request_carries_its_peer_its_namespace_its_master_and_up():
    data = nl.message(nl.RTM_NEWLINK, nl.NLM_F_REQUEST | nl.NLM_F_ACK | nl.NLM_F_CREATE | nl.NLM_F_EXCL, 7,
                      nl.veth_body("mcabc", "eth0", 4242, master=9))
    assert struct.unpack_from("=I", data)[0] == len(data) and len(data) % 4 == 0
    kind, flags, seq, body = one(data)
    assert (kind, seq) == (nl.RTM_NEWLINK, 7) and flags & nl.NLM_F_CREATE and flags & nl.NLM_F_EXCL
    family, _type, index, ifflags, change = struct.unpack_from("=BxHiII", body)
    assert (family, index, ifflags & nl.IFF_UP, change) == (0, 0, nl.IFF_UP, nl.IFF_UP)  # created up
    attrs = nl.attributes(body[16:])
    assert attrs[nl.IFLA_IFNAME] == b"mcabc\0"
    assert struct.unpack("=I", attrs[nl.IFLA_MASTER]) == (9,)
    info = nl.attributes(attrs[nl.IFLA_LINKINFO])
    assert info[nl.IFLA_INFO_KIND] == b"veth"
    peer = nl.attributes(info[nl.IFLA_INFO_DATA])[nl.VETH_INFO_PEER]
    assert struct.unpack_from("=BxHiII", peer) == (0, 0, 0, 0, 0)  # the peer's own ifinfomsg: down, no index
    peer_attrs = nl.attributes(peer[16:])
    assert peer_attrs[nl.IFLA_IFNAME] == b"eth0\0"
    assert struct.unpack("=I", peer_attrs[nl.IFLA_NET_NS_PID]) == (4242,)


def test_without_a_master_there_is_no_master_attribute():
    assert nl.IFLA_MASTER not in nl.attributes(nl.veth_body("v", "eth0", 1)[16:])


def test_address_and_route_bodies():
    body = nl.address_body(5, "10.88.0.2", 16)
    assert struct.unpack_from("=BBBBI", body) == (nl.AF_INET, 16, 0, nl.RT_SCOPE_UNIVERSE, 5)
    attrs = nl.attributes(body[8:])
    assert attrs[nl.IFA_LOCAL] == attrs[nl.IFA_ADDRESS] == bytes([10, 88, 0, 2])
    route = nl.default_route_body("10.88.0.1")
    family, dst_len, _src, _tos, table, proto, scope, rtype, _flags = struct.unpack_from("=BBBBBBBBI", route)
    assert (family, dst_len, table, proto, scope, rtype) == (nl.AF_INET, 0, 254, nl.RTPROT_BOOT, 0, nl.RTN_UNICAST)
    assert nl.attributes(route[12:]) == {nl.RTA_GATEWAY: bytes([10, 88, 0, 1])}


def test_attributes_are_padded_to_four_bytes():
    a = nl.attr(nl.IFLA_IFNAME, b"eth0\0")  # 4 + 5 = 9 bytes, padded to 12
    assert len(a) == 12 and struct.unpack_from("=HH", a) == (9, nl.IFLA_IFNAME)
    assert nl.attributes(a + nl.attr(nl.IFLA_MASTER, b"\1\0\0\0")) == {nl.IFLA_IFNAME: b"eth0\0",
                                                                        nl.IFLA_MASTER: b"\1\0\0\0"}


def test_an_error_reads_its_errno_and_the_kernels_words():
    ack = struct.pack("=i", 0) + bytes(16)
    assert nl.error_of(0, ack) == (0, "")
    refused = struct.pack("=i", -errno.EEXIST) + bytes(16) + nl.attr(nl.NLMSGERR_ATTR_MSG, b"Link exists\0")
    assert nl.error_of(nl.NLM_F_ACK_TLVS, refused) == (errno.EEXIST, "Link exists")
    assert nl.error_of(0, refused) == (errno.EEXIST, "")  # no TLVs flagged: only the errno
    e = nl.NetlinkError("ip link add x type bridge", errno.EEXIST, "Link exists")
    assert str(e).startswith("netlink: ip link add x type bridge: File exists (Link exists)") and e.errno == errno.EEXIST


def test_parse_reads_several_messages_in_one_datagram():
    data = nl.message(nl.NLMSG_ERROR, 0, 1, struct.pack("=i", 0) + bytes(16)) + nl.message(nl.NLMSG_DONE, 0, 2, b"\0" * 4)
    assert [(k, s) for k, _f, s, _b in nl.parse(data)] == [(nl.NLMSG_ERROR, 1), (nl.NLMSG_DONE, 2)]


def test_the_fake_records_and_fails_on_demand():
    route = nl.FakeRoute.factory(fail={"add_default_route": errno.ENETUNREACH})
    with route() as host:
        host.add_veth("mcx", "eth0", 42, "br0")
    with route(42) as inside:
        inside.add_address("eth0", "10.0.0.2", 24)
        with pytest.raises(nl.NetlinkError) as err:
            inside.add_default_route("10.0.0.1")
    assert err.value.errno == errno.ENETUNREACH
    assert route.ran == [(None, "add_veth", ("mcx", "eth0", 42, "br0")), (42, "add_address", ("eth0", "10.0.0.2", 24)),
                         (42, "add_default_route", ("10.0.0.1",))]
