"""More of Istio's webhook rules (pkg/config/validation), on the spec as read, for
DestinationRule (empty policies and pools, h2 upgrade, keepalive, cookies, maglev, TLS with
insecureSkipVerify), Gateway (unix binds, certificate sources, ISTIO_MUTUAL, CRL),
ServiceEntry (unix endpoints, port names, DYNAMIC_DNS), Sidecar, WorkloadEntry (addresses,
labels) and RequestAuthentication (jwks); `RAW_CHECKS` maps every kind with such rules,
VirtualService (`webhook_routes`), AuthorizationPolicy (`webhook_security`) and WorkloadGroup
(`webhook_workload_group`) included.
Complements the model-based validators. Pure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from pilotfish.config.formats import host_problem, is_ip, labels_problem
from pilotfish.config.raw import as_list, as_map, as_strings
from pilotfish.config.schema import Problem
from pilotfish.config.validation.webhook_routes import virtual_service_problems
from pilotfish.config.validation.webhook_security import authorization_policy_problems
from pilotfish.config.validation.webhook_targets import with_targets
from pilotfish.config.validation.webhook_telemetry import telemetry_problems
from pilotfish.config.validation.webhook_workload_group import workload_group_problems
from pilotfish.config.yaml_text import join_path

Add = Callable[[str, str], None]
ISTIO_MUTUAL_FORBIDDEN = (
    "serverCertificate",
    "privateKey",
    "caCertificates",
    "tlsCertificates",
    "credentialName",
    "credentialNames",
)


def _traffic_policy(policy: Any, path: str, add: Add, port_level: bool = False) -> None:
    if policy is None:
        return
    policy = as_map(policy)
    if not policy and not port_level:
        add(path, "traffic policy must have at least one field")
    if port_level and set(policy) <= {"port"}:
        add(path, "port traffic policy must have at least one field")
    if policy.get("tunnel") is not None and policy.get("proxyProtocol") is not None:
        add(path, "tunnel and proxyProtocol must not be set together")
    connection_pool_problems(policy.get("connectionPool"), join_path(path, "connectionPool"), add)
    hashing = as_map(as_map(policy.get("loadBalancer")).get("consistentHash"))
    where = join_path(join_path(path, "loadBalancer"), "consistentHash")
    cookie = hashing.get("httpCookie")
    if cookie is not None:
        if not as_map(cookie).get("name"):
            add(join_path(where, "httpCookie"), "name required for HttpCookie")
        names: set[str] = set()
        for attribute in as_list(as_map(cookie).get("attributes")):
            name = as_map(attribute).get("name")
            if not name:
                add(join_path(where, "httpCookie"), "cookie attribute name cannot be empty")
            elif name in names:
                add(join_path(where, "httpCookie"), f"duplicate cookie attribute name: {name}")
            names.add(str(name))
    if hashing.get("minimumRingSize") and (hashing.get("maglev") or hashing.get("ringHash")):
        add(where, "only one of MinimumRingSize or Maglev/Ringhash can be specified")
    maglev = hashing.get("maglev")
    if maglev is not None:
        size = as_map(maglev).get("tableSize")
        if not size:
            add(join_path(where, "maglev"), "tableSize must be set for maglev")
        elif isinstance(size, int) and size >= 5000011:
            add(join_path(where, "maglev"), "tableSize must be less than 5000011 for maglev")
        elif isinstance(size, int) and not _is_prime(size):
            add(join_path(where, "maglev"), "tableSize must be a prime number for maglev")
    _client_tls(policy.get("tls"), join_path(path, "tls"), add)
    if not port_level:
        for index, setting in enumerate(as_list(policy.get("portLevelSettings"))):
            where = join_path(join_path(path, "portLevelSettings"), index)
            _traffic_policy(setting, where, add, port_level=True)


def connection_pool_problems(pool: Any, path: str, add: Add) -> None:
    """Istio's validateConnectionPool on the pool as read (a DestinationRule's, a Sidecar's
    inbound one): not empty, h2 upgrade without the client's protocol, keepalive complete."""
    if pool is None:
        return
    if not as_map(pool):
        add(path, "connection pool must have at least one field")
    http = as_map(as_map(pool).get("http"))
    if http.get("h2UpgradePolicy") == "UPGRADE" and http.get("useClientProtocol"):
        add(
            join_path(path, "http"),
            "use client protocol must not be true when H2UpgradePolicy is UPGRADE",
        )
    keepalive = http.get("http2KeepAlive")
    if keepalive is not None:
        where = join_path(join_path(path, "http"), "http2KeepAlive")
        if not as_map(keepalive).get("interval"):
            add(where, "http2 keepalive interval is required")
        if not as_map(keepalive).get("timeout"):
            add(where, "http2 keepalive timeout is required")


