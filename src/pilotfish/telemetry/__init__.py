"""Telemetry: Istio's standard metrics, tracing and access logs, as Envoy config."""
