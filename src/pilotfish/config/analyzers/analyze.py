"""`analyze(result, inventory)`: every analyzer, with istioctl analyze's codes and wording.

Owns the analyzers over references between objects: IST0106 and IST0133 (errors and warnings of
Istio's webhook rules, invalid regexes included), IST0101 (referenced host, subset or gateway not
found; the registry is the inventory's services: `v1 Service` documents, ServiceEntries, and the
running mesh with `--use-mesh`), IST0109 (mesh VirtualServices sharing a host), IST0132
(VirtualService host not in its Gateway), IST0134 (ServiceEntry addresses required), and runs
those of `pilotfish.config.analyzers` (IST0127, IST0128/0129, IST0130/0131, IST0145, IST0162),
and pilotfish's own PF0001 (a PrometheusRule using a metric the mesh does not export: istioctl has
no such analyzer, see `monitoring`). Without a cluster's objects, only what istioctl reports
offline (`offline`). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pilotfish.config.analyzers.authz import identity_without_mtls
from pilotfish.config.analyzers.destinations import unverified_server_tls
from pilotfish.config.analyzers.documents import istio_objects
from pilotfish.config.analyzers.gateway_pods import (
    add_default_ingress,
    conflicting_gateways,
    gateway_ports,
    gateway_secrets,
)
from pilotfish.config.analyzers.inventory import INGRESS_GATEWAY, Inventory, inventory_from_inputs
from pilotfish.config.analyzers.kube import Kube, KubeObject, kube_from_documents
from pilotfish.config.analyzers.kube_objects import kube_object_messages
from pilotfish.config.analyzers.mesh_config import mesh_inputs
from pilotfish.config.analyzers.messages import (
    DOMAIN,
    SEVERITY_RANK,
    AnalysisMessage,
    Severity,
    fqdn,
    message_for,
)
from pilotfish.config.analyzers.monitoring import unexported_metrics
from pilotfish.config.analyzers.more import topic_messages
from pilotfish.config.analyzers.offline import has_cluster_objects, needs_cluster
from pilotfish.config.analyzers.routes import unused_rules
from pilotfish.config.analyzers.selectors import authorization_policies, workload_selectors
from pilotfish.config.analyzers.vs_gateways import vs_gateways
from pilotfish.config.analyzers.vs_mesh_hosts import mesh_host_conflicts
from pilotfish.config.kinds import (
    AUTHORIZATION_POLICY,
    DESTINATION_RULE,
    GATEWAY,
    PEER_AUTHENTICATION,
    SIDECAR,
    TELEMETRY_KIND,
    VIRTUAL_SERVICE,
)
from pilotfish.config.load import LoadResult
from pilotfish.config.models.networking import VirtualServiceSpec
from pilotfish.config.models.networking.virtual_service import (
    Destination,
    HTTPRouteDestination,
    RouteDestination,
)
from pilotfish.config.objects import Diagnostic, VirtualService

__all__ = [
    "DOMAIN",
    "SEVERITY_RANK",
    "AnalysisMessage",
    "Inventory",
    "Severity",
    "analyze",
    "fqdn",
]
PROXY = ({"name": "istio-proxy", "image": "pilotfish"},)


def _kube(result: LoadResult, inventory: Inventory, mesh: Inventory | None) -> Kube:
    """The Kubernetes view: the inputs' objects, every known workload as a pod with its sidecar,
    and the ingress gateway's Service with an Istio install's ports (a running local mesh has the
    gateway pods but no Service object for them); without a running mesh, also istioctl's
    offline ingress gateway pod."""
    kube = kube_from_documents(result.others)
    for workload in inventory.workloads:
        if workload == INGRESS_GATEWAY and mesh is None:
            continue
        spec = {"spec": {"containers": list(PROXY)}}
        kube.pods.append(
            KubeObject("Pod", workload.name, workload.namespace, workload.label_map, data=spec)
        )
    add_default_ingress(kube)
    return kube


def analyze(
    result: LoadResult,
    mesh: Inventory | None = None,
    mesh_config: dict[str, Any] | None = None,
    cluster: bool | None = None,
) -> list[AnalysisMessage]:
    """Messages for everything in `result`; `mesh` adds the running mesh's registry and
    `mesh_config` (a MeshConfig mapping, istioctl's `--meshConfigFile`) replaces the mesh config
    found among the inputs. `cluster` says whether a cluster's objects are known (the analyzers
    reading them run); by default when `mesh` is given or the input carries such objects, else
    the analysis is istioctl's offline one (`offline`)."""
    inventory = inventory_from_inputs(result)
    if mesh is not None:
        inventory.extend(mesh)
    # istioctl analyze runs Istio's webhook rules only (schema.ValidationAnalyzer): not the CRD's
    # OpenAPI and CEL rules, which only an API server applies
    messages = [_schema_message(d) for d in result.diagnostics if d.webhook]
    destination_rules = istio_objects(result, DESTINATION_RULE)
    gateway_list = istio_objects(result, GATEWAY)
    virtual_services = istio_objects(result, VIRTUAL_SERVICE)
    peer_authentications = istio_objects(result, PEER_AUTHENTICATION)
    authorization = istio_objects(result, AUTHORIZATION_POLICY)
    subsets = {
        (fqdn(dr.spec.host or "", dr.meta.namespace), s.name)
        for dr in destination_rules
        for s in dr.spec.subsets
        if s.name
    }
    gateways = {(g.meta.namespace, g.meta.name): g for g in gateway_list}
    kube = _kube(result, inventory, mesh)
    for vs in virtual_services:
        messages += _virtual_service(vs, inventory, subsets)
        messages += vs_gateways(vs, gateways, kube)
        messages += unused_rules(vs)
    messages += mesh_host_conflicts(virtual_services)
    messages += conflicting_gateways(gateway_list, kube)
    for gw in gateway_list:
        messages += gateway_ports(gw, kube) + gateway_secrets(gw, kube)
    for dr in destination_rules:
        messages += unverified_server_tls(dr)
    messages += workload_selectors(istio_objects(result, SIDECAR), "Sidecar", kube)
    messages += workload_selectors(istio_objects(result, TELEMETRY_KIND), "Telemetry", kube)
    messages += authorization_policies(authorization, kube)
    messages += identity_without_mtls(authorization, peer_authentications, kube)
    messages += kube_object_messages(kube)
    messages += topic_messages(result, inventory, kube, mesh_inputs(kube, mesh_config))
    for doc in result.others:
        messages += unexported_metrics(doc)
    if cluster is None:
        cluster = mesh is not None or has_cluster_objects(result.others)
    if not cluster:
        messages = [m for m in messages if not needs_cluster(m)]
    return _deduplicated(messages)


