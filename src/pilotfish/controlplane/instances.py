"""Workload instances as rows of `instances.json` (and of the registry API's PUT body), and
that file, read and written (atomically)."""

from __future__ import annotations

import json
import logging
from dataclasses import fields
from pathlib import Path
from typing import Any

from pilotfish.registry.types import WorkloadInstance
from pilotfish.state_files import write_atomically

log = logging.getLogger("pilotfish.controlplane")


def instance_to_json(instance: WorkloadInstance) -> dict[str, Any]:
    row = {f.name: getattr(instance, f.name) for f in _FIELDS}  # flat: no deep copy (asdict)
    row["labels"] = dict(instance.labels)
    row["ports"] = list(instance.ports)
    row["port_map"] = [list(pair) for pair in instance.port_map]
    return row


_FIELDS = fields(WorkloadInstance)


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
        locality=str(row.get("locality") or ""),
    )


def read_instances(path: Path) -> tuple[WorkloadInstance, ...] | None:
    """The instances kept in `path`; None if there is none or it is unreadable (logged)."""
    if not path.exists():
        return None
    try:
        return tuple(instance_from_json(r) for r in json.loads(path.read_text()))
    except (ValueError, TypeError, KeyError) as exc:
        log.error("ignoring unreadable %s: %s", path, exc)
        return None


def write_instances(path: Path, instances: tuple[WorkloadInstance, ...]) -> None:
    """One row a line (each by the C encoder: `indent` would take the pure-Python one, ~4x
    slower for thousands of instances, on every registry change)."""
    rows = ",\n".join(json.dumps(instance_to_json(i)) for i in instances)
    write_atomically(path, f"[\n{rows}\n]\n" if rows else "[]\n")
