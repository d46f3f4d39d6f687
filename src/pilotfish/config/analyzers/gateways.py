"""Gateway analyzers: IST0145 (ConflictingGateways, Error) and IST0162
(GatewayPortNotDefinedOnService, Warning).

IST0145: two Gateways with the same selector, port and host.
IST0162: in local mode the ingress gateway listens on whatever ports its Gateways ask, so there
is no gateway Service to compare with, and nothing is reported. When the inputs (or the running
mesh) declare a `v1 Service` that selects the gateway's workloads (the implicit
`istio-ingressgateway`, or Workload documents with the gateway's labels), each server port must
be one of that Service's `targetPort`s (its `port` when no targetPort is given), as Istio checks
against the gateway Service. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from pilotfish.config.analyzers.inventory import Inventory
from pilotfish.config.analyzers.messages import AnalysisMessage, message_for, selector_text
from pilotfish.config.objects import ConfigObject


def _servers(gateway: ConfigObject[Any]) -> list[Any]:
    return list(getattr(gateway.spec, "servers", ()))


def _selector(gateway: ConfigObject[Any]) -> dict[str, str]:
    return dict(getattr(gateway.spec, "selector", {}) or {})


def conflicting_gateways(gateways: list[ConfigObject[Any]]) -> list[AnalysisMessage]:
    seen: dict[tuple[tuple[tuple[str, str], ...], int, str], ConfigObject[Any]] = {}
    out: list[AnalysisMessage] = []
    for gw in gateways:
        selector = tuple(sorted(_selector(gw).items()))
        for server in _servers(gw):
            port = server.port.number if server.port is not None and server.port.number else 0
            for host in server.hosts:
                key = (selector, port, host.rpartition("/")[2])
                other = seen.setdefault(key, gw)
                if other is not gw:
                    labels = ",".join(f"{k}={v}" for k, v in selector)
                    text = (
                        f"Conflict with gateways {other.meta.namespace}/{other.meta.name} "
                        f"(workload selector {labels}, port {port}, hosts {key[2]})."
                    )
                    out.append(message_for(gw, "Error", "IST0145", text))
    return out


def gateway_ports_not_on_service(
    gateway: ConfigObject[Any], inventory: Inventory
) -> list[AnalysisMessage]:
    selector = _selector(gateway)
    if not selector:
        return []
    services = {s for w in inventory.selected(selector, None) for s in inventory.services_of(w)}
    if not services:
        return []
    targets = {target for service in services for _, target in service.ports}
    out: list[AnalysisMessage] = []
    for server in _servers(gateway):
        number = server.port.number if server.port is not None else None
        if number is None or number in targets:
            continue
        text = (
            f"The gateway is listening on a target port (port {number}) that is not defined in "
            f"the Service associated with its workload instances (Pod selector "
            f"{selector_text(selector)}). If you need to access the gateway port through the "
            "gateway Service, it will not be available."
        )
        out.append(message_for(gateway, "Warning", "IST0162", text))
    return out
