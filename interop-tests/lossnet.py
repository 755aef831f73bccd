"""Impaired links between private network namespaces, for loss / delay / duplication / reordering tests.

Two layouts, both built only from namespaces the test creates (nothing touches a real interface):

* `BridgeNet`: two peer namespaces ("hosts") on one Ethernet segment: a third namespace (the hub) holds a Linux
  bridge `br0`, and each peer has its own veth pair to it (`vl1` in ns1, 10.77.0.1/24; `vl2` in ns2, 10.77.0.2/24;
  ports `bp1`/`bp2` on the bridge). Multicast snooping is off on the bridge, so SPDP multicast is flooded to every
  port whether or not an IGMP querier exists; each peer routes 239.0.0.0/8 to its veth. `set_loss(ns, percent)`
  installs an nftables rule that drops that share of the UDP datagrams *arriving* in peer namespace `ns`
  (prerouting hook, as README §6 recommends; dropping in the sender's output hook would make sendto() fail with
  EPERM instead).

* `ProxyPath`: three namespaces A - M - B. A (10.81.1.2) and B (10.81.2.2) each have a veth to M
  (10.81.1.1 and 10.81.2.1) and a route to the other side through M. M does not forward: nftables DNAT in M
  redirects each RTPS unicast port of A and B to a `starling-udp-proxy` mapping running in M, which relays it to
  the real destination after impairing it. Multicast does not cross M, so the participants must discover each
  other by unicast (`--peer`), and then every datagram between them crosses the proxy.
"""
import os
import subprocess

from netns import NetNS, Watcher

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def nft(ns, *args):
    res = ns.run(["nft", *args], timeout=10)
    assert res.returncode == 0, f"nft {' '.join(args)} in {ns.name}: {res.stderr}"


def link(ns_a, if_a, addr_a, ns_b, if_b, addr_b, prefix=24):
    """Create a veth pair between two namespaces and address both ends (addresses without prefix)."""
    _ip("link", "add", if_a, "netns", ns_a.name, "type", "veth", "peer", "name", if_b, "netns", ns_b.name)
    for ns, ifname, addr in ((ns_a, if_a, addr_a), (ns_b, if_b, addr_b)):
        _ip("-n", ns.name, "addr", "add", f"{addr}/{prefix}", "dev", ifname)
        _ip("-n", ns.name, "link", "set", ifname, "up")


class BridgeNet:
    """Two peer namespaces (`ns1`/`if1`/`addr1`, `ns2`/`if2`/`addr2`) attached by veth pairs to bridge `br0` in
    a hub namespace (`hub`)."""

    BRIDGE = "br0"

    def __init__(self):
        self.hub, self.ns1, self.ns2 = NetNS(), NetNS(), NetNS()
        self.if1, self.if2 = "vl1", "vl2"
        self.addr1, self.addr2 = "10.77.0.1", "10.77.0.2"
        try:
            hub = self.hub.name
            # Snooping off: without a querier on the segment, multicast forwarding must not depend on it.
            _ip("-n", hub, "link", "add", self.BRIDGE, "type", "bridge", "mcast_snooping", "0", "stp_state", "0")
            _ip("-n", hub, "link", "set", self.BRIDGE, "up")
            for i, (ns, ifname, addr) in enumerate(((self.ns1, self.if1, self.addr1),
                                                    (self.ns2, self.if2, self.addr2)), start=1):
                port = f"bp{i}"
                _ip("link", "add", ifname, "netns", ns.name, "type", "veth", "peer", "name", port, "netns", hub)
                _ip("-n", hub, "link", "set", port, "master", self.BRIDGE)
                _ip("-n", hub, "link", "set", port, "up")
                _ip("-n", ns.name, "addr", "add", f"{addr}/24", "dev", ifname)
                _ip("-n", ns.name, "link", "set", ifname, "up")
                _ip("-n", ns.name, "route", "replace", "239.0.0.0/8", "dev", ifname)
        except Exception:
            self.close()
            raise

    def bridge_ports(self):
        """Names of the interfaces enslaved to the bridge in the hub namespace."""
        res = self.hub.run(["ip", "-o", "link", "show", "master", self.BRIDGE], timeout=10)
        return [line.split(":")[1].strip().split("@")[0] for line in res.stdout.splitlines() if ":" in line]

    def set_loss(self, ns, percent):
        """Drop `percent` % of the UDP datagrams arriving in `ns` (replaces an earlier rule)."""
        ns.run(["nft", "delete", "table", "inet", "lossy"], timeout=10)
        if percent <= 0:
            return
        nft(ns, "add", "table", "inet", "lossy")
        nft(ns, "add", "chain", "inet", "lossy", "in",
            "{ type filter hook prerouting priority -300; policy accept; }")
        nft(ns, "add", "rule", "inet", "lossy", "in", "meta", "l4proto", "udp",
            "numgen", "random", "mod", "100", "<", str(int(percent)), "counter", "drop")

    def dropped(self, ns):
        """Datagrams dropped so far by the loss rule in `ns` (0 when there is none)."""
        res = ns.run(["nft", "list", "table", "inet", "lossy"], timeout=10)
        for line in res.stdout.splitlines():
            if "counter packets" in line:
                return int(line.split("counter packets")[1].split()[0])
        return 0

    def close(self):
        for ns in (self.ns1, self.ns2, self.hub):
            ns.close()