def _schema_message(d: Diagnostic) -> AnalysisMessage:
    """IST0106 for an error (an invalid regex too: Istio retired IST0122, InvalidRegexp), IST0133
    (SchemaWarning) for a warning of Istio's webhook rules, as Istio's schema analyzer says them:
    its templates (`Schema validation error: %v`, `Schema validation warning: %v`) with Istio's
    text alone, no field path in front; the origin's `file:line` is the field's line (istioctl
    names the resource's first line there), and `-o json|yaml` keep the path nowhere else."""
    name = d.name.split("/", 1)
    ident = f"{name[1]}.{name[0]}" if len(name) == 2 else d.name
    kind = d.kind or "Document"
    if d.level == "error":
        text = f"Schema validation error: {d.message}"
        return AnalysisMessage("Error", "IST0106", kind, ident, text, d.source, d.path)
    text = f"Schema validation warning: {d.message}"
    return AnalysisMessage("Warning", "IST0133", kind, ident, text, d.source, d.path)


def _deduplicated(messages: list[AnalysisMessage]) -> list[AnalysisMessage]:
    """Each message once (istioctl drops messages printing the same, e.g. one per patch)."""
    printed: dict[str, AnalysisMessage] = {}
    for message in messages:
        printed.setdefault(str(message), message)
    return list(printed.values())


def _destinations(spec: VirtualServiceSpec) -> list[tuple[str, str, Destination | None]]:
    """(kind of reference, path of the destination, destination) of every route and mirror, in
    Istio's order (http, tcp, tls routes; then mirrors)."""
    found: list[tuple[str, str, Destination | None]] = []
    routes: list[tuple[str, int, Sequence[HTTPRouteDestination | RouteDestination]]]
    routes = [("http", i, r.route) for i, r in enumerate(spec.http)]
    routes += [("tcp", i, r.route) for i, r in enumerate(spec.tcp)]
    routes += [("tls", i, r.route) for i, r in enumerate(spec.tls)]
    for section, i, destinations in routes:
        for j, route in enumerate(destinations):
            path = f"spec.{section}[{i}].route[{j}].destination"
            found.append(("host", path, route.destination))
    for i, http in enumerate(spec.http):
        if http.mirror is not None:
            found.append(("mirror host", f"spec.http[{i}].mirror", http.mirror))
        for j, mirror in enumerate(http.mirrors):
            found.append(
                ("mirror host", f"spec.http[{i}].mirrors[{j}].destination", mirror.destination)
            )
    return found


def _virtual_service(
    vs: VirtualService,
    inventory: Inventory,
    subsets: set[tuple[str, str]],
) -> list[AnalysisMessage]:
    """IST0101 and IST0112 of each destination, on the line of its `host` (Istio names that
    line for a missing port or subset too)."""
    spec = vs.spec
    if not isinstance(spec, VirtualServiceSpec):
        return []
    out: list[AnalysisMessage] = []
    namespace = vs.meta.namespace

    def report(code: str, text: str, path: str) -> None:
        out.append(message_for(vs, "Error", code, text, path))

    for what, path, dest in _destinations(spec):
        host_path = f"{path}.host"
        if dest is None or not dest.host:  # Istio looks the empty host up, finding nothing
            report("IST0101", f'Referenced {what} not found: ""', host_path)
            continue
        host = fqdn(dest.host, namespace)
        known = inventory.services_for_host(host)
        if not inventory.knows_host(host, namespace, tuple(spec.export_to)):
            report("IST0101", f'Referenced {what} not found: "{dest.host}"', host_path)
        elif len(known) == 1 and dest.port is None and len(known[0].ports) > 1:
            numbers = " ".join(str(p) for p, _ in known[0].ports)
            text = (
                f'This VirtualService routes to a service "{dest.host}" that exposes '
                f"multiple ports [{numbers}]. Specifying a port in the destination is "
                "required to disambiguate."
            )
            report("IST0112", text, host_path)
        elif len(known) == 1 and dest.port is not None and known[0].ports:
            number = dest.port.number
            if number not in {p for p, _ in known[0].ports}:
                text = f'Referenced host:port not found: "{dest.host}:{number}"'
                report("IST0101", text, host_path)
        if dest.subset and (host, dest.subset) not in subsets:
            ref = "host" if what == "host" else "mirror"
            text = (
                f'Referenced {ref}+subset in destinationrule not found: "{dest.host}+{dest.subset}"'
            )
            report("IST0101", text, host_path)
    return out
