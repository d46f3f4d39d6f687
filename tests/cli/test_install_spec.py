"""`pilotfish install`'s IstioOperator handling (pure): --set paths, profiles, meshConfig and
gateway components become the manifest the local mesh starts from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from pilotfish.cli.install import (
    ISTIO_MESH_DEFAULTS,
    InstallError,
    install_documents,
    operator_spec,
    set_path,
)
from pilotfish.cli.jsonpath import jsonpath
from pilotfish.cli.kube_views import age, ingress_ports
from pilotfish.config.yaml_text import dump_yaml
from pilotfish.model.mesh import MeshConfig
from pilotfish.registry.inputs import parse_documents


def _mesh(docs: list[dict[str, object]]) -> dict[str, object]:
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    data = config["data"]
    assert isinstance(data, dict)
    loaded: dict[str, object] = YAML(typ="safe").load(data["mesh"])
    return loaded


def test_the_hold_value_of_istios_chart_holds_every_app() -> None:
    _, docs = install_documents(
        operator_spec([], ["values.global.proxy.holdApplicationUntilProxyStarts=true"])
    )
    # the injector's values, as Istio's install keeps them (not the mesh's defaultConfig: a pod
    # saying false in its own ProxyConfig is still held, as Istio's template ORs the two)
    assert "defaultConfig" not in _mesh(docs)
    (injector,) = [d for d in docs if d["metadata"] == {"name": "istio-sidecar-injector",
                                                         "namespace": "istio-system"}]  # fmt: skip
    assert json.loads(injector["data"]["values"]) == {
        "global": {"proxy": {"holdApplicationUntilProxyStarts": True}}
    }
    _, docs = install_documents(operator_spec([], ["profile=default"]))
    assert "defaultConfig" not in _mesh(docs)
    assert [d["kind"] for d in docs].count("ConfigMap") == 1  # the `istio` one alone
    spelled = {"values": {"global": {"proxy": {"holdApplicationUntilProxyStarts": "yes"}}}}
    with pytest.raises(InstallError, match="holdApplicationUntilProxyStarts: 'yes' is not true"):
        install_documents(spelled)


def _pilot_env_mesh(sets: list[str]) -> tuple[MeshConfig, list[str]]:
    """The control plane's mesh config from the documents `install --set ...` writes."""
    _, docs = install_documents(operator_spec([], sets))
    _, parsed = parse_documents([("istio.yaml", dump_yaml(docs))])
    return MeshConfig.of(parsed.manifest), [str(d) for d in parsed.diagnostics]


def test_pilot_env_enable_tls_on_sidecar_ingress_reaches_the_control_plane() -> None:
    """The "Ingress Sidecar TLS Termination" page's `--set
    values.pilot.env.ENABLE_TLS_ON_SIDECAR_INGRESS=true` (istiod's environment: Istio's chart
    also keeps `pilot.env` in the injector's ConfigMap values, where local mode reads it)
    turns the Sidecar's ingress `tls` on; Istio's default is off. Values are read as Go's
    ParseBool reads istiod's environment; anything else is named."""
    flag = "values.pilot.env.ENABLE_TLS_ON_SIDECAR_INGRESS"
    assert _pilot_env_mesh(["profile=default"]) == (MeshConfig(), [])
    for value, expected in (("true", True), ("false", False), ("1", True), ("True", True)):
        mesh, problems = _pilot_env_mesh([f"{flag}={value}"])
        assert (mesh.tls_on_sidecar_ingress, problems) == (expected, [])
    _, docs = install_documents(operator_spec([], [f"{flag}=true", "values.pilot.env.X=1"]))
    (injector,) = [d for d in docs if d["metadata"] == {"name": "istio-sidecar-injector",
                                                         "namespace": "istio-system"}]  # fmt: skip
    assert json.loads(injector["data"]["values"]) == {
        "pilot": {"env": {"ENABLE_TLS_ON_SIDECAR_INGRESS": True, "X": 1}}
    }
    mesh, problems = _pilot_env_mesh([f"{flag}=yes"])
    assert not mesh.tls_on_sidecar_ingress
    assert any("pilot.env.ENABLE_TLS_ON_SIDECAR_INGRESS: 'yes' is not true or false" in p
               for p in problems), problems  # fmt: skip
    with pytest.raises(InstallError, match=r"values\.pilot\.env: must be a map"):
        install_documents({"values": {"pilot": {"env": ["ENABLE_TLS_ON_SIDECAR_INGRESS"]}}})