def _client_tls(tls: Any, path: str, add: Add) -> None:
    tls = as_map(tls)
    if not tls.get("insecureSkipVerify"):
        return
    mode = tls.get("mode")
    if mode == "SIMPLE" and (
        tls.get("caCertificates") or tls.get("credentialName") or tls.get("subjectAltNames")
    ):
        add(
            path,
            "cannot specify CaCertificates or CredentialName or SubjectAltNames when "
            "InsecureSkipVerify is set true",
        )
    if mode == "MUTUAL" and (tls.get("caCertificates") or tls.get("subjectAltNames")):
        add(
            path,
            "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true",
        )


def _is_prime(number: int) -> bool:
    if number < 2:
        return False
    return all(number % d for d in range(2, int(number**0.5) + 1))


def destination_rule_problems(spec: Any, root: str = "spec") -> list[Problem]:
    found: list[Problem] = []

    def add(path: str, message: str) -> None:
        found.append(Problem(path, message))

    spec = as_map(spec)
    _traffic_policy(spec.get("trafficPolicy"), join_path(root, "trafficPolicy"), add)
    for index, subset in enumerate(as_list(spec.get("subsets"))):
        where = join_path(join_path(join_path(root, "subsets"), index), "trafficPolicy")
        _traffic_policy(as_map(subset).get("trafficPolicy"), where, add)
    return found


def gateway_problems(spec: Any, root: str = "spec") -> list[Problem]:
    found: list[Problem] = []

    def add(path: str, message: str) -> None:
        found.append(Problem(path, message))

    for index, server in enumerate(as_list(as_map(spec).get("servers"))):
        server = as_map(server)
        where = join_path(join_path(root, "servers"), index)
        port = as_map(server.get("port"))
        bind = server.get("bind")
        if isinstance(bind, str) and bind.startswith("unix://") and port.get("number"):
            add(join_path(where, "port"), "port number must be 0 for unix domain socket")
        if port.get("targetPort"):
            add(join_path(where, "port"), "targetPort has no impact on Gateways")
        tls = as_map(server.get("tls"))
        files = all(tls.get(k) for k in ("serverCertificate", "privateKey"))  # Istio counts a pair
        kinds = [
            bool(tls.get("credentialName")),
            bool(tls.get("credentialNames")),
            files,
            bool(tls.get("tlsCertificates")),
        ]
        if sum(kinds) > 1:
            add(
                join_path(where, "tls"),
                "only one of credential_name, credential_names, server_certificate/private_key, "
                "tls_certificates should be specified",
            )
        mode = tls.get("mode")
        if mode == "ISTIO_MUTUAL":
            for key in ISTIO_MUTUAL_FORBIDDEN:
                if tls.get(key):
                    add(join_path(where, "tls"), f"ISTIO_MUTUAL TLS cannot have associated {key}")
            continue
        remote = tls.get("credentialName") or tls.get("credentialNames")
        if mode in ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL") and remote:
            continue  # credentials fetched remotely: Istio checks nothing more (CRL included)
        if tls.get("caCrl") and tls.get("credentialName"):
            add(join_path(where, "tls"), "CRL is not supported with credentialName")
        elif tls.get("caCrl") and mode == "SIMPLE":
            add(join_path(where, "tls"), "CRL is not supported with SIMPLE TLS")
    return found


def service_entry_problems(spec: Any, root: str = "spec") -> list[Problem]:
    found: list[Problem] = []

    def add(path: str, message: str) -> None:
        found.append(Problem(path, message))

    spec = as_map(spec)
    ports = as_list(spec.get("ports"))
    for index, endpoint in enumerate(as_list(spec.get("endpoints"))):
        address = str(as_map(endpoint).get("address") or "")
        if address.startswith("unix://") and len(ports) > 1:
            add(
                join_path(join_path(root, "endpoints"), index),
                "exactly 1 service port required for unix endpoints",
            )
    for index, port in enumerate(ports):
        name = as_map(port).get("name")
        if isinstance(name, str) and not re.fullmatch(
            r"[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?", name
        ):
            add(
                join_path(join_path(join_path(root, "ports"), index), "name"),
                f"invalid port name: {name}",
            )
    if spec.get("resolution") == "DYNAMIC_DNS":
        if spec.get("endpoints"):
            add(
                join_path(root, "endpoints"),
                "endpoints are not supported with DYNAMIC_DNS resolution",
            )
        if spec.get("addresses"):
            add(
                join_path(root, "addresses"),
                "addresses are not supported with DYNAMIC_DNS resolution",
            )
        for index, host in enumerate(as_strings(spec.get("hosts"))):
            if not host.startswith("*"):
                add(
                    join_path(join_path(root, "hosts"), index),
                    "host must be wildcarded for resolution mode DYNAMIC_DNS",
                )
        for index, port in enumerate(ports):
            protocol = str(as_map(port).get("protocol") or "").upper()
            if protocol not in ("HTTP", "TLS", "GRPC", "HTTP2"):
                add(
                    join_path(join_path(join_path(root, "ports"), index), "protocol"),
                    "only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type "
                    "DYNAMIC_DNS",
                )
    return found


