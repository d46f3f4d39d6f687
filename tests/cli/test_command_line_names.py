"""How istioctl/kubectl users name things on the command line: proxies as `proxy-status` prints
them (`NAME.NAMESPACE`), proxy-config types in the plural, and `-n`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from pilotfish.cli.inputs import InputError, read_kustomization
from pilotfish.cli.logs import last_lines, log_file
from pilotfish.cli.pods import find_proxy
from pilotfish.cli.proxy_config import section_name
from pilotfish.cli.proxy_config_filters import clusters
from pilotfish.config.kinds import is_gateway_api, resolve_kind
from pilotfish.config.yaml_text import dump_yaml
from pilotfish.controlplane.store import same_document

INFO: dict[str, Any] = {
    "proxies": {
        "reviews-v2-0": {"workload": "reviews-v2", "namespace": "default", "type": "sidecar"},
        "istio-ingressgateway-0": {
            "workload": "istio-ingressgateway",
            "namespace": "istio-system",
            "type": "router",
        },
    }
}


def test_proxy_found_by_the_name_proxy_status_prints() -> None:
    assert find_proxy(INFO, "reviews-v2-0.default") is not None
    assert find_proxy(INFO, "istio-ingressgateway-0.istio-system") is not None
    assert find_proxy(INFO, "reviews-v2.default") is not None


def test_namespace_narrows_the_search() -> None:
    assert find_proxy(INFO, "reviews-v2-0", "default") is not None
    assert find_proxy(INFO, "reviews-v2-0", "istio-system") is None
    assert find_proxy(INFO, "reviews-v2-0.other") is None
    assert find_proxy(INFO, "istio-ingressgateway", "istio-system") is not None


def test_proxy_config_types_as_istioctl_accepts_them() -> None:
    assert section_name("routes") == "route"
    assert section_name("clusters") == "cluster"
    assert section_name("listeners") == "listener"
    assert section_name("endpoints") == "endpoint"
    assert section_name("secret") == "secret"
    assert section_name("nonsense") is None


def test_manifest_kinds_apply_accepts_are_kinds_get_and_delete_know() -> None:
    for typed, kind in [
        ("configmap", "ConfigMap"),
        ("cm", "ConfigMap"),
        ("secrets", "Secret"),
        ("workloadentries", "WorkloadEntry"),  # kubectl's plural of -y
        ("serviceentries", "ServiceEntry"),
    ]:
        resolved = resolve_kind(typed)
        assert resolved is not None and resolved.kind == kind, typed


def test_explicit_default_namespace_is_the_same_document() -> None:
    bare = {"kind": "VirtualService", "metadata": {"name": "r"}, "spec": {"hosts": ["r"]}}
    explicit = {**bare, "metadata": {"name": "r", "namespace": "default"}}
    other = {**bare, "metadata": {"name": "r", "namespace": "other"}}
    assert same_document(bare, explicit) and same_document(explicit, bare)
    assert not same_document(bare, other)


def test_logs_tail_and_files() -> None:
    assert last_lines("a\nb\nc\n", 2) == "b\nc\n"
    assert last_lines("a\nb\n", -1) == "a\nb\n"
    assert last_lines("a\nb\n", 0) == ""
    assert log_file(Path("/r"), "istio-proxy") == Path("/r/envoy.log")
    assert log_file(Path("/r"), None) == Path("/r/app.log")


def test_proxy_config_table_filters() -> None:
    """istioctl's cluster filters: substrings of the cluster's name (`--port N`: `|N|`)."""
    names = [
        "outbound|9080|v1|reviews.default.svc.cluster.local",
        "outbound|9080|v2|reviews.default.svc.cluster.local",
        "outbound|9080||ratings.default.svc.cluster.local",
    ]
    section = {"dynamic_active_clusters": [{"cluster": {"name": n}} for n in names]}
    fqdn = clusters(section, {"fqdn": "reviews.default.svc.cluster.local"})
    assert [c["name"] for c in fqdn] == names[:2]
    assert clusters(section, {"fqdn": "reviews", "subset": "v2"}) == [{"name": names[1]}]
    assert len(clusters(section, {"name": "ignored", "port": ""})) == 3


def test_a_group_after_the_kind_must_be_the_kinds() -> None:
    for typed, group in [
        ("virtualservices.networking.istio.io", "networking.istio.io"),
        ("virtualservices.v1.networking.istio.io", "networking.istio.io"),  # NAME.VERSION.GROUP
        ("deployments.apps", "apps"),
        ("gateway", "networking.istio.io"),  # plain `gateway` is Istio's, as in istioctl
    ]:
        resolved = resolve_kind(typed)
        assert resolved is not None and resolved.group == group, typed
    other = resolve_kind("gateways.gateway.networking.k8s.io")
    assert other is not None and other.group == "gateway.networking.k8s.io"  # the Gateway API's
    assert resolve_kind("deployments.networking.istio.io") is None


def test_gateway_api_names_are_served_and_the_others_recognised() -> None:
    served = ["gtw", "httproute", "HTTPRoutes", "gatewayclasses", "referencegrants", "gc"]
    served += ["grpcroute", "TCPRoutes", "tlsroutes.gateway.networking.k8s.io"]
    for typed in (*served, "gateways.gateway.networking.k8s.io"):
        found = resolve_kind(typed)
        assert found is not None and found.group == "gateway.networking.k8s.io", typed
        assert not is_gateway_api(typed), typed
    for typed in ("udproute", "backendtlspolicies", "udproutes.gateway.networking.k8s.io"):
        assert is_gateway_api(typed), typed  # not yet: said so
    for typed in ("gw", "gateway", "gateways", "vs", "networking.istio.io/v1"):
        assert not is_gateway_api(typed), typed


def test_yaml_output_prints_multi_line_strings_as_blocks_kubectl_does() -> None:
    text = dump_yaml([{"data": {"mesh": "a: 1\nb:\n  c: 2", "one": "x"}}])
    assert text == "data:\n  mesh: |-\n    a: 1\n    b:\n      c: 2\n  one: x\n"
    for value in ("a\r\nb", "a\x00\nb", " lead\nx", "x\n\n\n", "tab\n\tx", "\u2028\ny"):
        assert YAML(typ="safe").load(dump_yaml([{"k": value}]))["k"] == value, repr(value)


def test_kustomization_resources_in_order_and_refusals(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("kind: A\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yaml").write_text("kind: B\n")
    (tmp_path / "sub" / "kustomization.yaml").write_text("resources: [b.yaml]\n")
    (tmp_path / "kustomization.yaml").write_text("resources:\n- sub\n- a.yaml\n")
    assert [text for _, text in read_kustomization(str(tmp_path))] == ["kind: B\n", "kind: A\n"]
    for body, message in [
        ("resources: [nope.yaml]\n", "resources: nope.yaml: no such file or directory"),
        ("resources: [a.yaml]\npatches: []\n", "patches: not supported here (only resources)"),
        ("resources: [.]\n", "resources include themselves"),
        ("resources: a.yaml\n", "resources must be a list"),
    ]:
        (tmp_path / "kustomization.yaml").write_text(body)
        with pytest.raises(InputError, match=re.escape(message)):
            read_kustomization(str(tmp_path))
    with pytest.raises(InputError, match=r"no kustomization\.yaml"):
        read_kustomization(str(tmp_path / "sub" / "b.yaml"))


@pytest.mark.parametrize(
    ("module", "function", "args"),
    [
        ("pilotfish.cli.exec_cmd", "exec_command", ["exec", "sleep-0", "--", "env"]),
        ("pilotfish.cli.proxy_status", "proxy_status_command", ["proxy-status"]),
        ("pilotfish.cli.describe", "describe_command", ["x", "describe", "pod", "httpbin-0"]),
        ("pilotfish.cli.authz_check", "authz_check_command", ["x", "authz", "check", "h-0"]),
        ("pilotfish.cli.dashboard", "dashboard_command", ["dashboard", "envoy", "h-0"]),
        ("pilotfish.cli.create", "run_create", ["create", "secret", "generic", "s"]),
        ("pilotfish.cli.create", "run_create_configmap", ["create", "configmap", "c"]),
        ("pilotfish.cli.pod_copy", "cp_command", ["cp", "ca.crt", "sleep-0:/tmp/"]),
    ],
)
def test_a_namespace_before_the_command_is_the_commands(
    module: str, function: str, args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """kubectl's `kubectl -n test exec POD …` (Istio's "Ingress Sidecar TLS Termination" page):
    `-n` before the command names the namespace, as `-n` after it does (the pod `sleep-0` of
    `test`, not of `default`)."""
    import importlib

    import typer

    import pilotfish.cli.main  # noqa: F401 (registers the commands)
    from pilotfish.cli.app import app

    seen: list[Any] = []

    def called(*given: Any, **named: Any) -> int:
        seen.append((given, named))
        return 0

    monkeypatch.setattr(importlib.import_module(module), function, called)
    with pytest.raises(SystemExit) as exited:
        typer.main.get_command(app).main(["-n", "test", *args], standalone_mode=True)
    assert exited.value.code == 0
    assert len(seen) == 1 and "test" in [*seen[0][0], *seen[0][1].values()], seen
