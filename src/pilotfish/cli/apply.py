"""`pilotfish apply -f …` and `pilotfish delete -f …|KIND NAME`: change the running mesh.

Both validate first (the same Galley code the control plane runs), send the whole change to the
control plane, which rejects it whole or adopts it whole, then wait until every proxy whose
config changed has ACKed it — or say which proxies NACKed (with Envoy's error) or did not answer.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from pilotfish.cli.addons import install_addons, split_addons
from pilotfish.cli.errors import mesh_call, running_mesh
from pilotfish.cli.inputs import InputError, read_inputs, read_kustomization
from pilotfish.cli.kube_delete import stored_keys
from pilotfish.cli.rollout import Rollout, Wanted, startable, wait_for_rollout, wanted_replicas
from pilotfish.config.kinds import kube_resource, resolve_kind
from pilotfish.local.client import MeshNotRunning, read_mesh
from pilotfish.registry.inputs import parse_documents


def _err(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def print_diagnostics(
    diagnostics: list[dict[str, Any]], given: dict[str, str] | None = None
) -> None:
    """The control plane's messages; `given`: the file names sent -> as the user gave them."""
    for d in diagnostics:
        text = str(d["text"])
        for sent, name in (given or {}).items():
            text = text.replace(sent, name)
        print(f"{d['level']}: {text}", file=sys.stderr)


def apply_edited(info: dict[str, Any], source: str, document: dict[str, Any]) -> bool:
    """Apply one stored document as a command edited it (`annotate`, `patch`), waiting for
    convergence; prints the control plane's messages, and kubectl's refusal when rejected."""
    request = {"files": [(source, json.dumps(document))], "wait": True, "timeout": 10.0}
    status, reply = mesh_call(info, "POST", "/api/v1/apply", request, timeout=20)
    print_diagnostics(reply.get("diagnostics", []))
    if status != 200:
        print("error: rejected: nothing was changed", file=sys.stderr)
        return False
    return True


def _files(paths: tuple[list[str], list[str]], recursive: bool = False) -> list[tuple[str, str]]:
    """The documents of `-f` paths and `-k` kustomization directories. Raises InputError."""
    files = read_inputs(paths[0], recursive) if paths[0] else []
    for directory in paths[1]:
        files += read_kustomization(directory)
    return files


def apply_command(
    paths: tuple[list[str], list[str]], state_dir: Path, recursive: bool, wait: bool,
    timeout: float, namespace: str | None = None,
) -> int:  # fmt: skip
    """`apply -f PATH… -k DIR…`."""
    if not paths[0] and not paths[1]:
        _err("must specify one of -f and -k")
        return 1
    try:
        files = _files(paths, recursive)
    except InputError as exc:
        _err(str(exc))
        return 1
    return apply_files(files, state_dir, wait, timeout, namespace)


def apply_files(
    files: list[tuple[str, str]], state_dir: Path, wait: bool, timeout: float,
    namespace: str | None = None,
) -> int:  # fmt: skip
    """Apply (source, text) pairs: validated here first, then by the control plane. Istio's
    addon files (`cli.addons`) are not sent: what stands for each is started or named."""
    files, addons = split_addons(files)
    if addons:
        code = install_addons(addons, state_dir)
        if code or not files:
            return code
    raws, parsed = parse_documents(files, namespace)  # fail fast, before touching the mesh
    if not parsed.ok:
        for d in parsed.diagnostics:
            print(f"{d.level}: {d}", file=sys.stderr)
        _err("invalid configuration: nothing was applied")
        return 1
    if not mesh_running(state_dir):  # kubectl before `istioctl install`: kept for its start
        from pilotfish.cli.offline_apply import apply_offline

        return apply_offline(files, state_dir, namespace)
    implicit = _implicit(raws, namespace, state_dir)
    if any(change.startswith("namespace/") for change in implicit):
        from pilotfish.cli.implicit_objects import with_live_labels

        files = with_live_labels(files, implicit)
    # the control plane reads a Workload's `command` relative to its file's folder: name the
    # file as from here, not from wherever the mesh was started (its messages say it as given)
    sent = [(source if source.startswith("<") else os.path.abspath(source), text)
            for source, text in files]  # fmt: skip
    given = {sent_name: source for (sent_name, _), (source, _) in zip(sent, files, strict=True)}
    body = {"files": sent, "namespace": namespace, "wait": wait, "timeout": timeout}
    workloads = startable(parsed.manifest.workloads, raws, lambda: _env_sources(state_dir))
    return _send(
        state_dir, "/api/v1/apply", body, timeout, wanted_replicas(workloads), given,
        implicit=implicit,
    )  # fmt: skip


