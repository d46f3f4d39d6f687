"""Pure translation: (Proxy, PushContext) -> Envoy listeners, routes, clusters and endpoints.

No I/O, no clock, no environment. Output is sorted and deterministic. Imports only config, registry,
model (and the bottom-floor `type_urls`): never grpc, xds, the agent, local, cli or kube.

Entry points: `generate(proxy, push) -> ProxyResources` and `check_invariants(resources)`.
Nothing here raises for user config: problems come back in `ProxyResources.diagnostics`.
"""

from pilotfish.translate.generate import generate
from pilotfish.translate.invariants import check_invariants
from pilotfish.translate.resources import ProxyResources

__all__ = [
    "ProxyResources",
    "check_invariants",
    "generate",
]
