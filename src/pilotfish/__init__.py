"""pilotfish: a service mesh that speaks Istio's APIs, with a Python control plane and Envoy.

Packages (see DESIGN.md): config (Galley), registry, model, translate (pure), xds, ca (Citadel),
agent (pilot-agent), telemetry, local (`pilotfish up`), kube, cli (istioctl-like).
"""

__version__ = "0.1.0"
