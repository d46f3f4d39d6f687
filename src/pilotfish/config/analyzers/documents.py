"""Helpers for analyzers that read documents as plain data (Kubernetes objects of any kind, the
raw body of Istio objects): the message about a document, typed field access, Kubernetes label
selectors (`matchLabels` + `matchExpressions`) and the Istio objects of a load. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, overload

from pilotfish.config.analyzers.messages import CLUSTER_SCOPED, AnalysisMessage, Severity
from pilotfish.config.kinds import Kind, SpecT
from pilotfish.config.load import LoadResult
from pilotfish.config.objects import AnyConfig, ConfigObject
from pilotfish.config.yaml_text import RawDocument


def as_map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_strings(value: Any) -> dict[str, str]:
    return {str(k): "" if v is None else str(v) for k, v in as_map(value).items()}


def doc_name(data: dict[str, Any], namespaced: bool = True) -> str:
    """`name.namespace` as istioctl prints it (only the name for a cluster-scoped object)."""
    meta = as_map(data.get("metadata"))
    name = str(meta.get("name") or "")
    namespace = meta.get("namespace")
    if not namespaced or not isinstance(namespace, str) or not namespace:
        return name
    return f"{name}.{namespace}"


def doc_message(
    doc: RawDocument, severity: Severity, code: str, text: str, namespaced: bool = True
) -> AnalysisMessage:
    """A message about a non-Istio document, pointing at its file:line."""
    name = doc_name(doc.data, namespaced)
    if namespaced and "." not in name and doc.kind not in CLUSTER_SCOPED:
        name = f"{name}.default"
    return AnalysisMessage(severity, code, doc.kind, name, text, doc.source)


def documents(result: LoadResult, kind: str, group: str | None = None) -> Iterator[RawDocument]:
    """The non-Istio documents of `kind` (and API group, when given: "" for core)."""
    for doc in result.others:
        if doc.kind == kind and (group is None or doc.api_version.rpartition("/")[0] == group):
            yield doc


@overload
def istio_objects(result: LoadResult, kind: Kind[SpecT]) -> list[ConfigObject[SpecT]]: ...
@overload
def istio_objects(result: LoadResult, kind: str) -> list[AnyConfig]: ...
def istio_objects(result: LoadResult, kind: str) -> list[AnyConfig]:
    """The Istio objects of `kind` (typed by a `config.kinds` key), accepted or rejected by
    validation (analyzers read both: a rejected object's spec is still its kind's model)."""
    return [o for o in [*result.objects, *result.rejected] if o.meta.kind == kind]


def spec_of(obj: AnyConfig) -> dict[str, Any]:
    return as_map(obj.raw.get("spec"))


def full_name(obj: AnyConfig) -> str:
    """`namespace/name`, Istio's resource.FullName."""
    return f"{obj.meta.namespace}/{obj.meta.name}"


def _requirement(expression: dict[str, Any], labels: dict[str, str]) -> bool | None:
    """One matchExpressions entry against labels; None when the entry is malformed."""
    key = expression.get("key")
    operator = expression.get("operator")
    values = [str(v) for v in as_list(expression.get("values"))]
    if not isinstance(key, str):
        return None
    if operator == "In":
        return key in labels and labels[key] in values if values else None
    if operator == "NotIn":
        return key not in labels or labels[key] not in values if values else None
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return None


def label_selector_matches(selector: Any, labels: dict[str, str]) -> bool:
    """A Kubernetes LabelSelector: absent matches everything, a malformed one matches nothing
    (as metav1.LabelSelectorAsSelector's error is treated by Istio's analyzers)."""
    if selector is None:
        return True
    selector = as_map(selector)
    for key, value in as_strings(selector.get("matchLabels")).items():
        if labels.get(key) != value:
            return False
    for expression in as_list(selector.get("matchExpressions")):
        if _requirement(as_map(expression), labels) is not True:
            return False
    return True
