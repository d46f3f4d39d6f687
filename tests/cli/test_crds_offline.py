"""`kubectl get crd` while no mesh runs: the Kubernetes Gateway API's CRDs are built in, so the
check Istio's "Kubernetes Gateway API" task runs before `istioctl install` (`kubectl get crd
gateways.gateway.networking.k8s.io &> /dev/null || { kubectl kustomize … | kubectl apply -f -; }`)
finds them, as in a cluster that has them; Istio's own come with the mesh."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def get_crd(home: Path, *names: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pilotfish", "get", "crd", *names],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PILOTFISH_HOME": str(home)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_gateway_api_crds_without_a_mesh(tmp_path: Path) -> None:
    found = get_crd(tmp_path, "gateways.gateway.networking.k8s.io")
    assert found.returncode == 0, found.stderr
    assert found.stdout.splitlines()[1].split()[0] == "gateways.gateway.networking.k8s.io"
    listed = get_crd(tmp_path)
    names = [line.split()[0] for line in listed.stdout.splitlines()[1:]]
    assert "httproutes.gateway.networking.k8s.io" in names
    assert all(name.endswith(".gateway.networking.k8s.io") for name in names), names
    istio = get_crd(tmp_path, "virtualservices.networking.istio.io")
    assert istio.returncode == 1
    assert istio.stderr == (
        "Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io "
        '"virtualservices.networking.istio.io" not found\n'
    )
