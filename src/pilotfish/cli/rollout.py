"""After `apply`/`delete` of workloads (Workload, Deployment, Pod): wait until the change is live.

The control plane ACKs config at once, but a new or scaled Workload needs its instances started
by the launcher (the kubelet's part), reported ready, and their endpoints pushed to every proxy.
`wait_for_rollout` polls the control plane until each changed workload has exactly its wanted
instances in the registry and every connected proxy (the new ones too) has ACKed its latest
config, as `kubectl rollout status` and Istio's `--wait` together would. Not waited for: a
workload whose env reads a ConfigMap, Secret or key the mesh does not hold (`startable`): its
pods wait in CreateContainerConfigError until it is created, as in Kubernetes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pilotfish.local.client import ApiError, call

Wanted = dict[tuple[str, str], frozenset[str]]  # (namespace, workload) -> its instance names


@dataclass(frozen=True)
class Rollout:
    ready: bool
    elapsed_ms: float
    proxies: int
    waiting_for: tuple[str, ...] = ()


def wanted_replicas(workloads: Iterable[Any], deleted: bool = False) -> Wanted:
    """From `WorkloadSpec`s (registry.workloads): the instances each should have."""
    return {
        (w.namespace, w.name): frozenset() if deleted else frozenset(w.instance_names())
        for w in workloads
    }


def startable(
    workloads: Iterable[Any], raws: list[dict[str, Any]], stored: Callable[[], list[dict[str, Any]]]
) -> list[Any]:
    """The `WorkloadSpec`s whose pods can start: not those whose env reads a ConfigMap, Secret
    or key missing from both the applied documents (`raws`) and the mesh (`stored`: its
    ConfigMaps and Secrets, asked for only when some workload reads one that is missing)."""
    found = list(workloads)
    if not any(w.config_error for w in found):
        return found
    from pilotfish.registry.inputs import StoredDocument
    from pilotfish.registry.manifest import parse_manifest

    docs = [StoredDocument(d) for d in (*stored(), *raws) if isinstance(d, dict)]
    manifest, _ = parse_manifest(docs, require_images=False)
    waiting = {(w.namespace, w.name) for w in manifest.workloads if w.config_error}
    return [w for w in found if (w.namespace, w.name) not in waiting]


def missing_instances(wanted: Wanted, registryz: dict[str, Any]) -> list[str]:
    """`NAME.NS` of workloads whose ready instances are not exactly the wanted ones."""
    have: dict[tuple[str, str], set[str]] = {}
    for row in registryz.get("instances", []):
        key = (str(row.get("namespace")), str(row.get("workload")))
        if row.get("ready", True):
            have.setdefault(key, set()).add(str(row.get("name")))
    problems = []
    for (namespace, name), expected in sorted(wanted.items()):
        if have.get((namespace, name), set()) != expected:
            problems.append(f"{name}.{namespace}")
    return problems


def unsynced_proxies(syncz: dict[str, Any]) -> list[str]:
    """Connected proxies that have not ACKed their latest config of every type."""
    behind = []
    for row in syncz.get("proxies", []):
        acked = {t["type_url"]: t.get("acked_version") for t in row.get("types", [])}
        if any(acked.get(t) != v for t, v in row.get("latest", {}).items()):
            behind.append(str(row["node_id"]).split("~")[2])
    return behind


def wait_for_rollout(api: str, wanted: Wanted, timeout: float) -> Rollout:
    start = time.monotonic()
    deadline = start + timeout
    waiting: list[str] = []
    proxies = 0
    while True:
        try:
            _, registryz = call(api, "GET", "/debug/registryz")
            waiting = missing_instances(wanted, registryz or {})
            if not waiting:
                _, syncz = call(api, "GET", "/debug/syncz")
                proxies = len((syncz or {}).get("proxies", []))
                waiting = [f"proxy {p}" for p in unsynced_proxies(syncz or {})]
        except ApiError as exc:
            waiting = [str(exc)]
        elapsed = (time.monotonic() - start) * 1000
        if not waiting:
            return Rollout(True, elapsed, proxies)
        if time.monotonic() >= deadline:
            return Rollout(False, elapsed, proxies, tuple(waiting))
        time.sleep(0.05)
