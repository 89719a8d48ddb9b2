"""A DNS server for the benchmarks: answers A queries from a fixed zone on a loopback UDP port.

usage: python3 bench/zone_dns.py PORT NAME=IP[,IP...] [NAME=IP...]

Names not in the zone get NXDOMAIN; other record types get an empty answer (NODATA). Only what
the three-node benchmark needs: one question per query, A records, no compression beyond a
pointer to the question's name.
"""

import socket
import struct
import sys


def parse_name(packet, offset):
    labels = []
    while packet[offset]:
        length = packet[offset]
        labels.append(packet[offset + 1 : offset + 1 + length].decode().lower())
        offset += 1 + length
    return ".".join(labels), offset + 1


def main():
    port = int(sys.argv[1])
    zone = {}
    for entry in sys.argv[2:]:
        name, ips = entry.split("=")
        zone[name.lower().rstrip(".")] = [socket.inet_aton(ip) for ip in ips.split(",")]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    while True:
        packet, peer = sock.recvfrom(1500)
        if len(packet) < 12:
            continue
        ident, flags = struct.unpack("!HH", packet[:4])
        name, end = parse_name(packet, 12)
        qtype, _qclass = struct.unpack("!HH", packet[end : end + 4])
        question = packet[12 : end + 4]
        answers = zone.get(name)
        rcode = 0 if answers is not None else 3
        records = answers if (answers and qtype == 1) else []
        header = struct.pack(
            "!HHHHHH", ident, 0x8180 | (flags & 0x0100) | rcode, 1, len(records), 0, 0
        )
        body = b"".join(
            struct.pack("!HHHIH", 0xC00C, 1, 1, 30, 4) + address for address in records
        )
        sock.sendto(header + question + body, peer)


if __name__ == "__main__":
    main()
