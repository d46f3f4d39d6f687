"""kubectl's `get --field-selector` and `--sort-by`, over the objects of one `get_output.Section`.

Field selectors are the API server's: `key=value`, `key==value`, `key!=value`, comma-separated
(all must hold), on the fields each resource serves: every kind `metadata.name` and
`metadata.namespace`; pods also `spec.nodeName`, `spec.restartPolicy`, `spec.schedulerName`,
`spec.hostNetwork`, `status.phase`, `status.podIP`, `status.nominatedNodeName`; namespaces
`status.phase`; nodes `spec.unschedulable`; secrets `type`. Another field gets the API server's
BadRequest as kubectl prints it (`field label not supported: spec.foo` for built-in kinds, the
CRD wording for Istio's kinds); a term without an operator gets fields.ParseSelector's error.

`--sort-by` is kubectl's client-side sort (its `RuntimeSort`): the JSONPath in the relaxed forms
kubectl takes (`.metadata.name`, `metadata.name`, `{.metadata.name}`), on each object; numbers
compare as numbers, strings in natural order (`pod-2` before `pod-10`), objects without the
field first; an error when no object has it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pilotfish.cli.jsonpath import evaluate

BASE_FIELDS = ("metadata.name", "metadata.namespace")
_POD_FIELDS = (
    "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.hostNetwork",
    "status.phase", "status.podIP", "status.nominatedNodeName",
)  # fmt: skip
FIELDS: dict[str, tuple[str, ...]] = {
    "pod": (*BASE_FIELDS, *_POD_FIELDS),
    "namespace": ("metadata.name", "status.phase"),
    "node": ("metadata.name", "spec.unschedulable"),
    "secret": (*BASE_FIELDS, "type"),
}
DEFAULTS = {
    "spec.restartPolicy": "Always",
    "spec.schedulerName": "default-scheduler",
    "spec.hostNetwork": "false",
    "spec.unschedulable": "false",
    "type": "Opaque",
}
"""What the API server holds for a field the local objects leave out."""
BUILT_IN_GROUPS = ("", "apps", "networking.k8s.io")
_RELAXED = re.compile(r"^\{\.?([^{}]+)\}$|^\.?([^{}]+)$")


class FilterError(ValueError):
    """kubectl's error line for a selector or sort field it refuses (printed as is)."""


@dataclass(frozen=True)
class Filters:
    """`--field-selector` and `--sort-by` as given (None: not given), and `-l` as typed (the
    API server's error quotes it)."""

    fields: str | None = None
    sort_by: str | None = None
    labels: str = ""

    def apply(self, section: str, resource: str, found: list[dict[str, Any]]) -> list[Any]:
        """One section's objects, selected then sorted. Raises FilterError."""
        if self.fields is not None:
            found = select_fields(section, resource, found, self.fields, self.labels)
        return sort_objects(found, self.sort_by) if self.sort_by else found


@dataclass(frozen=True)
class Requirement:
    field: str
    equal: bool
    value: str


def parse_fields(text: str) -> list[Requirement]:
    """`a=b,c!=d` as fields.ParseSelector reads it. Raises FilterError."""
    found = []
    for term in (t.strip() for t in re.split(r"(?<!\\),", text)):
        if not term:
            continue
        for op, equal in (("!=", False), ("==", True), ("=", True)):
            if op in term:
                key, _, value = term.partition(op)
                found.append(Requirement(key.strip(), equal, value.strip().replace("\\,", ",")))
                break
        else:
            raise FilterError(f"error: invalid selector: '{text}'; can't understand '{term}'")
    return found


def select_fields(
    section: str, resource: str, found: list[dict[str, Any]], wanted: str, labels: str
) -> list[dict[str, Any]]:
    """The objects of one `get` section (kubectl's `pod`, `service`, `virtualservice.
    networking.istio.io`; its NotFound `resource` name) meeting every requirement of
    `--field-selector`. Raises FilterError for a field the resource does not serve."""
    requirements = parse_fields(wanted)
    kind, _, group = section.partition(".")
    served = FIELDS.get(kind, BASE_FIELDS)
    for req in requirements:
        if req.field in served:
            continue
        version = next((str(o["apiVersion"]) for o in found if o.get("apiVersion")), "v1")
        gvr = f"{group}/{version.rpartition('/')[2]}, Resource={resource.partition('.')[0]}"
        if group in BUILT_IN_GROUPS:
            why = f"field label not supported: {req.field}"
        else:
            only = ", ".join(f'"{f}"' for f in served)
            why = f'"{req.field}" is not a known field selector: only {only}'
        raise FilterError(
            f'Error from server (BadRequest): Unable to find "{gvr}" that match label selector'
            f' "{labels}", field selector "{wanted}": {why}'
        )
    return [o for o in found if all(_holds(o, r) for r in requirements)]


def _holds(obj: dict[str, Any], req: Requirement) -> bool:
    return (field_value(obj, req.field) == req.value) == req.equal


def field_value(obj: dict[str, Any], field: str) -> str:
    """A field as the API server compares it: text, booleans as `true`/`false`."""
    value: Any = obj
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return DEFAULTS.get(field, "")
    return str(value).lower() if isinstance(value, bool) else str(value)


def relaxed(path: str) -> str:
    """kubectl's RelaxedJSONPathExpression: `metadata.name`, `.metadata.name`,
    `{metadata.name}` all become `{.metadata.name}`. Raises FilterError."""
    if not path:
        return path
    match = _RELAXED.match(path)
    if match is None:
        raise FilterError(
            "error: unexpected path string, expected a 'name1.name2' or '.name1.name2' or"
            " '{name1.name2}' or '{.name1.name2}'"
        )
    return "{." + (match.group(1) or match.group(2)) + "}"


def sort_objects(found: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    """`found` in kubectl's `--sort-by` order (stable). Raises FilterError."""
    if not found:
        return found
    field = relaxed(path)
    values = [evaluate(o, field[1:-1]) for o in found]
    if not any(values):
        raise FilterError(
            f'error: couldn\'t find any field with path "{field}" in the list of objects'
        )
    keyed = [(_sort_key(v[0] if v else None), i) for i, v in enumerate(values)]
    return [found[i] for _, i in sorted(keyed)]


def _sort_key(value: Any) -> tuple[Any, ...]:
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        return (2, value)
    text = value if isinstance(value, str) else repr(value)
    parts = re.findall(r"\d+|\D+", text)  # natural order, as kubectl's sortorder.NaturalLess
    return (3, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts))
