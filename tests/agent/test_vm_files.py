"""The VM files in istioctl's formats (`istioctl/pkg/workload` goldens' shapes), read back the
way `pilotfish agent` reads them; malformed files are named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pilotfish.agent.vm_files import VmFilesError, load, parse_env, render

GROUP = {
    "apiVersion": "networking.istio.io/v1",
    "kind": "WorkloadGroup",
    "metadata": {"name": "foo", "namespace": "bar"},
    "spec": {
        "metadata": {"labels": {"app": "foo"}},
        "template": {"serviceAccount": "vm-serviceaccount", "ports": {"http": 8080}},
        "probe": {"httpGet": {"port": 8080}},
    },
}
ROOT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_cluster_env_and_mesh_yaml_have_istioctls_keys(tmp_path: Path) -> None:
    files = render(
        GROUP,
        root_pem=ROOT,
        token="tok'en",
        control_plane_ip="10.20.0.1",
        trust_domain="cluster.local",
        autoregister=True,
        internal_ip="10.20.250.1",
    )
    assert files["hosts"] == "10.20.0.1 istiod.istio-system.svc\n"
    assert files["root-cert.pem"] == ROOT and files["istio-token"] == "tok'en"
    env = files["cluster.env"].splitlines()
    assert env == sorted(env)
    assert "CANONICAL_SERVICE='foo'" in env and "CANONICAL_REVISION='latest'" in env
    assert "ISTIO_INBOUND_PORTS='8080'" in env
    assert "ISTIO_LOCAL_EXCLUDE_PORTS='22,15090,15021,15020'" in env
    assert "ISTIO_NAMESPACE='bar'" in env and "ISTIO_SERVICE='foo.bar'" in env
    assert "ISTIO_SERVICE_CIDR='*'" in env and "ISTIO_SVC_IP='10.20.250.1'" in env
    assert "SERVICE_ACCOUNT='vm-serviceaccount'" in env
    assert "ISTIO_META_AUTO_REGISTER_GROUP='foo'" in env
    assert "ISTIO_META_CLUSTER_ID='Kubernetes'" in env and "ISTIO_META_DNS_CAPTURE='true'" in env
    assert (
        """ISTIO_METAJSON_LABELS='{"app":"foo","service.istio.io/canonical-name":"foo",\
"service.istio.io/canonical-revision":"latest"}'"""
        in env
    )
    assert """ISTIO_META_POD_PORTS='[{"name":"http","containerPort":8080}]'""" in env
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    config = load(tmp_path)
    assert config.proxy_config["discoveryAddress"] == "istiod.istio-system.svc:15012"
    assert config.proxy_config["readinessProbe"] == {"httpGet": {"port": 8080}}
    assert config.discovery() == ("10.20.0.1", "istiod.istio-system.svc", 15012)
    metadata = config.metadata
    assert metadata["POD_NAMESPACE"] == "bar" and metadata["TRUST_DOMAIN"] == "cluster.local"
    assert json.loads(metadata["ISTIO_META_POD_PORTS"]) == [{"name": "http", "containerPort": 8080}]
    assert config.token_path.read_text() == "tok'en"


def test_without_ports_or_autoregister() -> None:
    group = {"metadata": {"name": "g"}, "spec": {}}
    files = render(group, root_pem=ROOT, token="t", control_plane_ip="1.2.3.4", capture_dns=False)
    env = parse_env(files["cluster.env"])
    assert env["ISTIO_INBOUND_PORTS"] == "*" and env["SERVICE_ACCOUNT"] == "default"
    assert env["ISTIO_NAMESPACE"] == "default"
    assert "ISTIO_META_AUTO_REGISTER_GROUP" not in env and "ISTIO_META_DNS_CAPTURE" not in env
    assert "readinessProbe" not in files["mesh.yaml"]


def test_malformed_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(VmFilesError, match=r"cluster\.env: cannot read"):
        load(tmp_path)
    (tmp_path / "cluster.env").write_text("A='1'\nthis is not an assignment\n")
    with pytest.raises(VmFilesError, match=r"cluster\.env:2: expected KEY=VALUE"):
        load(tmp_path)
    (tmp_path / "cluster.env").write_text("A='unterminated\n")
    with pytest.raises(VmFilesError, match=r"cluster\.env:1"):
        load(tmp_path)
    (tmp_path / "cluster.env").write_text("A='1'\n")
    (tmp_path / "mesh.yaml").write_text("defaultConfig: [1]\n")
    with pytest.raises(VmFilesError, match=r"mesh\.yaml: defaultConfig must be a map"):
        load(tmp_path)
    (tmp_path / "mesh.yaml").write_text("defaultConfig: {}\n")
    (tmp_path / "root-cert.pem").write_text("nothing")
    with pytest.raises(VmFilesError, match=r"root-cert\.pem: no PEM"):
        load(tmp_path)
    (tmp_path / "root-cert.pem").write_text(ROOT)
    (tmp_path / "istio-token").write_text("\n")
    with pytest.raises(VmFilesError, match="istio-token: empty"):
        load(tmp_path)
