"""Istio's iptables rules (REDIRECT mode) for one pod, as `istio-iptables` writes them.

`CaptureSettings` holds `istio-iptables`' flags (`-p 15001 -z 15006 -u 1337 -g 1337 -m REDIRECT
-i '*' -x '' -b '*' -d 15090,15021,15020`: the injection template's defaults), and
`settings_for(annotations)` applies a pod's `traffic.sidecar.istio.io/*` annotations
(`includeInboundPorts`, `excludeInboundPorts`, `includeOutboundIPRanges`,
`excludeOutboundIPRanges`, `excludeOutboundPorts`, `includeOutboundPorts`) as the template does:
excluded inbound ports are added to Istio's own (15090, 15021, 15020). `nat_rules(settings)` is
the nat table as `iptables-restore` input, in Istio's order:

- PREROUTING -> ISTIO_INBOUND: 15008 (HBONE) and excluded ports RETURN, the rest (or only the
  included ports) -> ISTIO_IN_REDIRECT -> REDIRECT to 15006;
- OUTPUT -> ISTIO_OUTPUT: excluded ports RETURN; traffic from 127.0.0.6 RETURN; the proxy's own
  (uid 1337 / gid 1337) connections to a non-127.0.0.1 address on `lo` (the app calling its own
  pod IP through the mesh) go to inbound, other loopback traffic and the proxy's traffic
  RETURN; 127.0.0.1 RETURN; excluded IP ranges RETURN; included ports (`-q`) ->
  ISTIO_REDIRECT whatever their address; then everything (`*`) or only the included ranges ->
  ISTIO_REDIRECT -> REDIRECT to 15001.

Pure: no I/O. Raises `CaptureError` naming the annotation for a bad port or CIDR.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

OUTBOUND_CAPTURE_PORT = 15001
INBOUND_CAPTURE_PORT = 15006
PROXY_UID = PROXY_GID = 1337
HBONE_PORT = 15008
ISTIO_EXCLUDED_INBOUND = (15090, 15021, 15020)
"""The injection template's `-d`: Envoy's Prometheus, health and the agent's merged metrics."""
INBOUND_PASSTHROUGH_SOURCE = "127.0.0.6/32"

ANNOTATION_PREFIX = "traffic.sidecar.istio.io/"
INCLUDE_INBOUND_PORTS = ANNOTATION_PREFIX + "includeInboundPorts"
EXCLUDE_INBOUND_PORTS = ANNOTATION_PREFIX + "excludeInboundPorts"
INCLUDE_OUTBOUND_IP_RANGES = ANNOTATION_PREFIX + "includeOutboundIPRanges"
EXCLUDE_OUTBOUND_IP_RANGES = ANNOTATION_PREFIX + "excludeOutboundIPRanges"
EXCLUDE_OUTBOUND_PORTS = ANNOTATION_PREFIX + "excludeOutboundPorts"
INCLUDE_OUTBOUND_PORTS = ANNOTATION_PREFIX + "includeOutboundPorts"
ANNOTATIONS = (
    INCLUDE_INBOUND_PORTS,
    EXCLUDE_INBOUND_PORTS,
    INCLUDE_OUTBOUND_IP_RANGES,
    EXCLUDE_OUTBOUND_IP_RANGES,
    EXCLUDE_OUTBOUND_PORTS,
    INCLUDE_OUTBOUND_PORTS,
)
CHAINS = ("ISTIO_INBOUND", "ISTIO_REDIRECT", "ISTIO_IN_REDIRECT", "ISTIO_OUTPUT")


class CaptureError(ValueError):
    """A capture setting that cannot be turned into rules, or a step that failed."""


@dataclass(frozen=True)
class CaptureSettings:
    proxy_port: int = OUTBOUND_CAPTURE_PORT  # -p
    inbound_capture_port: int = INBOUND_CAPTURE_PORT  # -z
    proxy_uid: int = PROXY_UID  # -u
    proxy_gid: int = PROXY_GID  # -g
    include_inbound_ports: tuple[str, ...] = ("*",)  # -b: "*" or ports
    exclude_inbound_ports: tuple[int, ...] = ISTIO_EXCLUDED_INBOUND  # -d
    include_outbound_ip_ranges: tuple[str, ...] = ("*",)  # -i: "*" or CIDRs
    exclude_outbound_ip_ranges: tuple[str, ...] = ()  # -x
    exclude_outbound_ports: tuple[int, ...] = ()  # -o
    include_outbound_ports: tuple[int, ...] = ()  # -q: captured whatever their address


def parse_ports(text: str, what: str, wildcard: bool = False) -> tuple[str, ...]:
    """`"9080, 9443"` -> ("9080", "9443"); `"*"` when `wildcard`; raises for anything else."""
    items = tuple(p.strip() for p in text.split(",") if p.strip())
    if wildcard and items == ("*",):
        return items
    for item in items:
        if not item.isdigit() or not 0 < int(item) < 65536:
            raise CaptureError(f"{what}: {item!r} is not a port (1-65535)")
    return tuple(str(int(p)) for p in items)


def parse_cidrs(text: str, what: str) -> tuple[str, ...]:
    """`"10.0.0.0/8,1.2.3.4"` -> ("10.0.0.0/8", "1.2.3.4/32"); `"*"` stays; raises otherwise."""
    items = tuple(c.strip() for c in text.split(",") if c.strip())
    if items == ("*",):
        return items
    found = []
    for item in items:
        try:
            network = ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise CaptureError(f"{what}: {item!r} is not an IP range (CIDR)") from None
        if network.version != 4:
            raise CaptureError(f"{what}: {item!r}: only IPv4 is captured")
        found.append(str(network))
    return tuple(found)