def cyclone_config(path, interface, peer_addr):
    """Write a Cyclone DDS config pinned to `interface`, SPDP-only multicast, unicast peer `peer_addr`."""
    with open(path, "w") as f:
        f.write(f"""<?xml version="1.0" encoding="UTF-8"?>
<CycloneDDS xmlns="https://cdds.io/config">
  <Domain id="any">
    <General>
      <Interfaces><NetworkInterface name="{interface}"/></Interfaces>
      <AllowMulticast>spdp</AllowMulticast>
    </General>
    <Discovery>
      <ParticipantIndex>auto</ParticipantIndex>
      <Peers><Peer address="{peer_addr}"/></Peers>
    </Discovery>
  </Domain>
</CycloneDDS>
""")
    return "file://" + path


class ProxyPath:
    """A - M - B with every unicast RTPS datagram between A and B relayed by starling-udp-proxy in M."""

    A, MA, MB, B = "10.81.1.2", "10.81.1.1", "10.81.2.1", "10.81.2.2"
    IF_A, IF_B = "vpa", "vpb"
    PORTS = (7410, 7411)  # metatraffic and user unicast of participant index 0, domain 0

    def __init__(self):
        self.a, self.m, self.b = NetNS(), NetNS(), NetNS()
        self.proxy = None
        try:
            link(self.a, self.IF_A, self.A, self.m, "vma", self.MA)
            link(self.b, self.IF_B, self.B, self.m, "vmb", self.MB)
            _ip("-n", self.a.name, "route", "add", "10.81.2.0/24", "via", self.MA)
            _ip("-n", self.b.name, "route", "add", "10.81.1.0/24", "via", self.MB)
            for ns, ifname in ((self.a, self.IF_A), (self.b, self.IF_B)):
                _ip("-n", ns.name, "route", "replace", "239.0.0.0/8", "dev", ifname)
            nft(self.m, "add", "table", "ip", "relay")
            nft(self.m, "add", "chain", "ip", "relay", "pre", "{ type nat hook prerouting priority -100; }")
        except Exception:
            self.close()
            raise

    def maps(self):
        """(listen, forward, nft dnat rule args) for each direction and port."""
        out = []
        for dst, local, base in ((self.B, self.MB, 20000), (self.A, self.MA, 30000)):
            for port in self.PORTS:
                listen = f"{local}:{base + port}"
                out.append((listen, f"{dst}:{port}",
                            ["ip", "daddr", dst, "udp", "dport", str(port), "dnat", "to", listen]))
        return out

    def start_proxy(self, proxy_bin, *impair):
        argv = [proxy_bin]
        for listen, forward, rule in self.maps():
            argv += ["--map", f"{listen}={forward}"]
            nft(self.m, "add", "rule", "ip", "relay", "pre", *rule)
        argv += [str(a) for a in impair]
        self.proxy = Watcher(self.m.popen(argv), "udp proxy")
        assert self.proxy.wait_stderr("ready", 10), self.proxy.describe()
        return self.proxy

    def close(self):
        for ns in (self.a, self.b, self.m):
            ns.close()
