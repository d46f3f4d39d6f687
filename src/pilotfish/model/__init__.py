"""The model Pilot translates from: `PushContext` (immutable snapshot) and `Proxy` (the asker).

Imports only config and registry: never grpc, translate, xds, the agent or kube.
"""
