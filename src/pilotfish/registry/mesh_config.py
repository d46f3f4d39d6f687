"""Istio's mesh ConfigMaps in a manifest: `istio` in `istio-system` (key `mesh`: MeshConfig
YAML, of which pilotfish honours `outboundTrafficPolicy.mode`, `trustDomain`,
`protocolDetectionTimeout`, `defaultHttpRetryPolicy` / `defaultInboundHttpRetryPolicy`
(`config.mesh_retry`),
`defaultServiceExportTo` / `defaultVirtualServiceExportTo` / `defaultDestinationRuleExportTo`
(the exportTo of what sets none; Istio's default: every namespace),
`defaultConfig.proxyMetadata` (SECRET_TTL and the workload key type),
`defaultConfig.terminationDrainDuration` (`registry.drain`), `localityLbSetting` (checked as a
DestinationRule's; `translate.locality_lb`), the telemetry fields
(`config.mesh_telemetry`) and the authorization fields (`config.mesh_security`)), the
injector's `istio-sidecar-injector` in `istio-system` (key `values`: the install's values as
JSON, of which pilotfish honours `global.proxy.holdApplicationUntilProxyStarts`, which Istio's
injection template ORs with the pod's ProxyConfig one, and istiod's environment
`pilot.env`, which Istio's chart writes there too, of which `ENABLE_TLS_ON_SIDECAR_INGRESS`:
`injector_values`), and the legacy
`istio-tracing` ConfigMap (`data.zipkin: {enabled, endpoint}`). Problems are diagnostics on the
ConfigMap's `data.mesh` (`data.values`); never raises for user mistakes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ruamel.yaml import YAML, YAMLError

from pilotfish.config.durations import parse_duration
from pilotfish.config.mesh_retry import NO_MESH_RETRIES, MeshRetries, parse_mesh_retries
from pilotfish.config.mesh_security import MeshSecurity, parse_mesh_security
from pilotfish.config.mesh_telemetry import (
    MeshTelemetry,
    legacy_tracing_address,
    parse_mesh_telemetry,
)
from pilotfish.config.models.networking.destination_rule import LocalityLoadBalancerSetting
from pilotfish.config.proxy_metadata import NOT_SET, ProxyMetadata, parse_proxy_metadata
from pilotfish.config.proxy_stats import NOT_SET as NOT_SET_STATS
from pilotfish.config.proxy_stats import StatsInclusion, stats_matcher_in
from pilotfish.config.unmarshal import as_istio_reads
from pilotfish.config.validation.common import Findings
from pilotfish.config.validation.locality import locality_lb
from pilotfish.registry.doc_parser import DocParser, read_meta
from pilotfish.registry.drain import drain_in_proxy_config, hold_in_proxy_config
from pilotfish.registry.workloads import RawDocumentLike


@dataclass(frozen=True)
class MeshSettings:
    """What the `istio` mesh ConfigMap sets that pilotfish honours (empty = Istio's default)."""

    outbound_traffic_policy: str = ""
    trust_domain: str = ""
    proxy: ProxyMetadata = NOT_SET  # defaultConfig.proxyMetadata (SECRET_TTL, key type)
    termination_drain: float | None = None  # defaultConfig.terminationDrainDuration
    export_defaults: ExportDefaults = field(default_factory=lambda: ExportDefaults())
    locality_lb: LocalityLoadBalancerSetting | None = None  # None: Istio's `{enabled: true}`
    stats_inclusion: StatsInclusion = NOT_SET_STATS  # defaultConfig.proxyStatsMatcher
    prometheus_merge: bool = True  # enablePrometheusMerge
    hold_application: bool = False  # defaultConfig.holdApplicationUntilProxyStarts
    injector_hold: bool = False
    """The injector's `values.global.proxy.holdApplicationUntilProxyStarts` (`injector_values`),
    ORed with the pod's ProxyConfig (its own, else `hold_application`), as Istio's template."""
    protocol_detection_timeout: float = 0.0
    """`protocolDetectionTimeout` in seconds (Istio's default 0s: no timeout): how long a
    sidecar's listener filters wait for a client's first bytes (`translate.mtls`)."""
    tls_on_sidecar_ingress: bool = False
    """istiod's `ENABLE_TLS_ON_SIDECAR_INGRESS` (`values.pilot.env`; Istio's default: off):
    whether a Sidecar's `ingress[].tls` takes effect (`translate.sidecar_ingress_tls`)."""
    retries: MeshRetries = NO_MESH_RETRIES
    """`defaultHttpRetryPolicy` and `defaultInboundHttpRetryPolicy` (`translate.http_routes`)."""


@dataclass(frozen=True)
class ExportDefaults:
    """MeshConfig's `defaultServiceExportTo`, `defaultVirtualServiceExportTo` and
    `defaultDestinationRuleExportTo`: the exportTo of a service, VirtualService or
    DestinationRule that sets none (() = Istio's default, every namespace)."""

    service: tuple[str, ...] = ()
    virtual_service: tuple[str, ...] = ()
    destination_rule: tuple[str, ...] = ()


EXPORT_DEFAULT_FIELDS = {
    "defaultServiceExportTo": "service",
    "defaultVirtualServiceExportTo": "virtual_service",
    "defaultDestinationRuleExportTo": "destination_rule",
}


def _export_defaults(mesh: dict[str, Any], errors: list[tuple[str, str]]) -> ExportDefaults:
    """The three defaults, checked as Istio checks exportTo: names, ".", "*" or "~"; "*" alone."""
    found: dict[str, tuple[str, ...]] = {}
    for key, attr in EXPORT_DEFAULT_FIELDS.items():
        values = mesh.get(key)
        if values is None:
            continue
        if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            errors.append((key, 'must be a list of namespaces, ".", "*" or "~"'))
            continue
        bad = [v for v in values if v not in (".", "*", "~") and not _DNS_LABEL.fullmatch(v)]
        if bad:
            errors.append((key, f'{bad[0]!r} is not a namespace name, ".", "*" or "~"'))
        elif "*" in values and len(values) > 1:
            errors.append((key, "cannot have both public (*) and non-public values"))
        else:
            found[attr] = tuple(values)
    return ExportDefaults(**found)


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def _mesh_config(p: DocParser, doc: RawDocumentLike) -> dict[str, Any] | None:
    """The MeshConfig of the `istio` ConfigMap in istio-system (None for other ConfigMaps)."""
    head = read_meta(p, doc)
    if head is None or head[:2] != ("istio", "istio-system"):
        return None
    text = dict(doc.data.get("data") or {}).get("mesh") or ""
    try:
        mesh = YAML(typ="safe", pure=True).load(str(text)) or {}
    except YAMLError as exc:
        p.error(doc, "data.mesh", f"is not YAML: {exc}")
        return None
    if not isinstance(mesh, dict):
        p.error(doc, "data.mesh", "must be a map (MeshConfig)")
        return None
    return mesh


def _mesh_settings(p: DocParser, doc: RawDocumentLike, mesh: dict[str, Any]) -> MeshSettings:
    """Outbound policy, trust domain and workload certificate lifetime of the mesh config."""
    mode = (mesh.get("outboundTrafficPolicy") or {}).get("mode", "")
    if mode not in ("", "ALLOW_ANY", "REGISTRY_ONLY"):
        p.error(
            doc, "data.mesh", f"outboundTrafficPolicy.mode {mode!r} is not ALLOW_ANY|REGISTRY_ONLY"
        )
        mode = ""
    trust_domain = str(mesh.get("trustDomain") or "")
    if trust_domain and not re.fullmatch(r"[a-z0-9.-]+", trust_domain):
        p.error(doc, "data.mesh", f"trustDomain {trust_domain!r} is not a valid trust domain")
        trust_domain = ""
    errors: list[tuple[str, str]] = []
    default_config = mesh.get("defaultConfig") or {}
    raw = default_config.get("proxyMetadata") if isinstance(default_config, dict) else None
    proxy = parse_proxy_metadata(raw, "defaultConfig.proxyMetadata", errors)
    drain = drain_in_proxy_config(mesh.get("defaultConfig"), "defaultConfig", errors)
    exports = _export_defaults(mesh, errors)
    locality = _locality_lb(mesh.get("localityLbSetting"), errors)
    stats = stats_matcher_in(mesh.get("defaultConfig"), "defaultConfig", errors)
    merge = _prometheus_merge(mesh, errors)
    hold = hold_in_proxy_config(mesh.get("defaultConfig"), "defaultConfig", errors) or False
    detection = _protocol_detection_timeout(mesh, errors)
    retries = parse_mesh_retries(mesh, errors)
    for path, message in errors:
        p.error(doc, "data.mesh", f"{path}: {message}")
    return MeshSettings(
        str(mode), trust_domain, proxy, drain, exports, locality, stats, merge, hold,
        protocol_detection_timeout=detection, retries=retries,
    )  # fmt: skip


def _protocol_detection_timeout(mesh: dict[str, Any], errors: list[tuple[str, str]]) -> float:
    """`protocolDetectionTimeout` as Istio's `ValidateProtocolDetectionTimeout` takes it: a
    duration, 0s (no timeout) or to millisecond precision."""
    raw = mesh.get("protocolDetectionTimeout")
    if raw is None:
        return 0.0
    try:
        seconds = parse_duration(str(raw))
    except ValueError:
        errors.append(("protocolDetectionTimeout", f"invalid duration {raw!r}"))
        return 0.0
    if seconds < 0:
        errors.append(("protocolDetectionTimeout", "duration must not be negative"))
        return 0.0
    if abs(seconds * 1000 - round(seconds * 1000)) > 1e-6:
        errors.append(("protocolDetectionTimeout", "only durations to ms precision are supported"))
        return 0.0
    return seconds


def _prometheus_merge(mesh: dict[str, Any], errors: list[tuple[str, str]]) -> bool:
    """`enablePrometheusMerge` (Istio's default: true)."""
    value = mesh.get("enablePrometheusMerge", True)
    if not isinstance(value, bool):
        errors.append(("enablePrometheusMerge", f"{value!r} is not a boolean"))
        return True
    return value


_LOCALITY_FIELDS = ("enabled", "distribute", "failover", "failoverPriority")


def _locality_lb(raw: Any, errors: list[tuple[str, str]]) -> LocalityLoadBalancerSetting | None:
    """The mesh's `localityLbSetting`, with Istio's rules of a DestinationRule's (its failover
    needs a rule's outlier detection to act: no warning here, as Istio's mesh check)."""
    if raw is None:
        return None
    path = "localityLbSetting"
    if not isinstance(raw, dict):
        errors.append((path, "must be a map (LocalityLoadBalancerSetting)"))
        return None
    unknown = sorted(str(k) for k in raw if k not in _LOCALITY_FIELDS)
    if unknown:
        errors.append((f"{path}.{unknown[0]}", "unknown field"))
        return None
    try:
        found = LocalityLoadBalancerSetting.model_validate(
            as_istio_reads(LocalityLoadBalancerSetting, raw)
        )
    except ValueError as exc:
        errors.append((path, str(exc).splitlines()[0]))
        return None
    checks = Findings()
    locality_lb(checks, path, found, None)
    problems = [(f.path, f.message) for f in checks.problems if f.level == "error"]
    errors.extend(problems)
    return None if problems else found


def _mesh_security(p: DocParser, doc: RawDocumentLike, mesh: dict[str, Any]) -> MeshSecurity:
    errors: list[tuple[str, str]] = []
    found = parse_mesh_security(mesh, errors)
    for path, message in errors:
        p.error(doc, "data.mesh", f"{path}: {message}")
    return found


def _mesh_telemetry(p: DocParser, doc: RawDocumentLike, mesh: dict[str, Any]) -> MeshTelemetry:
    errors: list[tuple[str, str]] = []
    found = parse_mesh_telemetry(mesh, errors)
    for path, message in errors:
        p.error(doc, "data.mesh", f"{path}: {message}")
    return found


def legacy_tracing(p: DocParser, doc: RawDocumentLike) -> str:
    """The Zipkin endpoint of an `istio-tracing` ConfigMap (any namespace), else ""."""
    head = read_meta(p, doc)
    if head is None or head[0] != "istio-tracing":
        return ""
    errors: list[tuple[str, str]] = []
    endpoint = legacy_tracing_address(dict(doc.data.get("data") or {}), errors)
    for path, message in errors:
        p.error(doc, path, message)
    return endpoint


INJECTOR_CONFIGMAP = "istio-sidecar-injector"
_HOLD_VALUE = ("global", "proxy", "holdApplicationUntilProxyStarts")
TLS_ON_SIDECAR_INGRESS = "ENABLE_TLS_ON_SIDECAR_INGRESS"
_GO_BOOLS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}
"""Go's `strconv.ParseBool`, which reads istiod's boolean environment variables."""


