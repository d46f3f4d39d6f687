"""Which analyzers run without a cluster, as `istioctl analyze --use-kube=false` decides.

istioctl never reads `v1` Pods, Services, Namespaces, Secrets or Nodes from files (Istio's
`kuberesource.DefaultExcludedSchemas`, skipped by `AddReaderKubeSource`), and an analyzer that
reads a kind no source provides is skipped whole (`CombinedAnalyzer.RemoveSkipped`): offline,
every analyzer reading one of those kinds is off. pilotfish has no cluster, so the cluster's
objects come from the input (manifest `v1` objects and pilotfish `Workload`s, which stand for a
cluster's, as Istio's analyzer tests read them) or from the running mesh (`--use-mesh`); with
neither, `analyze` reports only what istioctl reports offline. `needs_cluster(message)` says
whether the message comes from an analyzer istioctl skips offline: the codes below, and
IST0101 except the references checked by the analyzers that read Istio config only
(`virtualservice.GatewayAnalyzer`: gateways, `virtualservice.DestinationRuleAnalyzer`: subsets).
Pure; imports only `messages` and `yaml_text`.
"""

from __future__ import annotations

from collections.abc import Iterable

from pilotfish.config.analyzers.messages import AnalysisMessage
from pilotfish.config.yaml_text import RawDocument

CLUSTER_KINDS = frozenset({"Pod", "Service", "Namespace", "Secret", "Node"})
WORKLOAD = ("pilotfish.io/v1alpha1", "Workload")

# code -> the Istio analyzer that reports it and the cluster kinds it reads
CLUSTER_CODES = {
    "IST0102": "injection.Analyzer (Namespace, Pod)",
    "IST0103": "injection.Analyzer (Namespace, Pod)",
    "IST0123": "injection.Analyzer (Namespace, Pod)",
    "IST0148": "injection.Analyzer (Namespace, Pod)",
    "IST0107": "annotations.K8sAnalyzer (Namespace, Service, Pod)",
    "IST0108": "annotations.K8sAnalyzer (Namespace, Service, Pod)",
    "IST0125": "annotations.K8sAnalyzer (Namespace, Service, Pod)",
    "IST0135": "annotations.K8sAnalyzer (Namespace, Service, Pod)",
    "IST0110": "sidecar.SelectorAnalyzer (Pod, Namespace)",
    "IST0111": "sidecar.SelectorAnalyzer (Pod, Namespace)",
    "IST0167": "sidecar.SelectorAnalyzer (Pod, Namespace)",
    "IST0112": "virtualservice.DestinationHostAnalyzer (Service)",
    "IST0140": "virtualservice.DestinationHostAnalyzer (Service)",
    "IST0149": "virtualservice.JWTClaimRouteAnalyzer (Pod)",
    "IST0116": "deployment.MultiServiceAnalyzer (Service, Namespace)",
    "IST0137": "deployment.MultiServiceAnalyzer (Service, Namespace)",
    "IST0118": "service.PortNameAnalyzer (Service)",
    "IST0150": "service.PortNameAnalyzer (Service)",
    "IST0127": "auth.AuthorizationPoliciesAnalyzer (Namespace, Pod)",
    "IST0139": "webhook.Analyzer (Service)",
    "IST0144": "applicationUID.Analyzer (Pod)",
    "IST0145": "gateway.ConflictingGatewayAnalyzer (Pod)",
    "IST0161": "gateway.SecretAnalyzer (Pod, Secret)",
    "IST0162": "gateway.IngressGatewayPortAnalyzer (Pod, Service)",
    "IST0146": "injection.ImageAutoAnalyzer (Namespace, Pod)",
    "IST0147": "injection.ImageAutoAnalyzer (Namespace, Pod)",
    "IST0158": "injection.ImageAnalyzer (Namespace, Pod)",
    "IST0159": "telemetry.SelectorAnalyzer (Pod)",
    "IST0166": "k8sgateway.SelectorAnalyzer (Pod)",
    "IST0173": "destinationrule.SubsetSelectPodAnalyzer (Pod, Service, Node)",
    "IST0174": "destinationrule.SubsetSelectPodAnalyzer (Pod, Service, Node)",
    "IST0126": "meshnetworks.MeshNetworksAnalyzer (Secret)",
}
# IST0101 references checked by analyzers reading Istio config only
OFFLINE_REFERENCES = (
    "Referenced gateway not found",
    "Referenced host+subset in destinationrule not found",
    "Referenced mirror+subset in destinationrule not found",
)


def has_cluster_objects(documents: Iterable[RawDocument]) -> bool:
    """Whether the input carries a cluster's objects (a `v1` Pod, Service, Namespace, Secret or
    Node, or a pilotfish Workload)."""
    return any(
        (d.api_version == "v1" and d.kind in CLUSTER_KINDS) or (d.api_version, d.kind) == WORKLOAD
        for d in documents
    )


def needs_cluster(message: AnalysisMessage) -> bool:
    """Whether istioctl reports this message only with a cluster (its analyzer reads Pods,
    Services, Namespaces, Secrets or Nodes)."""
    if message.code == "IST0101":
        return not message.message.startswith(OFFLINE_REFERENCES)
    return message.code in CLUSTER_CODES
