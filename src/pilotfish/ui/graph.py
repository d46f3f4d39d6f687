"""Kiali's service graph from Istio's metrics: workload and service nodes, and edges
workload -> service -> workload, each with request rate, error rate (5xx), p99 latency and
whether the traffic was mutual TLS.

Which reporter counts (as Kiali): a request seen by a sidecar or gateway we scrape is counted
once, where it left (`reporter="source"`), so faults, circuit breaking and missing routes on the
caller's side show; callers outside the mesh are counted where they arrived
(`reporter="destination"`). mTLS comes from the destination's view
(`connection_security_policy="mutual_tls"`), which is where Istio reports it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pilotfish.ui.promql import Rates, quantiles_by, sum_by
from pilotfish.ui.series import DURATION_BUCKET, REQUESTS, Key, Target, label

UNKNOWN = "unknown"
FAILURE_RATE = 0.2  # Kiali's default "failure" threshold (red)
DEGRADED_RATE = 0.001  # Kiali's default "degraded" threshold (orange)


def workload_id(namespace: str, workload: str) -> str:
    return f"wl:{namespace}/{workload}" if workload and workload != UNKNOWN else UNKNOWN


def service_id(namespace: str, name: str) -> str:
    return f"svc:{namespace}/{name}"


def health(error_rate: float, rps: float) -> str:
    if rps <= 0:
        return "idle"
    if error_rate >= FAILURE_RATE:
        return "failure"
    return "degraded" if error_rate >= DEGRADED_RATE else "healthy"


@dataclass
class EdgeStats:
    rps: float = 0.0
    errors: float = 0.0  # 5xx per second
    codes: dict[str, float] = field(default_factory=dict)
    flags: dict[str, float] = field(default_factory=dict)
    mtls: float = 0.0  # mutual_tls requests per second (destination's view)
    p99: float | None = None

    def add(self, code: str, flags: str, value: float) -> None:
        self.rps += value
        if code.startswith("5") or code == "0":
            self.errors += value
        self.codes[code] = self.codes.get(code, 0.0) + value
        if flags and flags != "-":
            self.flags[flags] = self.flags.get(flags, 0.0) + value

    def as_json(self, source: str, target: str) -> dict[str, Any]:
        error_rate = self.errors / self.rps if self.rps else 0.0
        return {
            "id": f"{source}->{target}",
            "source": source,
            "target": target,
            "rps": round(self.rps, 3),
            "error_rate": round(error_rate, 4),
            "p99_ms": None if self.p99 is None else round(self.p99, 1),
            "mtls": self.mtls > 0 and self.mtls >= 0.5 * self.rps,
            "codes": {k: round(v, 3) for k, v in sorted(self.codes.items())},
            "flags": {k: round(v, 3) for k, v in sorted(self.flags.items())},
            "health": health(error_rate, self.rps),
        }


def counted(key: Key, scraped: set[tuple[str, str]]) -> bool:
    """Kiali's choice of reporter for one series (see the module docstring)."""
    source = (label(key, "source_workload_namespace"), label(key, "source_workload"))
    if label(key, "reporter") == "source":
        return True
    return source not in scraped


GROUP = (
    "source_workload_namespace", "source_workload", "destination_service_namespace",
    "destination_service_name", "destination_workload_namespace", "destination_workload",
)  # fmt: skip


def _hops(group: tuple[str, ...]) -> list[tuple[str, str]]:
    src_ns, src, svc_ns, svc, dst_ns, dst = group
    source = workload_id(src_ns, src)
    if not svc or svc == UNKNOWN:
        target = workload_id(dst_ns, dst)
        return [(source, target)] if target != UNKNOWN else []
    service = service_id(svc_ns, svc)
    hops = [(source, service)]
    if dst and dst != UNKNOWN:
        hops.append((service, workload_id(dst_ns, dst)))
    return hops


def build_graph(targets: Iterable[Target], rates: Rates | None) -> dict[str, Any]:
    """The graph JSON the UI draws: {nodes, edges}; every scraped workload is a node."""
    targets = list(targets)
    nodes: dict[str, dict[str, Any]] = {}
    for t in targets:
        nodes[workload_id(t.namespace, t.workload)] = _node("workload", t.namespace, t.workload)
        nodes[workload_id(t.namespace, t.workload)]["gateway"] = t.gateway
    edges: dict[tuple[str, str], EdgeStats] = {}
    if rates is not None:
        scraped = {(t.namespace, t.workload) for t in targets}
        requests = rates.rate(REQUESTS)
        chosen = {k: v for k, v in requests.items() if counted(k, scraped)}
        for (*group, code, flags), value in sum_by(
            chosen, [*GROUP, "response_code", "response_flags"]
        ).items():
            for hop in _hops(tuple(group)):
                edges.setdefault(hop, EdgeStats()).add(code, flags, value)
        mtls = {k: v for k, v in requests.items() if label(k, "reporter") == "destination"}
        for (*group, policy), value in sum_by(mtls, [*GROUP, "connection_security_policy"]).items():
            if policy == "mutual_tls":
                for hop in _hops(tuple(group)):
                    if hop in edges:
                        edges[hop].mtls += value
        buckets = rates.rate(DURATION_BUCKET)
        chosen_buckets = {k: v for k, v in buckets.items() if counted(k, scraped)}
        per_hop: dict[tuple[str, str], dict[Key, float]] = {}
        for key, value in chosen_buckets.items():
            for hop in _hops(tuple(label(key, g) for g in GROUP)):
                into = per_hop.setdefault(hop, {})
                into[key] = into.get(key, 0.0) + value
        for hop, series in per_hop.items():
            if hop in edges:
                ((p99,),) = quantiles_by(series, [], [0.99]).values() or [[None]]
                edges[hop].p99 = p99
    for source, target in edges:
        for node_id in (source, target):
            if node_id not in nodes:
                nodes[node_id] = _node_from_id(node_id)
    return {
        "nodes": [nodes[k] | {"id": k} for k in sorted(nodes)],
        "edges": [edges[k].as_json(*k) for k in sorted(edges)],
    }


def _node(kind: str, namespace: str, name: str) -> dict[str, Any]:
    version = name.rsplit("-", 1)[1] if kind == "workload" and "-v" in name else ""
    return {"type": kind, "namespace": namespace, "name": name, "version": version}


def _node_from_id(node_id: str) -> dict[str, Any]:
    if node_id == UNKNOWN:
        return {"type": "unknown", "namespace": "", "name": UNKNOWN, "version": ""}
    kind, _, rest = node_id.partition(":")
    namespace, _, name = rest.partition("/")
    return _node("service" if kind == "svc" else "workload", namespace, name)
