"""Replays the publishing participant of a shapes capture (tools/rtps_capture.py) to a live subscriber, with
chosen parts of the traffic rewritten, and counts the samples the subscriber prints. It tells which wire detail a
subscriber depends on without rebuilding a publisher: e.g. replay an RTI→RTI capture with the vendor id changed.

Run it as root; it makes its own network namespace (loopback only) unless --no-netns:

    python3 tools/rtps_replay.py CAPTURE.pcap [rewrites] -- python3 -u peers/shape_main_rti.py -S -t Square ...

How: the publisher is the participant whose non-built-in writer sends DATA in the capture, the subscriber the
other one. The tool binds the publisher's unicast ports (so the live subscriber takes the ports the captured one
had), starts the subscriber, waits for its SPDP, then sends every RTPS message the publisher sent to the
captured subscriber (or to the SPDP multicast group), in order and with the captured spacing, the captured
subscriber's GUID prefix replaced by the live one's. The subscriber's own messages (ACKNACKs) are read and
dropped: nothing is repaired, so choose captures whose publisher sent everything in order.

Rewrites (each optional):
  --vendor HHHH         vendor id in the RTPS header and in PID_VENDORID of SPDP/SEDP data (e.g. 01ff)
  --prefix HEX24        the publisher's GUID prefix, everywhere in its messages
  --drop-pid PID,...    remove these parameters from SPDP/SEDP data and from inline QoS (hex, e.g. 800d,0061)
  --drop-sedp PID,...   remove these parameters from SEDP publication data only
  --drop-inline PID,... remove these parameters from the inline QoS of user DATA only
  --drop-submsg K,...   leave these submessage kinds out (hex, e.g. 08 for GAP, 1e)
  --version MM          protocol version in the RTPS header and PID_PROTOCOL_VERSION (e.g. 0205)
  --hb-from-first-data  raise each user HEARTBEAT's firstSN to the writer's first DATA sequence number (what a
                        volatile writer that announces no older samples sends)
  --gap-before-data     send GAP [1, first DATA) to the reader just before a user writer's first DATA
  --replace OLD=NEW     replace these bytes (hex) anywhere in the publisher's messages (repeatable), e.g. an entity id
  --virtual-hb          after each user HEARTBEAT, add an RTI HEARTBEAT_VIRTUAL (0x1e) for the same writer:
                        virtual GUID = writer GUID, one writer, virtual SN range = RTPS SN range [max(first,
                        first DATA), last]
  --speed F             replay F times faster than captured (default 1)
"""
import argparse
import os
import re
import select
import socket
import struct
import subprocess
import sys
import threading
import time

SAMPLE_RE = re.compile(r"(\S+)\s+(\S+)\s+(-?[0-9]+) (-?[0-9]+) \[([0-9]+)\]")
BUILTIN_PL_WRITERS = (b"\x00\x01\x00\xc2", b"\x00\x00\x03\xc2", b"\x00\x00\x04\xc2")
SEDP_PUB_WRITER = b"\x00\x00\x03\xc2"


def read_pcap(path):
    """Yields (time, src_port, dst_ip, dst_port, rtps_bytes) for every RTPS/UDP packet of the capture."""
    f = open(path, "rb").read()
    o = 24
    while o + 16 <= len(f):
        ts, us, il, _ = struct.unpack_from("<IIII", f, o)
        o += 16
        pkt = f[o:o + il]
        o += il
        if pkt[12:14] != b"\x08\x00":
            continue
        ip = pkt[14:]
        ihl = (ip[0] & 15) * 4
        if ip[9] != 17:
            continue
        udp = ip[ihl:]
        sport, dport = struct.unpack(">HH", udp[:4])
        r = udp[8:]
        if r[:4] == b"RTPS" and len(r) >= 20:
            yield ts + us / 1e6, sport, socket.inet_ntoa(ip[16:20]), dport, r


def submessages(r):
    """Splits an RTPS message into its header and [kind, flags, body] submessages."""
    p = 20
    out = []
    while p + 4 <= len(r):
        kind, flags = r[p], r[p + 1]
        e = "<" if flags & 1 else ">"
        ln = struct.unpack_from(e + "H", r, p + 2)[0]
        if ln == 0 and kind not in (0x01, 0x09):
            ln = len(r) - p - 4
        out.append([kind, flags, bytearray(r[p + 4:p + 4 + ln])])
        p += 4 + ln
    return bytearray(r[:20]), out


