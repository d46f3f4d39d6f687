"""Istio's telemetry, built from upstream Envoy's own pieces: standard metrics, peer metadata
exchange, access logs and tracing configuration.

Owns: Istio's metric names, labels, buckets and defaults (`metrics`, `labels`), how peers learn
each other's identity (`exchange`: a request header set by the client's sidecar and removed by
the server's; the client reads the server from its endpoint's EDS metadata), Telemetry API
resolution (`policy`), access log formats
(`access_log`) and tracing providers (`tracing`). The mesh config's telemetry fields are parsed
in `pilotfish.config.mesh_telemetry`; `pilotfish.translate.observability` adds all of this to
each proxy's generated resources. Everything here is pure: no I/O, no clock, no environment.

Nothing runs in Python on the request path: metrics are Envoy's `envoy.access_loggers.stats`
logger, the client's identity is read by `header_to_metadata`, logs and spans are Envoy's file
logger and tracers.

Must not import: `pilotfish.translate` (which calls this package), xds, grpc, the agent, kube.
"""
