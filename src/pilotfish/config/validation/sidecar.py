"""Istio's semantic checks of Sidecar (webhook wording): not empty; ingress listeners need a port,
unique ports, a loopback/any `defaultEndpoint`, and TLS only as Istio allows it on a sidecar;
egress listeners need `namespace/dnsName` hosts, at most one port-less listener and it last,
unique ports, unix-socket binds for port 0; `egressProxy` only with ALLOW_ANY. The CRD's CEL
rules (durations, TLS credential one-ofs, selector wildcards) are in `cel`."""

from __future__ import annotations

from pilotfish.config.formats import (
    host_problem,
    is_ip,
    namespaced_host_problem,
    unix_address_problem,
)
from pilotfish.config.models.networking import (
    IstioEgressListener,
    IstioIngressListener,
    SidecarSpec,
)
from pilotfish.config.protocols import HTTP_FAMILY, TLS_FAMILY
from pilotfish.config.schema import Problem
from pilotfish.config.validation.common import Findings
from pilotfish.config.validation.destination_rule import connection_pool
from pilotfish.config.yaml_text import join_path

UNIX = "unix://"
DEFAULT_ENDPOINT_HOSTS = ("", "127.0.0.1", "0.0.0.0", "::1", "::")
UNIQUE_PORTS = "sidecar: ports on IP bound listeners must be unique"


def _default_endpoint(found: Findings, path: str, endpoint: str) -> None:
    if endpoint.startswith(UNIX):
        found.add(path, unix_address_problem(endpoint[len(UNIX) :]))
        return
    host, sep, port = endpoint.rpartition(":")
    host = host.strip("[]")
    if not sep or host not in DEFAULT_ENDPOINT_HOSTS:
        found.error(
            path,
            "sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,0.0.0.0:<port>,"
            "[::1]:port,[::]:port,unix://filepath or unset",
        )
    if sep and not port.isdigit():
        found.error(path, f"sidecar: defaultEndpoint port ({port}) is not a number")
    elif sep:
        found.port(path, int(port))


def _ingress(found: Findings, path: str, listener: IstioIngressListener, seen: set[int]) -> None:
    port = listener.port
    if port is None:
        found.error(path, "sidecar: port is required for ingress listeners")
        return
    port_path = join_path(path, "port")
    if port.target_port:
        found.error(join_path(port_path, "targetPort"), "targetPort has no impact on Sidecars")
    found.port(join_path(port_path, "number"), port.number)
    if port.number in seen:
        found.error(port_path, UNIQUE_PORTS)
    seen.add(port.number or 0)
    if listener.bind and not is_ip(listener.bind):
        found.error(join_path(path, "bind"), f"{listener.bind} is not a valid IP address")
    if listener.default_endpoint:
        _default_endpoint(found, join_path(path, "defaultEndpoint"), listener.default_endpoint)
    pool = listener.connection_pool
    if pool is not None:
        connection_pool(found, join_path(path, "connectionPool"), pool)
        if pool.http is not None and (port.protocol or "").upper() not in HTTP_FAMILY:
            found.warn(
                join_path(join_path(path, "connectionPool"), "http"),
                f"sidecar: HTTP connection pool settings are configured for port {port.number} "
                f'("{port.name or ""}") but its protocol is not HTTP ({port.protocol or ""}); '
                "only TCP settings will apply",
            )
    tls = listener.tls
    if tls is None:
        return
    tls_path = join_path(path, "tls")
    if tls.subject_alt_names:
        found.error(tls_path, "sidecar: subjectAltNames is not supported in ingress tls")
    if tls.https_redirect:
        found.error(tls_path, "sidecar: httpsRedirect is not supported")
    for field, value, name in (
        ("credentialName", tls.credential_name, "credentialName"),
        ("credentialNames", tls.credential_names, "credentialNames"),
        ("tlsCertificates", tls.tls_certificates, "tls_certificates"),
    ):
        if value:
            found.error(join_path(tls_path, field), f"sidecar: {name} is not currently supported")
    if tls.mode in ("ISTIO_MUTUAL", "AUTO_PASSTHROUGH"):
        found.error(
            join_path(tls_path, "mode"),
            f"configuration is invalid: cannot set mode to {tls.mode} in sidecar ingress tls",
        )
    if (port.protocol or "").upper() not in TLS_FAMILY:
        found.error(tls_path, "server cannot have TLS settings for non HTTPS/TLS ports")


