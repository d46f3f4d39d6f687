"""The control plane as the UI's `MeshSource`: the proxies to scrape (every connected Envoy),
the current `PushContext`, each proxy's xDS sync state (as `proxy-status` says it), its own
pilot_* metrics, where each local instance's Envoy writes its access log, the trace
collector's Zipkin API and the mesh's Prometheus when one runs."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from pilotfish.controlplane.core import ControlPlane
from pilotfish.model.push_context import PushContext
from pilotfish.state_files import running_prometheus
from pilotfish.ui.series import Target
from pilotfish.xds.messages import type_state
from pilotfish.xds.server import XdsServer

ZIPKIN_ENV = "PILOTFISH_ZIPKIN_URL"
ZIPKIN_PORT = 9411


class ControlPlaneSource:
    def __init__(
        self, cp: ControlPlane, xds: XdsServer, metrics: CollectorRegistry, address: str
    ) -> None:
        self.address = address
        self.cp = cp
        self.xds = xds
        self.metrics = metrics

    def targets(self) -> list[Target]:
        connected = set(self.xds.connected())
        return [
            Target(
                p.instance,
                p.workload or p.instance,
                p.namespace,
                p.ip,
                p.is_gateway,
                p.bind_address if p.is_gateway else "",
                p.labels,
            )
            for node_id, p in sorted(self.cp.proxies.items())
            if node_id in connected
        ]

    def push(self) -> PushContext:
        return self.cp.push

    def sync_status(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for status in self.xds.status():
            proxy = self.cp.proxies.get(status.node_id)
            snapshot = self.cp.snapshots.get(status.node_id)
            latest = {t: snapshot.version_of(t) for t in snapshot.type_urls()} if snapshot else {}
            types = {t.type_url: asdict(t) for t in status.types}
            name = proxy.instance if proxy else status.node_id
            out[name] = {
                url.rsplit(".", 1)[-1]: type_state(types.get(url), latest.get(url))
                for url in sorted(set(types) | set(latest))
            }
        return out

    def pilot_metrics(self) -> str:
        return generate_latest(self.metrics).decode()

    def access_log(self, instance: str, namespace: str) -> Path | None:
        path = self.cp.state_dir / "run" / f"{instance}.{namespace}" / "envoy.log"  # pod_name
        return path if path.is_file() else None

    def prometheus_url(self) -> str | None:
        """The mesh's Prometheus (`pilotfish dashboard prometheus`) while it runs."""
        found = running_prometheus(self.cp.state_dir)
        return str(found["url"]) if found and found.get("url") else None

    def zipkin_url(self) -> str | None:
        """The mesh's trace collector: the one `pilotfish up` started (`trace_collectors` in
        run/mesh.json), else the control plane's address at Zipkin's port, unless overridden."""
        if os.environ.get(ZIPKIN_ENV):
            return os.environ[ZIPKIN_ENV]
        try:
            info = json.loads((self.cp.state_dir / "run" / "mesh.json").read_text())
            collectors = [str(url) for url in info.get("trace_collectors") or []]
        except (OSError, ValueError, AttributeError):
            collectors = []
        return collectors[0] if collectors else f"http://{self.address}:{ZIPKIN_PORT}"
