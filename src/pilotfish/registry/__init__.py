"""Service registry: services, ports, workload instances and endpoints (local manifest first).

Must not import grpc, translate or xds.
"""
