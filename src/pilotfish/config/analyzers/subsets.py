"""Istio's destinationrule PodNotSelectedAnalyzer: IST0174 for a DestinationRule whose host is no
known service (the inputs' Services and ServiceEntries, the running mesh's registry), IST0173
for a subset whose labels (with the ServiceEntry's workloadSelector) select no pod.

A pod's labels are augmented as Istio's registry does: its node's topology region, zone and
subzone (only when set) and `kubernetes.io/hostname`. A Kubernetes Service adds no selector to a
subset (Istio's analyzer reads the Service as a ServiceEntry without workloadSelector). Pure.
"""

from __future__ import annotations

from pilotfish.config.analyzers.documents import as_list, as_map, as_strings, documents, spec_of
from pilotfish.config.analyzers.inventory import Inventory
from pilotfish.config.analyzers.kube import Kube, KubeObject
from pilotfish.config.analyzers.messages import AnalysisMessage, fqdn, message_for, selects
from pilotfish.config.hosts import host_matches
from pilotfish.config.load import LoadResult
from pilotfish.config.objects import DestinationRule, ServiceEntry
from pilotfish.config.validation.destination_rule import REGION, SUBZONE, ZONE

HOSTNAME = "kubernetes.io/hostname"


def _pod_labels(pod: KubeObject, nodes: dict[str, dict[str, str]]) -> dict[str, str]:
    labels = dict(pod.labels)
    node = pod.spec.get("nodeName")
    if isinstance(node, str) and node:
        for key in (REGION, ZONE, SUBZONE):
            value = nodes.get(node, {}).get(key, "")
            if value:
                labels[key] = value
        labels[HOSTNAME] = node
    return labels


def _entry_selectors(entries: list[ServiceEntry]) -> dict[str, dict[str, str]]:
    """Host (FQDN) -> the workloadSelector labels of the ServiceEntry defining it."""
    out: dict[str, dict[str, str]] = {}
    for se in entries:
        spec = spec_of(se)
        labels = as_strings(as_map(spec.get("workloadSelector")).get("labels"))
        for host in as_list(spec.get("hosts")):
            out[fqdn(str(host), se.meta.namespace)] = labels
    return out


def _service_for(host: str, inventory: Inventory) -> str | None:
    """The known service host a DestinationRule host resolves to (Istio's GetDestinationHost:
    the exact name first, else a wildcard service host covering it)."""
    for service in inventory.services:
        if service.host == host:
            return service.host
    for service in inventory.services:
        if host_matches(service.host, host, "name"):
            return service.host
    return None


def unselected_subsets(
    result: LoadResult,
    rules: list[DestinationRule],
    entries: list[ServiceEntry],
    inventory: Inventory,
    kube: Kube,
) -> list[AnalysisMessage]:
    nodes = {
        str(n.metadata.get("name") or ""): as_strings(n.metadata.get("labels"))
        for n in documents(result, "Node", "")
    }
    pods = [_pod_labels(p, nodes) for p in kube.pods]
    selectors = _entry_selectors(entries)
    out: list[AnalysisMessage] = []
    for rule in rules:
        spec = spec_of(rule)
        host = str(spec.get("host") or "")
        found = _service_for(fqdn(host, rule.meta.namespace), inventory)
        if found is None:
            text = (
                f"The host {host} defined in the DestinationRule does not match any services in "
                "the mesh."
            )
            out.append(message_for(rule, "Warning", "IST0174", text, "spec.host"))
            continue
        for index, subset in enumerate(as_list(spec.get("subsets"))):
            subset = as_map(subset)
            wanted = {**selectors.get(found, {}), **as_strings(subset.get("labels"))}
            if not any(selects(wanted, labels) for labels in pods):
                text = (
                    f"The Subset {subset.get('name')} defined in the DestinationRule does not "
                    "select any pods. Which may lead to 503 UH (NoHealthyUpstream)."
                )
                path = f"spec.subsets[{index}].name"
                out.append(message_for(rule, "Error", "IST0173", text, path))
    return out