def _egress_host(found: Findings, path: str, host: str) -> None:
    found.add(path, namespaced_host_problem(host, gateway=False))


def _egress(
    found: Findings, path: str, listener: IstioEgressListener, seen: set[int], binds: set[str]
) -> None:
    port = listener.port
    if port is not None:
        port_path = join_path(path, "port")
        if port.target_port:
            found.error(join_path(port_path, "targetPort"), "targetPort has no impact on Sidecars")
        bind = listener.bind or ""
        if not port.number:
            if not bind.startswith(UNIX):
                found.error(
                    join_path(path, "bind"),
                    "sidecar: ports with 0 value must have a unix domain socket bind address",
                )
            elif bind.startswith(UNIX):
                found.add(join_path(path, "bind"), unix_address_problem(bind[len(UNIX) :]))
            if listener.capture_mode not in (None, "DEFAULT", "NONE"):
                found.error(
                    join_path(path, "captureMode"),
                    "sidecar: captureMode must be DEFAULT/NONE for unix domain socket listeners",
                )
            if bind in binds:
                found.error(
                    join_path(path, "bind"),
                    "sidecar: unix domain socket values for listeners must be unique",
                )
            binds.add(bind)
        else:
            found.port(join_path(port_path, "number"), port.number)
            if port.number in seen:
                found.error(port_path, UNIQUE_PORTS)
            seen.add(port.number)
            if bind and not is_ip(bind):
                found.error(join_path(path, "bind"), f"{bind} is not a valid IP address")
    if not listener.hosts:
        found.error(
            join_path(path, "hosts"), "sidecar: egress listener must contain at least one host"
        )
    by_namespace: dict[str, set[str]] = {}
    for index, host in enumerate(listener.hosts):
        where = join_path(join_path(path, "hosts"), index)
        namespace, sep, name = host.partition("/")
        if sep and not namespace.startswith("~"):
            names = by_namespace.setdefault(namespace, set())
            if (name != "*" and (name in names or "*" in names)) or (name == "*" and names):
                found.warn(where, f"duplicated egress host: {host}")
            names.add(name)
        _egress_host(found, where, host)
    if "*" in by_namespace.get("*", set()) and len(by_namespace) != 1:
        found.warn(
            join_path(path, "hosts"),
            "`*/*` host select all resources, no other hosts can be added",
        )


def validate_sidecar(spec: SidecarSpec) -> list[Problem]:
    found = Findings()
    if not (
        spec.egress or spec.ingress or spec.outbound_traffic_policy or spec.inbound_connection_pool
    ):
        found.error("spec", "sidecar: empty configuration provided")
        return found.problems
    seen: set[int] = set()
    for index, ingress in enumerate(spec.ingress):
        _ingress(found, f"spec.ingress[{index}]", ingress, seen)
    seen = set()
    binds: set[str] = set()
    catch_all = False
    for index, egress in enumerate(spec.egress):
        path = f"spec.egress[{index}]"
        if egress.port is None:
            if catch_all:
                found.error(path, "sidecar: egress can have only one listener with empty port")
                continue
            if index == len(spec.egress) - 1:
                catch_all = True
            else:
                found.error(
                    path,
                    "sidecar: the egress listener with empty port should be the last listener "
                    "in the list",
                )
        _egress(found, path, egress, seen, binds)
    _outbound_policy(found, spec)
    if spec.inbound_connection_pool is not None:
        connection_pool(found, "spec.inboundConnectionPool", spec.inbound_connection_pool)
    if spec.workload_selector is not None and not spec.workload_selector.labels:
        found.warn(
            "spec.workloadSelector",
            "sidecar: workload selector specified without labels, will be applied to all "
            "services in namespace",
        )
    return found.problems


def _outbound_policy(found: Findings, spec: SidecarSpec) -> None:
    policy = spec.outbound_traffic_policy
    proxy = policy.egress_proxy if policy is not None else None
    if policy is None or proxy is None:
        return
    path = "spec.outboundTrafficPolicy.egressProxy"
    if policy.mode != "ALLOW_ANY":
        found.error(
            path,
            "sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode",
        )
        return
    found.add(
        join_path(path, "host"),
        host_problem(proxy.host or "", allow_ip=False, allow_star=False, partial_wildcard=False),
    )
    if proxy.port is None:
        found.error(join_path(path, "port"), "sidecar: egress_proxy port must be non-nil")
