"""Istio's webhook rules that read the object's metadata besides its spec, run beside the spec
checks: exportTo (validateExportTo, for VirtualService, DestinationRule and ServiceEntry: no
duplicate, `.` counting as the object's own namespace; `.`, `*` or a DNS-1123 label, `~` too for
a ServiceEntry, then alone; `*` alone; a DestinationRule with a workloadSelector exported to its
own namespace only) and a DYNAMIC_DNS MESH_INTERNAL ServiceEntry labelled to use a waypoint.
Pure.
"""

from __future__ import annotations

from typing import Any

from pilotfish.config.formats import dns1123_label_problem
from pilotfish.config.raw import as_map, as_strings
from pilotfish.config.schema import Problem
from pilotfish.config.yaml_text import join_path

EXPORTING_KINDS = frozenset({"VirtualService", "DestinationRule", "ServiceEntry"})
USE_WAYPOINT = "istio.io/use-waypoint"


def metadata_rules(kind: str, spec: Any, metadata: dict[str, Any]) -> list[Problem]:
    namespace = metadata.get("namespace")
    found = export_to_problems(
        kind, spec, namespace if isinstance(namespace, str) and namespace else "default"
    )
    spec = as_map(spec)
    waypoint = as_map(metadata.get("labels")).get(USE_WAYPOINT)
    if (
        kind == "ServiceEntry"
        and spec.get("resolution") == "DYNAMIC_DNS"
        and spec.get("location") == "MESH_INTERNAL"
        and isinstance(waypoint, str)
        and waypoint
        and waypoint.lower() != "none"
    ):
        found.append(
            Problem(
                "spec.location",
                "location MESH_INTERNAL with resolution type DYNAMIC_DNS is not supported when "
                "using waypoints",
            )
        )
    return found


def export_to_problems(kind: str, spec: Any, namespace: str, root: str = "spec") -> list[Problem]:
    spec = as_map(spec)
    if kind not in EXPORTING_KINDS or not spec.get("exportTo"):
        return []
    path = join_path(root, "exportTo")
    found: list[str] = []
    entries = as_strings(spec.get("exportTo"))
    seen: set[str] = set()
    for entry in entries:
        key = namespace if entry == "." else entry
        if key in seen:
            found.append(
                f"duplicate entries in exportTo: . and current namespace {namespace}"
                if key != entry
                else f"duplicate entries in exportTo for entry {entry}"
            )
        elif entry == "~" and kind == "ServiceEntry":
            seen.add(key)
        elif key == "~":
            found.append("exportTo ~ (none) is not allowed for Istio configuration objects")
        elif key != "*" and dns1123_label_problem(key) is not None:
            found.append("only .,*, or a valid DNS 1123 label is allowed as exportTo entry")
        else:
            seen.add(key)
    if kind == "DestinationRule" and spec.get("workloadSelector") is not None and seen:
        if namespace not in seen:
            found.append(
                "destination rule with workload selector cannot have exportTo beyond current "
                "namespace"
            )
        elif len(seen) > 1:
            found.append(
                "destination rule with workload selector cannot have multiple entries in exportTo"
            )
    if "*" in seen and len(entries) > 1:
        found.append("cannot have both public (*) and non-public exportTo values for a resource")
    if "~" in seen and len(entries) > 1:
        found.append("cannot export service entry to no one (~) and someone")
    return [Problem(path, message) for message in found]
