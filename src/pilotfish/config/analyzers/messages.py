"""What an analyzer reports: `AnalysisMessage` printed as istioctl analyze prints it, plus the
host and label helpers every analyzer shares (short-name resolution, the Kubernetes selector
string; hosts are compared by `config.hosts`). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pilotfish.config.hosts import CLUSTER_DOMAIN, resolve_host
from pilotfish.config.objects import AnyConfig, Source

Severity = Literal["Error", "Warning", "Info"]
SEVERITY_RANK = {"Info": 0, "Warning": 1, "Error": 2}
DOMAIN = f"svc.{CLUSTER_DOMAIN}"
fqdn = resolve_host
"""Istio's short-name resolution (`reviews` in ns -> reviews.ns.svc.cluster.local)."""
ROOT_NAMESPACE = "istio-system"
CLUSTER_SCOPED = frozenset(
    [
        "Namespace",
        "Node",
        "CustomResourceDefinition",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ClusterRole",
        "ClusterRoleBinding",
    ]
)
"""Kinds without a namespace: a message about one names it alone."""


@dataclass(frozen=True)
class AnalysisMessage:
    severity: Severity
    code: str
    kind: str
    name: str  # name.namespace, as istioctl prints it
    message: str
    source: Source = field(default_factory=Source)
    path: str = ""
    """The field the message is about (`spec.http[0].route[1].destination.host`), whose line
    `source` names; istioctl prints the line, not the path."""
    unnamespaced: bool = False
    """The resource named no namespace and istioctl's `-A` gave it none: `name` is the name
    alone, printed `Kind name` (Istio's `FullName` without a namespace)."""

    @property
    def namespace(self) -> str:
        """The namespace the message is about, as istioctl filters by it: a Namespace's own
        name, "" for a cluster-scoped resource."""
        if self.kind == "Namespace":
            return self.name
        if self.kind in CLUSTER_SCOPED or self.unnamespaced:
            return ""
        return self.name.rpartition(".")[2] if "." in self.name else ""

    @property
    def origin(self) -> str:
        """istioctl's name of the resource: `Kind namespace/name`, `Kind name` when it has no
        namespace (Istio's `Origin.FriendlyName`)."""
        if self.kind in CLUSTER_SCOPED or self.unnamespaced or "." not in self.name:
            return f"{self.kind} {self.name}"
        name, _, namespace = self.name.rpartition(".")
        return f"{self.kind} {namespace}/{name}"

    @property
    def reference(self) -> str:
        """Where the resource was read: `file:line` (a JSON file without its line, as Istio's
        `Position`), "" when not read from a file."""
        if self.source.file == "<unknown>":
            return ""
        if self.source.file.endswith(".json") or not self.source.line:
            return self.source.file
        return f"{self.source.file}:{self.source.line}"

    def sort_key(self) -> tuple[int, str, str, str]:
        """istioctl's order: errors first, then by code, resource (kind/name/namespace) and
        text (`diag.Messages.Sort`)."""
        name, _, namespace = self.name.rpartition(".") if self.namespace else ("", "", "")
        comparator = f"{self.kind}/{name or self.name}/{namespace}"
        return (-SEVERITY_RANK[self.severity], self.code, comparator, str(self))

    def __str__(self) -> str:
        where = f" {self.reference}" if self.reference else ""
        return f"{self.severity} [{self.code}] ({self.origin}{where}) {self.message}"


def message_for(
    obj: AnyConfig, severity: Severity, code: str, text: str, path: str = ""
) -> AnalysisMessage:
    """A message about one config object, pointing at the line of the field at `path` (as
    Istio's analyzers do) or, with no path, at the object's first line."""
    name = f"{obj.meta.name}.{obj.meta.namespace}"
    return AnalysisMessage(severity, code, obj.meta.kind, name, text, obj.source_of(path), path)


def selector_text(labels: dict[str, str]) -> str:
    """A label selector as Kubernetes prints it: `app=reviews,version=v1` (keys sorted)."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """An equality selector: every key=value of `selector` is among `labels`."""
    return all(labels.get(k) == v for k, v in selector.items())
