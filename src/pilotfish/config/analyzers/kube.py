"""The Kubernetes objects given beside the Istio config, as Istio's analyzers read them: `Kube`.

Built from the non-Istio documents of the inputs (`v1 Pod`, `Service`, `Namespace`, `Secret`,
`ConfigMap`, `apps/v1 Deployment`, and Gateway API `Gateway`s), and for the running local mesh
from its registry (each instance is a pod with its sidecar). Owns "is this pod in the mesh"
(Istio's rule: an istio-proxy container, then the pod's `sidecar.istio.io/inject`, then its
namespace's `istio-injection` label). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pilotfish.config.kinds import GATEWAY_API_GROUP
from pilotfish.config.load import DEFAULT_NAMESPACE
from pilotfish.config.raw import as_list, as_map
from pilotfish.config.yaml_text import RawDocument

INJECT = "sidecar.istio.io/inject"
INJECTION_LABEL = "istio-injection"
PROXY_CONTAINER = "istio-proxy"
KUBE_GATEWAY_GROUP = GATEWAY_API_GROUP


def _strings(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in as_map(value).items()}


@dataclass(frozen=True)
class KubeObject:
    """One Kubernetes document: identity, labels, annotations, and its body (spec/data)."""

    kind: str
    name: str
    namespace: str
    labels: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    annotations: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    data: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    document: RawDocument | None = field(default=None, hash=False, compare=False)

    @property
    def spec(self) -> dict[str, Any]:
        return as_map(self.data.get("spec"))

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"

    def containers(self) -> list[dict[str, Any]]:
        """Containers and init containers of a Pod, or of a Deployment's pod template."""
        spec = self.spec
        if self.kind == "Deployment":
            spec = as_map(as_map(spec.get("template")).get("spec"))
        return [
            as_map(c) for c in as_list(spec.get("containers")) + as_list(spec.get("initContainers"))
        ]


@dataclass
class Kube:
    pods: list[KubeObject] = field(default_factory=list)
    services: list[KubeObject] = field(default_factory=list)
    namespaces: dict[str, KubeObject] = field(default_factory=dict)
    secrets: dict[tuple[str, str], KubeObject] = field(default_factory=dict)
    config_maps: list[KubeObject] = field(default_factory=list)
    deployments: list[KubeObject] = field(default_factory=list)
    kube_gateways: dict[tuple[str, str], KubeObject] = field(default_factory=dict)

    def pods_selected(self, selector: dict[str, str], namespace: str | None) -> list[KubeObject]:
        return [
            p
            for p in self.pods
            if (namespace is None or p.namespace == namespace)
            and all(p.labels.get(k) == v for k, v in selector.items())
        ]

    def in_mesh(self, pod: KubeObject) -> bool:
        if any(c.get("name") == PROXY_CONTAINER and c.get("image") for c in pod.containers()):
            return True
        for source in (pod.labels, pod.annotations):
            if INJECT in source:
                return source[INJECT] == "true"
        namespace = self.namespaces.get(pod.namespace)
        return namespace is not None and namespace.labels.get(INJECTION_LABEL) == "enabled"


def _object(kind: str, doc: RawDocument) -> KubeObject:
    meta = doc.metadata
    namespace = meta.get("namespace")
    return KubeObject(
        kind,
        str(meta.get("name") or ""),
        namespace if isinstance(namespace, str) and namespace else DEFAULT_NAMESPACE,
        _strings(meta.get("labels")),
        _strings(meta.get("annotations")),
        doc.data,
        doc,
    )


def kube_from_documents(documents: list[RawDocument]) -> Kube:
    kube = Kube()
    for doc in documents:
        group = doc.api_version.rpartition("/")[0]
        kind = doc.kind
        if group == "" and kind in ("Pod", "Service", "Namespace", "Secret", "ConfigMap"):
            obj = _object(kind, doc)
            if kind == "Pod":
                kube.pods.append(obj)
            elif kind == "Service":
                kube.services.append(obj)
            elif kind == "Namespace":
                kube.namespaces[obj.name] = obj
            elif kind == "Secret":
                kube.secrets[(obj.namespace, obj.name)] = obj
            else:
                kube.config_maps.append(obj)
        elif group == "apps" and kind == "Deployment":
            kube.deployments.append(_object(kind, doc))
        elif group == KUBE_GATEWAY_GROUP and kind == "Gateway":
            obj = _object(kind, doc)
            kube.kube_gateways[(obj.namespace, obj.name)] = obj
    return kube
