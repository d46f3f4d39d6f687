"""Destination -> cluster, and the weight rules, for HTTP, TCP and TLS routes alike.

A VirtualService destination names a host (short names resolve in the VirtualService's
namespace), an optional port and an optional subset; it becomes the outbound cluster
`outbound|<port>||<host>` or `outbound|<port>|<subset>|<host>`. With no port, the service's
only port, else the port the route serves. A destination whose host is not in the registry, whose
port is ambiguous, or whose cluster does not exist is left out with a diagnostic.

Weights, as Istio: a lone destination takes all traffic (weight 100); with several, a
destination of weight 0 gets none and is left out; when one destination is left of those with
a weight (the route's "lone destination"), it is the route's plain cluster rather than a
weighted cluster. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, overload

from pilotfish.config.hosts import resolve_host
from pilotfish.config.objects import Diagnostic, VirtualService
from pilotfish.registry.types import Service
from pilotfish.translate import names

if TYPE_CHECKING:
    from pilotfish.config.models.networking import (
        Destination,
        HTTPRoute,
        HTTPRouteDestination,
        RouteDestination,
        TCPRoute,
        TLSRoute,
    )

    Route = HTTPRoute | TCPRoute | TLSRoute

D = TypeVar("D", "HTTPRouteDestination", "RouteDestination")
"""A route's destination: HTTP routes' carry headers, TCP/TLS routes' do not."""


class ServiceLookup(Protocol):
    """What routes read of the registry (a `RegistrySnapshot`, or a view of one)."""

    def service(self, hostname: str) -> Service | None: ...


@dataclass(frozen=True)
class Target(Generic[D]):
    """One usable destination of a route: its cluster and weight (100 when it is alone)."""

    cluster: str
    weight: int
    destination: D


@dataclass(frozen=True)
class Destinations:
    """Where a route's destinations are resolved: the registry, the outbound clusters that
    exist, the port the route serves, and where diagnostics go."""

    registry: ServiceLookup
    clusters: Mapping[str, object]
    port: int
    diagnostics: list[Diagnostic]

    def cluster(self, vs: VirtualService, destination: Destination | None, path: str) -> str | None:
        """The outbound cluster a destination names, or None with a diagnostic."""
        if destination is None or not destination.host:
            self.diagnostics.append(vs.diagnostic("destination without host", path))
            return None
        host = resolve_host(destination.host, vs.meta.namespace)
        service = self.registry.service(host)
        if service is None:
            message = f"host {host} is not in the registry: destination left out"
            self.diagnostics.append(vs.diagnostic(message, path))
            return None
        port = destination.port.number if destination.port and destination.port.number else None
        if port is None:
            if len(service.ports) == 1:
                port = service.ports[0].port
            elif service.port(self.port) is not None:
                port = self.port
            else:
                self.diagnostics.append(vs.diagnostic(f"{host} has several ports: say which", path))
                return None
        name = names.outbound_cluster(port, host, destination.subset or "")
        if name not in self.clusters:
            what = f"subset {destination.subset!r}" if destination.subset else f"port {port}"
            message = f"{what} of {host} is not defined: destination left out"
            self.diagnostics.append(vs.diagnostic(message, path))
            return None
        return name

    @overload
    def targets(
        self, vs: VirtualService, route: HTTPRoute, path: str
    ) -> list[Target[HTTPRouteDestination]]: ...
    @overload
    def targets(
        self, vs: VirtualService, route: TCPRoute | TLSRoute, path: str
    ) -> list[Target[RouteDestination]]: ...
    def targets(self, vs: VirtualService, route: Route, path: str) -> list[Target[Any]]:
        """The usable destinations of an Istio route (`http`, `tcp` or `tls`), in order."""
        destinations: Sequence[HTTPRouteDestination | RouteDestination] = route.route
        found: list[Target[Any]] = []
        for index, item in enumerate(destinations):
            cluster = self.cluster(vs, item.destination, f"{path}.route[{index}].destination")
            weight = 100 if len(destinations) == 1 else int(item.weight or 0)
            if cluster is not None and weight > 0:  # as Istio: weight 0 with others: no traffic
                found.append(Target(cluster, weight, item))
        return found


@overload
def lone_destination(route: HTTPRoute) -> HTTPRouteDestination | None: ...
@overload
def lone_destination(route: TCPRoute | TLSRoute) -> RouteDestination | None: ...
def lone_destination(route: Route) -> HTTPRouteDestination | RouteDestination | None:
    """The one destination a route sends to: the only one, or the only one weighing more
    than 0 (as Istio, destinations of weight 0 are left out when there are several)."""
    destinations: Sequence[HTTPRouteDestination | RouteDestination] = route.route
    if len(destinations) == 1:
        return destinations[0]
    weighted = [d for d in destinations if d.weight]
    return weighted[0] if len(weighted) == 1 else None


def split(route: Route, targets: list[Target[D]]) -> str | list[Target[D]] | None:
    """How a route's traffic goes: one plain cluster (its lone destination), weighted targets,
    or None when no destination is usable."""
    if len(targets) == 1 and targets[0].destination is lone_destination(route):
        return targets[0].cluster
    return targets or None
