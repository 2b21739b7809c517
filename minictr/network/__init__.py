"""L1: container networking, one job per module.

=============  ==============================================================
``veth``       a veth pair between the host and a container (lesson 05)
``runner``     run ``ip``/``nft`` (on the host or in a netns), and a recording fake
``netlink``    links, addresses and routes as rtnetlink requests (what ``ip`` sends), and a fake
``ipam``       addresses from a subnet, kept in a locked JSON file
``bridge``     the Linux bridge (``minictr0``) a network's containers plug into
``nft``        minictr's own nftables table: masquerade and published ports, as data
``ports``      ``-p``/``-P``: parsing, the ps column, host ports in use
``resolv``     the container's /etc/resolv.conf and /etc/hosts
``networks``   the networks: ``bridge`` and user-defined ones (network create/ls/rm)
``attach``     a container's network set-up and teardown, recorded in its state
=============  ==============================================================

Lesson 05's names (``Link``, ``connect``, ``new_ifname``, ``free_subnet``,
``run_in_netns``, ``IP``, ``run_ip``, ``FakeIp``) are still importable from
here; they live in ``veth``. They are loaded on first use, so that importing
this package costs ``minictr run`` nothing.

Man pages: ip-link(8), bridge(8), nft(8), veth(4), network_namespaces(7), rtnetlink(7).
"""

_VETH_NAMES = ("Link", "connect", "new_ifname", "free_subnet", "run_in_netns", "IP", "run_ip", "FakeIp",
               "CONTAINER_IFNAME")

__all__ = list(_VETH_NAMES)


def __getattr__(name: str):
    if name in _VETH_NAMES:
        from . import veth
        return getattr(veth, name)
    raise AttributeError(f"module 'minictr.network' has no attribute {name!r}")