class InjectorValues(NamedTuple):
    """What pilotfish reads of the install's values in the injector's ConfigMap."""

    hold: bool  # global.proxy.holdApplicationUntilProxyStarts
    tls_on_sidecar_ingress: bool  # pilot.env.ENABLE_TLS_ON_SIDECAR_INGRESS


def injector_values(p: DocParser, doc: RawDocumentLike) -> InjectorValues | None:
    """The `istio-sidecar-injector` ConfigMap's `values` in istio-system (None for any other
    ConfigMap): `global.proxy.holdApplicationUntilProxyStarts`, which Istio's injection
    template ORs with the pod's ProxyConfig (`$holdProxy`), and istiod's environment
    `pilot.env` (the chart renders each into istiod's Deployment, as text: Go's ParseBool
    reads `ENABLE_TLS_ON_SIDECAR_INGRESS`). Unset or unreadable values are Istio's defaults."""
    meta = doc.data.get("metadata")
    if not isinstance(meta, dict) or meta.get("name") != INJECTOR_CONFIGMAP:
        return None  # its name is checked (and reported) once, by `parse_mesh_configmap`
    if meta.get("namespace", "default") != "istio-system":
        return None
    text = str(dict(doc.data.get("data") or {}).get("values") or "{}")
    try:
        values: Any = json.loads(text)
    except ValueError as exc:
        p.error(doc, "data.values", f"is not JSON: {exc}")
        return InjectorValues(False, False)
    node = values
    for part in _HOLD_VALUE:
        node = node.get(part) if isinstance(node, dict) else None
    if node is not None and not isinstance(node, bool):
        p.error(doc, "data.values", f"{'.'.join(_HOLD_VALUE)}: {node!r} is not true or false")
        node = False
    return InjectorValues(bool(node), _pilot_env_bool(p, doc, values, TLS_ON_SIDECAR_INGRESS))


