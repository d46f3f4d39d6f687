"""Kubernetes-style service environment variables for a process of the mesh (an app started by
its agent, or a command run with `pilotfish exec`): `<NAME>_SERVICE_HOST/_PORT` for the TCP
services of its namespace, pointing at its sidecar's outbound TCP listeners
(see `pilotfish.registry.tcp_ports`), from the services in the mesh's config store.
"""

from __future__ import annotations

from pathlib import Path

from pilotfish.registry.inputs import parse_documents
from pilotfish.registry.service_entries import with_entries
from pilotfish.registry.tcp_ports import outbound_tcp_ports, service_environment
from pilotfish.registry.types import RegistrySnapshot, Service


def tcp_service_env(
    ip: str, namespace: str, container_ports: list[int], config_path: Path
) -> dict[str, str]:
    listeners = outbound_tcp_ports(registry_services(config_path), container_ports)
    return service_environment(ip, namespace, listeners)


def registry_services(config_path: Path) -> tuple[Service, ...]:
    """The mesh's services (ServiceEntries too) as the stored config defines them; () when it
    cannot be read."""
    try:
        text = config_path.read_text()
    except OSError:
        return ()
    _, parsed = parse_documents([(str(config_path), text)])
    registry = with_entries(RegistrySnapshot(services=parsed.manifest.services), parsed.objects)
    return tuple(registry.services)
