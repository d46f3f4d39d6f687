"""Service registry: services, ports, workload instances and endpoints (local manifest first).

Imports only config (and the bottom-floor `state_files`): never grpc, model, translate or xds.
"""
