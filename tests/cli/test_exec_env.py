"""`exec POD -- CMD` runs CMD as in the pod's container, as kubectl exec does: the app
container's commands get its declared `env` (the values resolved for the pod, as mesh.json's
row holds them), after what exec sets for every container; `-c istio-proxy`'s do not. PATH keeps
exec's programs (pilot-agent, nc) first. Against a running mesh, with the Downward API:
tests/e2e/test_kube_manifests.py::test_the_downward_api_reaches_each_pods_app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pilotfish.cli.exec_cmd import pod_env


def row(app_env: dict[str, str] | None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "instance": "gate-1", "namespace": "shop", "ip": "10.9.0.7", "outbound_port": 15001,
        "app_ports": {"8080": 41000}, "sidecar": True, "netns": "pod-gate-1",
    }  # fmt: skip
    return found | ({"app_env": app_env} if app_env is not None else {})


def test_the_app_containers_declared_env_is_given(tmp_path: Path) -> None:
    declared = {"MY_POD_IP": "10.9.0.7", "GREETING": "I am gate-1", "PATH": "/opt/gate/bin"}
    env = pod_env({"state_dir": str(tmp_path)}, "gate-1.shop", row(declared))
    assert env["MY_POD_IP"] == "10.9.0.7" and env["GREETING"] == "I am gate-1"
    assert env["PATH"] == f"{tmp_path / 'bin'}:/opt/gate/bin"
    assert (env["POD_NAME"], env["POD_NAMESPACE"]) == ("gate-1", "shop")  # exec's, as before
    same = pod_env({"state_dir": str(tmp_path)}, "gate-1.shop", row(declared), "gate")
    assert same == env


def test_istio_proxy_gets_not_the_apps_env(tmp_path: Path) -> None:
    declared = {"GREETING": "I am gate-1", "PATH": "/opt/gate/bin"}
    env = pod_env({"state_dir": str(tmp_path)}, "gate-1.shop", row(declared), "istio-proxy")
    assert "GREETING" not in env and "/opt/gate/bin" not in env["PATH"]
    assert env["ISTIO_META_INTERCEPTION_MODE"] == "REDIRECT" and env["POD_NAME"] == "gate-1"
    assert env == pod_env({"state_dir": str(tmp_path)}, "gate-1.shop", row(None), "istio-proxy")
