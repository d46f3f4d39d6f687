"""The model Pilot translates from: `PushContext` (immutable snapshot) and `Proxy` (the asker).

Must not import grpc, the agent or kube.
"""