def join(header, subs):
    b = bytearray(header)
    for kind, flags, body in subs:
        e = "<" if flags & 1 else ">"
        b += bytes([kind, flags]) + struct.pack(e + "H", len(body)) + body
    return bytes(b)


def parse_pl(b, o, e):
    """A ParameterList at b[o:] -> ([(pid, value)], end offset after the sentinel)."""
    out = []
    while o + 4 <= len(b):
        pid, ln = struct.unpack_from(e + "HH", b, o)
        if pid == 1:
            return out, o + 4
        out.append((pid, bytes(b[o + 4:o + 4 + ln])))
        o += 4 + ln
    return out, o


def build_pl(params, e):
    b = bytearray()
    for pid, v in params:
        b += struct.pack(e + "HH", pid, len(v)) + v
    return b + struct.pack(e + "HH", 1, 0)


def participant_info(r):
    """(prefix, {META_UNICAST port, DEF_UNICAST port}) from an SPDP message, or None."""
    _, subs = submessages(r)
    for kind, flags, body in subs:
        if kind != 0x15 or body[8:12] != b"\x00\x01\x00\xc2" or not flags & 4:
            continue
        e = "<" if flags & 1 else ">"
        q = 4 + struct.unpack_from(e + "H", body, 2)[0]
        if flags & 2:
            _, q = parse_pl(body, q, e)
        pay = body[q:]
        pe = "<" if pay[1] in (1, 3) else ">"
        ports = {}
        for pid, v in parse_pl(pay, 4, pe)[0]:
            if pid in (0x31, 0x32) and len(v) >= 24:
                ports[pid] = struct.unpack_from(pe + "I", v, 4)[0]
        return bytes(r[8:20]), ports
    return None


class Rewriter:
    def __init__(self, a):
        self.a = a
        self.drop_all = {int(x, 16) for x in a.drop_pid.split(",") if x}
        self.drop_sedp = self.drop_all | {int(x, 16) for x in a.drop_sedp.split(",") if x}
        self.drop_inline = self.drop_all | {int(x, 16) for x in a.drop_inline.split(",") if x}
        self.drop_submsg = {int(x, 16) for x in a.drop_submsg.split(",") if x}
        self.first_data = {}   # user writer entity id -> first DATA sequence number in the capture
        self.gap_sent = set()
        self.vhb_count = 0
        self.reader_of = {}    # user writer entity id -> reader entity id it heartbeats to

    def learn(self, r):
        for kind, flags, body in submessages(r)[1]:
            e = "<" if flags & 1 else ">"
            if kind == 0x15 and body[11] & 0xc0 == 0:
                hi, lo = struct.unpack_from(e + "iI", body, 12)
                self.first_data.setdefault(bytes(body[8:12]), (hi << 32) | lo)
            if kind == 0x07 and body[7] & 0xc0 == 0 and body[0:4] != b"\0\0\0\0":
                self.reader_of.setdefault(bytes(body[4:8]), bytes(body[0:4]))

    def data(self, flags, body):
        e = "<" if flags & 1 else ">"
        writer = bytes(body[8:12])
        builtin = writer in BUILTIN_PL_WRITERS
        q0 = 4 + struct.unpack_from(e + "H", body, 2)[0]
        q = q0
        inline = []
        if flags & 2:
            inline, q = parse_pl(body, q0, e)
        pay = bytearray(body[q:])
        if not builtin:
            inline = [(p, v) for p, v in inline if p not in self.drop_inline]
        if builtin and flags & 4 and len(pay) >= 4:
            pe = "<" if pay[1] in (1, 3) else ">"
            params, end = parse_pl(pay, 4, pe)
            drop = self.drop_sedp if writer == SEDP_PUB_WRITER else self.drop_all
            params = [(p, v) for p, v in params if p not in drop]
            if self.a.vendor:
                params = [(p, bytes.fromhex(self.a.vendor) + b"\0\0" if p == 0x16 else v) for p, v in params]
            if self.a.version:
                params = [(p, bytes.fromhex(self.a.version) + b"\0\0" if p == 0x15 else v) for p, v in params]
            pay = pay[:4] + build_pl(params, pe) + pay[end:]
        out = bytearray(body[:q0])
        if flags & 2:
            out += build_pl(inline, e)
        return out + pay

    def message(self, r, old_dst, new_dst):
        header, subs = submessages(r)
        if self.a.vendor:
            header[6:8] = bytes.fromhex(self.a.vendor)
        if self.a.version:
            header[4:6] = bytes.fromhex(self.a.version)
        kept = []
        for kind, flags, body in subs:
            if kind in self.drop_submsg:
                continue
            e = "<" if flags & 1 else ">"
            if kind == 0x15:
                w = bytes(body[8:12])
                if self.a.gap_before_data and w in self.first_data and w not in self.gap_sent:
                    self.gap_sent.add(w)
                    first = self.first_data[w]
                    gap = bytearray(self.reader_of.get(w, b"\0\0\0\0") + w)
                    gap += struct.pack(e + "iI", 0, 1) + struct.pack(e + "iII", first >> 32, first & 0xffffffff, 0)
                    kept.append([0x08, flags & 1, gap])
                body = self.data(flags, body)
            if kind == 0x07 and self.a.hb_from_first_data and bytes(body[4:8]) in self.first_data:
                first = self.first_data[bytes(body[4:8])]
                hi, lo = struct.unpack_from(e + "iI", body, 8)
                if (hi << 32) | lo < first:
                    body[8:16] = struct.pack(e + "iI", first >> 32, first & 0xffffffff)
            kept.append([kind, flags, body])
            if kind == 0x07 and self.a.virtual_hb and body[7] & 0xc0 == 0:
                w = bytes(body[4:8])
                hi, lo = struct.unpack_from(e + "iI", body, 8)
                first = max((hi << 32) | lo, self.first_data.get(w, 0))
                hi, lo = struct.unpack_from(e + "iI", body, 16)
                last = (hi << 32) | lo
                if last >= first:
                    self.vhb_count += 1
                    rid = bytes(body[0:4]) if body[0:4] != b"\0\0\0\0" else self.reader_of.get(w, b"\0\0\0\0")
                    sns = b"".join(struct.pack(e + "iI", x >> 32, x & 0xffffffff) for x in (first, last, first, last))
                    vhb = rid + w + bytes(r[8:20]) + w + struct.pack(e + "I", 1) + sns + struct.pack(e + "I", self.vhb_count)
                    kept.append([0x1e, flags & 1, bytearray(vhb)])
        if not any(k not in (0x09, 0x0e, 0x0c, 0x01) for k, _, _ in kept):
            return None
        m = join(header, kept)
        m = m.replace(old_dst, new_dst)
        if self.a.prefix:
            m = m.replace(bytes(r[8:20]), bytes.fromhex(self.a.prefix))
        for rep in self.a.replace:
            old, new = rep.split("=")
            m = m.replace(bytes.fromhex(old), bytes.fromhex(new))
        return m


