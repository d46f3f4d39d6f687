"""Istio's `exportTo` of services: a ServiceEntry's field and a Service's
`networking.istio.io/exportTo` annotation hide the service from proxies (sidecars and gateways) of
namespaces it is not exported to; a malformed annotation is refused with its field path."""

from __future__ import annotations

import pytest
from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.config.load import load
from pilotfish.model.mesh import MeshConfig
from pilotfish.registry.manifest import parse_manifest
from pilotfish.registry.mesh_config import ExportDefaults
from pilotfish.translate import ProxyResources, check_invariants, generate

HTTPBIN = """
apiVersion: v1
kind: Service
metadata:
  name: httpbin
  namespace: tools
  annotations: {{networking.istio.io/exportTo: "{export}"}}
spec:
  selector: {{app: httpbin}}
  ports: [{{name: http, port: 80, targetPort: 8000}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: httpbin-v1-0, namespace: tools, labels: {{app: httpbin}}}}
spec: {{ports: [8000]}}
status: {{podIP: 127.42.1.2}}
"""

ENTRY = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: api, namespace: default}}
spec:
  hosts: [api.example.com]
  exportTo: {export}
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{{number: 80, name: http, protocol: HTTP}}]
"""

HTTPBIN_CLUSTER = "outbound|80||httpbin.tools.svc.cluster.local"
API_CLUSTER = "outbound|80||api.example.com"


def _resources(config: str, instance: str, *ports: tuple[int, int]) -> ProxyResources:
    push = bookinfo_push(config)
    resources = generate(sidecar_for(push, instance, *ports), push)
    assert check_invariants(resources) == []
    return resources


def _sees(resources: ProxyResources, cluster: str, host: str) -> tuple[bool, bool]:
    """(has the cluster, has a virtual host for the host) in `http_proxy` or a gateway's."""
    vhosts = [v.name for config in resources.routes.values() for v in config.virtual_hosts]
    return cluster in resources.clusters, any(v.startswith(host) for v in vhosts)


@pytest.mark.parametrize(
    ("export", "default_sees", "tools_sees"),
    [("*", True, True), (".", False, True), ("default", True, False), ("~", False, False)],
)
def test_a_service_annotation_scopes_who_gets_its_clusters_and_routes(
    export: str, default_sees: bool, tools_sees: bool
) -> None:
    config = HTTPBIN.format(export=export)
    productpage = _resources(config, "productpage-v1-0", (9080, 19080))
    httpbin = _resources(config, "httpbin-v1-0", (8000, 18000))
    host = "httpbin.tools.svc.cluster.local"
    assert _sees(productpage, HTTPBIN_CLUSTER, host) == (default_sees, default_sees)
    assert _sees(httpbin, HTTPBIN_CLUSTER, host) == (tools_sees, tools_sees)
    assert "inbound|8000||" in httpbin.clusters  # its own inbound side is unchanged


def test_a_service_entry_export_to_applies_to_gateways_too() -> None:
    config = ENTRY.format(export="['.']")
    sidecar = _resources(config, "productpage-v1-0", (9080, 19080))
    gateway = _resources(config, "istio-ingressgateway-0")
    assert API_CLUSTER in sidecar.clusters
    assert API_CLUSTER not in gateway.clusters  # istio-system is not `.` of default
    exported = ENTRY.format(export="['istio-system']")
    assert API_CLUSTER not in _resources(exported, "productpage-v1-0", (9080, 19080)).clusters
    assert API_CLUSTER in _resources(exported, "istio-ingressgateway-0").clusters


@pytest.mark.parametrize(
    ("export", "message"),
    [("Bad_NS", "'Bad_NS' is not"), ("*,default", "both public (*) and non-public")],
)
def test_a_malformed_export_annotation_is_refused_with_its_path(export: str, message: str) -> None:
    result = load(HTTPBIN.format(export=export), "svc.yaml")
    manifest, diagnostics = parse_manifest(result.others)
    errors = [d for d in diagnostics if d.level == "error"]
    assert errors, diagnostics
    assert "metadata.annotations[networking.istio.io/exportTo]" in str(errors[0])
    assert message in str(errors[0]) and "svc.yaml" in str(errors[0])
    assert not any(s.name == "httpbin" for s in manifest.services)


