"""What `kubectl get pods|svc|deploy|all` shows, for the local mesh (pure: mesh.json + config in,
Kubernetes-shaped objects out).

Pods are `kube_pods`'; Deployments are Workloads (and `istiod`, `istio-ingressgateway`);
Services are the manifest's plus the two Istio's install creates in `istio-system`: `istiod`
(as Istio's istio-discovery chart makes it: 15010, 15012, 443 -> 15017, 15014; selector `app:
istiod, istio: pilot`) and `istio-ingressgateway` (type LoadBalancer, its external IP the
ingress address and its ports those the Gateways open there, named as Istio's Service names
them: `http2`, `https`, `tcp`, `tls`; or, after `install -f` an IstioOperator giving its
`k8s.service.ports`, that Service as installed), so Istio's docs' `INGRESS_HOST`/`INGRESS_PORT`
commands work.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pilotfish.cli.kube_pods import (
    CONTROL_PLANE,
    ISTIO_SYSTEM,
    PROXY_CONTAINER,
    is_ready,
    istiod_serving,
    object_meta,
    pods,
)
from pilotfish.config.object_meta import CREATED, kube_time, kube_time_of
from pilotfish.config.server_meta import GENERATION, STORED_META
from pilotfish.state_files import running_prometheus

PROMETHEUS_LABELS = {
    "app.kubernetes.io/name": "prometheus",
    "app.kubernetes.io/instance": "prometheus",
}
INGRESS = "istio-ingressgateway"
PORT_NAMES = {"HTTP": "http2", "HTTP2": "http2", "GRPC": "http2", "HTTPS": "https"}
ISTIO_PORT_NUMBERS = {"http2": 80, "https": 443, "tcp": 31400, "tls": 15443}
"""The port each name has in the ingress gateway Service of Istio's charts."""
ISTIOD_PORTS = (
    ("grpc-xds", 15010, 15010),
    ("https-dns", 15012, 15012),
    ("https-webhook", 443, 15017),
    ("http-monitoring", 15014, 15014),
)
"""(name, port, targetPort) of the `istiod` Service, in the order Istio's istio-discovery chart
lists them: plaintext xDS, xDS and CA over TLS, the webhooks on 443, the metrics."""
ISTIOD_LABELS = {
    "app": "istiod",
    "install.operator.istio.io/owning-resource": "unknown",
    "istio": "pilot",
    "istio.io/rev": "default",
    "operator.istio.io/component": "Pilot",
    "release": "istio",
}
"""The labels Istio's chart gives the `istiod` Service (its selector: `app` and `istio`)."""


def age(seconds: float) -> str:
    """kubectl's AGE (apimachinery's HumanDuration): 45s, 3m20s, 42m, 5h12m, 20h, 2d3h, 9d, 2y4d;
    `<invalid>` for a moment ahead by 2 s or more."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 120:
        return f"{max(s, 0)}s"
    m, h = s // 60, s // 3600
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if h < 24 * 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if h < 24 * 365 * 2:
        return f"{d}d"
    if h < 24 * 365 * 8:
        return f"{d // 365}y{d % 365}d" if d % 365 else f"{d // 365}y"
    return f"{d // 365}y"


def timestamp(epoch: float) -> str:
    return kube_time(epoch)


def age_of(meta: dict[str, Any], now: float) -> str:
    """AGE from `metadata.creationTimestamp` ("<unknown>" without one, as kubectl)."""
    return age_since(meta.get(CREATED), now)


def age_since(stamp: Any, now: float) -> str:
    """kubectl's age of an API server timestamp (an event's LAST SEEN too); `<unknown>`."""
    at = kube_time_of(stamp)
    return "<unknown>" if at is None else age(now - at)


def created_of(meta: dict[str, Any]) -> float:
    """The epoch seconds of `metadata.creationTimestamp`, 0 without one."""
    return kube_time_of(meta.get(CREATED)) or 0.0


def deployments(info: dict[str, Any], workloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Workload documents (and Istio's own deployments) with their ready instances counted; the
    `spec.selector` and `spec.template` of an applied Deployment, else its labels and its pods'
    containers (without the injected `istio-proxy`, as the template holds them)."""
    running = pods(info)
    found = []
    wanted: list[tuple[str, str, int, dict[str, str], float, dict[str, Any], dict[str, Any]]] = [
        (CONTROL_PLANE, ISTIO_SYSTEM, 1, {"app": CONTROL_PLANE}, 0.0, {}, {}),
        (INGRESS, ISTIO_SYSTEM, 1, {"app": INGRESS, "istio": "ingressgateway"}, 0.0, {}, {}),
    ]
    for doc in workloads:
        meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
        replicas = spec.get("replicas", 1)
        labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        namespace = str(meta.get("namespace") or "default")
        name, created = str(meta.get("name")), created_of(meta)
        stored = {k: meta[k] for k in (*STORED_META, GENERATION) if k in meta}  # the store's
        wanted.append((name, namespace, int(replicas), labels, created, spec, stored))
    for name, namespace, replicas, labels, applied, spec, stored in wanted:
        mine = [
            p
            for p in running
            if p["metadata"]["namespace"] == namespace
            and p["metadata"]["name"].rsplit("-", 1)[0] == name
        ]
        if not mine and name in (CONTROL_PLANE, INGRESS) and replicas == 1:
            continue
        ready = sum(1 for p in mine if is_ready(p))
        started = [created_of(p["metadata"]) for p in mine]  # Istio's own: their first pod's
        created = applied or min((t for t in started if t), default=0.0)
        found.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": object_meta(name, namespace, created, labels)
                | {GENERATION: 1}  # Istio's own: as made by its install
                | stored,
                "spec": {"replicas": replicas, **_pod_template(spec, labels, mine)},
                "status": {
                    "observedGeneration": stored.get(GENERATION, 1),
                    "replicas": len(mine),
                    "readyReplicas": ready,
                    "availableReplicas": ready,
                    "updatedReplicas": len(mine),
                },
            }
        )
    return found


