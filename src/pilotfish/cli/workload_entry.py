"""`pilotfish x workload entry configure`: istioctl's command that writes the files a host outside
the mesh (a VM) joins with, for a WorkloadGroup: `cluster.env`, `mesh.yaml`, `root-cert.pem`,
`istio-token` and `hosts` (formats: `pilotfish.agent.vm_files`).

The group comes from `-f FILE` or, with `--name`/`-n`, from the running mesh. The mesh issues a
bootstrap token for the group's service account (valid `--tokenDuration` seconds, 3600 as
istioctl) and gives its trust bundle; `hosts` points `istiod.istio-system.svc` at `--ingressIP`,
by default the control plane's own address (istioctl: the east-west gateway's).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from pilotfish.agent.vm_files import TOKEN, render
from pilotfish.cli.errors import UserError, mesh_call, running_mesh
from pilotfish.registry.inputs import parse_documents
from pilotfish.state_files import write_atomically


def _group_from_file(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror or exc}") from None
    raws, parsed = parse_documents([(path, text)])
    errors = [str(d) for d in parsed.diagnostics if d.level == "error"]
    if errors:
        raise UserError("\n".join(errors))
    groups = [r for r in raws if r.get("kind") == "WorkloadGroup"]
    if len(groups) != 1:
        raise UserError(f"{path}: expected one WorkloadGroup, found {len(groups)}")
    return groups[0]


def _group_from_mesh(info: dict[str, Any], name: str, namespace: str) -> dict[str, Any]:
    query = urlencode({"kind": "WorkloadGroup", "namespace": namespace, "name": name})
    _, body = mesh_call(info, "GET", f"/api/v1/config?{query}")
    found = (body or {}).get("documents") or []
    if not found:
        raise UserError(f"workloadgroup {name} not found in namespace {namespace}")
    return dict(found[0])


def configure_command(
    state_dir: Path,
    *,
    file: str | None,
    name: str | None,
    namespace: str | None,
    output: str,
    cluster_id: str,
    token_duration: int,
    ingress_ip: str | None,
    autoregister: bool,
    capture_dns: bool,
    internal_ip: str | None,
    external_ip: str | None,
) -> int:
    if internal_ip and external_ip:
        raise UserError("the flags --internalIP and --externalIP are mutually exclusive")
    if not output:
        raise UserError("say where to write the files: -o DIR")
    if token_duration <= 0:
        raise UserError("--tokenDuration must be a positive number of seconds")
    info = running_mesh(state_dir)
    if file:
        group = _group_from_file(file)
    elif name:
        group = _group_from_mesh(info, name, namespace or "default")
    else:
        raise UserError("name the WorkloadGroup: -f FILE, or --name NAME [-n NAMESPACE]")
    meta = dict(group.get("metadata") or {})
    meta["namespace"] = meta.get("namespace") or namespace or "default"
    group = group | {"metadata": meta}
    template = dict((group.get("spec") or {}).get("template") or {})
    account = str(template.get("serviceAccount") or "default")
    body = {
        "workload_group": meta["name"],
        "namespace": meta["namespace"],
        "service_account": account,
        "duration": token_duration,
    }
    status, issued = mesh_call(info, "POST", "/api/v1/tokens", body)
    if status != 200 or not (issued or {}).get("ok"):
        raise UserError(f"the mesh did not issue a token: {(issued or {}).get('error', status)}")
    files = render(
        group,
        root_pem=str(issued["root_cert"]),
        token=str(issued["token"]),
        control_plane_ip=ingress_ip or str(info["xds"]).rsplit(":", 1)[0],
        cluster_id=cluster_id,
        trust_domain=str(issued.get("trust_domain") or ""),
        autoregister=autoregister,
        capture_dns=capture_dns,
        internal_ip=internal_ip or "",
        external_ip=external_ip or "",
    )
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, text in files.items():
        write_atomically(folder / file_name, text)
    os.chmod(folder / TOKEN, 0o600)  # a credential: its owner only
    print(
        f'Warning: a security token for namespace "{meta["namespace"]}" and service account '
        f'"{account}" has been generated and stored at "{folder / TOKEN}"',
        file=sys.stderr,
    )
    print(f"Configuration generation into directory {output} was successful")
    return 0
