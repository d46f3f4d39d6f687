"""The config that applies to a graph node, read from the control plane's `PushContext` with the
model's own lookups: a service's VirtualServices and DestinationRule, a workload's services and
the policies that select it (PeerAuthentication, AuthorizationPolicy, RequestAuthentication,
Sidecar, Telemetry: namespace-wide, root namespace, or a selector matching its labels) and the
DestinationRules of its namespace whose `workloadSelector` its labels satisfy (istiod's
selection, `PushContext.rule_selection_of`: those its proxy applies to its outbound calls)."""

from __future__ import annotations

from typing import Any

from pilotfish.config.hosts import host_matches, resolve_host
from pilotfish.config.kinds import DESTINATION_RULE
from pilotfish.config.objects import ConfigObject
from pilotfish.model.destination_rules import selector_of
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import Service, WorkloadInstance
from pilotfish.ui.series import Target

POLICY_KINDS = (
    "PeerAuthentication", "AuthorizationPolicy", "RequestAuthentication", "Sidecar", "Telemetry",
)  # fmt: skip


def config_json(config: ConfigObject[Any]) -> dict[str, Any]:
    spec = config.spec.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)
    return {"kind": config.meta.kind, "namespace": config.meta.namespace,
            "name": config.meta.name, "spec": spec}  # fmt: skip


def _selector(config: ConfigObject[Any]) -> dict[str, str] | None:
    """Labels a policy selects by; None = the whole namespace."""
    for attr, inner in (("selector", "match_labels"), ("workload_selector", "labels")):
        value = getattr(config.spec, attr, None)
        if value is not None:
            return dict(getattr(value, inner, {}) or {})
    return None


def service_config(push: PushContext, host: str, namespace: str) -> list[dict[str, Any]]:
    found = []
    for vs in push.mesh_virtual_services():
        hosts = [resolve_host(h, vs.meta.namespace) for h in vs.spec.hosts or ()]
        if any(host_matches(h, host) for h in hosts):
            found.append(config_json(vs))
    rule = push.destination_rule(host, namespace, namespace)
    if rule is not None:
        found.append(config_json(rule))
    return found


def policies_for(push: PushContext, instance: WorkloadInstance) -> list[dict[str, Any]]:
    labels = instance.label_map
    found = []
    for kind in POLICY_KINDS:
        for config in push.kind(kind):
            if config.meta.namespace not in (instance.namespace, push.mesh.root_namespace):
                continue
            selector = _selector(config)
            if selector is None or all(labels.get(k) == v for k, v in selector.items()):
                found.append(config_json(config))
    selection = push.rule_selection_of(instance.namespace, labels)
    for rule in push.kind(DESTINATION_RULE):
        if rule.meta.namespace == instance.namespace and selector_of(rule) in selection:
            found.append(config_json(rule))
    return found


def workload_instances(push: PushContext, namespace: str, name: str) -> list[WorkloadInstance]:
    return [i for i in push.registry.instances if i.namespace == namespace and i.workload == name]


def services_of(push: PushContext, instances: list[WorkloadInstance]) -> list[Service]:
    return [s for s in push.registry.services if any(s.selects(i.label_map) for i in instances)]


def traffic_hint(push: PushContext, targets: list[Target]) -> str:
    """A command that sends traffic, for empty states: through the ingress gateway when a
    Gateway routes HTTP, else from a sidecar to the first HTTP service."""
    for target in targets:
        if not target.ingress:
            continue
        for gateway in push.kind("Gateway"):
            for server in gateway.spec.servers:
                port = server.port.number if server.port else None
                if port and str(server.port.protocol or "").upper() in ("HTTP", ""):
                    return f"curl http://{target.ingress}:{port}{_gateway_path(push)}"
    sidecars = [t for t in targets if not t.gateway]
    for service in sorted(push.registry.services, key=lambda s: s.name):
        http = [p for p in service.ports if p.protocol.is_http]
        if http and sidecars:
            return f"pilotfish exec {sidecars[0].instance} -- curl -s http://{service.name}:{http[0].port}/"
    return "pilotfish exec POD -- curl -s http://SERVICE:PORT/"


def _gateway_path(push: PushContext) -> str:
    for vs in push.kind("VirtualService"):
        if not vs.spec.gateways:
            continue
        for route in vs.spec.http:
            for match in route.match:
                uri = match.uri
                if uri is not None and (uri.exact or uri.prefix):
                    return str(uri.exact or uri.prefix)
    return "/"


def node_config(push: PushContext, kind: str, namespace: str, name: str) -> dict[str, Any]:
    """{services, config, instances} for a workload or service node."""
    if kind == "service":
        services = [s for s in push.registry.services if (s.namespace, s.name) == (namespace, name)]
        instances = [
            i for i in push.registry.instances if any(s.selects(i.label_map) for s in services)
        ]
    else:
        instances = workload_instances(push, namespace, name)
        services = services_of(push, instances)
    config: list[dict[str, Any]] = []
    for service in services:
        config += service_config(push, service.hostname, service.namespace)
    if kind != "service" and instances:
        config += policies_for(push, instances[0])
    unique = {(c["kind"], c["namespace"], c["name"]): c for c in config}
    return {
        "services": [s.hostname for s in services],
        "instances": [i.name for i in instances],
        "config": list(unique.values()),
    }
