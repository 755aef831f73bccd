"""Captures every packet on `lo` into a pcap file until SIGTERM. Run it inside a test's network namespace only
(the shapes harness does so with SHAPES_PCAP_DIR set); needs root for the AF_PACKET socket.

    python3 tools/rtps_capture.py OUT.pcap
"""
import signal
import socket
import struct
import sys
import time


def main():
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(3))  # ETH_P_ALL
    s.bind(("lo", 0))
    out = open(sys.argv[1], "wb")
    # The header goes out only once the socket listens: a caller waits for it before starting its peers.
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    out.flush()
    signal.signal(signal.SIGTERM, lambda *_: (out.flush(), sys.exit(0)))
    while True:
        d, addr = s.recvfrom(65535)
        if addr[2] == socket.PACKET_OUTGOING:  # on lo each packet is seen twice
            continue
        t = time.time()
        out.write(struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(d), len(d)) + d)
        out.flush()


if __name__ == "__main__":
    main()
