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
_WILDCARD_FIRST_LABEL = re.compile(r"^(\*|(\*|\*-)?[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)$")
_AUTO_SNI = "outbound_.<PORT>_._.<HOSTNAME>"
_DNS_LABEL_FMT = r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?"
_TAG_KEY = re.compile(
    rf"^({_DNS_LABEL_FMT}(?:\.{_DNS_LABEL_FMT})*/)?((?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
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


_IP_CHARACTERS = frozenset("0123456789abcdefABCDEF.:")


def is_ip(value: str) -> bool:
    address = value.partition("%")[0]  # an IPv6 zone may follow
    if not _IP_CHARACTERS.issuperset(address):  # a name: not worth ipaddress' three exceptions
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def host_problem(
    host: str, allow_ip: bool = True, allow_star: bool = True, partial_wildcard: bool = True
) -> str | None:
    """Istio's check of a host that may be a FQDN, a short name, a wildcard first label (`*`,
    `*foo`, `*-foo`) or `*`. `partial_wildcard=False`: only `*` or `*.suffix` (Gateway and
    Sidecar hosts)."""
    if not host:
        return "host must not be empty"
    if host == "*":
        return None if allow_star else 'host "*" is not allowed here'
    if allow_ip and is_ip(host):
        return None
    if len(host) > 255:
        return f'invalid host "{host}": longer than 255 characters'
    first, dot, rest = host.partition(".")
    if len(first) > 63 or not _WILDCARD_FIRST_LABEL.match(first):
        return f'invalid host "{host}": "{first}" is not a valid DNS label'
    if not partial_wildcard and partial_wildcard_problem(host) is not None:
        return partial_wildcard_problem(host)
    if not dot:
        return None
    labels = rest.split(".")
    if labels[-1].isdigit():
        return f'invalid host "{host}": top level domain "{labels[-1]}" cannot be all-numeric'
    for index, label in enumerate(labels):
        if index == len(labels) - 1 and not label:
            break
        if "*" in label:
            return f'invalid host "{host}": a wildcard "*" is only allowed as the leading label'
        if len(label) > 63 or not _DNS1123_LABEL.match(label):
            return f'invalid host "{host}": "{label}" is not a valid DNS label'
    return None


def fqdn_problem(name: str) -> str | None:
    """Istio's ValidateFQDN: DNS-1123 labels, a top-level domain not all digits, an optional
    trailing dot (`istio.io.`)."""
    if not name:
        return "empty domain name not allowed"
    if len(name) > 255:
        return f'domain name "{name}" too long (max 255)'
    labels = name.split(".")
    if labels[-1].isdigit():
        return (
            f'domain name "{name}" invalid (top level domain "{labels[-1]}" cannot be all-numeric)'
        )
    for index, label in enumerate(labels):
        if index == len(labels) - 1 and not label:
            break
        if len(label) > 63 or not _DNS1123_LABEL.match(label):
            return f'domain name "{name}" invalid (label "{label}" invalid)'
    return None


def auto_sni_problem(domain: str) -> str | None:
    """The SNI names Envoy generates for AUTO_PASSTHROUGH (`outbound_.<PORT>_._.<HOSTNAME>`),
    which Istio accepts as hosts of a VirtualService with TLS SNI routes bound to gateways."""
    parts = domain.split("_")
    if len(parts) < 4:
        return f"domain name {domain} invalid, should follow '{_AUTO_SNI}' format"
    port, host = parts[1].strip("."), parts[3].strip(".")
    if parts[0] != "outbound":
        return f'domain name "{domain}" invalid (label "{parts[0]}" invalid)'
    for label, pattern in ((port, "[0-9]"), (host, "[a-zA-Z]")):
        if not re.search(pattern, label):
            return f'domain name "{domain}" invalid (label "{label}" invalid): {_AUTO_SNI}'
    return None


def partial_wildcard_problem(host: str) -> str | None:
    """A `*` anywhere but as the whole first label (`*x.example.com`)."""
    if "*" in host and host != "*" and not host.startswith("*."):
        return f'partial wildcard "{host}" not allowed'
    return None


def namespaced_host_problem(host: str, gateway: bool) -> str | None:
    """A Gateway server host (`ns/dnsName` or an old-style bare host) or a Sidecar egress host
    (`ns/dnsName`, the namespace optionally `~`-prefixed): Istio's shared check."""
    namespace, sep, name = host.partition("/")
    if not sep:
        if not gateway:
            return "host must be of form namespace/dnsName"
        return _gateway_or_sidecar_name_problem(host, gateway)
    if not namespace or not name:
        return "config namespace and dnsName in host entry cannot be empty"
    bare = namespace if gateway else namespace.removeprefix("~")
    if bare not in ("", "*", ".") and not _DNS1123_LABEL.match(bare):
        where = "gateway" if gateway else "sidecar"
        return f'invalid namespace value "{namespace}" in {where}'
    return _gateway_or_sidecar_name_problem(name, gateway)


def _gateway_or_sidecar_name_problem(name: str, gateway: bool) -> str | None:
    if name != "*" and "." not in name:
        return f'invalid host "{name}": short names (non FQDN) are not allowed'
    problem = host_problem(name, allow_ip=False)
    if problem is not None and not (gateway and is_ip(name)):
        return problem
    return partial_wildcard_problem(name)


def unix_address_problem(address: str) -> str | None:
    """Istio's ValidateUnixAddress of what follows `unix://`: an abstract socket (`@name`) or
    an absolute path to a file."""
    if not address:
        return "unix address must not be empty"
    if address.startswith("@"):
        return None
    if not address.startswith("/") or address.endswith("/"):
        return f"{address} is not an absolute path to a file"
    return None


def port_problem(number: int | None, what: str = "port number") -> str | None:
    if number is None:
        return f"{what} is required"
    if not 0 < number <= 65535:
        return f"{what} {number} is out of range 1-65535"
    return None


def is_ip_or_cidr(value: str) -> bool:
    """An IP address, or a CIDR range (host bits may be set, as Istio accepts)."""
    try:
        if "/" in value:
            ipaddress.ip_network(value, strict=False)
        else:
            ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def cidr_problem(value: str) -> str | None:
    return None if is_ip_or_cidr(value) else f'"{value}" is not a valid IP address or CIDR'


def labels_problem(labels: dict[str, str], kube: bool = False) -> tuple[str, str] | None:
    """(key, message) of the first invalid label, or None: Istio's labels.Instance.Validate
    (a key is an optional DNS-subdomain prefix and `/`, then a qualified name of at most 63
    characters; a value is empty or a qualified name); `kube` adds Kubernetes' 63-character
    limit on values (a label in metadata)."""
    for key, value in labels.items():
        found = _TAG_KEY.match(key)
        if found is None:
            return key, f'invalid tag key: "{key}"'
        if found.group(1) and len(found.group(1)) - 1 > 253:
            return key, f'invalid tag key: "{key}" (DNS prefix is too long)'
        if len(found.group(2)) > 63:
            return key, f'invalid tag key: "{key}" (name is too long)'
        if not _LABEL_VALUE.match(value) or (kube and len(value) > 63):
            return key, f'invalid tag value: "{value}"'
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
