"""Pure translation: (Proxy, PushContext) -> Envoy listeners, routes, clusters and endpoints.

No I/O, no clock, no environment. Output is sorted and deterministic. Must not import grpc,
xds, the agent or kube.

Entry points: `generate(proxy, push) -> ProxyResources` and `check_invariants(resources)`.
Nothing here raises for user config: problems come back in `ProxyResources.diagnostics`.
"""

from pilotfish.translate.generate import generate
from pilotfish.translate.invariants import check_invariants
from pilotfish.translate.resources import (
    CLUSTER_TYPE,
    ENDPOINT_TYPE,
    LISTENER_TYPE,
    RESOURCE_TYPES,
    ROUTE_TYPE,
    ProxyResources,
)

__all__ = [
    "CLUSTER_TYPE",
    "ENDPOINT_TYPE",
    "LISTENER_TYPE",
    "RESOURCE_TYPES",
    "ROUTE_TYPE",
    "ProxyResources",
    "check_invariants",
    "generate",
]
