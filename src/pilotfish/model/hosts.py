"""Istio host-name matching: exact names, `*.suffix` wildcards and `*`.

Used to pick the VirtualService / DestinationRule that applies to a service and to intersect
Gateway server hosts with VirtualService hosts. Pure string logic, case-insensitive as DNS is.
"""

from __future__ import annotations


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