def test_set_paths_as_istioctl() -> None:
    tree: dict[str, object] = {}
    set_path(tree, "components.egressGateways[0].enabled", True)
    set_path(tree, "meshConfig.accessLogFile", "/dev/stdout")
    assert tree == {
        "components": {"egressGateways": [{"enabled": True}]},
        "meshConfig": {"accessLogFile": "/dev/stdout"},
    }


@pytest.mark.parametrize(
    ("profile", "ingress", "egress"),
    [
        ("default", True, False),
        ("demo", True, True),
        ("minimal", False, False),
        ("empty", False, False),
    ],
)
def test_profiles(profile: str, ingress: bool, egress: bool) -> None:
    run_ingress, docs = install_documents(operator_spec([], [f"profile={profile}"]))
    assert run_ingress is ingress
    assert any(d["kind"] == "Workload" for d in docs) is egress
    if profile == "demo":
        assert _mesh(docs) == {
            "accessLogFile": "/dev/stdout",
            "defaultConfig": {"tracing": {"sampling": 100}},
            **ISTIO_MESH_DEFAULTS,  # what Istio's install writes for every profile
        }


def test_operator_file_with_set_overlay(tmp_path: Path) -> None:
    path = tmp_path / "op.yaml"
    path.write_text(
        "kind: IstioOperator\nspec:\n  profile: demo\n  meshConfig:\n    accessLogEncoding: JSON\n"
    )
    spec = operator_spec([str(path)], ["components.egressGateways[0].enabled=false"])
    run_ingress, docs = install_documents(spec)
    assert run_ingress and not any(d["kind"] == "Workload" for d in docs)
    assert _mesh(docs)["accessLogEncoding"] == "JSON"


def test_bad_input_is_named() -> None:
    with pytest.raises(InstallError, match="unknown profile"):
        install_documents(operator_spec([], ["profile=nope"]))
    with pytest.raises(InstallError, match="KEY=VALUE"):
        operator_spec([], ["profile"])


def test_the_removed_telemetry_values_are_refused_as_istios_chart_refuses_them(
    tmp_path: Path,
) -> None:
    """The older "Customizing Istio Metrics" page's IstioOperator: Istio's chart fails it
    (`telemetry.v2.prometheus.configOverride is removed`), so nothing is installed here either
    instead of the metrics silently staying as they were."""
    path = tmp_path / "op.yaml"
    path.write_text(
        "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  values:\n"
        "    telemetry:\n      v2:\n        prometheus:\n          configOverride:\n"
        "            inboundSidecar:\n              debug: false\n"
    )
    with pytest.raises(InstallError, match=r"configOverride is removed, use the Telemetry API"):
        install_documents(operator_spec([str(path)], []))
    spec = operator_spec([], ["values.telemetry.v2.prometheus.enabled=true"])
    assert install_documents(spec)[0]  # the rest of values.telemetry is accepted


