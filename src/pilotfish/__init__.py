"""pilotfish: a service mesh that speaks Istio's APIs, with a Python control plane and Envoy.

Packages, from the bottom floor up (the allowed imports between them are `tests/test_layering.py`):
`state_files` (atomic writes) and `type_urls` (xDS type URLs), `config` (Galley: Istio API
objects, loading, validation, analyzers), `registry` (services, workloads, the mesh manifest),
`model` (`PushContext`, `Proxy`), `telemetry` (Istio's metrics), `capture` (Istio's iptables
rules), `ca` (Citadel: identities, signing), `ui` (the dashboard's data), `translate` (pure:
proxy + push context -> Envoy config), `xds` (snapshots, ADS server), `controlplane` (the
process wiring them; started, never imported), `agent` (pilot-agent), `local`
(`pilotfish up`), `cli` (the istioctl-like `pilotfish` command).
"""

__version__ = "0.1.0"
