"""Soak: Bookinfo with two replicas per workload under constant load through the ingress, every
page checked for content, while faults are injected on a schedule (not a timed test).

    python bench/soak.py --duration 600 --rate 40 [--faults churn,cp-kill,...]

Each page must be a 200 with the details and reviews sections, no "Error fetching …", no
"Ratings service is currently unavailable", and a reviews version the active rule allows (a
rule applied counts from the moment its `apply` returns — converged — and either version counts
while it is being applied). Fault classes, in rotation:

- churn: an Istio Bookinfo routing file applied every second, in rotation;
- delete-reapply: every VirtualService but the gateway's deleted, then applied again;
- cp-kill: SIGKILL the control plane (the launcher restarts it);
- envoy-kill / app-kill: SIGKILL one Envoy, one app, of a workload's two replicas;
- scale: a workload scaled 2 -> 1 -> 2;
- gateway-restart: `pilotfish rollout restart deploy/istio-ingressgateway` (a rolling update:
  the new Envoy takes the listeners over, then the old one drains; no request may fail);
- gateway-kill: SIGKILL the ingress gateway's Envoy (the agent restarts it; the one entry
  point, so failures are expected there: every client's keep-alive connection is cut, and
  connections are refused until the agent has restarted it).

Prints per class: requests, failed (not 200), degraded (200 without the expected content),
worst latency; a request counts in the class during which it started, or failed if it did.
Before each Envoy or app kill it reads, from that pod's Envoy admin, the requests in flight on
it (the inbound `downstream_rq_active`). With `--access-log` (the default here) every Envoy
writes Istio's JSON access log, and the soak ends with every logged request that was not a
plain 200 counted by phase, pod, code and response flags: the evidence of where each failure
came from. `run_soak` is also what the short variant in tests/e2e/test_churn.py calls.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ruamel.yaml import YAML
from soak_measure import ALL, Load, Timeline, access_log_report, render, summarize

from pilotfish.local.client import ApiError, call, owner_token, pid_alive

ROOT = Path(__file__).resolve().parents[1]
BOOKINFO = ROOT / "samples" / "bookinfo"
NET = BOOKINFO / "networking"
GATEWAY = "istio-ingressgateway-0.istio-system"
# Istio's Bookinfo routing files and the reviews versions an anonymous user may see under each
RULES: tuple[tuple[str, frozenset[str]], ...] = (
    ("virtual-service-all-v1.yaml", frozenset({"v1"})),
    ("virtual-service-reviews-v3.yaml", frozenset({"v3"})),
    ("virtual-service-reviews-50-v3.yaml", frozenset({"v1", "v3"})),
    ("virtual-service-reviews-v2-v3.yaml", frozenset({"v2", "v3"})),
    ("virtual-service-reviews-80-20.yaml", frozenset({"v1", "v2"})),
    ("virtual-service-reviews-test-v2.yaml", frozenset({"v1"})),
    ("virtual-service-reviews-jason-v2-v3.yaml", frozenset({"v3"})),
    ("virtual-service-reviews-90-10.yaml", frozenset({"v1", "v2"})),
)
CLASSES = (
    "churn",
    "cp-kill",
    "delete-reapply",
    "app-kill",
    "scale",
    "envoy-kill",
    "gateway-restart",
    "gateway-kill",
)


class MeshHandle(Protocol):
    """What the soak needs of a running mesh (tests' LocalMesh, or `_BenchHandle`)."""

    @property
    def info(self) -> dict[str, Any]: ...
    @property
    def ingress(self) -> str: ...
    @property
    def home(self) -> Path: ...
    def pilotfish(self, *args: str) -> subprocess.CompletedProcess[str]: ...


@dataclass
class Soak:
    mesh: MeshHandle
    workdir: Path  # for generated manifests (scaled workloads)
    timeline: Timeline = field(default_factory=Timeline)
    phases: list[tuple[str, float, float]] = field(default_factory=list)  # class, from, to
    notes: list[str] = field(default_factory=list)
    rule_index: int = 0

    # ---- actions --------------------------------------------------------------------------
    def run(self, *args: str) -> None:
        result = self.mesh.pilotfish(*args)
        if result.returncode != 0:
            self.notes.append(f"pilotfish {' '.join(args)}: {result.stdout}{result.stderr}")

    def api(self, verb: str, path: Path) -> None:
        """`pilotfish apply|delete -f path` through the API (no CLI start-up per change)."""
        body = {"files": [[str(path), path.read_text()]], "wait": True, "timeout": 10}
        token = owner_token(self.mesh.home)
        try:
            status, reply = call(self.mesh.info["api"], "POST", f"/api/v1/{verb}", body, 20, token)
        except ApiError as exc:
            status, reply = 0, str(exc)
        missing = reply.get("convergence", {}).get("missing") if isinstance(reply, dict) else None
        if status != 200 or missing:
            self.notes.append(f"{verb} {path.name}: HTTP {status}, missing {missing}: {reply}")

    def apply_rule(self, name: str, versions: frozenset[str], verb: str = "apply") -> None:
        begin = time.monotonic()
        with self.timeline.lock:
            old = self.timeline.current
            index = len(self.timeline.changes)
            self.timeline.changes.append((begin, 0.0, old, versions))
        self.api(verb, NET / name)
        with self.timeline.lock:
            self.timeline.changes[index] = (begin, time.monotonic(), old, versions)
            self.timeline.current = versions

    def next_rule(self) -> None:
        name, versions = RULES[self.rule_index % len(RULES)]
        self.rule_index += 1
        self.apply_rule(name, versions)

    def workloads(self, replicas: dict[str, int], default: int = 2) -> None:
        """Apply Bookinfo's Workloads with these replica counts (others: `default`)."""
        yaml = YAML()
        docs = [d for d in yaml.load_all((BOOKINFO / "bookinfo.yaml").read_text()) if d]
        out = []
        for doc in docs:
            if doc.get("kind") == "Workload":
                doc["spec"]["replicas"] = replicas.get(doc["metadata"]["name"], default)
                doc["spec"]["workingDir"] = str(BOOKINFO)
                out.append(doc)
        path = self.workdir / "workloads.yaml"
        with path.open("w") as handle:
            yaml.dump_all(out, handle)
        self.run("apply", "-f", str(path))

    def pod(self, name: str) -> dict[str, Any]:
        return dict(self.mesh.info["proxies"][name])

    def wait_pods(self, count: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proxies = self.mesh.info["proxies"].values()
            if sum(1 for p in proxies if p["ready"]) >= count:
                return
            time.sleep(0.2)
        self.notes.append(f"only some of {count} pods ready after {timeout} s")

    def kill(self, pid: int | None) -> None:
        if pid:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def wait_restarted(self, key: str, old: int | None, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.mesh.info.get(key) not in (None, old):
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.1)

    def wait_reconnected(self, timeout: float = 30) -> None:
        """Until every proxy has an xDS stream to the (restarted) control plane."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                info = self.mesh.info
                _, body = call(info["api"], "GET", "/debug/syncz", timeout=5)
                if len(body["proxies"]) >= sum(1 for p in info["proxies"].values() if p["sidecar"]):
                    return
            except (ApiError, OSError, KeyError, ValueError, TypeError):
                pass
            time.sleep(0.2)
        self.notes.append(f"not every proxy reconnected within {timeout} s")

    def in_flight(self, admin: str | None) -> int | str:
        """Requests in flight on one Envoy (its listeners' HTTP managers, not its admin)."""
        if not admin:
            return "?"
        try:
            conn = http.client.HTTPConnection(admin, timeout=2)  # "host:port"
            conn.request("GET", "/stats?filter=downstream_rq_active$")
            text = conn.getresponse().read().decode()
            conn.close()
        except (OSError, http.client.HTTPException, ValueError):
            return "?"
        return sum(
            int(value)
            for name, _, value in (line.partition(": ") for line in text.splitlines())
            if name.startswith("http.") and not name.startswith("http.admin.") and value.isdigit()
        )

    # ---- one fault of each class ---------------------------------------------------------------
    def fault(self, kind: str, load: Load) -> None:
        if kind == "churn":
            for _ in range(10):
                began = time.monotonic()
                self.next_rule()
                time.sleep(max(0.0, 1.0 - (time.monotonic() - began)))
        elif kind == "delete-reapply":
            self.apply_rule("virtual-service-all-v1.yaml", ALL, "delete")
            time.sleep(1)
            self.apply_rule("virtual-service-all-v1.yaml", frozenset({"v1"}))
            time.sleep(1)
            self.next_rule()
            time.sleep(2)
        elif kind == "cp-kill":
            old = self.mesh.info["control_plane_pid"]
            self.kill(old)
            self.wait_restarted("control_plane_pid", old)
            self.wait_reconnected()
            time.sleep(2)
            self.next_rule()  # a change right after the restart
            time.sleep(3)
        elif kind in ("envoy-kill", "app-kill"):
            child = "envoy_pid" if kind == "envoy-kill" else "app_pid"
            pod = "reviews-v2-1.default" if kind == "envoy-kill" else "details-v1-1.default"
            status = self.pod(pod)
            on_pod = self.in_flight(status.get("admin") or f"{status['ip']}:15000")
            self.notes.append(
                f"{kind} {pod}: {on_pod} requests in flight on it at the kill "
                f"({load.in_flight} pages in flight through the ingress)"
            )
            self.kill(status[child])
            time.sleep(8)
        elif kind == "scale":
            self.workloads({"reviews-v1": 1, "reviews-v2": 1, "reviews-v3": 1})
            time.sleep(7)
            self.workloads({})
            self.wait_pods(13)
            time.sleep(2)
        elif kind == "gateway-restart":
            old = self.pod(GATEWAY)["envoy_pid"]
            self.run("rollout", "restart", "deploy/istio-ingressgateway", "-n", "istio-system")
            deadline = time.monotonic() + 30
            while pid_alive(old) and time.monotonic() < deadline:  # until the old one drained
                time.sleep(0.2)
            time.sleep(2)
        elif kind == "gateway-kill":
            status = self.pod(GATEWAY)
            on_pod = self.in_flight(status.get("admin") or f"{status['ip']}:15000")
            self.notes.append(f"gateway-kill: {on_pod} requests in flight on it at the kill")
            self.kill(status["envoy_pid"])
            time.sleep(8)


def run_soak(
    mesh: MeshHandle,
    seconds: float,
    classes: tuple[str, ...] = CLASSES,
    rate: float = 40,
    workers: int = 8,
    log: Callable[[str], None] = lambda _: None,
    access_log: bool = False,
    rounds: int = 0,
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Run the faults of `classes` in rotation for `seconds` under load, and at least `rounds`
    times over (`seconds=0, rounds=1`: each fault once); returns per-class figures (requests,
    failed, degraded, worst_ms, problems) and notes (with `access_log`, the non-200 access log
    entries of every Envoy, by phase)."""
    with tempfile.TemporaryDirectory() as tmp:
        soak = Soak(mesh, Path(tmp))
        if access_log:
            mesh_config = Path(tmp) / "istio.yaml"
            mesh_config.write_text(ACCESS_LOG_CONFIG)
            soak.run("apply", "-f", str(mesh_config))
        soak.run("apply", "-f", str(NET / "destination-rule-all.yaml"))
        soak.workloads({})
        soak.wait_pods(13)
        soak.next_rule()
        load = Load(mesh.ingress, rate, workers, soak.timeline)
        load.start()
        began = time.monotonic()
        try:
            time.sleep(2)
            soak.phases.append(("baseline", began, time.monotonic()))
            index = 0
            while time.monotonic() - began < seconds or index < len(classes) * rounds:
                kind = classes[index % len(classes)]
                index += 1
                start = time.monotonic()
                soak.fault(kind, load)
                soak.phases.append((kind, start, time.monotonic()))
                log(
                    f"{time.monotonic() - began:6.1f} s  {kind} done, load {os.getloadavg()[0]:.1f}"
                )
        finally:
            load.finish()
    table = summarize(load.outcomes, soak.phases)
    if access_log:
        try:
            soak.notes.extend(access_log_report(mesh.home, soak.phases))
        except OSError as exc:
            soak.notes.append(f"access logs not read: {exc}")
    return table, soak.notes


ACCESS_LOG_CONFIG = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    accessLogFile: /dev/stdout
    accessLogEncoding: JSON
"""


class _BenchHandle:
    """A mesh for the command line: fresh PILOTFISH_HOME, `pilotfish up --detach`, down."""

    def __init__(self, ingress: str) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="pilotfish-soak-"))
        self.ingress = ingress
        self.env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        self.env["PILOTFISH_HOME"] = str(self.home)

    @property
    def info(self) -> dict[str, Any]:

        data: dict[str, Any] = json.loads((self.home / "run" / "mesh.json").read_text())
        return data

    def pilotfish(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pilotfish", *args],
            env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=180,
        )  # fmt: skip


@contextmanager
def bench_mesh(ingress: str, keep: bool = False) -> Iterator[_BenchHandle]:
    mesh = _BenchHandle(ingress)
    result = mesh.pilotfish("up", "--detach", "--ingress-address", ingress, str(BOOKINFO))
    if result.returncode != 0:
        raise SystemExit(result.stdout + result.stderr)
    try:
        yield mesh
    finally:
        mesh.pilotfish("down")
        if keep:
            print(f"logs kept in {mesh.home}")
        else:
            shutil.rmtree(mesh.home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds")
    parser.add_argument("--rate", type=float, default=40, help="pages per second")
    parser.add_argument("--faults", default=",".join(CLASSES))
    parser.add_argument("--ingress", default="127.254.9.9")
    parser.add_argument("--keep", action="store_true", help="keep the mesh's logs")
    parser.add_argument(
        "--no-access-log", action="store_true", help="no access logs (less load, no evidence)"
    )
    args = parser.parse_args()
    classes = tuple(k for k in args.faults.split(",") if k)
    print(
        f"started {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, load {os.getloadavg()}"
    )
    with bench_mesh(args.ingress, args.keep) as mesh:
        table, notes = run_soak(
            mesh, args.duration, classes, args.rate, log=print, access_log=not args.no_access_log
        )
    print(f"ended {time.strftime('%H:%M:%S', time.gmtime())} UTC, load {os.getloadavg()}")
    print(render(table))
    for note in notes:
        print("note:", note)


if __name__ == "__main__":
    main()
