"""Test helpers for translation: cases from YAML, snapshots to YAML, Envoy validate bootstraps.

A case directory holds `input.yaml` (Istio config, plus optional `v1 Service`/`v1 Pod` registry
documents), `proxy.yaml` (who asks: `instance`, `type`, `app_ports`, `delta_xds`, optional
`registry:` file of shared registry documents, `mesh:` settings and `mesh_config:`, the telemetry
part of an Istio mesh config) and `<type>.golden.yaml` files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import replace
from io import StringIO
from pathlib import Path
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.access_loggers.stats.v3 import stats_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet
from ruamel.yaml import YAML

from pilotfish.agent.bootstrap import BootstrapSettings, build_bootstrap
from pilotfish.ca.identity import SDS_CLUSTER
from pilotfish.cli.describe.authz import pod_proxy
from pilotfish.config import load
from pilotfish.config.mesh_telemetry import parse_mesh_telemetry
from pilotfish.config.yaml_text import RawDocument
from pilotfish.model.mesh import MeshConfig
from pilotfish.model.proxy import Proxy, ProxyType
from pilotfish.model.push_context import PushContext
from pilotfish.registry.manifest import parse_manifest
from pilotfish.registry.types import (
    RegistrySnapshot,
    Service,
    WorkloadInstance,
)
from pilotfish.telemetry.stats_gauges import gauges_of
from pilotfish.translate import ProxyResources, names

TESTDATA = Path(__file__).parent / "testdata"
GOLDEN_TYPES = {
    "listeners": "type.googleapis.com/envoy.config.listener.v3.Listener",
    "routes": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
    "clusters": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
    "endpoints": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
}


def _yaml() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096
    return yaml


def registry_from(documents: list[RawDocument]) -> RegistrySnapshot:
    services: list[Service] = []
    instances: list[WorkloadInstance] = []
    for doc in documents:
        meta, spec = doc.metadata, doc.data.get("spec") or {}
        namespace = meta.get("namespace", "default")
        if doc.kind == "Service":  # as the mesh manifest reads it (ports, exportTo annotation)
            manifest, problems = parse_manifest([doc])
            assert not [d for d in problems if d.level == "error"], problems
            services.extend(manifest.services)
        elif doc.kind == "Pod":
            name = meta["name"]
            instances.append(
                WorkloadInstance(
                    name=name,
                    workload=re.sub(r"-\d+$", "", name),
                    namespace=namespace,
                    address=doc.data["status"]["podIP"],
                    labels=tuple(sorted((meta.get("labels") or {}).items())),
                    service_account=spec.get("serviceAccountName", "default"),
                    ports=tuple(spec.get("ports", [])),
                    ready=doc.data["status"].get("ready", True),
                )
            )
    return RegistrySnapshot(services=tuple(services), instances=tuple(instances))


def load_case(case: Path) -> tuple[Proxy, PushContext]:
    settings: dict[str, Any] = _yaml().load((case / "proxy.yaml").read_text()) or {}
    result = load((case / "input.yaml").read_text(), f"{case.name}/input.yaml")
    assert result.ok, [str(d) for d in result.diagnostics]
    others = list(result.others)
    if "registry" in settings:
        shared = case / settings["registry"]
        others.extend(load(shared.read_text(), shared.name).others)
    registry = registry_from(others)
    pod = next(i for i in registry.instances if i.name == settings["instance"])
    proxy = replace(
        pod_proxy(pod),
        type=ProxyType(settings.get("type", "sidecar")),
        app_ports=tuple(tuple(p) for p in settings.get("app_ports", [])),
        interception=str(settings.get("interception", "")),
        delta_xds=bool(settings.get("delta_xds", False)),
    )
    mesh = MeshConfig(**settings.get("mesh", {}))
    if "mesh_config" in settings:
        errors: list[tuple[str, str]] = []
        mesh = replace(mesh, telemetry=parse_mesh_telemetry(settings["mesh_config"], errors))
        assert errors == [], errors
    return proxy, PushContext(registry=registry, configs=tuple(result.objects), mesh=mesh)


def _sorted(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def golden_texts(resources: ProxyResources) -> dict[str, str]:
    """`<type>.golden.yaml` file name -> YAML text of that resource type, plus diagnostics."""
    texts: dict[str, str] = {}
    for short, type_url in GOLDEN_TYPES.items():
        data = {name: _as_dict(m) for name, m in resources[type_url].items()}
        texts[f"{short}.golden.yaml"] = _dump(data)
    texts["diagnostics.golden.yaml"] = _dump(sorted(str(d) for d in resources.diagnostics))
    return texts


def _as_dict(message: Message) -> dict[str, Any]:
    """JSON of a resource; a listener's stats loggers with their gauges (see below)."""
    if isinstance(message, listener_pb2.Listener):
        return _with_stats_scopes(message, MessageToDict(message), scopes=False)
    data: dict[str, Any] = MessageToDict(message)
    return data


def _dump(data: Any) -> str:
    stream = StringIO()
    _yaml().dump(_sorted(data), stream)
    return stream.getvalue()


