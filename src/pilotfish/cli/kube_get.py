"""`pilotfish get pods|svc|deploy|ns|ep|nodes|all` (and Istio's admission webhook configurations,
`kube_webhooks`): the objects as kubectl shows them, one
`get_output.Section` per type with kubectl's table (`-o wide`; `--show-labels` and `-L KEY`
add kubectl's label columns). Printing (`-o yaml|json|name|jsonpath`, which Istio's docs use to
read the ingress gateway's address and ports) is `get_output`'s.

The objects come from `kube_views`, `kube_pods` and `kube_namespaces`.
"""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

from pilotfish.cli import kube_namespaces, kube_pods, kube_views, kube_webhooks, usage
from pilotfish.cli.get import has_labels, named
from pilotfish.cli.get_output import Section
from pilotfish.cli.selectors import Selector
from pilotfish.local.client import call

POD_KINDS = ("pod", "pods", "po")
SERVICE_KINDS = ("svc", "service", "services")
DEPLOY_KINDS = ("deploy", "deployment", "deployments", "deployment.apps", "deployments.apps")
NODE_KINDS = ("no", "node", "nodes")  # cluster-scoped: no namespace
NAMESPACE_KINDS = ("ns", "namespace", "namespaces")  # cluster-scoped too
ENDPOINT_KINDS = ("ep", "endpoints")
WEBHOOK_KINDS = tuple(kube_webhooks.KINDS)  # cluster-scoped
CLUSTER_KINDS = (*NODE_KINDS, *NAMESPACE_KINDS, *WEBHOOK_KINDS)
VIEW_KINDS = (*POD_KINDS, *SERVICE_KINDS, *DEPLOY_KINDS, *CLUSTER_KINDS, *ENDPOINT_KINDS, "all")


def _config(api: str, kind: str) -> list[dict[str, Any]]:
    status, body = call(api, "GET", "/api/v1/config?" + urllib.parse.urlencode({"kind": kind}))
    return list(body.get("documents", [])) if status == 200 else []


def objects(kind: str, info: dict[str, Any]) -> list[dict[str, Any]]:
    api = str(info["api"])
    if kind in POD_KINDS:
        return kube_pods.pods(info)
    if kind in NODE_KINDS:
        return [usage.node_object(info)]
    if kind in NAMESPACE_KINDS:
        return kube_namespaces.namespaces(info, _config(api, ""), kube_pods.pods(info))
    if kind in ENDPOINT_KINDS:
        return kube_namespaces.endpoints(objects("svc", info), kube_pods.pods(info))
    if kind in DEPLOY_KINDS:
        return kube_views.deployments(info, _config(api, "Workload") + _config(api, "Deployment"))
    if kind in WEBHOOK_KINDS:
        from pilotfish.cli.kube_builtins import mesh_root_cert  # it imports this module

        created = kube_views.timestamp(float(info.get("control_plane_created") or time.time()))
        return kube_webhooks.webhook_configurations(
            kube_webhooks.KINDS[kind], mesh_root_cert(info), created
        )
    vips = _cluster_ips(api) if info.get("isolated") else {}
    return kube_views.services(info, _config(api, "Service"), _config(api, "Gateway"), vips)


def _cluster_ips(api: str) -> dict[str, str]:
    """hostname -> cluster IP, as the control plane hands them to the isolated mode's pods."""
    status, body = call(api, "GET", "/api/v1/manifest")
    return dict(body.get("cluster_ips") or {}) if status == 200 else {}


def view_sections(
    kind: str,
    names: list[str],
    namespace: str | None,
    info: dict[str, Any],
    labels: Selector | None = None,
    columns: tuple[bool, bool, list[str]] = (False, False, []),
) -> list[Section]:
    """Pods, services, ... (`get all`: pods, services, deployments) for kubectl's `get`,
    `namespace` None meaning every one (-A); in kubectl's order (namespace, then name), or that
    of the `names` given; `labels` keeps those carrying every one. `columns` is (`-o wide`,
    `--show-labels`, the `-L` keys). Raises ApiError."""
    kind = kind.lower()
    groups = (
        [("pod", objects("pod", info)), ("service", objects("svc", info)),
         ("deployment.apps", objects("deploy", info))]
        if kind == "all" else [(_canonical(kind), objects(kind, info))]
    )  # fmt: skip
    ns = None if kind in CLUSTER_KINDS else namespace
    all_ns = ns is None and kind not in CLUSTER_KINDS
    wide, show, keys = columns
    now = time.time()
    sections = []
    for name, found in groups:
        chosen = sorted((o for o in found if _matches(o, ns, labels or Selector())), key=_order)
        picked, missing = named(chosen, names)

        def table(shown: list[dict[str, Any]], prefix: str, name: str = name) -> str:
            return _table(name, shown, now, prefix, all_ns, wide, (show, keys))

        noun = _noun(name)
        sections.append(Section(name, noun, picked, table, missing, kind not in CLUSTER_KINDS))
    return sections


