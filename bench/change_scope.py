"""A one-object change costs what it affects: the control plane translates again only the proxies
a change can affect (`translate.affected`), not every connected proxy.

    .venv/bin/python bench/change_scope.py [--services 100] [--proxies 100] [--rounds 3]

In-process (`ControlPlane.apply`, as the API calls it; no xDS), on the scale benchmark's mesh
(`scale_mesh.Topology`: 20 services per namespace). For each change, the same apply is timed with
push scoping off (every proxy regenerated: before) and on (after), alternately in one run;
medians of `--rounds`, and how many proxies each translated again:
- an AuthorizationPolicy in one namespace;
- a VirtualService exported to its own namespace only (`exportTo: ['.']`);
- a VirtualService in a mesh where every namespace has Istio's recommended Sidecar
  (`egress: ./*, istio-system/*`): only the namespace that sees the host;
- a VirtualService seen by every proxy (no Sidecar, default exportTo): nothing to scope;
- an endpoint change (one pod made not ready, then ready): an EDS-only push, sidecars take new
  endpoint assignments and keep everything else (`affected.endpoint_change`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from scale_mesh import Topology

from pilotfish.controlplane.core import ControlPlane
from pilotfish.controlplane.instances import instance_from_json


def control_plane(topo: Topology, home: Path, extra: str = "") -> ControlPlane:
    cp = ControlPlane(home)
    cp.load_state()
    files = [("m.yaml", topo.manifest_yaml()), ("c.yaml", topo.config_yaml() + extra)]
    assert cp.apply(files).ok
    cp.connected = lambda: list(cp.proxies)
    cp.set_instances([instance_from_json(i.row()) for i in topo.instances()])
    for instance in topo.instances():
        cp.snapshot_for_node(instance.node_id, instance.metadata(9000))
    return cp


def sidecars(topo: Topology) -> str:
    return "".join(
        "---\napiVersion: networking.istio.io/v1\nkind: Sidecar\n"
        f"metadata:\n  name: default\n  namespace: {ns}\n"
        "spec:\n  egress:\n  - hosts: ['./*', 'istio-system/*']\n"
        for ns in topo.namespaces
    )


def policy(ns: str, path: str) -> str:
    return (
        "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
        f"metadata:\n  name: deny\n  namespace: {ns}\n"
        "spec:\n  action: DENY\n  rules:\n  - to:\n    - operation:\n"
        f"        paths: [{path}]\n"
    )


def measure(cp: ControlPlane, change: Callable[[int], str], rounds: int) -> dict[str, float]:
    """Median seconds and proxies regenerated, scoping off and on, alternately."""
    times: dict[bool, list[float]] = {False: [], True: []}
    counts: dict[bool, int] = {}
    for i in range(rounds):
        for scoped in (False, True):
            cp.scope_pushes = scoped
            text = change(2 * i + int(scoped))
            started = time.perf_counter()
            result = cp.apply([("change.yaml", text)])
            times[scoped].append(time.perf_counter() - started)
            assert result.ok, [str(d) for d in result.diagnostics]
            counts[scoped] = cp.regenerated
    before, after = statistics.median(times[False]), statistics.median(times[True])
    return {
        "before_ms": before * 1000,
        "after_ms": after * 1000,
        "ratio": before / after,
        "proxies_before": counts[False],
        "proxies_after": counts[True],
    }


def measure_endpoints(cp: ControlPlane, topo: Topology, rounds: int) -> dict[str, float]:
    """Like `measure`, for a registry change: one pod made not ready (odd steps: ready again)."""
    times: dict[bool, list[float]] = {False: [], True: []}
    counts: dict[bool, int] = {}
    for i in range(rounds):
        for scoped in (False, True):
            cp.scope_pushes = scoped
            rows = [p.row() for p in topo.instances()]
            rows[0]["ready"] = (2 * i + int(scoped)) % 2 == 1
            started = time.perf_counter()
            changed = cp.set_instances([instance_from_json(r) for r in rows])
            times[scoped].append(time.perf_counter() - started)
            assert changed, "nothing pushed"
            counts[scoped] = cp.regenerated
    before, after = statistics.median(times[False]), statistics.median(times[True])
    return {
        "before_ms": before * 1000,
        "after_ms": after * 1000,
        "ratio": before / after,
        "proxies_before": counts[False],
        "proxies_after": counts[True],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--proxies", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    topo = Topology(args.services, args.proxies)
    ns, svc = topo.names[0]

    def weights(i: int, export: str = "") -> str:
        text = topo.virtual_service(ns, svc, 10 + (i % 8) * 10)
        return text.replace("spec:\n", f"spec:\n{export}", 1) if export else text

    rows: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        cp = control_plane(topo, Path(tmp) / "a")
        rows.append(("AuthorizationPolicy, one namespace", measure(
            cp, lambda i: policy(ns, f"/admin{i}"), args.rounds)))  # fmt: skip
        rows.append(("VirtualService, exportTo '.'", measure(
            cp, lambda i: weights(i, "  exportTo: ['.']\n"), args.rounds)))  # fmt: skip
        rows.append(("VirtualService seen by every proxy", measure(
            cp, weights, args.rounds)))  # fmt: skip
        rows.append(("endpoint: one pod not ready / ready", measure_endpoints(
            cp, topo, args.rounds)))  # fmt: skip
        cp = control_plane(topo, Path(tmp) / "b", sidecars(topo))
        rows.append(("VirtualService, Sidecar per namespace", measure(
            cp, weights, args.rounds)))  # fmt: skip
    print(
        f"mesh: {args.services} services in {len(topo.namespaces)} namespaces, {args.proxies} "
        f"proxies; medians of {args.rounds} (machine shared: compare ratios)"
    )
    print(f"{'change':40} {'before ms':>10} {'after ms':>9} {'ratio':>6}  proxies translated")
    for name, r in rows:
        print(
            f"{name:40} {r['before_ms']:10.0f} {r['after_ms']:9.0f} {r['ratio']:5.1f}x  "
            f"{r['proxies_before']:.0f} -> {r['proxies_after']:.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
