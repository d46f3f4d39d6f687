"""Istio's observability addons (`samples/addons/*.yaml`), which every observability task
installs first (`kubectl apply -f samples/addons/prometheus.yaml`), applied to a local mesh.

Their Deployments run images local mode does not have (Prometheus with its config reloader as
a second container, Jaeger, Zipkin, Grafana, Kiali, Loki), and pilotfish has each of them built
in: the mesh's own Prometheus (`pilotfish dashboard prometheus`, Istio's scrape job), its trace
collector (Zipkin v2 API and OTLP/HTTP, started when a tracing provider points at a host the
mesh does not have, e.g. `zipkin.istio-system:9411`) and its web UI (service graph, Istio's
Grafana dashboards, traces). So `apply` recognises an addon file (a Deployment or StatefulSet of
one of these names in `istio-system`), does not send it to the control plane, starts the
Prometheus for `prometheus.yaml`, and says what stands for each addon; the rest of the apply
goes on as usual.
"""

from __future__ import annotations

from pathlib import Path

from pilotfish.config.yaml_text import parse_yaml

ADDONS = {
    "prometheus": "the mesh's own Prometheus, started now (`pilotfish dashboard prometheus`)",
    "jaeger": "the mesh's trace collector and web UI (`pilotfish dashboard jaeger`)",
    "zipkin": "the mesh's trace collector and web UI (`pilotfish dashboard zipkin`)",
    "grafana": "the web UI's Istio dashboards (`pilotfish dashboard grafana`)",
    "kiali": "the web UI's service graph (`pilotfish dashboard kiali`)",
    "loki": "`pilotfish logs` (each pod's access log and app log)",
}
WORKLOAD_KINDS = ("Deployment", "StatefulSet")


def addon_of(text: str) -> str | None:
    """The addon a file installs (`prometheus`, ...), or None."""
    documents, _ = parse_yaml(text, "<addon>")
    for doc in documents:
        meta = doc.data.get("metadata") if isinstance(doc.data, dict) else None
        if doc.kind not in WORKLOAD_KINDS or not isinstance(meta, dict):
            continue
        if meta.get("name") in ADDONS and meta.get("namespace") == "istio-system":
            return str(meta["name"])
    return None


def split_addons(
    files: list[tuple[str, str]],
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(the files to apply, the addon files as (source, addon name))."""
    keep, addons = [], []
    for source, text in files:
        addon = addon_of(text)
        if addon is None:
            keep.append((source, text))
        else:
            addons.append((source, addon))
    return keep, addons


def install_addons(addons: list[tuple[str, str]], state_dir: Path) -> int:
    """Stand up what stands for each addon (the Prometheus), saying so; 1 when that fails."""
    from pilotfish.cli.dashboard import start_prometheus
    from pilotfish.cli.errors import running_mesh

    code = 0
    for source, addon in addons:
        if addon == "prometheus":
            url = start_prometheus(running_mesh(state_dir), state_dir)
            if url is None:
                code = 1
                continue
            print(f"{source}: Istio's {addon} addon is built in: {ADDONS[addon]} at {url}")
        else:
            print(f"{source}: Istio's {addon} addon is built in: {ADDONS[addon]}")
    return code