def _pilot_env_bool(p: DocParser, doc: RawDocumentLike, values: Any, name: str) -> bool:
    """`pilot.env.<name>` as istiod reads the variable (False when unset, as Istio's default)."""
    pilot = values.get("pilot") if isinstance(values, dict) else None
    env = pilot.get("env") if isinstance(pilot, dict) else None
    raw = env.get(name) if isinstance(env, dict) else None
    if raw is None:
        return False
    text = ("true" if raw else "false") if isinstance(raw, bool) else str(raw)
    if text not in _GO_BOOLS:
        p.error(doc, "data.values", f"pilot.env.{name}: {raw!r} is not true or false")
        return False
    return _GO_BOOLS[text]


class MeshConfigMap(NamedTuple):
    """What the `istio` ConfigMap's MeshConfig sets."""

    settings: MeshSettings
    telemetry: MeshTelemetry
    security: MeshSecurity


def parse_mesh_configmap(p: DocParser, doc: RawDocumentLike) -> MeshConfigMap | None:
    """The `istio` ConfigMap's MeshConfig, parsed (None for any other ConfigMap)."""
    mesh = _mesh_config(p, doc)
    if mesh is None:
        return None
    return MeshConfigMap(
        _mesh_settings(p, doc, mesh), _mesh_telemetry(p, doc, mesh), _mesh_security(p, doc, mesh)
    )