def _with_stats_scopes(
    listener: listener_pb2.Listener, data: dict[str, Any], scopes: bool = True
) -> dict[str, Any]:
    """JSON drops what the xds-protos bindings do not know: the stats loggers' `stats_scope`
    (Envoy 1.40's field 6, sent to Envoy as bytes) and `gauges` (field 5, `stats_gauges`). Put
    them back from those bytes."""
    for i, chain in enumerate(listener.filter_chains):
        for j, network_filter in enumerate(chain.filters):
            holder: Message
            holder = hcm_pb2.HttpConnectionManager()
            if not network_filter.typed_config.Unpack(holder):
                holder = tcp_proxy_pb2.TcpProxy()
                if not network_filter.typed_config.Unpack(holder):
                    continue
            for k, log in enumerate(holder.access_log):
                config = stats_pb2.Config()
                if not log.typed_config.Unpack(config):
                    continue
                typed = data["filterChains"][i]["filters"][j]["typedConfig"]
                gauges = [MessageToDict(g) for g in gauges_of(config)]
                if gauges:
                    typed["accessLog"][k]["typedConfig"]["gauges"] = gauges
                for found in UnknownFieldSet(config) if scopes else ():
                    if found.field_number == 6:  # envoy.type.v3.Scope, its `prefix` is field 5
                        assert found.data[0] == 0x2A and found.data[1] == len(found.data) - 2
                        prefix = found.data[2:].decode()
                        typed["accessLog"][k]["typedConfig"]["statsScope"] = {"prefix": prefix}
    return data


def validate_bootstrap(resources: ProxyResources) -> str:
    """An Envoy bootstrap (JSON) holding the snapshot as static resources (RDS, EDS inlined)."""
    routes = resources[GOLDEN_TYPES["routes"]]
    endpoints = resources[GOLDEN_TYPES["endpoints"]]
    listeners = []
    for message in resources[GOLDEN_TYPES["listeners"]].values():
        listener = listener_pb2.Listener()
        listener.CopyFrom(message)
        for chain in listener.filter_chains:
            for network_filter in chain.filters:
                manager = hcm_pb2.HttpConnectionManager()
                if network_filter.typed_config.Unpack(manager) and manager.HasField("rds"):
                    route_config = route_pb2.RouteConfiguration()
                    route_config.CopyFrom(routes[manager.rds.route_config_name])
                    manager.route_config.CopyFrom(route_config)
                    network_filter.typed_config.Pack(manager)
        listeners.append(_with_stats_scopes(listener, MessageToDict(listener)))
    clusters = []
    for message in resources[GOLDEN_TYPES["clusters"]].values():
        cluster = cluster_pb2.Cluster()
        cluster.CopyFrom(message)
        if cluster.type == cluster_pb2.Cluster.EDS and not cluster.HasField("cluster_type"):
            cluster.type = cluster_pb2.Cluster.STATIC
            cluster.ClearField("eds_cluster_config")
            cluster.load_assignment.CopyFrom(endpoints[cluster.name])
        clusters.append(MessageToDict(cluster))
    # The agent's SDS cluster and the other bootstrap clusters routes may name (admin_self), as
    # the real bootstrap has them (mesh mTLS secrets come from the SDS one).
    sds = BootstrapSettings(Proxy(ProxyType.SIDECAR, "127.0.0.1", "validate", "default"), "", 0)
    sds_bootstrap = build_bootstrap(replace(sds, sds_socket="/tmp/pilotfish-validate-sds.sock"))
    wanted = {SDS_CLUSTER, *names.BOOTSTRAP_CLUSTERS}
    clusters += [
        MessageToDict(c) for c in sds_bootstrap.static_resources.clusters if c.name in wanted
    ]
    bootstrap = {
        "node": {
            "id": "sidecar~127.0.0.1~validate.default~default.svc.cluster.local",
            "cluster": "validate.default",
        },
        "admin": {"address": {"socketAddress": {"address": "127.0.0.1", "portValue": 0}}},
        "staticResources": {"listeners": listeners, "clusters": clusters},
    }
    return json.dumps(bootstrap, sort_keys=True)  # JSON: YAML 1.1 readers see `yes` as true


def bookinfo_push(config_yaml: str = "", **mesh: Any) -> PushContext:
    """A push context of the shared Bookinfo registry plus `config_yaml` (Istio + v1 docs)."""
    result = load(config_yaml, "test.yaml") if config_yaml.strip() else None
    assert result is None or result.ok, [str(d) for d in result.diagnostics]
    shared = TESTDATA / "registry-bookinfo.yaml"
    others = load(shared.read_text(), shared.name).others
    others += result.others if result is not None else []
    return PushContext(
        registry=registry_from(others),
        configs=tuple(result.objects) if result is not None else (),
        mesh=MeshConfig(**mesh),
    )


def sidecar_for(push: PushContext, instance: str, *app_ports: tuple[int, int]) -> Proxy:
    pod = next(i for i in push.registry.instances if i.name == instance)
    return Proxy(
        type=ProxyType.ROUTER if instance.startswith("istio-") else ProxyType.SIDECAR,
        ip=pod.address,
        instance=pod.name,
        namespace=pod.namespace,
        labels=pod.labels,
        workload=pod.workload,
        service_account=pod.service_account,
        app_ports=app_ports,
    )
