"""Naming a pod on the command line as kubectl and istioctl users do.

A local instance is a pod: its name (`sleep-0`) is unique only within its namespace, so the same
workload may run in `default` and `foo` at once. Every command that names one (`exec`, `logs`,
`proxy-config`, `proxy-status`, `describe`, `dashboard`) accepts:

- `sleep-0` (an instance) or `sleep` (a workload: its first instance), with `-n NS`;
- `NAME.NS`, as `proxy-status` prints it (the namespace after the last dot; a pod name with
  dots, as a Deployment named with a DNS subdomain gives, is first looked for whole);
- `deploy/NAME` (`deployment/`), and `pod/NAME` (`po/`, `pods/`).

Without a namespace the `default` one wins, as in kubectl; a name found only in one other
namespace (the gateways in `istio-system`) is found there too.
"""

from __future__ import annotations

from typing import Any

WORKLOAD_PREFIXES = ("deploy/", "deployment/", "deployments/", "deployment.apps/", "workload/")
POD_PREFIXES = ("pod/", "pods/", "po/")


class PodNotFound(Exception):
    """No pod of that name (the message says what was looked for, kubectl's way)."""


def split_pod_name(name: str, namespace: str | None) -> tuple[str, str, str | None]:
    """(kind: "pod", "workload" or "any"; short name; namespace or None), reading `NAME.NS` at
    the last dot (a namespace has none; a Deployment's name, so its pods', may)."""
    kind, name = _kind(name)
    if "." in name:
        short, _, suffix = name.rpartition(".")
        if namespace not in (None, suffix):
            raise PodNotFound(f'pods "{name}" not found in namespace "{namespace}"')
        name, namespace = short, suffix
    return kind, name, namespace


def pod_name_readings(name: str, namespace: str | None) -> list[tuple[str, str, str | None]]:
    """The ways NAME can be meant, in order: a name with dots whole
    (`helloworld-region1.zone1-0`), then `NAME.NS` (`split_pod_name`, when `-n` allows it)."""
    found = [(*_kind(name), namespace)] if "." in name else []
    try:
        found.append(split_pod_name(name, namespace))
    except PodNotFound:
        if not found:
            raise
    return found


def _kind(name: str) -> tuple[str, str]:
    kind = "any"
    for prefixes, which in ((WORKLOAD_PREFIXES, "workload"), (POD_PREFIXES, "pod")):
        for prefix in prefixes:
            if name.startswith(prefix):
                name, kind = name[len(prefix) :], which
    return kind, name


def resolve_pod(
    info: dict[str, Any], name: str, namespace: str | None = None
) -> tuple[str, dict[str, Any]]:
    """The (key, row) of `mesh.json`'s proxy that NAME means. Raises PodNotFound."""
    readings = pod_name_readings(name, namespace)
    for reading in readings[:-1]:
        try:
            return _resolved(info, *reading)
        except PodNotFound:
            continue
    return _resolved(info, *readings[-1])


def _resolved(
    info: dict[str, Any], kind: str, short: str, namespace: str | None
) -> tuple[str, dict[str, Any]]:
    proxies: dict[str, dict[str, Any]] = info.get("proxies", {})
    found: list[tuple[int, str, str, dict[str, Any]]] = []
    for key, proxy in proxies.items():
        ns = str(proxy.get("namespace", "default"))
        if namespace not in (None, ns):
            continue
        instance = str(proxy.get("instance") or key.rsplit(".", 1)[0])
        if kind != "workload" and instance == short:
            found.append((0, ns, key, proxy))
        elif kind != "pod" and proxy.get("workload") == short:
            found.append((1, ns, key, proxy))
    if not found:
        where = f' in namespace "{namespace}"' if namespace else ""
        raise PodNotFound(f'pods "{short}" not found{where}')
    if namespace is None:
        namespaces = sorted({ns for _, ns, _, _ in found})
        if "default" in namespaces:
            found = [f for f in found if f[1] == "default"]
        elif len(namespaces) > 1:
            raise PodNotFound(
                f'"{short}" runs in namespaces {", ".join(namespaces)}: '
                f"say which with -n NAMESPACE or {short}.NAMESPACE"
            )
    _, _, key, proxy = min(found, key=lambda f: (f[0], _natural(f[2])))
    return key, proxy


def find_proxy(
    info: dict[str, Any], name: str, namespace: str | None = None
) -> tuple[str, dict[str, Any]] | None:
    """`resolve_pod`, or None when there is no such pod."""
    try:
        return resolve_pod(info, name, namespace)
    except PodNotFound:
        return None


def _natural(key: str) -> tuple[str, int]:
    """`sleep-2` before `sleep-10`."""
    head, _, tail = key.split(".")[0].rpartition("-")
    return (head, int(tail)) if tail.isdigit() else (key, 0)


def admin_address(proxy: dict[str, Any]) -> str:
    """HOST:PORT where this machine reaches the pod's Envoy admin: its own address, or for an
    isolated pod the loopback bridge the launcher keeps (`pilotfish.local.admin_bridge`)."""
    return str(proxy.get("admin") or f"{proxy['ip']}:15000")
