"""`pilotfish install` on a mesh that is running: istioctl's install over an existing one.

Istio's tasks run `istioctl install` again to change an installed mesh (the Trust Domain
Migration task: `--set meshConfig.trustDomain=new-td`, then an `IstioOperator` adding
`trustDomainAliases`). Here the new profile's documents (the `istio` ConfigMap with the mesh
config, the gateways) are applied to the running mesh, through apply's checks; what the previous
installation made and the new one does not (e.g. the egress gateway of `demo`, installed over
with `default`) is deleted, as istioctl prunes it. Only after that does the new manifest replace
`<state>/install/istio.yaml` (the mesh restarts from it); if the control plane refuses the
change, the old one stays. Changing the ingress address needs `pilotfish down` first. After
`delete namespace istio-system`, a new control plane is started first (istiod and its gateway
come back, `controlplane.removal`).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pilotfish.cli.apply import apply_command, delete_command
from pilotfish.config.yaml_text import dump_yaml
from pilotfish.state_files import write_atomically

MANIFEST = "istio.yaml"


def _key(doc: dict[str, Any]) -> tuple[str, str, str]:
    meta = doc.get("metadata") or {}
    return str(doc.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name"))


def _previous(folder: Path) -> list[dict[str, Any]]:
    from ruamel.yaml import YAML, YAMLError

    try:
        text = (folder / MANIFEST).read_text(encoding="utf-8")
        return [d for d in YAML(typ="safe").load_all(text) if isinstance(d, dict)]
    except (OSError, YAMLError):
        return []


def reinstall(docs: list[dict[str, Any]], state_dir: Path, timeout: float) -> int:
    """Apply the new installation's documents to the running mesh and prune the old ones."""
    if not _istiod_back(state_dir, timeout):
        print("error: no control plane serving again after istio-system's deletion",
              file=sys.stderr)  # fmt: skip
        return 1
    folder = state_dir / "install"
    wanted = {_key(d) for d in docs}
    gone = [d for d in _previous(folder) if _key(d) not in wanted and d.get("kind") != "Namespace"]
    with tempfile.TemporaryDirectory(prefix="pilotfish-install-") as scratch:
        new = Path(scratch) / MANIFEST
        new.write_text(dump_yaml(docs), encoding="utf-8")
        code = apply_command(([str(new)], []), state_dir, False, True, timeout)
        if code != 0:
            return code
        if gone:
            old = Path(scratch) / "pruned.yaml"
            old.write_text(dump_yaml(gone), encoding="utf-8")
            code = delete_command(([str(old)], []), None, [], None, state_dir, True, timeout)
            if code != 0:
                return code
    write_atomically(folder / MANIFEST, dump_yaml(docs))
    return 0


def _istiod_back(state_dir: Path, timeout: float) -> bool:
    """After `delete namespace istio-system` (`controlplane.removal`): a new control plane,
    serving, and its gateway (the launcher starts them when the old control plane ends)."""
    from pilotfish.cli.errors import mesh_call
    from pilotfish.cli.kube_pods import istiod_serving
    from pilotfish.local.client import read_mesh

    info = read_mesh(state_dir)
    if istiod_serving(info):
        return True
    mesh_call(info, "POST", "/api/v1/control-plane/restart")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = read_mesh(state_dir)
        if istiod_serving(now) and now.get("control_plane_pid") != info.get("control_plane_pid"):
            return True
    return False