def _pod_template(
    spec: dict[str, Any], labels: dict[str, str], mine: list[dict[str, Any]]
) -> dict[str, Any]:
    """A Deployment's `selector` and `template`: an applied one's, else made of the workload's
    labels and its pods' containers."""
    if isinstance(spec.get("template"), dict) and isinstance(spec.get("selector"), dict):
        return {"selector": spec["selector"], "template": spec["template"]}
    containers = [
        {"name": c["name"]}
        for c in (mine[0]["spec"]["containers"] if mine else [])
        if not (c["name"] == PROXY_CONTAINER and len(mine[0]["spec"]["containers"]) > 1)
    ]
    return {
        "selector": {"matchLabels": dict(labels)},
        "template": {"metadata": {"labels": dict(labels)}, "spec": {"containers": containers}},
    }


def services(
    info: dict[str, Any],
    manifest_services: list[dict[str, Any]],
    gateways: list[dict[str, Any]],
    cluster_ips: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The manifest's Services, and Istio's `istiod` and `istio-ingressgateway`. A Service's
    `clusterIP` is its virtual address where the mesh gives one (`cluster_ips`, hostname -> VIP:
    an isolated mesh's, `registry.cluster_ips`), else `None`: sidecars route service names."""
    started = float(info.get("control_plane_created") or 0)
    cp_ip = str(info.get("api", "")).split("//")[-1].split(":")[0]
    gateway_ip = next(
        (p.get("ip") for p in info.get("proxies", {}).values() if p.get("workload") == INGRESS),
        None,
    )
    serving = istiod_serving(info)  # istio-system not deleted
    found = [_istiod_service(cp_ip, started)] if serving else []
    found += _prometheus_service(info, cp_ip)
    ingress = str(info.get("ingress_address") or "")
    installed = any(_is_ingress(doc) for doc in manifest_services)  # IstioOperator's ports
    if gateway_ip and not installed and serving:
        ports = tuple((n, p, p) for n, p in ingress_ports(gateways))
        found.append(
            _service(INGRESS, gateway_ip, "LoadBalancer", ingress, ports, started, "ingressgateway")
        )
    for doc in manifest_services:
        doc = dict(doc)
        meta = dict(doc.get("metadata") or {})
        meta.setdefault("namespace", "default")
        if started:
            meta.setdefault("creationTimestamp", timestamp(started))
        doc["metadata"] = meta
        spec = dict(doc.get("spec") or {})
        spec.setdefault("type", "ClusterIP")
        if spec["type"] != "ExternalName":  # an ExternalName Service has no clusterIP
            spec.setdefault("clusterIP", _vip(cluster_ips or {}, meta))
        if _is_ingress(doc) and gateway_ip:
            spec["clusterIP"] = gateway_ip
            spec["ports"] = [
                {"nodePort": p.get("port")} | dict(p) for p in spec.get("ports") or []
            ]  # the ingress address accepts on each port: a node port that answers
            doc["status"] = {"loadBalancer": {"ingress": [{"ip": ingress}]}}
        doc["spec"] = spec
        found.append(doc)
    return found


def _vip(cluster_ips: Mapping[str, str], meta: dict[str, Any]) -> str:
    prefix = f"{meta.get('name')}.{meta.get('namespace')}.svc."
    return next((ip for host, ip in cluster_ips.items() if host.startswith(prefix)), "None")


def no_resources(namespace: str | None) -> str:
    """kubectl's line when `get` finds nothing: in a namespace, or (`-A`, cluster-scoped kinds)
    without one, and then with no full stop."""
    return f"No resources found in {namespace} namespace." if namespace else "No resources found"


def _prometheus_service(info: dict[str, Any], ip: str) -> list[dict[str, Any]]:
    """Istio's Prometheus addon's Service (`kubectl -n istio-system get svc prometheus`, Istio's
    "Querying Metrics"), while the mesh's own Prometheus runs (`dashboard prometheus`, or the
    addon applied): ClusterIP on the control plane's address, 9090."""
    record = Path(str(info.get("state_dir") or "")) / "run" / "prometheus.json"
    if not info.get("state_dir") or running_prometheus(record.parents[1]) is None:
        return []
    doc = _service("prometheus", ip, "ClusterIP", None, (("http", 9090, 9090),), 0, "")
    started = record.stat().st_mtime
    doc["metadata"] = object_meta("prometheus", ISTIO_SYSTEM, started, PROMETHEUS_LABELS)
    doc["spec"]["selector"] = dict(PROMETHEUS_LABELS)
    return [doc]


def _istiod_service(ip: str, created: float) -> dict[str, Any]:
    """Istio's `istiod` Service as its chart makes it, on the control plane's address."""
    doc = _service(CONTROL_PLANE, ip, "ClusterIP", None, ISTIOD_PORTS, created, "pilot")
    doc["metadata"]["labels"] = dict(ISTIOD_LABELS)
    doc["spec"]["selector"] = {"app": CONTROL_PLANE, "istio": "pilot"}
    return doc


def _port(name: str, port: int, target: int, kind: str) -> dict[str, Any]:
    """A Service port; a LoadBalancer's node port is its port: the ingress address (the node's,
    `status.hostIP`) accepts on it, so Istio's NodePort recipe reads a port that answers."""
    found: dict[str, Any] = {"name": name, "port": port, "targetPort": target, "protocol": "TCP"}
    if kind == "LoadBalancer":
        found["nodePort"] = port
    return found


def _is_ingress(doc: dict[str, Any]) -> bool:
    meta = doc.get("metadata") or {}
    return bool(meta.get("name") == INGRESS and meta.get("namespace") == ISTIO_SYSTEM)


def ingress_ports(gateways: list[dict[str, Any]]) -> tuple[tuple[str, int], ...]:
    """(name, number) for each port a Gateway selecting the ingress gateway opens. A name goes
    to the port Istio's Service gives it (`http2` 80, `https` 443, `tcp` 31400, `tls` 15443) when
    a Gateway opens that one, else to the first port of its protocol; the others are
    `NAME-NUMBER` (so the docs' INGRESS_PORT is 80 once a Gateway opens 80, whichever came
    first: Istio's Authentication Policy page adds its port-80 Gateway after Bookinfo's 8080)."""
    bases: dict[int, str] = {}
    for gw in gateways:
        spec = gw.get("spec") or {}
        if (spec.get("selector") or {}).get("istio") not in (None, "ingressgateway"):
            continue
        for server in spec.get("servers") or []:
            port = server.get("port") or {}
            number = port.get("number")
            if not isinstance(number, int) or number in bases:
                continue
            protocol = str(port.get("protocol", "")).upper()
            bases[number] = PORT_NAMES.get(protocol, protocol.lower() or "tcp")
    owners = {base: number for number, base in reversed(bases.items())}  # the first of each
    owners.update((b, n) for b, n in ISTIO_PORT_NUMBERS.items() if bases.get(n) == b)
    names = {n: b if owners[b] == n else f"{b}-{n}" for n, b in bases.items()}
    return tuple((n, p) for p, n in sorted(names.items()))


def _service(
    name: str,
    ip: str,
    kind: str,
    external: str | None,
    ports: tuple[tuple[str, int, int], ...],
    created: float,
    istio_label: str,
) -> dict[str, Any]:
    """One of the Services Istio's install makes, with what the API server fills in."""
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(name, ISTIO_SYSTEM, created, {"app": name, "istio": istio_label}),
        "spec": {
            "clusterIP": ip,
            "clusterIPs": [ip],
            "internalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "ports": [_port(n, p, t, kind) for n, p, t in ports],
            "selector": {"app": name},
            "sessionAffinity": "None",
            "type": kind,
        },
    }
    doc["status"] = {"loadBalancer": {"ingress": [{"ip": external}]} if external else {}}
    return doc


def gateway_api_columns(kind: str, doc: dict[str, Any], now: float) -> list[tuple[str, str]]:
    """(header, value) after NAME for the Gateway API's kinds: their CRDs' printer columns
    (`get gtw`: CLASS, ADDRESS, PROGRAMMED, AGE; `get httproute`: HOSTNAMES, AGE)."""
    spec, status = doc.get("spec") or {}, doc.get("status") or {}

    def condition(name: str) -> str:
        found = [c for c in status.get("conditions") or [] if c.get("type") == name]
        return str(found[0].get("status", "")) if found else "Unknown"

    age = ("AGE", age_of(doc.get("metadata") or {}, now))
    if kind == "Gateway":
        addresses = status.get("addresses") or [{}]
        return [
            ("CLASS", str(spec.get("gatewayClassName", ""))),
            ("ADDRESS", str(addresses[0].get("value", ""))),
            ("PROGRAMMED", condition("Programmed")),
            age,
        ]
    if kind == "GatewayClass":
        return [
            ("CONTROLLER", str(spec.get("controllerName", ""))),
            ("ACCEPTED", condition("Accepted")),
            age,
        ]
    if kind in ("HTTPRoute", "GRPCRoute", "TLSRoute"):
        return [("HOSTNAMES", json.dumps(spec["hostnames"]) if spec.get("hostnames") else ""), age]
    return [age]


def ingress_columns(kind: str, doc: dict[str, Any], now: float) -> list[tuple[str, str]]:
    """(header, value) after NAME as kubectl prints networking.k8s.io kinds: `get ingress`
    CLASS, HOSTS (up to three rules' hosts, then `+ N more...`; `*` when none names one), ADDRESS
    (the load balancer's, cut at 16 characters), PORTS (`80`, `80, 443` with TLS), AGE;
    `get ingressclass` CONTROLLER, PARAMETERS (`Kind[.apiGroup]/name`), AGE."""
    spec, status = doc.get("spec") or {}, doc.get("status") or {}
    age = ("AGE", age_of(doc.get("metadata") or {}, now))
    if kind == "IngressClass":
        parameters = spec.get("parameters") or {}
        group = f".{parameters['apiGroup']}" if parameters.get("apiGroup") else ""
        kind_name = f"{parameters.get('kind')}{group}/{parameters.get('name')}"
        shown = kind_name if parameters else "<none>"
        return [("CONTROLLER", str(spec.get("controller", ""))), ("PARAMETERS", shown), age]
    rules, more = spec.get("rules") or [], False
    hosts: list[str] = []
    for rule in rules:  # kubectl's walk: a rule after the third host makes `+ N more...`
        more = more or len(hosts) == 3
        if not more and rule.get("host"):
            hosts.append(str(rule["host"]))
    shown = (",".join(hosts) or "*") + (f" + {len(rules) - 3} more..." if more else "")
    balancer = (status.get("loadBalancer") or {}).get("ingress") or []
    address = ",".join(str(i.get("ip") or i.get("hostname") or "") for i in balancer)
    address = address if len(address) <= 16 else address[:13] + "..."
    return [
        ("CLASS", str(spec.get("ingressClassName") or "<none>")),
        ("HOSTS", shown),
        ("ADDRESS", address),
        ("PORTS", "80, 443" if spec.get("tls") else "80"),
        age,
    ]
