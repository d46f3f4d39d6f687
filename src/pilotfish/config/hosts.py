"""Istio host names: short-name resolution and matching (exact names, `*.suffix` wildcards, `*`).

Used to pick the VirtualService / DestinationRule that applies to a service, to intersect
Gateway server hosts with VirtualService hosts, and by validation and the analyzers (the one
place hosts are compared; see `HostRule` for the two ways they are). Pure string logic: imports
nothing of pilotfish.
"""

from __future__ import annotations

from typing import Literal

CLUSTER_DOMAIN = "cluster.local"


def resolve_host(host: str, namespace: str) -> str:
    """Istio's short-name rule: a host with no dot is relative to the config's namespace."""
    if "." in host or host == "*" or host.startswith("*"):
        return host
    return f"{host}.{namespace}.svc.{CLUSTER_DOMAIN}"


def exported_to(export_to: tuple[str, ...], own_namespace: str, namespace: str) -> bool:
    """Istio's `exportTo` (of a config or a service): empty or "*" = every namespace, "." = its
    own, "~" = none, otherwise the namespaces listed."""
    if not export_to or "*" in export_to:
        return True
    return any(e == namespace or (e == "." and own_namespace == namespace) for e in export_to)


def is_wildcard(host: str) -> bool:
    return host.startswith("*")


HostRule = Literal["domain", "name"]
"""How two hosts compare.

- "domain" (translation, the UI): as Envoy matches a request's Host against a virtual host's
  domains: case-insensitive, and a wildcard stands for at least one character (`*foo.com` does
  not cover `foo.com`).
- "name" (validation, analysis): as Istio's `host.Name` compares config hosts (`SubsetOf`,
  `Matches`): case-sensitive, and the wildcard may stand for nothing (`*foo.com` covers
  `foo.com`). So `istioctl analyze` and the webhook rules keep Istio's answers.
"""


def host_matches(pattern: str, host: str, rule: HostRule = "domain") -> bool:
    """True if the name-or-wildcard `host` is covered by `pattern` (`*`, `*suffix` or a name)."""
    if rule == "domain":
        pattern, host = pattern.lower(), host.lower()
    if pattern == "*" or pattern == host:
        return True
    if not pattern.startswith("*"):
        return False
    suffix = pattern[1:]
    if host.startswith("*"):
        return host[1:].endswith(suffix)
    return host.endswith(suffix) and (rule == "name" or len(host) > len(suffix))


def hosts_overlap(a: str, b: str, rule: HostRule = "domain") -> bool:
    """Either host covers the other (Istio's `host.Name.Matches` with rule="name")."""
    return host_matches(a, b, rule) or host_matches(b, a, rule)


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