def test_the_ingress_service_has_istios_ports_unless_the_operator_gives_its_own() -> None:
    def ports(spec: dict[str, object]) -> list[tuple[str, int, int]]:
        docs = install_documents(spec)[1]
        service = next(d for d in docs if d["kind"] == "Service")
        return [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]]

    istio = [("status-port", 15021, 15021), ("http2", 80, 8080), ("https", 443, 8443)]
    assert ports(operator_spec([], [])) == istio
    assert ports(operator_spec([], ["profile=demo"])) == [
        *istio,
        ("tcp", 31400, 31400),
        ("tls", 15443, 15443),
    ]
    own = "components.ingressGateways[0].k8s.service.ports[0]"
    spec = operator_spec([], [f"{own}.name=http", f"{own}.port=8000", f"{own}.targetPort=8080"])
    assert ports(spec) == [("http", 8000, 8080)]


def test_jsonpath_forms_istio_docs_use() -> None:
    svc = {
        "spec": {"ports": [{"name": "http2", "port": 8080}, {"name": "https", "port": 8443}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}},
    }
    assert jsonpath(svc, "{.status.loadBalancer.ingress[0].ip}") == ["127.0.0.1"]
    assert jsonpath(svc, '{.spec.ports[?(@.name=="https")].port}') == [8443]
    assert jsonpath(svc, "{.spec.ports[*].name}") == ["http2", "https"]
    pods = {"items": [{"metadata": {"name": "sleep-0", "labels": {"name": "x"}}},
                      {"metadata": {"name": "sleep-1"}}]}  # fmt: skip
    assert jsonpath(pods, "{.items..metadata.name}") == ["sleep-0", "sleep-1"]
    assert jsonpath(pods, "{.items[0].metadata.name}") == ["sleep-0"]


def test_install_gives_the_ingress_gateway_its_operator_ports() -> None:
    spec = operator_spec([], ["components.ingressGateways[0].name=istio-ingressgateway"])
    spec["components"]["ingressGateways"][0]["k8s"] = {
        "service": {"ports": [{"name": "http2", "port": 80, "targetPort": 8080}]}
    }
    ingress, docs = install_documents(spec)
    (service,) = [d for d in docs if d["kind"] == "Service"]
    assert ingress and service["metadata"]["name"] == "istio-ingressgateway"
    assert service["spec"]["ports"] == [
        {"name": "http2", "port": 80, "targetPort": 8080, "protocol": "TCP"}
    ]
    default_ingress, default_docs = install_documents({})  # Istio's chart's ports
    (service,) = [d for d in default_docs if d["kind"] == "Service"]
    assert default_ingress and [p["port"] for p in service["spec"]["ports"]] == [15021, 80, 443]


def test_ingress_ports_named_as_istios_service() -> None:
    gateways = [
        {"spec": {"selector": {"istio": "ingressgateway"}, "servers": [
            {"port": {"number": 8080, "protocol": "HTTP"}},
            {"port": {"number": 8443, "protocol": "HTTPS"}},
            {"port": {"number": 31400, "protocol": "TCP"}},
        ]}},
        {"spec": {"selector": {"istio": "egressgateway"},
                  "servers": [{"port": {"number": 80, "protocol": "HTTP"}}]}},
    ]  # fmt: skip
    assert ingress_ports(gateways) == (("http2", 8080), ("https", 8443), ("tcp", 31400))
    # a Gateway opening Istio's own port for a name later takes the name (Bookinfo's 8080, then
    # the Authentication Policy page's 80): the docs' INGRESS_PORT is Istio's
    later = {"spec": {"selector": {"istio": "ingressgateway"}, "servers": [
        {"port": {"number": 80, "protocol": "HTTP"}},
        {"port": {"number": 9443, "protocol": "HTTPS"}},
    ]}}  # fmt: skip
    assert ingress_ports([*gateways, later]) == (
        ("http2", 80), ("http2-8080", 8080), ("https", 8443), ("https-9443", 9443),
        ("tcp", 31400),
    )  # fmt: skip


def test_kubectl_ages() -> None:
    assert [age(s) for s in (5, 200, 1500, 4 * 3600 + 60, 3 * 86400)] == [
        "5s",
        "3m20s",
        "25m",
        "4h1m",
        "3d",
    ]
