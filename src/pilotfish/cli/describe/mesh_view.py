"""What `pilotfish describe` knows about the running mesh: `MeshView`, decoded from API answers.

`mesh_view(documents, registryz, syncz, ingress_address)` turns the control plane's JSON
(`GET /api/v1/config`, `/debug/registryz`, `/debug/syncz`) into a `PushContext` (Istio objects
parsed with `pilotfish.config.load`, the registry exactly as the control plane holds it) plus the
connected proxies and their per-type xDS state. Pure: no I/O; malformed rows are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pilotfish.cli.proxy_status import COLUMNS, column_state
from pilotfish.config.load import LoadResult, load_document
from pilotfish.config.objects import Source
from pilotfish.config.yaml_text import RawDocument
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import (
    Protocol,
    RegistrySnapshot,
    Service,
    ServicePort,
    WorkloadInstance,
)

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ProxyState:
    """One proxy connected to the control plane, with each xDS type's state (SYNCED, …)."""

    instance: str
    namespace: str
    type: str  # sidecar | router
    labels: Labels = ()
    address: str = ""  # where its listeners bind (a gateway's ingress address)
    states: tuple[tuple[str, str], ...] = ()  # (CDS, SYNCED), …
    errors: tuple[str, ...] = ()  # NACK messages and generation errors

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True)
class MeshView:
    push: PushContext
    proxies: tuple[ProxyState, ...] = ()
    ingress_address: str = ""

    def proxy(self, instance: str, namespace: str) -> ProxyState | None:
        return next(
            (p for p in self.proxies if (p.instance, p.namespace) == (instance, namespace)), None
        )

    def routers(self) -> tuple[ProxyState, ...]:
        return tuple(p for p in self.proxies if p.type == "router")


def _pairs(value: Any) -> Labels:
    if isinstance(value, dict):
        return tuple(sorted((str(k), str(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        pairs = [p for p in value if isinstance(p, list | tuple) and len(p) == 2]
        return tuple(sorted((str(k), str(v)) for k, v in pairs))
    return ()


def _protocol(value: Any) -> Protocol:
    try:
        return Protocol(str(value))
    except ValueError:
        return Protocol.UNKNOWN


def _instance(row: dict[str, Any]) -> WorkloadInstance:
    return WorkloadInstance(
        name=str(row["name"]),
        workload=str(row.get("workload") or row["name"]),
        namespace=str(row.get("namespace") or "default"),
        address=str(row.get("address") or ""),
        labels=_pairs(row.get("labels")),
        service_account=str(row.get("service_account") or "default"),
        ports=tuple(int(p) for p in row.get("ports") or ()),
        ready=bool(row.get("ready", True)),
        port_map=tuple((str(k), int(v)) for k, v in _pairs(row.get("port_map"))),
        sidecar=bool(row.get("sidecar", True)),
        locality=str(row.get("locality") or ""),
    )


def _service(row: dict[str, Any]) -> Service:
    ports = tuple(
        ServicePort(
            name=str(p.get("name") or ""),
            port=int(p["port"]),
            protocol=_protocol(p.get("protocol")),
            target_port=int(p.get("target_port") or p["port"]),
            app_protocol=None if p.get("app_protocol") is None else str(p["app_protocol"]),
        )
        for p in row.get("ports") or ()
        if isinstance(p, dict)
    )
    return Service(
        name=str(row["name"]),
        namespace=str(row.get("namespace") or "default"),
        ports=ports,
        selector=_pairs(row.get("selector")),
        labels=_pairs(row.get("labels")),
        mesh_external=bool(row.get("mesh_external")),
        host=str(row.get("host") or ""),
        resolution=str(row.get("resolution") or ""),
        addresses=tuple(str(a) for a in row.get("addresses") or ()),
        entries=tuple(_instance(e) for e in row.get("entries") or () if isinstance(e, dict)),
    )


def registry_from_registryz(body: Any) -> RegistrySnapshot:
    """The control plane's registry (`GET /debug/registryz`) as a `RegistrySnapshot`."""
    body = body if isinstance(body, dict) else {}
    services, instances = [], []
    for row in body.get("services") or ():
        try:
            services.append(_service(row))
        except (KeyError, TypeError, ValueError):
            continue
    for row in body.get("instances") or ():
        try:
            instances.append(_instance(row))
        except (KeyError, TypeError, ValueError):
            continue
    return RegistrySnapshot(services=tuple(services), instances=tuple(instances))


def istio_objects(documents: list[Any]) -> LoadResult:
    """The stored Istio documents, parsed and validated into typed `ConfigObject`s."""
    result = LoadResult()
    for data in documents:
        if isinstance(data, dict):
            load_document(RawDocument(data, Source("<mesh>")), result)
    return result


def proxies_from_syncz(body: Any) -> tuple[ProxyState, ...]:
    """Connected proxies (`GET /debug/syncz`) with the state of each xDS type."""
    body = body if isinstance(body, dict) else {}
    found = []
    for row in body.get("proxies") or ():
        parts = str(row.get("node_id", "")).split("~")
        if len(parts) != 4 or "." not in parts[2]:
            continue
        instance, namespace = parts[2].rsplit(".", 1)
        proxy = row.get("proxy") or {}
        types = {str(t.get("type_url", "")): t for t in row.get("types") or ()}
        latest = row.get("latest") or {}
        states = tuple((short, column_state(types, latest, url)) for short, url in COLUMNS)
        errors = [
            f"{url.rsplit('.', 1)[-1]} NACK: {t['last_nack'].get('error_message', '')}"
            for url, t in types.items()
            if t.get("last_nack")
        ]
        errors += [f"config not pushed: {e}" for e in row.get("generation_errors") or ()]
        found.append(
            ProxyState(
                instance=instance,
                namespace=namespace,
                type=parts[0],
                labels=_pairs(proxy.get("labels")),
                address=str(proxy.get("gateway_address") or proxy.get("ip") or parts[1]),
                states=states,
                errors=tuple(errors),
            )
        )
    return tuple(sorted(found, key=lambda p: (p.namespace, p.instance)))


def mesh_view(
    documents: list[Any], registryz: Any, syncz: Any, ingress_address: str = ""
) -> MeshView:
    configs = tuple(istio_objects(documents).objects)
    push = PushContext(registry=registry_from_registryz(registryz), configs=configs)
    return MeshView(push=push, proxies=proxies_from_syncz(syncz), ingress_address=ingress_address)
