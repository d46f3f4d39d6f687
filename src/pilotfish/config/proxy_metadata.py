"""Istio's `ProxyConfig.proxyMetadata` keys that pilotfish's agent honours, and where they come
from: mesh-wide `meshConfig.defaultConfig.proxyMetadata`, and per pod the annotation
`proxy.istio.io/config` (a ProxyConfig in YAML) whose keys override the mesh's, as in Istio.

- `SECRET_TTL`: the workload certificate lifetime the agent asks for (Istio's default 24h).
- `ECC_SIGNATURE_ALGORITHM`: `ECDSA` makes the agent generate ECDSA workload keys (curve
  `ECC_CURVE`: `P256`, Istio's default, or `P384`); unset, the agent generates RSA keys of
  `WORKLOAD_RSA_KEY_SIZE` bits (Istio's default 2048). Istio accepts only `ECDSA` here.
- `ISTIO_META_DNS_CAPTURE`: the pod's names include the ServiceEntry hosts, at their addresses
  (given or auto-allocated: `registry.cluster_ips`), as Istio's agent answers them (isolated
  mode: `local.pods`). A boolean as Go's ParseBool reads it (`true`, `1`, `False`, ...).

Pure: parsing reports `(path, message)` errors and never raises for user mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from pilotfish.config.durations import parse_duration

PROXY_CONFIG_ANNOTATION = "proxy.istio.io/config"
ECDSA = "ECDSA"
CURVES = ("P256", "P384")
RSA_SIZES = (2048, 3072, 4096)


@dataclass(frozen=True)
class ProxyMetadata:
    """The honoured keys; None means "not set here" (the mesh's value, then Istio's default)."""

    secret_ttl_seconds: int | None = None
    ecc_signature_algorithm: str | None = None
    ecc_curve: str | None = None
    rsa_key_size: int | None = None
    dns_capture: bool | None = None

    def over(self, base: ProxyMetadata) -> ProxyMetadata:
        """These settings, falling back to `base` key by key (a pod's over the mesh's)."""
        return ProxyMetadata(
            *(
                mine if mine is not None else theirs
                for mine, theirs in zip(_values(self), _values(base), strict=True)
            )
        )

    @property
    def key_algorithm(self) -> str:
        """`EC` (P-256), `EC-P384`, `RSA` (2048) or `RSA-<bits>`: what the agent generates."""
        if self.ecc_signature_algorithm == ECDSA:
            return "EC-P384" if self.ecc_curve == "P384" else "EC"
        size = self.rsa_key_size or 2048
        return "RSA" if size == 2048 else f"RSA-{size}"


NOT_SET = ProxyMetadata()


def _values(m: ProxyMetadata) -> tuple[Any, ...]:
    return (
        m.secret_ttl_seconds,
        m.ecc_signature_algorithm,
        m.ecc_curve,
        m.rsa_key_size,
        m.dns_capture,
    )


_BOOLS = {"1": True, "t": True, "true": True, "0": False, "f": False, "false": False}


def parse_proxy_metadata(raw: Any, path: str, errors: list[tuple[str, str]]) -> ProxyMetadata:
    """The honoured keys of a `proxyMetadata` map; other keys are left to whoever reads them."""
    if raw is None:
        return ProxyMetadata()
    if not isinstance(raw, dict):
        errors.append((path, "must be a map of strings"))
        return ProxyMetadata()
    ttl: int | None = None
    if raw.get("SECRET_TTL") not in (None, ""):
        text = str(raw["SECRET_TTL"])
        try:
            seconds = parse_duration(text)
        except ValueError:
            seconds = -1.0
        if seconds <= 0:
            errors.append((f"{path}.SECRET_TTL", f"{text!r} is not a positive duration"))
        else:
            ttl = int(seconds)
    algorithm = _choice(raw, "ECC_SIGNATURE_ALGORITHM", (ECDSA,), path, errors)
    curve = _choice(raw, "ECC_CURVE", CURVES, path, errors)
    size_text = _choice(raw, "WORKLOAD_RSA_KEY_SIZE", tuple(map(str, RSA_SIZES)), path, errors)
    dns_capture: bool | None = None
    if raw.get("ISTIO_META_DNS_CAPTURE") not in (None, ""):
        text = str(raw["ISTIO_META_DNS_CAPTURE"])
        dns_capture = (
            _BOOLS.get(text.lower()) if text in (text.lower(), text.upper(), text.title()) else None
        )
        if dns_capture is None:
            errors.append((f"{path}.ISTIO_META_DNS_CAPTURE", f"{text!r} is not a boolean"))
    size = int(size_text) if size_text else None
    return ProxyMetadata(ttl, algorithm, curve, size, dns_capture)


def _choice(
    raw: dict[str, Any],
    key: str,
    allowed: tuple[str, ...],
    path: str,
    errors: list[tuple[str, str]],
) -> str | None:
    if raw.get(key) in (None, ""):
        return None
    value = str(raw[key])
    if value not in allowed:
        errors.append((f"{path}.{key}", f"{value!r} is not one of {', '.join(allowed)}"))
        return None
    return value


def parse_proxy_config_annotation(text: Any, errors: list[tuple[str, str]]) -> ProxyMetadata:
    """The `proxy.istio.io/config` annotation: a ProxyConfig in YAML; its `proxyMetadata`."""
    path = f"metadata.annotations[{PROXY_CONFIG_ANNOTATION}]"
    try:
        config = YAML(typ="safe", pure=True).load(str(text)) or {}
    except YAMLError as exc:
        errors.append((path, f"is not YAML: {exc}"))
        return ProxyMetadata()
    if not isinstance(config, dict):
        errors.append((path, "must be a ProxyConfig (a map)"))
        return ProxyMetadata()
    return parse_proxy_metadata(config.get("proxyMetadata"), f"{path}.proxyMetadata", errors)
