"""Istio host names: short-name resolution and matching (exact names, `*.suffix` wildcards, `*`).

Used to pick the VirtualService / DestinationRule that applies to a service, to intersect
Gateway server hosts with VirtualService hosts, and by the analyzers. Pure string logic,
case-insensitive as DNS is.
"""

from __future__ import annotations

CLUSTER_DOMAIN = "cluster.local"


def resolve_host(host: str, namespace: str) -> str:
    """Istio's short-name rule: a host with no dot is relative to the config's namespace."""
    if "." in host or host == "*" or host.startswith("*"):
        return host
    return f"{host}.{namespace}.svc.{CLUSTER_DOMAIN}"


def is_wildcard(host: str) -> bool:
    return host.startswith("*")


def host_matches(pattern: str, host: str) -> bool:
    """True if the concrete-or-wildcard `host` is covered by `pattern`."""
    pattern, host = pattern.lower(), host.lower()
    if pattern == "*" or pattern == host:
        return True
    if pattern.startswith("*"):
        suffix = pattern[1:]
        if host.startswith("*"):
            return host[1:].endswith(suffix)
        return host.endswith(suffix) and len(host) > len(suffix)
    return False


def intersect(a: str, b: str) -> str | None:
    """The more specific of two hosts if one covers the other (`*` and `x.com` -> `x.com`)."""
    if host_matches(a, b):
        return b
    if host_matches(b, a):
        return a
    return None


def specificity(pattern: str, host: str) -> tuple[int, int]:
    """Sort key: exact matches first, then longer wildcards (lower is more specific)."""
    if pattern.lower() == host.lower():
        return (0, 0)
    return (1, -len(pattern))
