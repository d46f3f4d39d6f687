"""Galley: typed Istio API objects, YAML loading with file:line, validation, analyzers, stores.

Must not import grpc, the agent, kube or translate. Errors are returned as `Diagnostic`s, never
raised for user mistakes.
"""
