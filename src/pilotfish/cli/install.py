"""`pilotfish install` / `uninstall`: istioctl's installation steps, in local mode.

`install --set profile=default|demo|minimal|empty -y` or `install -f istio-config.yaml` (an
`IstioOperator`, with `--set` overlays on top) starts, detached, what the profile installs:
`default` the control plane and the ingress gateway, `demo` also the egress gateway with access
logs on and 100% trace sampling, `minimal` the control plane only, `empty` nothing but the
control plane local mode always runs. Honoured: `spec.profile`, `spec.meshConfig` (as Istio's
`istio` ConfigMap), `components.ingressGateways`/`egressGateways` (`name`, `namespace`,
`enabled`, `label`, `k8s.service.ports` — the gateway's Service: the ingress gateway's
forwards each `port` to its `targetPort` on the ingress address), and `values.global` (its
`proxy.holdApplicationUntilProxyStarts` goes to the injector's `istio-sidecar-injector` ConfigMap,
as Istio's install writes it, ORed with each pod's ProxyConfig; the rest accepted:
local mode has no images or resources to set), and `values.pilot.env` (istiod's environment,
kept in that ConfigMap as Istio's chart keeps it: ENABLE_TLS_ON_SIDECAR_INGRESS). Workloads are
then added with `pilotfish apply -f`, as on Kubernetes. The generated manifests are kept in
`<state-dir>/install/` (the mesh restarts from them). On a running mesh, `install` changes it in
place (`reinstall`), as istioctl does. `uninstall` stops it all.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML, YAMLError

from pilotfish.config.yaml_text import dump_yaml
from pilotfish.state_files import write_atomically

PROFILES: dict[str, dict[str, Any]] = {
    "default": {"ingress": True, "egress": False, "mesh": {}},
    "demo": {
        "ingress": True,
        "egress": True,
        "mesh": {"accessLogFile": "/dev/stdout", "defaultConfig": {"tracing": {"sampling": 100}}},
    },
    "minimal": {"ingress": False, "egress": False, "mesh": {}},
    "empty": {"ingress": False, "egress": False, "mesh": {}},
}
HOLD_VALUE = ("global", "proxy", "holdApplicationUntilProxyStarts")
ISTIO_MESH_DEFAULTS: dict[str, Any] = {
    "defaultProviders": {"metrics": ["prometheus"]},
    "enablePrometheusMerge": True,
    "rootNamespace": "istio-system",
    "trustDomain": "cluster.local",
}
"""What Istio's install writes into the `istio` ConfigMap's mesh besides the profile's settings
(its `defaultConfig.discoveryAddress`, istiod's Service, has no meaning in local mode)."""
EGRESS_PORTS = [
    {"name": "http2", "port": 80, "protocol": "TCP"},
    {"name": "https", "port": 443, "protocol": "TCP"},
]
_ISTIO_INGRESS_PORTS = [
    {"name": "status-port", "port": 15021, "targetPort": 15021, "protocol": "TCP"},
    {"name": "http2", "port": 80, "targetPort": 8080, "protocol": "TCP"},
    {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"},
]
INGRESS_PORTS = (
    _ISTIO_INGRESS_PORTS,
    [*_ISTIO_INGRESS_PORTS,
     {"name": "tcp", "port": 31400, "targetPort": 31400, "protocol": "TCP"},
     {"name": "tls", "port": 15443, "targetPort": 15443, "protocol": "TCP"}],
)  # fmt: skip
"""The ingress gateway Service's ports in Istio's charts: every profile's, and the demo
profile's (with `tcp` and `tls`), so the docs' `INGRESS_PORT` is 80 and `SECURE_INGRESS_PORT`
443 after `install`, as in a cluster (a Gateway server on 80 listens on 8080, as Istio
resolves it)."""
NOT_YET = "not yet in this version: pilotfish runs meshes locally (`pilotfish install` without "
_INDEX = re.compile(r"^([A-Za-z0-9_]+)\[(\d+)\]$")


class InstallError(Exception):
    """Bad IstioOperator input (the message names the file or --set)."""


def set_path(tree: dict[str, Any], dotted: str, value: Any) -> None:
    """istioctl's `--set a.b[0].c=v` on a nested dict."""
    node: Any = tree
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        match = _INDEX.match(part)
        key = match.group(1) if match else part
        if not isinstance(node, dict):
            raise InstallError(f"--set {dotted}: {'.'.join(parts[:i])} is not a map")
        if match:
            items = node.setdefault(key, [])
            index = int(match.group(2))
            while len(items) <= index:
                items.append({})
            if last:
                items[index] = value
            node = items[index]
        elif last:
            node[key] = value
        else:
            node = node.setdefault(key, {})


def _scalar(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def operator_spec(files: list[str], sets: list[str]) -> dict[str, Any]:
    """The merged IstioOperator `spec` of the files and `--set` values."""
    spec: dict[str, Any] = {}
    for name in files:
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text()
            doc = YAML(typ="safe", pure=True).load(text) or {}
        except (OSError, YAMLError) as exc:
            raise InstallError(f"{name}: {exc}") from None
        if not isinstance(doc, dict) or doc.get("kind") != "IstioOperator":
            raise InstallError(f"{name}: not an IstioOperator (kind: IstioOperator)")
        if not isinstance(doc.get("spec") or {}, dict):
            raise InstallError(f"{name}: spec must be a map")
        _merge(spec, doc.get("spec") or {})
    for item in sets:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise InstallError(f"--set {item}: expected KEY=VALUE")
        key = key.removeprefix("spec.")
        set_path(spec, key, _scalar(value))
    return spec


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


REMOVED_VALUES = {
    "telemetry.v2.prometheus.configOverride": "the Telemetry API's metrics `overrides`",
    "telemetry.v2.stackdriver.configOverride": "the Telemetry API",
    "telemetry.v2.stackdriver.disableOutbound": "the Telemetry API",
    "telemetry.v2.stackdriver.outboundAccessLogging": "the Telemetry API",
}
"""`values` Istio's chart refuses (`fail "<value> is removed"`): the EnvoyFilter-based telemetry
settings, which the older "Customizing Istio Metrics" page still shows."""


def _refuse_removed(spec: dict[str, Any]) -> None:
    for dotted, instead in REMOVED_VALUES.items():
        node: Any = spec.get("values")
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            raise InstallError(f"values.{dotted}: {dotted} is removed, use {instead} instead")


def _injector_values(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The injector's `istio-sidecar-injector` ConfigMap, as Istio's install writes it (its
    `values` as JSON), when the operator sets what local mode reads of it:
    `values.global.proxy.holdApplicationUntilProxyStarts`, which Istio's injection template ORs
    with the pod's ProxyConfig, and `values.pilot.env`, istiod's environment, which Istio's
    chart keeps there too (`pilot: {env}`) and local mode's control plane reads from there
    (`registry.mesh_config.injector_values`: ENABLE_TLS_ON_SIDECAR_INGRESS)."""
    given: Any = spec.get("values")
    node = given
    for part in HOLD_VALUE:
        node = node.get(part) if isinstance(node, dict) else None
    values: dict[str, Any] = {}
    if node is not None:
        if not isinstance(node, bool):
            raise InstallError(f"values.{'.'.join(HOLD_VALUE)}: {node!r} is not true or false")
        values["global"] = {"proxy": {"holdApplicationUntilProxyStarts": node}}
    pilot = given.get("pilot") if isinstance(given, dict) else None
    env = pilot.get("env") if isinstance(pilot, dict) else None
    if env is not None:
        if not isinstance(env, dict) or any(isinstance(v, dict | list) for v in env.values()):
            raise InstallError("values.pilot.env: must be a map of names to values")
        values["pilot"] = {"env": env}
    if not values:
        return []
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "istio-sidecar-injector", "namespace": "istio-system"},
            "data": {"values": json.dumps(values, indent=2)},
        }
    ]


def _gateways(spec: dict[str, Any], kind: str, default: bool, name: str) -> list[dict[str, Any]]:
    """Enabled gateways of `components.<kind>` (the profile's one if none are listed)."""
    listed = ((spec.get("components") or {}).get(kind)) or [{"name": name, "enabled": default}]
    if not isinstance(listed, list):
        raise InstallError(f"components.{kind} must be a list")
    found = []
    for i, gw in enumerate(listed):
        if not isinstance(gw, dict):
            raise InstallError(f"components.{kind}[{i}] must be a map")
        if gw.get("enabled", default if i == 0 else True):
            found.append({"name": name, **gw})
    return found


def install_documents(spec: dict[str, Any]) -> tuple[bool, list[dict[str, Any]]]:
    """(run the ingress gateway?, manifest documents) for a merged IstioOperator spec."""
    profile_name = str(spec.get("profile") or "default")
    if profile_name not in PROFILES:
        raise InstallError(f"unknown profile {profile_name!r}: one of {', '.join(PROFILES)}")
    profile = PROFILES[profile_name]
    _refuse_removed(spec)
    mesh: dict[str, Any] = copy.deepcopy(ISTIO_MESH_DEFAULTS)
    _merge(mesh, profile["mesh"])
    _merge(mesh, dict(spec.get("meshConfig") or {}))
    ingress = _gateways(spec, "ingressGateways", profile["ingress"], "istio-ingressgateway")
    egress = _gateways(spec, "egressGateways", profile["egress"], "istio-egressgateway")
    if len(ingress) > 1 or any(g["name"] != "istio-ingressgateway" for g in ingress):
        raise InstallError("local mode runs one ingress gateway, named istio-ingressgateway")
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}},
        istio_configmap(mesh),
        *_injector_values(spec),
    ]
    for gw in ingress:
        docs.append(_ingress_service(gw, INGRESS_PORTS[profile_name == "demo"]))
    for gw in egress:
        docs.extend(_egress_gateway(gw))
    return bool(ingress), docs


def istio_configmap(mesh: dict[str, Any]) -> dict[str, Any]:
    """The `istio` ConfigMap in istio-system as Istio's install writes it: the MeshConfig as
    YAML text under `mesh`, and `meshNetworks` (one network in local mode)."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "istio", "namespace": "istio-system"},
        "data": {"mesh": dump_yaml([mesh]).rstrip("\n"), "meshNetworks": "networks: {}"},
    }


def _declared_ports(gw: dict[str, Any]) -> list[dict[str, Any]]:
    ports = ((gw.get("k8s") or {}).get("service") or {}).get("ports") or []
    if not isinstance(ports, list) or not all(isinstance(p, dict) for p in ports):
        raise InstallError(f"components gateway {gw['name']}: k8s.service.ports must be a list")
    return ports


def _ingress_service(gw: dict[str, Any], default: list[dict[str, Any]]) -> dict[str, Any]:
    """The ingress gateway's Service with the operator's ports (else the profile's, as Istio's
    chart gives them): `port` -> `targetPort`, as the gateway's load balancer forwards them
    (local mode: both on the ingress address)."""
    labels = {"app": "istio-ingressgateway", "istio": "ingressgateway"}
    ports = [
        {
            "name": str(p.get("name", f"port-{p['port']}")),
            "port": int(p["port"]),
            "targetPort": int(p.get("targetPort", p["port"])),
            "protocol": str(p.get("protocol", "TCP")),
        }
        for p in _declared_ports(gw) or default
    ]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": gw["name"], "namespace": "istio-system",
                     "labels": {**labels, **dict(gw.get("label") or {})}},
        "spec": {"type": "LoadBalancer", "selector": labels, "ports": ports},
    }  # fmt: skip


def _egress_gateway(gw: dict[str, Any]) -> list[dict[str, Any]]:
    name, namespace = str(gw["name"]), str(gw.get("namespace") or "istio-system")
    labels = {"app": name, "istio": "egressgateway", **dict(gw.get("label") or {})}
    ports: list[dict[str, Any]] = _declared_ports(gw) or EGRESS_PORTS
    service_ports = [
        {"name": str(p.get("name", f"port-{p['port']}")), "port": int(p["port"])} for p in ports
    ]
    meta = {"name": name, "namespace": namespace, "labels": labels}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": f"{name}-service-account", "namespace": namespace}},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta,
         "spec": {"selector": labels, "ports": service_ports}},
        {
            "apiVersion": "pilotfish.io/v1alpha1",
            "kind": "Workload",
            "metadata": meta,
            "spec": {
                "serviceAccount": f"{name}-service-account",
                # a gateway is only its Envoy: the "app" waits
                "command": ["python", "-c", "import signal; signal.pause()"],
            },
        },
    ]  # fmt: skip


def install_command(
    files: list[str],
    sets: list[str],
    yes: bool,
    kubernetes: bool,
    state_dir: Path,
    ingress_address: str,
    timeout: float,
) -> int:
    from pilotfish.cli.confirm import cancelled, confirm, install_question
    from pilotfish.cli.reinstall import reinstall
    from pilotfish.cli.up import up_command
    from pilotfish.local.client import MeshNotRunning, read_mesh

    if kubernetes:
        print(f"error: install --kubernetes: {NOT_YET}--kubernetes)", file=sys.stderr)
        return 1
    try:
        spec = operator_spec(files, sets)
        ingress, docs = install_documents(spec)
    except (InstallError, KeyError, TypeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not yes and not confirm(install_question(str(spec.get("profile") or "default"))):
        return cancelled()  # as istioctl, whether stdin is a terminal or not
    try:
        read_mesh(state_dir)
    except MeshNotRunning:
        folder = state_dir / "install"
        shutil.rmtree(folder, ignore_errors=True)
        write_atomically(folder / "istio.yaml", dump_yaml(docs))
        code = up_command(str(folder), state_dir, ingress_address, True, False, timeout, ingress)
    else:  # istioctl install over an installed mesh: changed in place (`reinstall`)
        code = reinstall(docs, state_dir, timeout)
    if code == 0:
        print("✔ Installation complete")
    return code
