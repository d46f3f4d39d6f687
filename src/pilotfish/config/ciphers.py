"""TLS cipher suites a Gateway server may name, as Istio's pkg/config/security holds them.

Owns `VALID_CIPHER_SUITES` (BoringSSL's names, PSK aside), `is_valid_cipher_suite` (also true
for "", "ALL" and expressions starting with an operator such as `-` or `+`) and
`filter_cipher_suites`, which drops invalid and repeated names, keeping the order: validation
warns about what translation drops, so Envoy never NACKs a listener over a cipher name. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable

VALID_CIPHER_SUITES = frozenset(
    {
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "ECDHE-ECDSA-AES128-SHA",
        "ECDHE-RSA-AES128-SHA",
        "ECDHE-ECDSA-AES256-SHA",
        "ECDHE-RSA-AES256-SHA",
        "AES128-GCM-SHA256",
        "AES256-GCM-SHA384",
        "AES128-SHA",
        "AES256-SHA",
        "DES-CBC3-SHA",
    }
)


def is_valid_cipher_suite(name: str) -> bool:
    if name in ("", "ALL") or not name[0].isalnum():
        return True
    return name in VALID_CIPHER_SUITES


def filter_cipher_suites(names: Iterable[str]) -> list[str]:
    """The valid names, each once, in their order (Istio's FilterCipherSuites)."""
    kept: list[str] = []
    for name in names:
        if is_valid_cipher_suite(name) and name not in kept:
            kept.append(name)
    return kept


def cipher_warnings(names: Iterable[str]) -> list[str]:
    """Istio's validateTLSOptions warnings about the names translation drops."""
    invalid: set[str] = set()
    seen: set[str] = set()
    repeated: set[str] = set()
    for name in names:
        if not is_valid_cipher_suite(name):
            invalid.add(name)
        elif name in seen:
            repeated.add(name)
        seen.add(name)
    found = []
    if invalid:
        found.append(f"ignoring invalid cipher suites: [{' '.join(sorted(invalid))}]")
    if repeated:
        found.append(f"ignoring duplicate cipher suites: [{' '.join(sorted(repeated))}]")
    return found