PLAIN_HTTPBIN = (
    HTTPBIN.replace('  annotations: {{networking.istio.io/exportTo: "{export}"}}\n', "")
    .replace("{{", "{")
    .replace("}}", "}")
)
HTTPBIN_RULE = """
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin, namespace: tools}
spec:
  host: httpbin
  subsets: [{name: v1, labels: {app: httpbin}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: httpbin, namespace: tools}
spec:
  hosts: [httpbin]
  http: [{timeout: 7s, route: [{destination: {host: httpbin}}]}]
"""


def _timeout(resources: ProxyResources, host: str) -> int | None:
    for config in resources.routes.values():
        for vhost in config.virtual_hosts:
            if vhost.name.startswith(host):
                return int(vhost.routes[0].route.timeout.seconds)
    return None


@pytest.mark.parametrize("kind", ["service", "virtual_service", "destination_rule"])
def test_the_mesh_default_export_to_applies_to_what_sets_none(kind: str) -> None:
    """MeshConfig's defaultServiceExportTo / defaultVirtualServiceExportTo /
    defaultDestinationRuleExportTo ["."]: the service, VirtualService or DestinationRule of
    `tools` that sets no exportTo is seen only from `tools`; one that sets it keeps its own."""
    host = "httpbin.tools.svc.cluster.local"
    mesh = {"export_defaults": ExportDefaults(**{kind: (".",)})}

    def seen(config: str, instance: str, *ports: tuple[int, int]) -> tuple[bool, bool, bool]:
        push = bookinfo_push(config, **mesh)
        resources = generate(sidecar_for(push, instance, *ports), push)
        assert check_invariants(resources) == []
        rule = "outbound|80|v1|httpbin.tools.svc.cluster.local" in resources.clusters
        return HTTPBIN_CLUSTER in resources.clusters, rule, _timeout(resources, host) == 7

    config = PLAIN_HTTPBIN + HTTPBIN_RULE
    in_tools = seen(config, "httpbin-v1-0", (8000, 18000))
    in_default = seen(config, "productpage-v1-0", (9080, 19080))
    assert in_tools == (True, True, True)
    hidden = {"service": (False, False, False), "virtual_service": (True, True, False)}
    assert in_default == hidden.get(kind, (True, False, True))
    # set on the object itself, exportTo wins over the mesh's default
    own = config.replace("{host: httpbin}}]}]", "{host: httpbin}}]}]\n  exportTo: ['*']")
    own = own.replace("  host: httpbin\n", "  host: httpbin\n  exportTo: ['*']\n")
    own = own.replace(
        "  name: httpbin\n  namespace: tools\n",
        '  name: httpbin\n  namespace: tools\n  annotations: {networking.istio.io/exportTo: "*"}\n',
    )
    assert seen(own, "productpage-v1-0", (9080, 19080)) == (True, True, True)


MESH = """
apiVersion: v1
kind: ConfigMap
metadata: {{name: istio, namespace: istio-system}}
data:
  mesh: |
    {field}: {value}
"""


def test_mesh_default_export_to_is_parsed_and_checked() -> None:
    good = MESH.format(field="defaultVirtualServiceExportTo", value='[".", "tools"]')
    manifest, diagnostics = parse_manifest(load(good, "mesh.yaml").others)
    assert [d for d in diagnostics if d.level == "error"] == []
    assert manifest.mesh.export_defaults == ExportDefaults(virtual_service=(".", "tools"))
    assert MeshConfig.of(manifest).export_defaults.virtual_service == (".", "tools")
    for value, message in [('["*", "."]', "both public"), ('["Bad_NS"]', "'Bad_NS' is not")]:
        bad = MESH.format(field="defaultServiceExportTo", value=value)
        manifest, diagnostics = parse_manifest(load(bad, "mesh.yaml").others)
        errors = [str(d) for d in diagnostics if d.level == "error"]
        assert errors and "defaultServiceExportTo" in errors[0] and message in errors[0], errors
        assert "data.mesh" in errors[0] and "mesh.yaml" in errors[0]
