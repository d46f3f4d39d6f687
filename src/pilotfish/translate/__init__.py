"""Pure translation: (Proxy, PushContext) -> Envoy listeners, routes, clusters and endpoints.

No I/O, no clock, no environment. Output is sorted and deterministic. Must not import grpc,
xds, the agent or kube.
"""