def sidecar_problems(spec: Any, root: str = "spec") -> list[Problem]:
    found: list[Problem] = []
    policy = as_map(as_map(spec).get("outboundTrafficPolicy"))
    where = join_path(root, "outboundTrafficPolicy")
    if policy.get("mode") == "ALLOW_ANY_DYNAMIC_DNS":
        found.append(
            Problem(
                where,
                "sidecar: ALLOW_ANY_DYNAMIC_DNS mode is only supported in MeshConfig, not in "
                "Sidecar resource",
            )
        )
    # egressProxy with a mode other than ALLOW_ANY: validation.sidecar

    def add(path: str, message: str) -> None:
        found.append(Problem(path, message))

    connection_pool_problems(
        as_map(spec).get("inboundConnectionPool"), join_path(root, "inboundConnectionPool"), add
    )
    for index, listener in enumerate(as_list(as_map(spec).get("ingress"))):
        where = join_path(join_path(join_path(root, "ingress"), index), "connectionPool")
        connection_pool_problems(as_map(listener).get("connectionPool"), where, add)
    return found


def _labels(labels: Any, path: str, add: Add) -> None:
    found = labels_problem({str(k): str(v) for k, v in as_map(labels).items()})
    if found is not None:
        add(join_path(path, found[0]), found[1])


def workload_entry_problems(spec: Any, root: str = "spec") -> list[Problem]:
    found: list[Problem] = []

    def add(path: str, message: str) -> None:
        found.append(Problem(path, message))

    spec = as_map(spec)
    address = spec.get("address")
    if (
        isinstance(address, str)
        and address
        and not address.startswith("unix://")
        and not is_ip(address)
        and host_problem(address, allow_star=False) is not None
    ):
        add(
            join_path(root, "address"),
            f'endpoint address "{address}" is not a valid FQDN or an IP address',
        )
    _labels(spec.get("labels"), join_path(root, "labels"), add)
    return found


def jwks_problem(text: str) -> tuple[str | None, list[int]]:
    """A JWKS as Istio's parser takes it: a JSON object, either a key (with `kty`) or a set of
    them under `keys`. Returns the problem, if any, and the indexes of keys that hold private
    material (`d` of an RSA, EC or OKP key; any symmetric `oct` key)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        return str(exc), []
    if not isinstance(data, dict):
        return "a JWKS must be a JSON object", []
    keys = data.get("keys") if "keys" in data else [data]
    if not isinstance(keys, list) or not all(isinstance(k, dict) and k.get("kty") for k in keys):
        return "every key needs a kty", []
    private = [i for i, k in enumerate(keys) if k.get("kty") == "oct" or "d" in k]
    return None, private


def request_authentication_problems(spec: Any, root: str = "spec") -> list[Problem]:
    found: list[Problem] = []
    for index, rule in enumerate(as_list(as_map(spec).get("jwtRules"))):
        jwks = as_map(rule).get("jwks")
        if not isinstance(jwks, str) or not jwks:
            continue
        where = join_path(join_path(join_path(root, "jwtRules"), index), "jwks")
        problem, private = jwks_problem(jwks)
        if problem is not None:
            found.append(Problem(where, f"jwks parse error: {problem}"))
        for key in private:
            found.append(
                Problem(
                    where,
                    f"jwks key at index {key} contains private key material; only public keys "
                    "are used for verification",
                    "warning",
                )
            )
    return found


RAW_CHECKS: dict[str, Callable[[Any], list[Problem]]] = {
    "WorkloadEntry": workload_entry_problems,
    "WorkloadGroup": workload_group_problems,
    "RequestAuthentication": with_targets(request_authentication_problems),
    "Telemetry": with_targets(telemetry_problems),
    "VirtualService": virtual_service_problems,
    "AuthorizationPolicy": with_targets(authorization_policy_problems),
    "DestinationRule": destination_rule_problems,
    "Gateway": gateway_problems,
    "ServiceEntry": service_entry_problems,
    "Sidecar": sidecar_problems,
}
