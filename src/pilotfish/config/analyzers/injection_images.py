"""Istio's injection.ImageAnalyzer, IST0158: in a namespace labelled for injection
(`istio-injection=enabled`, or `istio.io/rev`), pods whose istio-proxy container runs another
image than the injector's ConfigMap (`istio-sidecar-injector[-REVISION]`, its `values` JSON:
`global.hub`/`global.proxy.image`:`global.tag`, or an image with a `/` as is) would get now,
with the proxy image type suffix (`-distroless`) of the effective proxy config (mesh config
`defaultConfig.image.imageType`, ProxyConfig of the root namespace, of the pod's namespace, of a
selector matching the pod, the pod's `proxy.istio.io/config` annotation). Pods that set
`sidecar.istio.io/proxyImage` are skipped. One message per namespace, pods sorted. Pure.
"""

from __future__ import annotations

import json
from collections import defaultdict
from contextlib import suppress
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from pilotfish.config.analyzers.documents import as_map, as_strings, doc_message, istio_objects
from pilotfish.config.analyzers.kube import INJECTION_LABEL, PROXY_CONTAINER, Kube, KubeObject
from pilotfish.config.analyzers.kube_objects import REVISION
from pilotfish.config.analyzers.mesh_config import MeshInputs
from pilotfish.config.analyzers.messages import AnalysisMessage, selects
from pilotfish.config.kinds import PROXY_CONFIG
from pilotfish.config.load import LoadResult
from pilotfish.config.proxy_metadata import PROXY_CONFIG_ANNOTATION

INJECTOR = "istio-sidecar-injector"
PROXY_IMAGE = "sidecar.istio.io/proxyImage"


def injector_image(config_map: KubeObject) -> str:
    """The proxy image an injector ConfigMap's `values` name ("" when they do not parse)."""
    try:
        values = json.loads(as_strings(config_map.data.get("data")).get("values", ""))
    except ValueError:
        return ""
    glob = as_map(as_map(values).get("global"))
    image = str(as_map(glob.get("proxy")).get("image") or "")
    if "/" in image:
        return image
    return f"{glob.get('hub') or ''}/{image}:{glob.get('tag') or ''}"


def _image_type(value: Any) -> str:
    return str(as_map(as_map(value).get("image")).get("imageType") or "")


def _variant(pod: KubeObject, result: LoadResult, mesh: MeshInputs) -> str:
    variant = _image_type(mesh.default_config)
    configs = istio_objects(result, PROXY_CONFIG)
    for config in configs:
        if config.meta.namespace == mesh.root_namespace and _image_type(config.raw.get("spec")):
            variant = _image_type(config.raw.get("spec"))
    for config in configs:
        spec = as_map(config.raw.get("spec"))
        if config.meta.namespace == pod.namespace != mesh.root_namespace and not spec.get(
            "selector"
        ):
            variant = _image_type(spec) or variant
    for config in configs:
        spec = as_map(config.raw.get("spec"))
        labels = as_strings(as_map(spec.get("selector")).get("matchLabels"))
        if (
            config.meta.namespace == pod.namespace
            and spec.get("selector")
            and selects(labels, pod.labels)
        ):
            variant = _image_type(spec) or variant
    if PROXY_CONFIG_ANNOTATION in pod.annotations:
        with suppress(YAMLError):
            variant = (
                _image_type(YAML(typ="safe").load(pod.annotations[PROXY_CONFIG_ANNOTATION]))
                or variant
            )
    return "" if variant == "default" else variant


def mismatched_proxy_images(
    result: LoadResult, kube: Kube, mesh: MeshInputs
) -> list[AnalysisMessage]:
    images = {c.name: injector_image(c) for c in kube.config_maps if c.name.startswith(INJECTOR)}
    if not images:
        return []
    injected: dict[str, str] = {}
    for name, ns in kube.namespaces.items():
        if REVISION in ns.labels:
            injected[name] = ns.labels[REVISION]
        elif ns.labels.get(INJECTION_LABEL) == "enabled":
            injected[name] = "default"
    mismatched: dict[str, list[str]] = defaultdict(list)
    for pod in kube.pods:
        revision = injected.get(pod.namespace)
        if revision is None or pod.document is None or pod.annotations.get(PROXY_IMAGE):
            continue
        config_map = INJECTOR if revision in ("", "default") else f"{INJECTOR}-{revision}"
        for container in pod.containers():
            if container.get("name") != PROXY_CONTAINER:
                continue
            wanted = images.get(config_map)
            if wanted is None:
                break
            image = container.get("image")
            if image not in (wanted, f"{wanted}-{_variant(pod, result, mesh)}"):
                mismatched[pod.namespace].append(pod.name)
    out: list[AnalysisMessage] = []
    for namespace, pods in mismatched.items():
        text = (
            "The Istio proxy images of the pods running in the namespace do not match the image "
            f"defined in the injection configuration (pod names: [{' '.join(sorted(pods))}]). "
            "This often happens after upgrading the Istio control-plane and can be fixed by "
            "redeploying the pods."
        )
        document = kube.namespaces[namespace].document
        if document is not None:
            out.append(doc_message(document, "Warning", "IST0158", text))
    return out
