"""A DNS server on loopback for tests: the stand-in for the internet's DNS when a page names
hosts outside the mesh (en.wikipedia.org ...). It answers A queries for the names it was given
(a hosts mapping: exact names, or `*.domain` for every name under it) and NXDOMAIN for the rest;
nothing is ever asked of a real DNS server. UDP only, one question per query (what Envoy's
c-ares resolver sends). `dns_server(mapping)` yields the address ("IP:PORT") Envoys are told
to use (`pilotfish up` with PILOTFISH_DNS_RESOLVERS, read by the agent's bootstrap).
`python -m tests.e2e.dnskit IP JSON` serves a mapping on IP:53 until killed (run inside a network
namespace a test makes, for pods in namespaces that cannot reach the host's loopback).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import struct
import sys
import threading
from collections.abc import Iterator

from tests.e2e.l4kit import random_loopback

A, IN = 1, 1
NXDOMAIN = 3


def _name(packet: bytes, offset: int) -> tuple[str, int]:
    labels = []
    while packet[offset]:
        size = packet[offset]
        labels.append(packet[offset + 1 : offset + 1 + size].decode("ascii", "replace"))
        offset += 1 + size
    return ".".join(labels).lower(), offset + 1


def _lookup(mapping: dict[str, str], name: str) -> str | None:
    if name in mapping:
        return mapping[name]
    parts = name.split(".")
    for i in range(1, len(parts)):
        wildcard = "*." + ".".join(parts[i:])
        if wildcard in mapping:
            return mapping[wildcard]
    return None


def answer(mapping: dict[str, str], query: bytes) -> bytes:
    """The response to one DNS query (RFC 1035): the A record of a mapped name, NOERROR with no
    record for another type of a mapped name, NXDOMAIN for a name not mapped."""
    ident, flags = struct.unpack("!HH", query[:4])
    name, end = _name(query, 12)
    qtype, qclass = struct.unpack("!HH", query[end : end + 4])
    question = query[12 : end + 4]
    address = _lookup(mapping, name)
    records = b""
    if address is not None and (qtype, qclass) == (A, IN):
        records = b"\xc0\x0c" + struct.pack("!HHIH", A, IN, 30, 4)
        records += ipaddress.IPv4Address(address).packed
    code = NXDOMAIN if address is None else 0
    header = struct.pack(
        "!HHHHHH", ident, 0x8180 | (flags & 0x0100) | code, 1, 1 if records else 0, 0, 0
    )
    return header + question + records


def serve(sock: socket.socket, mapping: dict[str, str], stop: threading.Event) -> None:
    """Answer the queries reaching `sock` (with a timeout set) until `stop` is set."""
    while not stop.is_set():
        try:
            query, client = sock.recvfrom(512)
        except TimeoutError:
            continue
        with contextlib.suppress(Exception):  # a malformed query gets no answer
            sock.sendto(answer(mapping, query), client)


@contextlib.contextmanager
def dns_server(mapping: dict[str, str]) -> Iterator[str]:
    """Serve `mapping` (name or `*.domain` -> IPv4 address) on a random loopback address,
    port 53 there; yields "IP:53"."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    address = random_loopback()
    sock.bind((address, 53))
    sock.settimeout(0.2)
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(sock, mapping, stop), daemon=True)
    thread.start()
    try:
        yield f"{address}:53"
    finally:
        stop.set()
        thread.join(timeout=2)
        sock.close()


def main(argv: list[str]) -> None:
    """`IP JSON`: serve the JSON mapping on IP:53 until killed."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((argv[0], 53))
    sock.settimeout(0.2)
    print(f"serving on {argv[0]}:53", flush=True)
    serve(sock, dict(json.loads(argv[1])), threading.Event())


if __name__ == "__main__":
    main(sys.argv[1:])