def _implicit(raws: list[dict[str, Any]], namespace: str | None, state_dir: Path) -> set[str]:
    """The objects among `raws` that exist without being stored (`cli.implicit_objects`)."""
    if not any(d.get("kind") in ("Namespace", "ServiceAccount", "ConfigMap") for d in raws):
        return set()
    from pilotfish.cli.implicit_objects import implicit_changes

    return implicit_changes(raws, namespace, running_mesh(state_dir))


def mesh_running(state_dir: Path) -> bool:
    try:
        read_mesh(state_dir)
    except MeshNotRunning:
        return False
    return True


def _env_sources(state_dir: Path) -> list[dict[str, Any]]:
    """The ConfigMaps and Secrets the running mesh holds (what pods' env may read)."""
    info = running_mesh(state_dir)
    return [
        doc
        for kind in ("ConfigMap", "Secret")
        for doc in mesh_call(info, "GET", f"/api/v1/config?kind={kind}")[1].get("documents", [])
    ]


def delete_command(
    paths: tuple[list[str], list[str]], kind: str | None, names: list[str],
    namespace: str | None, state_dir: Path, wait: bool, timeout: float,
    ignore_not_found: bool = False,
) -> int:  # fmt: skip
    """`delete -f FILE`, `-k DIR`, `KIND NAME…`; with `ignore_not_found`, the files' objects
    the mesh does not store are left out, silently (kubectl's `--ignore-not-found`)."""
    files: list[tuple[str, str]] = []
    keys: list[list[str]] = []
    try:
        files = _files(paths)
    except InputError as exc:
        _err(str(exc))
        return 1
    if kind:
        resolved = resolve_kind(kind)
        if resolved is None:
            _err(f'the server doesn\'t have a resource type "{kind}"')
            return 1
        if not names:
            _err("delete KIND needs at least one NAME")
            return 1
        if resolved.kind == "Namespace":
            return delete_namespaces(names, state_dir, wait, timeout)
        keys = [[resolved.group, resolved.kind, namespace or "default", n] for n in names]
        if resolved.kind == "Deployment":  # `get deploy` lists Workloads: so does delete
            keys = [_workload_instead(key, state_dir) for key in keys]
    if not files and not keys:
        _err("say what to delete: -f FILE, or KIND NAME")
        return 1
    raws, parsed = parse_documents(files, namespace)
    gone = wanted_replicas(parsed.manifest.workloads, deleted=True)
    if ignore_not_found and files and parsed.ok:
        files, keys = [], stored_keys([_key(r) for r in raws] + keys, state_dir)
        if not keys:
            return 0
    body = {"files": files, "keys": keys, "namespace": namespace, "wait": wait, "timeout": timeout}
    gone.update({(k[2], k[3]): frozenset() for k in keys if k[1] in WORKLOAD_KINDS})
    return _send(state_dir, "/api/v1/delete", body, timeout, gone)


def delete_namespaces(names: list[str], state_dir: Path, wait: bool, timeout: float) -> int:
    """`delete namespace NAME…` as Kubernetes does it: the namespace and everything in it (its
    pods stop, its config goes from every proxy), in one change. `istio-system` takes istiod
    and its gateways with it (`controlplane.removal`): the sidecars keep their last config."""
    from pilotfish.cli.kube_pods import ISTIO_SYSTEM, istiod_serving

    info = running_mesh(state_dir)
    keys: list[list[str]] = []
    istiod = ISTIO_SYSTEM in names and istiod_serving(info)
    for name in names:
        query = urllib.parse.urlencode({"namespace": name})
        inside = mesh_call(info, "GET", f"/api/v1/config?{query}")[1].get("documents", [])
        query = urllib.parse.urlencode({"kind": "Namespace", "name": name})
        itself = mesh_call(info, "GET", f"/api/v1/config?{query}")[1].get("documents", [])
        if not inside and not itself and not (istiod and name == ISTIO_SYSTEM):
            _err(f'namespaces "{name}" not found')
            return 1
        keys += [_key(d) for d in [*inside, *itself]]
    body = {"files": [], "keys": keys, "wait": wait, "timeout": timeout}
    gone = {(k[2], k[3]): frozenset[str]() for k in keys if k[1] in WORKLOAD_KINDS}
    # kubectl says only `namespace "NAME" deleted`, once, last: not what went with it
    held = {f'{kube_resource(k[0], k[1])} "{k[3]}" deleted' for k in keys}
    code = _send(state_dir, "/api/v1/delete", body, timeout, gone, held=held) if keys else 0
    if code == 0 and istiod:
        status, reply = mesh_call(info, "POST", "/api/v1/control-plane/remove")
        code = 0 if status == 200 else _refused(reply)
    if code == 0:
        for name in names:
            print(f'namespace "{name}" deleted')
    return code


