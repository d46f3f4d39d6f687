"""kubectl's views of the machine a local mesh runs on: `get nodes` (one node, `localhost`, the
name `get pods -o wide` shows in NODE), `describe nodes`, `top nodes` and `top pods`.

A pod's usage is its processes' (each container's process and its descendants), read from
`/proc`: CPU is averaged over a short window (metrics-server's role; kubectl shows its last
window), memory is the resident set (the working set kubectl shows is close to it). The node's
figures are the whole machine's (`/proc/stat`, `/proc/meminfo`).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pilotfish import __version__
from pilotfish.cli import kube_pods, kube_views
from pilotfish.cli.errors import running_mesh
from pilotfish.local.node import node_allocatable
from pilotfish.registry.pod_fields import NODE_NAME as NODE

WINDOW_S = 1.0
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Sample:
    """One look at /proc: every process's parent, CPU ticks and resident bytes; the machine's
    busy and total ticks."""

    parents: dict[int, int]
    ticks: dict[int, int]
    rss: dict[int, int]
    busy: int
    total: int


def sample(proc: Path = Path("/proc")) -> Sample:
    parents, ticks, rss = {}, {}, {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # gone since the listing
            continue
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        ticks[pid] = int(fields[11]) + int(fields[12])  # utime + stime
        rss[pid] = int(fields[21]) * _PAGE
    cpu = [int(v) for v in (proc / "stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = cpu[3] + (cpu[4] if len(cpu) > 4 else 0)  # idle + iowait
    return Sample(parents, ticks, rss, sum(cpu) - idle, sum(cpu))


def tree(roots: Iterable[int | None], parents: dict[int, int]) -> set[int]:
    """The roots (those alive) and all their descendants."""
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found: set[int] = set()
    todo = [pid for pid in roots if pid and pid in parents]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def usage(pids: set[int], before: Sample, after: Sample, seconds: float) -> tuple[int, int]:
    """(millicores over the window, resident bytes now) of these processes."""
    ticks = sum(after.ticks.get(p, 0) - before.ticks.get(p, 0) for p in pids)  # born inside: all
    millicores = round(max(ticks, 0) / _TICKS / seconds * 1000)
    return millicores, sum(after.rss.get(p, 0) for p in pids)


def memory() -> tuple[int, int]:
    """(total, in use) bytes of the machine: MemTotal and MemTotal - MemAvailable."""
    info = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        info[key] = int(rest.split()[0]) * 1024
    return info["MemTotal"], info["MemTotal"] - info.get("MemAvailable", info.get("MemFree", 0))


def node_object(info: dict[str, Any]) -> dict[str, Any]:
    """The one node, shaped as kubectl's `get node -o yaml` shows one."""
    cpus, total = node_allocatable()
    meta: dict[str, Any] = {
        "name": NODE,
        "labels": {
            "kubernetes.io/arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(
                platform.machine(), platform.machine()
            ),
            "kubernetes.io/hostname": NODE,
            "kubernetes.io/os": "linux",
            "node-role.kubernetes.io/control-plane": "",
        },
    }
    if info.get("control_plane_created"):
        meta["creationTimestamp"] = kube_views.timestamp(float(info["control_plane_created"]))
    capacity = {
        "cpu": str(cpus),
        "memory": f"{total // 1024}Ki",
        "pods": "110",
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": meta,
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": kube_pods.node_address(info)},
                {"type": "Hostname", "address": NODE},
            ],
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": [{"type": "Ready", "status": "True", "reason": "PilotfishReady"}],
            "nodeInfo": {
                "architecture": meta["labels"]["kubernetes.io/arch"],
                "containerRuntimeVersion": f"pilotfish://{__version__}",
                "kernelVersion": platform.release(),
                "kubeletVersion": f"pilotfish-{__version__}",
                "operatingSystem": "linux",
                "osImage": _os_image(),
            },
        },
    }


def _os_image() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.partition("=")[2].strip().strip('"')
    except OSError:
        pass
    return "Linux"


_TITLES = {
    "architecture": "Architecture",
    "containerRuntimeVersion": "Container Runtime Version",
    "kernelVersion": "Kernel Version",
    "kubeletVersion": "Kubelet Version",
    "operatingSystem": "Operating System",
    "osImage": "OS Image",
}


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def mebibytes(size: int) -> str:
    return f"{size // (1024 * 1024)}Mi"


