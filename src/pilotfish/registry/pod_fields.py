"""Kubernetes' Downward API for a container's `env`: `valueFrom.fieldRef` and
`valueFrom.resourceFieldRef`, as the API server validates them and the kubelet fills them in.

What is known when a manifest is read (the namespace, the service account, the pod's labels and
annotations, a resource the container states) is its value at once. What only a running pod
has (its name, uid and IP, the node's address, a limit left to the node's allocatable) is a
placeholder (`pod_field`) that `resolve` replaces when local mode starts the instance, in env
values and in `command`/`args` after `$(VAR)` expansion alike. A placeholder holds NUL bytes,
which no environment value or argument can hold, so nothing a manifest writes is mistaken for
one. The node is this machine: `NODE_NAME`, as `get nodes` shows it.
Pure: no I/O (`PodFacts` is filled by the caller).
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

NODE_NAME = "localhost"  # the mesh's one node, this machine (`get nodes`, pods' `spec.nodeName`)

ENV_FIELD_PATHS = (
    "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
    "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
)  # fmt: skip
"""The API server's supported `fieldRef.fieldPath`s for env, besides `metadata.labels['k']` and
`metadata.annotations['k']`."""
RESOURCES = ("limits.cpu", "limits.memory", "requests.cpu", "requests.memory")
KUBE_RESOURCES = (
    "limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu",
    "requests.ephemeral-storage", "requests.memory",
)  # fmt: skip
CPU_DIVISORS = ("1m", "1")
MEMORY_DIVISORS = (
    "1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei",
)  # fmt: skip

_PER_POD = frozenset({"metadata.name", "metadata.uid", "status.podIP", "status.podIPs",
                      "status.hostIP", "status.hostIPs"})  # fmt: skip
_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['([^']*)'\]$")
_PLACEHOLDER = re.compile("\0([^\0]*)\0")
_QUANTITY = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$"
)
_SUFFIX = {
    "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18), "Ki": Fraction(2**10), "Mi": Fraction(2**20),
    "Gi": Fraction(2**30), "Ti": Fraction(2**40), "Pi": Fraction(2**50), "Ei": Fraction(2**60),
}  # fmt: skip


class FieldError(ValueError):
    """An env source Kubernetes refuses: (field path below `valueFrom`, message)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class PodFacts:
    """What only a running pod knows, for `resolve`."""

    name: str
    namespace: str
    ip: str
    host_ip: str
    cpus: int  # the node's allocatable CPUs (a `limits.cpu` left unset)
    memory: int  # the node's allocatable memory in bytes (a `limits.memory` left unset)

    @property
    def uid(self) -> str:
        return pod_uid(self.namespace, self.name, self.ip)


def pod_uid(namespace: str, name: str, ip: str) -> str:
    """A pod's `metadata.uid`: stable for an instance at its address (`get pod -o yaml` shows the
    same), different for another pod."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pilotfish:pod/{namespace}/{name}/{ip}"))


def pod_field(key: str) -> str:
    return f"\0{key}\0"


def field_ref(ref: Any, namespace: str, account: str, meta: dict[str, Any]) -> str:
    """An env `fieldRef`'s value, or the placeholder of a per-pod one. Raises FieldError."""
    ref = ref if isinstance(ref, dict) else {}
    version = ref.get("apiVersion", "v1")
    if version not in ("v1", "", None):
        raise FieldError("fieldRef.apiVersion", f'Unsupported value: "{version}": supported'
                         ' values: "v1"')  # fmt: skip
    path = ref.get("fieldPath")
    if not isinstance(path, str) or not path:
        raise FieldError("fieldRef.fieldPath", "Required value")
    subscript = _SUBSCRIPT.match(path)
    if subscript:
        which, key = subscript.groups()
        values = meta.get(which) if isinstance(meta.get(which), dict) else {}
        return str((values or {}).get(key, ""))
    if path not in ENV_FIELD_PATHS:
        listed = ", ".join(f'"{p}"' for p in ENV_FIELD_PATHS)
        raise FieldError("fieldRef.fieldPath", f'Unsupported value: "{path}": supported values:'
                         f" {listed}")  # fmt: skip
    if path in _PER_POD:
        return pod_field(path)
    return {"metadata.namespace": namespace, "spec.nodeName": NODE_NAME}.get(path, account)