def _refused(reply: Any) -> int:
    _err(f"istiod was not stopped: {reply}")
    return 1


def _workload_instead(key: list[str], state_dir: Path) -> list[str]:
    """The key of the Workload named as a Deployment `key` names, when no such Deployment is
    stored but that Workload is (Istio's cleanups: `kubectl delete deploy sleep`)."""
    info = running_mesh(state_dir)
    for kind in ("Deployment", "Workload"):
        query = urllib.parse.urlencode({"kind": kind, "namespace": key[2], "name": key[3]})
        found = mesh_call(info, "GET", f"/api/v1/config?{query}")[1].get("documents", [])
        if found:
            return _key(found[0])
    return key


def _key(doc: dict[str, Any]) -> list[str]:
    """The key `delete KIND NAME` sends: [group, kind, namespace, name]."""
    group, _, _ = str(doc.get("apiVersion", "")).rpartition("/")
    meta = doc.get("metadata") or {}
    return [group, str(doc.get("kind")), str(meta.get("namespace") or "default"), meta["name"]]


WORKLOAD_KINDS = ("Workload", "Deployment", "Pod")
ROLLOUT_TIMEOUT = 60.0  # at least: starting instances takes longer than an ACK


def _send(
    state_dir: Path,
    path: str,
    body: dict[str, Any],
    timeout: float,
    workloads: Wanted | None = None,
    given: dict[str, str] | None = None,
    held: set[str] | None = None,
    implicit: set[str] | None = None,
) -> int:
    """Send a change; print what changed (but the `held` lines: the caller says those; the
    `implicit` objects as kubectl says them: `cli.implicit_objects`) and wait for convergence
    and rollout."""
    info = running_mesh(state_dir)
    status, reply = mesh_call(info, "POST", path, body, timeout=timeout + 10)
    print_diagnostics(reply.get("diagnostics", []), given)
    if status != 200:
        _err("rejected: nothing was changed")
        return 1
    for line in reply.get("changes", []):
        if line not in (held or set()):
            if implicit:
                from pilotfish.cli.implicit_objects import said_of

                line = said_of(line, implicit)
            print(line)
    code = report_convergence(reply, body.get("wait", True))
    if code == 0 and workloads and body.get("wait", True):
        code = report_rollout(
            wait_for_rollout(info["api"], workloads, max(timeout, ROLLOUT_TIMEOUT)), workloads
        )
    return code


def report_rollout(rollout: Rollout, workloads: Wanted) -> int:
    """The second half of `--wait` for Workloads: their instances run and every proxy has them."""
    names = ", ".join(f"{name}.{ns}" for ns, name in sorted(workloads))
    if rollout.ready:
        print(f"rolled out: {names} on {rollout.proxies} proxies in {rollout.elapsed_ms:.0f} ms")
        return 0
    print(f"not rolled out after {rollout.elapsed_ms / 1000:.1f} s: {names}")
    for what in rollout.waiting_for:
        print(f"  waiting for {what}")
    return 1


def report_convergence(reply: dict[str, Any], waited: bool) -> int:
    affected = reply.get("affected", [])
    total = reply.get("proxies", 0)
    if not waited:
        print(f"pushed to {len(affected)} of {total} proxies (not waiting)")
        return 0
    conv = reply.get("convergence")
    if conv is None:
        print(f"converged: no proxy config changed ({total} proxies)")
        return 0
    acked, nacked, missing = conv["acked"], conv["nacked"], conv["missing"]
    if not nacked and not missing:
        print(f"converged: {len(acked)}/{len(affected)} proxies in {conv['elapsed_ms']:.0f} ms")
        return 0
    print(
        f"not converged: {len(acked)}/{len(affected)} proxies ACKed in {conv['elapsed_ms']:.0f} ms"
    )
    for node, error in sorted(nacked.items()):
        print(f"  NACK from {node}: {error}")
    for node in missing:
        print(f"  no answer from {node}")
    return 1