def top_pods(
    pods: list[tuple[str, str, dict[str, int | None]]],
    all_namespaces: bool,
    containers: bool,
    window: float = WINDOW_S,
) -> str:
    """`kubectl top pods` of these pods ((namespace, name, {container: pid}))."""
    before = sample()
    time.sleep(window)
    after = sample()
    head = ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    head = (["POD"] if containers else []) + head
    head = (["NAMESPACE"] if all_namespaces else []) + head
    rows = [head]
    for ns, name, procs in pods:
        prefix = [ns] if all_namespaces else []
        if containers:
            for container, pid in procs.items():
                cpu, rss = usage(tree([pid], after.parents), before, after, window)
                rows.append([*prefix, name, container, f"{cpu}m", mebibytes(rss)])
        else:
            cpu, rss = usage(tree(procs.values(), after.parents), before, after, window)
            rows.append([*prefix, name, f"{cpu}m", mebibytes(rss)])
    return table(rows)


def top_nodes(window: float = WINDOW_S) -> str:
    before = sample()
    time.sleep(window)
    after = sample()
    cores = os.cpu_count() or 1
    share = (after.busy - before.busy) / max(after.total - before.total, 1)
    total, used = memory()
    rows = [
        ["NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"],
        [
            NODE,
            f"{round(share * cores * 1000)}m",
            f"{round(share * 100)}%",
            mebibytes(used),
            f"{round(used * 100 / total)}%",
        ],
    ]
    return table(rows)


def describe_node(info: dict[str, Any]) -> str:
    """`kubectl describe node localhost`: its labels, addresses, capacity, system info and the
    pods it runs."""
    node = node_object(info)
    status = node["status"]
    lines = [
        f"Name:               {NODE}",
        "Roles:              control-plane",
        "Labels:             "
        + "\n                    ".join(
            f"{k}={v}" for k, v in sorted(node["metadata"]["labels"].items())
        ),
        f"CreationTimestamp:  {node['metadata'].get('creationTimestamp', '<unknown>')}",
        "Conditions:",
        "  Type    Status  Reason",
        "  Ready   True    PilotfishReady",
        "Addresses:",
        *(f"  {a['type']}:  {a['address']}" for a in status["addresses"]),
        "Capacity:",
        *(f"  {k}:  {v}" for k, v in status["capacity"].items()),
        "System Info:",
        *(f"  {_TITLES[k]}:  {v}" for k, v in status["nodeInfo"].items()),
    ]
    pods = kube_pods.pod_processes(info)
    lines.append(f"Non-terminated Pods:  ({len(pods)} in total)")
    pod_rows = [["  Namespace", "Name"], *([f"  {ns}", name] for ns, name, _ in pods)]
    lines.append(table(pod_rows))
    return "\n".join(lines)


def top_command(
    kind: str, name: str | None, namespace: str | None, containers: bool, state_dir: Path
) -> int:
    """`namespace` None means every namespace (-A); "" the default one."""
    kind = kind.lower()
    if kind in ("no", "node", "nodes"):
        if name and name != NODE:
            print(f'Error from server (NotFound): nodes "{name}" not found', file=sys.stderr)
            return 1
        running_mesh(state_dir)
        print(top_nodes())
        return 0
    if kind not in ("po", "pod", "pods"):
        print(f'error: unknown resource "{kind}" for top: pods or nodes', file=sys.stderr)
        return 1
    info = running_mesh(state_dir)
    ns = "default" if namespace == "" else namespace
    pods = [p for p in kube_pods.pod_processes(info) if ns in (None, p[0]) and name in (None, p[1])]
    if name and not pods:
        print(f'Error from server (NotFound): pods "{name}" not found', file=sys.stderr)
        return 1
    if not pods:
        print(f"No resources found in {ns} namespace.", file=sys.stderr)
        return 0
    print(top_pods(pods, ns is None, containers))
    return 0


def describe_command(name: str | None, state_dir: Path) -> int:
    if name and name != NODE:
        print(f'Error from server (NotFound): nodes "{name}" not found', file=sys.stderr)
        return 1
    print(describe_node(running_mesh(state_dir)))
    return 0
