"""Local mode: `pilotfish up` runs a whole mesh on one machine from a manifest.

`launcher` (the `Mesh`: reconcile, readiness, status) runs the control plane as a process
(`control_plane`), one agent per instance built from the manifest (`specs`), on the mesh's own
addresses (`network`), in network namespaces when isolated (`pods`), with the trace collectors
its tracing providers need (`collectors`) and Prometheus (`prometheus`); `restarts` carries
`rollout restart` requests; `client` is how every other command finds and calls a running
mesh. Errors: `MeshError` (the mesh could not start; the message says why).

Must not import controlplane (it starts it as a process), translate, xds or cli.
"""


class MeshError(Exception):
    """The mesh could not start (the message says why)."""