def _canonical(kind: str) -> str:
    """The kind as kubectl's `-o name` spells it: `pod/x`, `service/x`, `deployment.apps/x`."""
    for kinds, name in (
        (POD_KINDS, "pod"), (SERVICE_KINDS, "service"), (DEPLOY_KINDS, "deployment.apps"),
        (NODE_KINDS, "node"), (NAMESPACE_KINDS, "namespace"), (ENDPOINT_KINDS, "endpoints"),
    ):  # fmt: skip
        if kind in kinds:
            return name
    if kind in WEBHOOK_KINDS:
        return f"{kube_webhooks.KINDS[kind].lower()}.{kube_webhooks.GROUP}"
    return kind


def _noun(kind: str) -> str:
    if kind in POD_KINDS:
        return "pods"
    if kind in NODE_KINDS:
        return "nodes"
    if kind in NAMESPACE_KINDS:
        return "namespaces"
    if kind in ENDPOINT_KINDS:
        return "endpoints"
    if kind in WEBHOOK_KINDS or kind.endswith(f".{kube_webhooks.GROUP}"):
        return f"{kind.partition('.')[0].removesuffix('s')}s.{kube_webhooks.GROUP}"
    return "services" if kind in SERVICE_KINDS else "deployments.apps"


def _matches(obj: dict[str, Any], namespace: str | None, labels: Selector) -> bool:
    meta = obj["metadata"]
    return namespace in (None, meta.get("namespace")) and has_labels(obj, labels)