def resource_field_ref(ref: Any, container: dict[str, Any]) -> str:
    """An env `resourceFieldRef`'s value (kubelet's rounding up to whole divisors), or the
    placeholder of a limit the container leaves to the node. Raises FieldError."""
    ref = ref if isinstance(ref, dict) else {}
    resource = ref.get("resource")
    if not isinstance(resource, str) or not resource:
        raise FieldError("resourceFieldRef.resource", "Required value")
    if resource not in KUBE_RESOURCES:
        listed = ", ".join(f'"{r}"' for r in KUBE_RESOURCES)
        raise FieldError("resourceFieldRef.resource", f'Unsupported value: "{resource}":'
                         f" supported values: {listed}")  # fmt: skip
    if resource not in RESOURCES:
        raise FieldError("resourceFieldRef.resource", f"{resource} is not known in local mode")
    named = ref.get("containerName")
    if named and named != container.get("name"):
        raise FieldError("resourceFieldRef.containerName", f'Invalid value: "{named}": must be'
                         " the name of a container")  # fmt: skip
    cpu = resource.endswith(".cpu")
    divisor_text = str(ref.get("divisor") or "1")
    allowed = CPU_DIVISORS if cpu else MEMORY_DIVISORS
    divisor = quantity(divisor_text)
    if divisor is None or divisor not in {quantity(d) for d in allowed}:
        what = "cpu" if cpu else "memory"
        raise FieldError("resourceFieldRef.divisor", f"only divisor's values {', '.join(allowed)}"
                         f" are supported with the {what} resource")  # fmt: skip
    kind, name = resource.split(".")
    resources = container.get("resources")
    resources = resources if isinstance(resources, dict) else {}
    limits, requests = (_amounts(resources, k) for k in ("limits", "requests"))
    stated = limits.get(name) if kind == "limits" else requests.get(name, limits.get(name))
    if stated is None:
        if kind == "requests":
            return "0"
        return pod_field(f"{resource}|{divisor}")
    return rounded(stated, divisor)


def rounded(amount: Fraction, divisor: Fraction) -> str:
    """The kubelet's `ceil(amount / divisor)` (CPU in millicores, memory in bytes)."""
    return str(math.ceil(amount / divisor))


def quantity(text: Any) -> Fraction | None:
    """A Kubernetes quantity (`500m`, `0.5`, `128Mi`, `1e3`), or None."""
    match = _QUANTITY.match(str(text).strip()) if isinstance(text, (str, int, float)) else None
    if match is None:
        return None
    number, exponent, suffix = match.groups()
    value = Fraction(number)
    if exponent:
        return value * Fraction(10) ** int(exponent[1:])
    return value * _SUFFIX[suffix or ""]


def _amounts(resources: dict[str, Any], kind: str) -> dict[str, Fraction]:
    raw = resources.get(kind)
    found = {str(k): quantity(v) for k, v in (raw if isinstance(raw, dict) else {}).items()}
    return {k: v for k, v in found.items() if v is not None}


def resolve(text: str, facts: PodFacts) -> str:
    """text with each placeholder replaced by the running pod's value."""

    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if "|" in key:  # a limit left to the node: its allocatable
            resource, divisor = key.split("|")
            node = Fraction(facts.cpus) if resource.endswith(".cpu") else Fraction(facts.memory)
            return rounded(node, Fraction(divisor))
        return {
            "metadata.name": facts.name, "metadata.uid": facts.uid,
            "status.podIP": facts.ip, "status.podIPs": facts.ip,
            "status.hostIP": facts.host_ip, "status.hostIPs": facts.host_ip,
        }.get(key, "")  # fmt: skip

    return _PLACEHOLDER.sub(one, text)
