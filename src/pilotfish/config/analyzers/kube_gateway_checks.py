"""Istio's Gateway API (k8sgateway) analyzers: IST0166, a policy (AuthorizationPolicy,
RequestAuthentication, Telemetry, WasmPlugin) with a `selector` and no `targetRef` that selects
the pods of a Kubernetes Gateway (labelled `gateway.networking.k8s.io/gateway-name`): use
targetRef instead; IST0176, a Gateway API CRD whose `gateway.networking.k8s.io/bundle-version`
is below what Istio requires for that kind (it then ignores those resources). Pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any

from pilotfish.config.analyzers.documents import (
    as_map,
    as_strings,
    doc_message,
    documents,
    istio_objects,
)
from pilotfish.config.analyzers.kube import Kube
from pilotfish.config.analyzers.messages import AnalysisMessage, message_for, selects
from pilotfish.config.kinds import GATEWAY_NAME_LABEL, is_istio_group
from pilotfish.config.load import DEFAULT_NAMESPACE, LoadResult

GATEWAY_NAME = GATEWAY_NAME_LABEL
BUNDLE_VERSION = "gateway.networking.k8s.io/bundle-version"
POLICY_KINDS = ("AuthorizationPolicy", "RequestAuthentication", "Telemetry", "WasmPlugin")
MINIMUM_CRD_VERSIONS = {  # Istio's gatewayapi.MinimumCRDVersions
    "grpcroutes.gateway.networking.k8s.io": (1, 1, 0),
    "backendtlspolicies.gateway.networking.k8s.io": (1, 4, 0),
    "tlsroutes.gateway.networking.k8s.io": (1, 5, 0),
    "tcproutes.gateway.networking.k8s.io": (1, 6, 0),
}
SEMVER = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def _policies(result: LoadResult) -> list[tuple[dict[str, Any], Callable[[str], AnalysisMessage]]]:
    """(document, message maker) of each policy, whether its kind is modelled here or not."""
    out: list[tuple[dict[str, Any], Callable[[str], AnalysisMessage]]] = []
    for kind in POLICY_KINDS:
        for obj in istio_objects(result, kind):
            out.append((obj.raw, partial(message_for, obj, "Warning", "IST0166")))
        for doc in documents(result, kind):
            if is_istio_group(doc.api_version):
                out.append((doc.data, partial(doc_message, doc, "Warning", "IST0166")))
    return out


def ineffective_selectors(result: LoadResult, kube: Kube) -> list[AnalysisMessage]:
    out: list[AnalysisMessage] = []
    for data, message in _policies(result):
        spec = as_map(data.get("spec"))
        if spec.get("targetRef") is not None or spec.get("selector") is None:
            continue
        namespace = as_map(data.get("metadata")).get("namespace") or DEFAULT_NAMESPACE
        match = as_strings(as_map(spec["selector"]).get("matchLabels"))
        for pod in kube.pods:
            if (
                pod.namespace == namespace
                and GATEWAY_NAME in pod.labels
                and selects(match, pod.labels)
            ):
                gateway = pod.labels[GATEWAY_NAME]
                out.append(
                    message(
                        f"Ineffective selector on Kubernetes Gateway {gateway}. "
                        "Use the TargetRef field instead."
                    )
                )
    return out


def _version(text: str) -> tuple[tuple[int, int, int], str] | None:
    """Masterminds semver, loosely: `v1.4`, `1.4.1-rc1`; None when it does not parse."""
    found = SEMVER.match(text.strip())
    if found is None:
        return None
    major, minor, patch, pre = found.groups()
    numbers = (int(major), int(minor or 0), int(patch or 0))
    return numbers, f"{numbers[0]}.{numbers[1]}.{numbers[2]}" + (f"-{pre}" if pre else "")


def old_gateway_api_crds(result: LoadResult) -> list[AnalysisMessage]:
    out: list[AnalysisMessage] = []
    for crd in documents(result, "CustomResourceDefinition", "apiextensions.k8s.io"):
        name = str(crd.metadata.get("name") or "")
        minimum = MINIMUM_CRD_VERSIONS.get(name)
        bundle = as_map(crd.metadata.get("annotations")).get(BUNDLE_VERSION)
        parsed = _version(bundle) if minimum is not None and isinstance(bundle, str) else None
        if minimum is None or parsed is None or parsed[0] >= minimum:
            continue
        wanted = ".".join(str(n) for n in minimum)
        text = (
            f'Gateway API CRD "{name}" is at version "{parsed[1]}" but Istio requires at least '
            f'"{wanted}"; resources of this kind will not be processed. Upgrade the Gateway API '
            "CRDs to satisfy the minimum version."
        )
        out.append(doc_message(crd, "Warning", "IST0176", text))
    return out
