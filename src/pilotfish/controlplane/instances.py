"""Workload instances as rows of `instances.json` (and of the registry API's PUT body), and
that file, read and written (atomically). A row the last list held unchanged is the very same
instance again (`InstanceRows`), and its line in the file is not encoded again: an endpoint
change of one pod among thousands compares, checks and writes by identity what did not move."""

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


class InstanceRows:
    """The registry API's instance lists read into instances: a row equal to the one of that
    name in the last list read gives the very instance read from it then (reading is pure), so
    what compares lists (`ControlPlane.set_instances`, `PushContext.moved_by`) and what is kept
    per instance finds the unchanged ones by identity."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[dict[str, Any], WorkloadInstance]] = {}

    def read(self, rows: list[Any]) -> list[WorkloadInstance]:
        """Raises KeyError/TypeError/ValueError on a malformed row (`instance_from_json`); the
        last list is kept then."""
        last, found, instances = self._last, {}, []
        for row in rows:
            name = row.get("name") if isinstance(row, dict) else None
            known = last.get(name) if isinstance(name, str) else None
            same = known is not None and known[0] == row
            instance = known[1] if known is not None and same else instance_from_json(row)
            found[instance.name] = (row, instance)
            instances.append(instance)
        self._last = found
        return instances


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
    slower for thousands of instances, on every registry change), an instance written last
    time taking the line it had then."""
    global _lines
    known, lines, written = _lines, {}, []
    for instance in instances:
        line = known.get(id(instance))
        if line is None or line[0] is not instance:
            line = (instance, json.dumps(instance_to_json(instance)))
        lines[id(instance)] = line
        written.append(line[1])
    rows = ",\n".join(written)
    write_atomically(path, f"[\n{rows}\n]\n" if rows else "[]\n")
    _lines = lines


_lines: dict[int, tuple[WorkloadInstance, str]] = {}
"""id -> (instance, its line) of the instances written last (`write_instances`)."""
