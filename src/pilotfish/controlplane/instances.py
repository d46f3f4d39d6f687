"""Workload instances as rows of `instances.json` (and of the registry API's PUT body)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pilotfish.registry.types import WorkloadInstance


def instance_to_json(instance: WorkloadInstance) -> dict[str, Any]:
    row = asdict(instance)
    row["labels"] = dict(instance.labels)
    return row


def instance_from_json(row: dict[str, Any]) -> WorkloadInstance:
    """Raises KeyError/TypeError/ValueError on a malformed row."""
    return WorkloadInstance(
        name=str(row["name"]),
        workload=str(row["workload"]),
        namespace=str(row.get("namespace", "default")),
        address=str(row["address"]),
        labels=tuple(sorted((str(k), str(v)) for k, v in dict(row.get("labels", {})).items())),
        service_account=str(row.get("service_account", "default")),
        ports=tuple(int(p) for p in row.get("ports", [])),
        ready=bool(row.get("ready", True)),
        sidecar=bool(row.get("sidecar", True)),
    )
