"""xDS: snapshot cache, ADS gRPC server (SotW and delta), ACK/NACK, per-proxy sync status.

Modules:
- `resources`: push order, `Snapshot` (immutable, serialised once, content versions;
  `updated()` re-encodes only what changed). Type URLs and resource names are the leaf
  `pilotfish.type_urls`, shared with `translate`.
- `stream` (`SotwStream`) and `delta_stream` (`DeltaStream`): the ADS protocol state machines,
  no I/O (like h11); `stream_state` holds their shared per-type bookkeeping.
- `messages`: responses, events, and the status / convergence records the server reports.
- `cache`: `SnapshotCache`, the one home of per-node snapshots: the control plane publishes,
  the server reads and watches; equal content is held once for every node.
- `push_queue`: `PushQueue` (bounded, coalescing, Istio's push queue) and its driver `Pusher`.
- `convergence`: when each node's change started, and waiting for nodes to ACK.
- `server`: `XdsServer`, grpc.aio; only moves messages between gRPC and the state machines.
- `limits`: what one client may cost, and refusing what is over it.
- `metrics`: Istio-named Prometheus metrics in a registry passed in.
- `observer`: `StreamObserver`, what the server tells the control plane (admission, connects,
  disconnects, reported health).
- `debounce`: `Debouncer` / `run_debounced`, coalescing config change events before a push
  (10 ms quiet / 1 s max by default; Istio uses 100 ms / 10 s).

This package imports only the bottom floor (`type_urls`, `state_files`), never `config`,
`registry`, `model`, `translate`, `agent`, `local`, `cli` or `kube`: it
serves whatever snapshot it is given. This `__init__` imports nothing, so importing
`pilotfish.xds.resources` does not pull in grpc.
"""
