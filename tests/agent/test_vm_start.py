"""`pilotfish agent` started in a folder laid out as Istio's VM guide lays out `/`, from the files
`x workload entry configure` writes: cluster.env read into the environment, the VM root cert
preferred, TLS to the control plane with the token (CA, Envoy's ADS, health stream), the
ProxyConfig in the node metadata, the WorkloadGroup probe reported; bad files are named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pilotfish.agent.bootstrap import BootstrapSettings, build_bootstrap
from pilotfish.agent.config import load_agent_config
from pilotfish.agent.health_report import reporter_for
from pilotfish.agent.pod_env import AgentConfigError
from pilotfish.agent.spec import xds_tls
from pilotfish.agent.vm_files import render
from pilotfish.agent.vm_start import with_cluster_env

ROOT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
GROUP = {
    "metadata": {"name": "vm", "namespace": "vm"},
    "spec": {
        "metadata": {"labels": {"app": "vmapp"}},
        "template": {"serviceAccount": "vm-sa", "ports": {"http": 8080}},
        "probe": {"httpGet": {"port": 8080, "path": "/ready"}, "periodSeconds": 2},
    },
}
LAYOUT = {
    "cluster.env": "var/lib/istio/envoy/cluster.env",
    "mesh.yaml": "etc/istio/config/mesh",
    "root-cert.pem": "etc/certs/root-cert.pem",
    "istio-token": "var/run/secrets/tokens/istio-token",
}


@pytest.fixture
def vm_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    files = render(
        GROUP, root_pem=ROOT, token="bootstrap-token", control_plane_ip="127.0.0.1",
        autoregister=True,
    )  # fmt: skip
    for name, path in LAYOUT.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(files[name])
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_vm_folder_starts_the_agent_over_tls_with_its_token(vm_root: Path) -> None:
    # the guide appends `hosts` to /etc/hosts; here the discovery address is given as an IP
    environ = {"PROXY_CONFIG": json.dumps({"discoveryAddress": "127.0.0.1:15012"}),
               "INSTANCE_IP": "10.9.250.1", "POD_NAME": "vm-host"}  # fmt: skip
    config = load_agent_config(["proxy", "sidecar"], environ)
    spec = config.spec
    assert spec.proxy.namespace == "vm" and spec.proxy.service_account == "vm-sa"
    assert spec.proxy.app_ports == ((8080, 8080),)
    assert spec.proxy.label_map["app"] == "vmapp"
    assert config.xds_root_cert == vm_root / "etc/certs/root-cert.pem"
    tls = spec.control_plane_tls
    assert tls is not None and tls.root_cert == vm_root / "etc/certs/root-cert.pem"
    assert tls.server_name == "127.0.0.1" and tls.token() == "bootstrap-token"
    assert spec.identity is not None and spec.identity.tls == tls
    assert spec.identity.uri == "spiffe://cluster.local/ns/vm/sa/vm-sa"
    metadata = dict(spec.extra_metadata)
    assert metadata["AUTO_REGISTER_GROUP"] == "vm"
    assert metadata["PROXY_CONFIG"]["readinessProbe"]["httpGet"]["port"] == 8080
    bootstrap = build_bootstrap(
        BootstrapSettings(spec.proxy, spec.xds_host, spec.xds_port, xds_tls=xds_tls(tls))
    )
    ads = bootstrap.dynamic_resources.ads_config.grpc_services[0]
    assert [(m.key, m.value) for m in ads.initial_metadata] == [
        ("authorization", "Bearer bootstrap-token")
    ]
    xds = bootstrap.static_resources.clusters[0]
    assert xds.transport_socket.name == "envoy.transport_sockets.tls"
    reporter = reporter_for(spec, config.proxy_config)
    assert reporter is not None and reporter.check.period == 2 and reporter.tls == tls
    assert reporter.check.probe.path == "/ready" and reporter.address == "127.0.0.1:15012"


def test_plaintext_15010_stays_plaintext(vm_root: Path) -> None:
    environ = {"PROXY_CONFIG": json.dumps({"discoveryAddress": "127.0.0.1:15010"}),
               "INSTANCE_IP": "10.9.250.1"}  # fmt: skip
    spec = load_agent_config([], environ).spec
    assert spec.control_plane_tls is None and spec.identity is not None
    assert spec.identity.tls is None


def test_cluster_env_wins_over_the_environment_and_bad_lines_are_named(vm_root: Path) -> None:
    env = with_cluster_env({"POD_NAMESPACE": "other", "KEEP": "1"})
    assert env["POD_NAMESPACE"] == "vm" and env["KEEP"] == "1"
    (vm_root / LAYOUT["cluster.env"]).write_text("GOOD='1'\nnot an assignment\n")
    with pytest.raises(AgentConfigError, match=r"cluster\.env:2: expected KEY=VALUE"):
        load_agent_config([], {"INSTANCE_IP": "10.9.250.1"})