def _order(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj["metadata"]
    return str(meta.get("namespace")), str(meta.get("name"))


def _table(
    kind: str,
    found: list[dict[str, Any]],
    now: float,
    prefix: str,
    all_ns: bool,
    wide: bool,
    label_columns: tuple[bool, list[str]] = (False, []),
) -> str:
    head, rows = _rows(kind, found, now, prefix, wide)
    if all_ns:
        head = ["NAMESPACE", *head]
        rows = [[o["metadata"]["namespace"], *r] for o, r in zip(found, rows, strict=True)]
    show, keys = label_columns
    for key in keys:  # kubectl's -L: a column named by the key's last segment, upper case
        head.append(key.rpartition("/")[2].upper())
        for o, r in zip(found, rows, strict=True):
            r.append(str((o["metadata"].get("labels") or {}).get(key, "")))
    if show:
        head.append("LABELS")
        for o, r in zip(found, rows, strict=True):
            r.append(format_labels(o["metadata"].get("labels")))
    table = [head, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    return "\n".join(
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table
    )


def _restarts_column(pod: dict[str, Any], now: float) -> str:
    """kubectl's RESTARTS: the count, and how long ago the last one was (`3 (2m ago)`)."""
    count, last = kube_pods.restarts(pod)
    return f"{count} ({kube_views.age_since(last, now)} ago)" if count and last else str(count)


def _rows(
    kind: str, found: list[dict[str, Any]], now: float, prefix: str, wide: bool
) -> tuple[list[str], list[list[str]]]:
    if kind in POD_KINDS or kind == "pod":
        head = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        head += ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"] if wide else []
        rows = []
        for o in found:
            st = o["status"]
            row = [
                prefix + o["metadata"]["name"],
                "/".join(map(str, kube_pods.ready_containers(o))),
                kube_pods.status_column(o),
                _restarts_column(o, now),
                kube_views.age_of(o["metadata"], now),
            ]
            where = [str(st.get("podIP")), str(o["spec"]["nodeName"]), "<none>", "<none>"]
            rows.append(row + (where if wide else []))
        return head, rows
    if kind in NODE_KINDS:
        return _node_rows(found, now, wide)
    if kind in NAMESPACE_KINDS or kind == "namespace":
        rows = [
            [o["metadata"]["name"], o["status"]["phase"], kube_views.age_of(o["metadata"], now)]
            for o in found
        ]
        return ["NAME", "STATUS", "AGE"], rows
    if kind.endswith(f".{kube_webhooks.GROUP}"):  # kubectl's columns of both kinds
        rows = [
            [prefix + o["metadata"]["name"], str(len(o.get("webhooks") or [])),
             kube_views.age_of(o["metadata"], now)]
            for o in found
        ]  # fmt: skip
        return ["NAME", "WEBHOOKS", "AGE"], rows
    if kind in ENDPOINT_KINDS:
        rows = [
            [
                prefix + o["metadata"]["name"],
                kube_namespaces.endpoint_list(o),
                kube_views.age_of(o["metadata"], now),
            ]
            for o in found
        ]
        return ["NAME", "ENDPOINTS", "AGE"], rows
    if kind in DEPLOY_KINDS or kind == "deployment.apps":
        head = ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
        head += ["CONTAINERS", "IMAGES", "SELECTOR"] if wide else []
        rows = [
            [
                prefix + o["metadata"]["name"],
                f"{o['status']['readyReplicas']}/{o['spec']['replicas']}",
                str(o["status"]["updatedReplicas"]),
                str(o["status"]["availableReplicas"]),
                kube_views.age_of(o["metadata"], now),
            ]
            + (template_columns(o["spec"]) if wide else [])
            for o in found
        ]
        return head, rows
    head = ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    head += ["SELECTOR"] if wide else []
    rows = []
    for o in found:
        spec = o.get("spec") or {}
        ingress = ((o.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        ports = ",".join(_service_port(p) for p in spec.get("ports") or [])
        rows.append(
            [
                prefix + o["metadata"]["name"],
                str(spec.get("type", "ClusterIP")),
                str(spec.get("clusterIP") or "<none>"),
                _external_ip(spec, ingress),
                ports or "<none>",
                kube_views.age_of(o["metadata"], now),
            ]
            + ([format_labels(spec.get("selector"))] if wide else [])
        )
    return head, rows


def template_columns(spec: dict[str, Any]) -> list[str]:
    """kubectl's wide CONTAINERS, IMAGES and SELECTOR of a Deployment."""
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    names = ",".join(str(c.get("name")) for c in containers)
    images = ",".join(str(c.get("image") or "") for c in containers).strip(",")
    return [names or "<none>", images or "<none>", format_selector(spec.get("selector"))]


def format_selector(selector: Any) -> str:
    """A LabelSelector as kubectl prints it: `k=v` of matchLabels, then matchExpressions
    (`k in (a,b)`, `k notin (a)`, `k`, `!k`), sorted by key, comma-separated; `<none>`."""
    selector = selector if isinstance(selector, dict) else {}
    terms = [(str(k), f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        key, op = str(expr.get("key")), str(expr.get("operator"))
        values = ",".join(sorted(str(v) for v in expr.get("values") or []))
        terms.append(
            (key, {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                   "Exists": key, "DoesNotExist": f"!{key}"}.get(op, key))
        )  # fmt: skip
    return ",".join(t for _, t in sorted(terms)) or "<none>"


def _service_port(port: dict[str, Any]) -> str:
    """kubectl's PORT(S) entry: `80/TCP`, or `80:NODEPORT/TCP` when the port has a node port."""
    node = f":{port['nodePort']}" if port.get("nodePort") else ""
    return f"{port.get('port')}{node}/{port.get('protocol', 'TCP')}"


def _external_ip(spec: dict[str, Any], ingress: list[dict[str, Any]]) -> str:
    """kubectl's EXTERNAL-IP of a Service: an ExternalName's name, else the load balancer's
    addresses and `externalIPs`, else `<none>`."""
    if spec.get("type") == "ExternalName":
        return str(spec.get("externalName") or "<none>")
    found = [str(i.get("ip") or i.get("hostname")) for i in ingress if isinstance(i, dict)]
    found += [str(ip) for ip in spec.get("externalIPs") or []]
    return ",".join(found) or "<none>"


def format_labels(labels: Any) -> str:
    """kubectl's LABELS and SELECTOR: `key=value` pairs sorted by key, comma-separated;
    `<none>`."""
    pairs = sorted((str(k), str(v)) for k, v in (labels or {}).items())
    return ",".join(f"{k}={v}" for k, v in pairs) or "<none>"


def _node_rows(
    found: list[dict[str, Any]], now: float, wide: bool
) -> tuple[list[str], list[list[str]]]:
    head = ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    extra = ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    rows = []
    for o in found:
        st, labels = o["status"], o["metadata"]["labels"]
        roles = [k.rpartition("/")[2] for k in labels if k.startswith("node-role.kubernetes.io/")]
        system = st["nodeInfo"]
        row = [o["metadata"]["name"], "Ready", ",".join(roles) or "<none>"]
        row += [kube_views.age_of(o["metadata"], now), system["kubeletVersion"]]
        internal = [a["address"] for a in st["addresses"] if a["type"] == "InternalIP"]
        details = [internal[0] if internal else "<none>", "<none>", system["osImage"]]
        details += [system["kernelVersion"], system["containerRuntimeVersion"]]
        rows.append(row + (details if wide else []))
    return head + (extra if wide else []), rows
