"""`pilotfish iptables`: the counterpart of Istio's `istio-iptables` (the `istio-init` step).

Same flags and defaults as the injection template passes (`-p 15001 -z 15006 -u 1337 -g 1337
-i '*' -x '' -b '*' -d 15090,15021,15020`), plus `--annotation KEY=VALUE` for a pod's
`traffic.sidecar.istio.io/*` annotations. Writes Istio's nat rules into the current network
namespace (or `--netns NAME`) with `iptables-restore`; `--dry-run` prints them instead.
"""

from __future__ import annotations

import sys
from dataclasses import replace

from pilotfish.capture.netns import apply_rules, require_root
from pilotfish.capture.rules import (
    CaptureError,
    CaptureSettings,
    nat_rules,
    parse_cidrs,
    parse_ports,
    settings_for,
)
from pilotfish.cli.errors import UserError


def iptables_command(
    *,
    proxy_port: int,
    inbound_capture_port: int,
    proxy_uid: int,
    proxy_gid: int,
    include_ips: str,
    exclude_ips: str,
    include_inbound: str,
    exclude_inbound: str,
    exclude_outbound: str,
    annotations: list[str],
    include_outbound: str = "",
    netns: str | None,
    dry_run: bool,
) -> int:
    try:
        settings = CaptureSettings(
            proxy_port=proxy_port,
            inbound_capture_port=inbound_capture_port,
            proxy_uid=proxy_uid,
            proxy_gid=proxy_gid,
        )
        settings = replace(
            settings,
            include_outbound_ip_ranges=parse_cidrs(include_ips, "-i"),
            exclude_outbound_ip_ranges=parse_cidrs(exclude_ips, "-x"),
            include_inbound_ports=parse_ports(include_inbound, "-b", wildcard=True),
            exclude_inbound_ports=tuple(int(p) for p in parse_ports(exclude_inbound, "-d")),
            exclude_outbound_ports=tuple(int(p) for p in parse_ports(exclude_outbound, "-o")),
            include_outbound_ports=tuple(int(p) for p in parse_ports(include_outbound, "-q")),
        )
        pairs = {}
        for item in annotations:
            key, sep, value = item.partition("=")
            if not sep:
                raise CaptureError(f"--annotation {item!r}: expected KEY=VALUE")
            pairs[key] = value
        settings = settings_for(pairs, settings)
        rules = nat_rules(settings)
        if dry_run:
            sys.stdout.write(rules)
            return 0
        require_root("pilotfish iptables")
        apply_rules(rules, netns)
    except CaptureError as exc:
        raise UserError(str(exc)) from None
    return 0
