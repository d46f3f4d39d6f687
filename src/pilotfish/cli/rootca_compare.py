"""`pilotfish proxy-config rootca-compare POD1 POD2` (istioctl's, alias `rc`; Istio's
"Debugging Envoy and Istiod" page): the ROOTCA each pod's Envoy holds (its `ROOTCA` SDS secret in
the config dump's dynamic active secrets), compared as istioctl compares them: the two pods can
reach each other over mutual TLS when one certificate of either trust bundle is in the other.
Identical: istioctl's sentence on stdout, exit 0; not identical: its sentence as the error,
exit 1.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from cryptography import x509

from pilotfish.cli.errors import UserError, running_mesh
from pilotfish.cli.pods import PodNotFound, admin_address, resolve_pod
from pilotfish.cli.proxy_config import SECTIONS, _admin, _section

ROOTCA = "ROOTCA"


def root_pem(dump: dict[str, Any]) -> bytes:
    """The PEM of the `ROOTCA` secret among a config dump's dynamic active secrets."""
    section = _section(dump, SECTIONS["secret"])
    for entry in section.get("dynamic_active_secrets", []):
        if entry.get("name") == ROOTCA:
            trusted = entry.get("secret", {}).get("validation_context", {}).get("trusted_ca", {})
            if trusted.get("inline_bytes"):
                return base64.b64decode(trusted["inline_bytes"])
            if trusted.get("inline_string"):
                return str(trusted["inline_string"]).encode()
            raise UserError("can not dump ROOTCA from secret: it holds no inline certificate")
    raise UserError("cannot find ROOTCA from secret")


def share_a_root(first: bytes, second: bytes) -> bool:
    """One certificate of `first`'s bundle is one of `second`'s (istioctl's test)."""
    try:
        ones = x509.load_pem_x509_certificates(first)
        others = x509.load_pem_x509_certificates(second)
    except ValueError as exc:
        raise UserError(f"failed to parse certificates: {exc}") from None
    return any(one == other for one in ones for other in others)


def _root_of(info: dict[str, Any], name: str, namespace: str | None) -> tuple[str, bytes]:
    try:
        key, row = resolve_pod(info, name, namespace)
    except PodNotFound as exc:
        raise UserError(str(exc)) from None
    admin = admin_address(row)
    try:
        dump = _admin(admin, "/config_dump")
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {key}'s Envoy admin at {admin}: {exc}") from None
    return key, root_pem(dump)


def rootca_compare_command(pods: list[str], namespace: str | None, state_dir: Path) -> int:
    if len(pods) != 2:
        raise UserError("rootca-compare requires 2 pods as an argument")
    info = running_mesh(state_dir)
    first, first_root = _root_of(info, pods[0], namespace)
    second, second_root = _root_of(info, pods[1], namespace)
    if share_a_root(first_root, second_root):
        print(
            f"Both [{first}] and [{second}] have the identical ROOTCA, theoretically the "
            "connectivity between them is available"
        )
        return 0
    raise UserError(
        f"Both [{first}] and [{second}] have the non identical ROOTCA, theoretically the "
        "connectivity between them is unavailable"
    )