def run(a):
    caps = list(read_pcap(a.pcap))
    # The publisher: sender of DATA from a user (non built-in) writer.
    pub = None
    for _, _, _, _, r in caps:
        for kind, flags, body in submessages(r)[1]:
            if kind == 0x15 and body[11] & 0xc0 == 0:
                pub = bytes(r[8:20])
                break
        if pub:
            break
    if pub is None:
        sys.exit("no user DATA in %s" % a.pcap)
    infos = {}
    for _, _, _, _, r in caps:
        pi = participant_info(r)
        if pi:
            infos.setdefault(pi[0], pi[1])
    subs = [p for p in infos if p != pub]
    if len(subs) != 1:
        sys.exit("expected one subscribing participant, found %d" % len(subs))
    old_sub = subs[0]
    old_ports = infos[old_sub]
    pub_ports = infos[pub]
    print("publisher %s ports %s; captured subscriber %s ports %s" % (pub.hex(), pub_ports, old_sub.hex(),
                                                                        old_ports), flush=True)

    socks = []
    for port in sorted(set(pub_ports.values())):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", port))
        socks.append(s)
    mc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    mc.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    mc.bind(("", 7400))
    mc.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                  socket.inet_aton("239.255.0.1") + socket.inet_aton("127.0.0.1"))
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    out.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)

    sub = subprocess.Popen(a.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    samples = []
    transcript = []

    def reader():
        for line in sub.stdout:
            transcript.append(line.rstrip())
            if SAMPLE_RE.match(line.strip()):
                samples.append((time.monotonic(), line.strip()))
    threading.Thread(target=reader, daemon=True).start()

    new_sub, new_ports = None, None
    deadline = time.monotonic() + 20
    while new_sub is None and time.monotonic() < deadline:
        rd, _, _ = select.select([mc] + socks, [], [], 0.5)
        for s in rd:
            r = s.recv(65536)
            if r[:4] == b"RTPS" and bytes(r[8:20]) != pub:
                pi = participant_info(r)
                if pi:
                    new_sub, new_ports = pi
    if new_sub is None:
        sub.kill()
        sys.exit("the subscriber sent no SPDP")
    print("live subscriber %s ports %s" % (new_sub.hex(), new_ports), flush=True)
    portmap = {old_ports[k]: new_ports[k] for k in old_ports if k in new_ports}
    portmap[7400] = 7400

    def sedp_subscription(r):
        return any(k == 0x15 and f & 4 and b[8:12] == b"\x00\x00\x04\xc2" for k, f, b in submessages(r)[1])

    got_sedp = []
    got_user_ack = []

    nack_count = [1000]
    pub_header = next(bytes(r[4:8]) for _, _, _, _, r in caps if bytes(r[8:20]) == pub)  # version, vendor

    def answer_builtin_heartbeats(r):
        # The live subscriber's discovery writers may wait for an ACKNACK before they send: request everything
        # their HEARTBEATs announce (captured ACKNACKs are replayed too, but their timing may not fit).
        for kind, flags, body in submessages(r)[1]:
            if kind != 0x07 or body[7] & 0xc0 != 0xc0:
                continue
            e = "<" if flags & 1 else ">"
            w = bytes(body[4:8])
            rid = w[:3] + bytes([(w[3] & 0xf0) | 0x07 if w[3] != 0xc3 else 0xc4])
            hi, lo = struct.unpack_from(e + "iI", body, 8)
            first = (hi << 32) | lo
            hi, lo = struct.unpack_from(e + "iI", body, 16)
            last = (hi << 32) | lo
            n = max(0, min(256, last - first + 1))
            nack_count[0] += 1
            bitmap = b"".join(struct.pack("<I", 0xffffffff if n - 32 * i >= 32 else
                                          ((1 << 32) - (1 << (32 - (n - 32 * i)))) & 0xffffffff)
                              for i in range((n + 31) // 32))
            ack = rid + w + struct.pack("<iII", first >> 32, first & 0xffffffff, n) + bitmap + \
                struct.pack("<I", nack_count[0])
            header = b"RTPS" + (bytes.fromhex(a.version) if a.version else pub_header[:2]) + \
                (bytes.fromhex(a.vendor) if a.vendor else pub_header[2:]) + pub
            msg = header + b"\x0e\x01\x0c\x00" + new_sub + b"\x06\x01" + struct.pack("<H", len(ack)) + ack
            out.sendto(msg, ("127.0.0.1", new_ports.get(0x32, 7410)))

    def drain():
        while True:
            rd, _, _ = select.select([mc] + socks, [], [], 0)
            if not rd:
                return
            for s in rd:
                r = s.recv(65536)
                if r[:4] == b"RTPS" and bytes(r[8:20]) == new_sub:
                    if a.verbose:
                        print("%7.3f <- %s" % (time.monotonic() - w0, " ".join(
                            "%02x:%s" % (k, b[4:8].hex() if k != 0x15 else b[8:12].hex())
                            for k, _, b in submessages(r)[1] if k not in (0x09, 0x0e))), flush=True)
                    if sedp_subscription(r):
                        got_sedp.append(True)
                    if any(k == 0x06 and b[7] & 0xc0 == 0 for k, _, b in submessages(r)[1]):
                        got_user_ack.append(True)
                    answer_builtin_heartbeats(r)

    rw = Rewriter(a)
    for _, _, _, _, r in caps:
        if bytes(r[8:20]) == pub:
            rw.learn(r)
    msgs = [(t, dip, dp, r) for t, sp, dip, dp, r in caps if bytes(r[8:20]) == pub and dp in portmap]
    # Start with the publisher's first message sent once the captured subscriber was up (its SPDP first), so
    # the live subscriber sees the same order.
    t_sub = next(t for t, _, _, _, r in caps if bytes(r[8:20]) == old_sub)
    first = next((i for i, m in enumerate(msgs) if m[0] >= t_sub), 0)
    spdp = [m for m in msgs[:first] if participant_info(m[3])]
    msgs = spdp[-1:] + msgs[first:]
    # Sync point: what the publisher sent after the captured subscriber's SEDP subscription data waits until the
    # live subscriber has sent its own (its reader exists and knows our participant).
    t_sedp = next((t for t, _, _, _, r in caps if bytes(r[8:20]) == old_sub and sedp_subscription(r)), None)
    t0, w0 = msgs[0][0], time.monotonic()
    sent = 0
    pending = []

    def is_user(r):
        return any(k in (0x07, 0x08, 0x15) and b[7 if k != 0x15 else 11] & 0xc0 == 0 for k, _, b in submessages(r)[1])

    def send(dip, dp, r):
        nonlocal sent
        m = rw.message(r, old_sub, new_sub)
        if m is None:
            return
        dst = ("239.255.0.1", 7400) if dip.startswith("239.") else ("127.0.0.1", portmap[dp])
        out.sendto(m, dst)
        sent += 1
        if a.verbose:
            print("%7.3f -> %s:%d %s" % (time.monotonic() - w0, dst[0], dst[1], " ".join(
                "%02x:%s" % (k, b[4:8].hex() if k != 0x15 else b[8:12].hex()) for k, _, b in submessages(m)[1]
                if k not in (0x09, 0x0e))), flush=True)

    def flush():
        drain()
        if got_user_ack:
            for p in pending:
                send(*p)
            pending.clear()
    synced = t_sedp is None
    for i, (t, dip, dp, r) in enumerate(msgs):
        if not synced and t > t_sedp:
            deadline = time.monotonic() + 20
            while not got_sedp and time.monotonic() < deadline:
                drain()
                time.sleep(0.002)
            if not got_sedp:
                print("the live subscriber sent no SEDP subscription", flush=True)
            synced = True
            t0, w0 = t, time.monotonic()
        if not got_user_ack and is_user(r):
            # Second sync point: a user writer's messages wait until the live subscriber has matched that writer
            # (its reader sends a first ACKNACK when it does); the rest goes on meanwhile.
            pending.append((dip, dp, r))
            if i + 1 < len(msgs) and not is_user(msgs[i + 1][3]):
                continue
            deadline = time.monotonic() + 10
            while not got_user_ack and time.monotonic() < deadline:
                drain()
                time.sleep(0.002)
            if not got_user_ack:
                print("the live subscriber's reader sent no ACKNACK", flush=True)
                got_user_ack.append(False)
            flush()
            t0, w0 = t, time.monotonic()
            continue
        delay = (t - t0) / a.speed - (time.monotonic() - w0)
        if delay > 0:
            time.sleep(delay)
        drain()
        send(dip, dp, r)
        flush()
    deadline = time.monotonic() + 10
    while pending and not got_user_ack and time.monotonic() < deadline:
        drain()
        time.sleep(0.002)
    if pending and not got_user_ack:
        print("the live subscriber's reader sent no ACKNACK", flush=True)
        got_user_ack.append(False)
    flush()
    end = time.monotonic() + a.linger
    while time.monotonic() < end:
        drain()
        time.sleep(0.05)
    sub.terminate()
    try:
        sub.wait(10)
    except subprocess.TimeoutExpired:
        sub.kill()
    print("sent %d messages; the subscriber printed %d samples" % (sent, len(samples)), flush=True)
    for _, s in samples[:a.show]:
        print("  " + s)
    if a.transcript:
        print("\n".join(transcript))
    return 0 if samples else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pcap")
    ap.add_argument("--vendor", default="")
    ap.add_argument("--prefix", default="")
    ap.add_argument("--version", default="")
    ap.add_argument("--drop-pid", default="")
    ap.add_argument("--drop-sedp", default="")
    ap.add_argument("--drop-inline", default="")
    ap.add_argument("--drop-submsg", default="")
    ap.add_argument("--replace", action="append", default=[])
    ap.add_argument("--virtual-hb", action="store_true")
    ap.add_argument("--hb-from-first-data", action="store_true")
    ap.add_argument("--gap-before-data", action="store_true")
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--linger", type=float, default=2.0, help="seconds to wait after the last message")
    ap.add_argument("--show", type=int, default=3, help="samples to print")
    ap.add_argument("--verbose", action="store_true", help="print each message sent and received")
    ap.add_argument("--transcript", action="store_true", help="print the subscriber's whole output")
    ap.add_argument("--no-netns", action="store_true", help="already inside a private namespace")
    argv = sys.argv[1:]
    if "--" not in argv:
        ap.error("give the subscriber's command after --")
    cut = argv.index("--")
    a = ap.parse_args(argv[:cut])
    a.command = argv[cut + 1:]
    if not a.command:
        ap.error("give the subscriber's command after --")
    if not a.no_netns:
        # Loopback only, in a namespace of our own.
        setup = "ip link set lo up; ip link set lo multicast on; ip route add 239.0.0.0/8 dev lo; exec \"$@\""
        os.execvp("unshare", ["unshare", "-n", "sh", "-c", setup, "sh", sys.executable, "-u",
                              os.path.abspath(__file__), "--no-netns"] + sys.argv[1:])
    sys.exit(run(a))


if __name__ == "__main__":
    main()
