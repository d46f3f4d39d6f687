"""The control-plane process (istiod's role in local mode).

Owns the state directory store, the registry of workload instances, the push context built from
both, per-proxy translation, the xDS server and the HTTP API that `pilotfish apply/get/delete`
and `proxy-status` talk to. Translation and validation live in their own packages; this package
only wires them together and does the I/O. Nothing imports this package: `pilotfish.local`
starts it as a process (`python -m pilotfish.controlplane`).
"""