def settings_for(
    annotations: Mapping[str, str], base: CaptureSettings | None = None
) -> CaptureSettings:
    """A pod's settings: `base` (the injection defaults) with its annotations applied."""
    settings = base or CaptureSettings()
    if INCLUDE_INBOUND_PORTS in annotations:
        ports = parse_ports(annotations[INCLUDE_INBOUND_PORTS], INCLUDE_INBOUND_PORTS, True)
        settings = replace(settings, include_inbound_ports=ports)
    if EXCLUDE_INBOUND_PORTS in annotations:
        extra = parse_ports(annotations[EXCLUDE_INBOUND_PORTS], EXCLUDE_INBOUND_PORTS)
        merged = _unique((*settings.exclude_inbound_ports, *(int(p) for p in extra)))
        settings = replace(settings, exclude_inbound_ports=merged)
    if INCLUDE_OUTBOUND_IP_RANGES in annotations:
        ranges = parse_cidrs(annotations[INCLUDE_OUTBOUND_IP_RANGES], INCLUDE_OUTBOUND_IP_RANGES)
        settings = replace(settings, include_outbound_ip_ranges=ranges)
    if EXCLUDE_OUTBOUND_IP_RANGES in annotations:
        ranges = parse_cidrs(annotations[EXCLUDE_OUTBOUND_IP_RANGES], EXCLUDE_OUTBOUND_IP_RANGES)
        if ranges == ("*",):
            raise CaptureError(f"{EXCLUDE_OUTBOUND_IP_RANGES}: '*' is not an IP range (CIDR)")
        settings = replace(settings, exclude_outbound_ip_ranges=ranges)
    if EXCLUDE_OUTBOUND_PORTS in annotations:
        ports = parse_ports(annotations[EXCLUDE_OUTBOUND_PORTS], EXCLUDE_OUTBOUND_PORTS)
        settings = replace(settings, exclude_outbound_ports=tuple(int(p) for p in ports))
    if INCLUDE_OUTBOUND_PORTS in annotations:
        ports = parse_ports(annotations[INCLUDE_OUTBOUND_PORTS], INCLUDE_OUTBOUND_PORTS)
        settings = replace(settings, include_outbound_ports=tuple(int(p) for p in ports))
    return settings


def _unique(ports: Sequence[int]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(ports))


def _dports(ports: Sequence[int | str]) -> str:
    """One port: `--dport P`; several: `-m multiport --dports P,Q` (Istio's shape)."""
    if len(ports) == 1:
        return f"--dport {ports[0]}"
    return "-m multiport --dports " + ",".join(str(p) for p in ports)


def nat_rules(settings: CaptureSettings) -> str:
    """The pod's nat table, `iptables-restore` input (the whole table: it replaces what is
    there)."""
    s = settings
    lines = ["*nat", *(f":{chain} - [0:0]" for chain in CHAINS)]
    add = lines.append
    add(f"-A ISTIO_INBOUND -p tcp --dport {HBONE_PORT} -j RETURN")
    add(f"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports {s.proxy_port}")
    add(f"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports {s.inbound_capture_port}")
    if s.include_inbound_ports == ("*",):
        add("-A PREROUTING -p tcp -j ISTIO_INBOUND")
        if s.exclude_inbound_ports:
            add(f"-A ISTIO_INBOUND -p tcp {_dports(s.exclude_inbound_ports)} -j RETURN")
        add("-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT")
    elif s.include_inbound_ports:
        add("-A PREROUTING -p tcp -j ISTIO_INBOUND")
        for port in s.include_inbound_ports:
            add(f"-A ISTIO_INBOUND -p tcp --dport {port} -j ISTIO_IN_REDIRECT")
    add("-A OUTPUT -j ISTIO_OUTPUT")
    if s.exclude_outbound_ports:
        for protocol in ("tcp", "udp"):
            add(f"-A ISTIO_OUTPUT -p {protocol} {_dports(s.exclude_outbound_ports)} -j RETURN")
    add(f"-A ISTIO_OUTPUT -o lo -s {INBOUND_PASSTHROUGH_SOURCE} -j RETURN")
    for flag, owner in (("--uid-owner", s.proxy_uid), ("--gid-owner", s.proxy_gid)):
        add(
            f"-A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport {HBONE_PORT} "
            f"-m owner {flag} {owner} -j ISTIO_IN_REDIRECT"
        )
        add(f"-A ISTIO_OUTPUT -o lo -m owner ! {flag} {owner} -j RETURN")
        add(f"-A ISTIO_OUTPUT -m owner {flag} {owner} -j RETURN")
    add("-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN")
    for cidr in s.exclude_outbound_ip_ranges:
        add(f"-A ISTIO_OUTPUT -d {cidr} -j RETURN")
    for included in s.include_outbound_ports:  # Istio's handleOutboundPortsInclude
        add(f"-A ISTIO_OUTPUT -p tcp --dport {included} -j ISTIO_REDIRECT")
    if s.include_outbound_ip_ranges == ("*",):
        add("-A ISTIO_OUTPUT -j ISTIO_REDIRECT")
    elif s.include_outbound_ip_ranges:
        for cidr in s.include_outbound_ip_ranges:
            add(f"-A ISTIO_OUTPUT -d {cidr} -j ISTIO_REDIRECT")
        add("-A ISTIO_OUTPUT -j RETURN")
    add("COMMIT")
    return "\n".join(lines) + "\n"
