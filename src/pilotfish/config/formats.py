"""Formats that Istio checks in string fields: hostnames and wildcards, DNS labels, ports,
IPs and CIDRs, label maps, RE2 regexes. Each check returns a message or None.

Owns only pure predicates. The regex check accepts the RE2 subset Envoy runs (no lookarounds,
back-references, atomic groups, possessive quantifiers or conditionals), bounds the pattern
size, and never runs a match, so a "catastrophic" pattern costs nothing.
"""

from __future__ import annotations

import ipaddress
import re

MAX_REGEX_LENGTH = 4096

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", re.IGNORECASE)
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_UNSUPPORTED_REGEX = (
    (re.compile(r"\(\?<?[=!]"), "lookaround assertions are not supported by RE2"),
    (re.compile(r"\(\?P=|\\[1-9]|\\k<"), "back-references are not supported by RE2"),
    (re.compile(r"\(\?>"), "atomic groups are not supported by RE2"),
    (re.compile(r"\(\?\("), "conditionals are not supported by RE2"),
    (re.compile(r"(?<!\\)[*+?}]\+"), "possessive quantifiers are not supported by RE2"),
)


def dns1123_label_problem(value: str) -> str | None:
    if len(value) > 63 or not _DNS1123_LABEL.match(value):
        return (
            f'"{value}" is not a valid DNS-1123 label: lowercase letters, digits and "-", '
            "at most 63 characters, starting and ending with a letter or digit"
        )
    return None


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def host_problem(host: str, allow_ip: bool = True, allow_star: bool = True) -> str | None:
    """Istio's check of a host that may be a FQDN, a short name, `*.suffix`, or `*`."""
    if not host:
        return "host must not be empty"
    if host == "*":
        return None if allow_star else 'host "*" is not allowed here'
    if allow_ip and is_ip(host):
        return None
    if len(host) > 255:
        return f'invalid host "{host}": longer than 255 characters'
    body = host
    if host.startswith("*"):
        body = host[1:]
        if not body.startswith("."):
            return (
                f'invalid host "{host}": a wildcard must be a whole leading label ("*.example.com")'
            )
        body = body[1:]
    elif "*" in host:
        return f'invalid host "{host}": a wildcard "*" is only allowed as the leading label'
    for label in body.rstrip(".").split("."):
        if not label or len(label) > 63 or not _DNS1123_LABEL.match(label):
            return f'invalid host "{host}": "{label}" is not a valid DNS label'
    return None


def port_problem(number: int | None, what: str = "port number") -> str | None:
    if number is None:
        return f"{what} is required"
    if not 0 < number <= 65535:
        return f"{what} {number} is out of range 1-65535"
    return None


def cidr_problem(value: str) -> str | None:
    try:
        if "/" in value:
            ipaddress.ip_network(value, strict=False)
        else:
            ipaddress.ip_address(value)
    except ValueError:
        return f'"{value}" is not a valid IP address or CIDR'
    return None


def labels_problem(labels: dict[str, str]) -> tuple[str, str] | None:
    """(key, message) of the first invalid label in a Kubernetes label map, or None."""
    for key, value in labels.items():
        name = key.rsplit("/", 1)[-1]
        if "*" in key or not name or len(name) > 63 or not _LABEL_NAME.match(name):
            return key, f'invalid label key "{key}"'
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            return key, f'invalid label value "{value}" for key "{key}"'
    return None


def regex_problem(pattern: str) -> str | None:
    """Why `pattern` is not an RE2 regex Envoy would accept, or None."""
    if len(pattern) > MAX_REGEX_LENGTH:
        return f"regex longer than {MAX_REGEX_LENGTH} characters"
    for finder, message in _UNSUPPORTED_REGEX:
        if finder.search(pattern):
            return f'"{pattern}" is not a valid RE2 regex: {message}'
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return f'"{pattern}" is not a valid regex: {exc}'
    return None
