"""One Gateway API document checked as the API server checks it on `kubectl apply`
(`document_problems`): a served version of a served kind, metadata, the spec's types (`models`)
and the CRDs' rules beyond types (their OpenAPI patterns, bounds and CEL rules:
`spec_problems(kind, spec)`), each a `Problem` with its field path
(`spec.rules[0].matches[0].path.value`). Messages follow the CRDs' own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pilotfish.config.gateway_api.models import (
    GatewaySpec,
    ReferenceGrantSpec,
    model_of,
)
from pilotfish.config.gateway_api.route_rules import (
    grpc_route_problems,
    hostname,
    l4_route_problems,
    required,
    route_problems,
)
from pilotfish.config.kinds import GATEWAY_API_GROUP, gateway_api_kind
from pilotfish.config.object_meta import metadata_problems, top_level_problems
from pilotfish.config.schema import Problem, build_spec

SECTION_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
PROTOCOL = re.compile(
    r"^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/[A-Za-z0-9]+$"
)


def document_problems(data: dict[str, Any], strict: bool = False) -> list[Problem] | None:
    """Problems of one document of the Gateway API group; None for a kind not served here."""
    api_version, kind = str(data.get("apiVersion", "")), str(data.get("kind", ""))
    info = gateway_api_kind(api_version, kind)
    if info is None:
        return None
    version = api_version.rpartition("/")[2]
    if version not in info.versions:
        served = ", ".join(f"{GATEWAY_API_GROUP}/{v}" for v in info.versions)
        return [Problem("apiVersion", f"{api_version} is not served for {kind} (served: {served})")]
    metadata = data.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    name = metadata.get("name")
    problems = metadata_problems(metadata, name if isinstance(name, str) else "")
    problems += top_level_problems(data)
    model = model_of(kind, api_version)
    assert model is not None
    spec, found = build_spec(model, data.get("spec"), "spec", strict)
    problems += found
    if spec is not None:
        problems += spec_problems(kind, spec)
    return problems


def spec_problems(kind: str, spec: Any) -> list[Problem]:
    check: Callable[[Any], list[Problem]] | None = _CHECKS.get(kind)
    return check(spec) if check is not None else []


def gateway_problems(spec: GatewaySpec) -> list[Problem]:
    found: list[Problem] = []
    required(found, "spec.gatewayClassName", spec.gateway_class_name)
    if not spec.listeners:
        found.append(Problem("spec.listeners", "Required value: at least one listener"))
    names: set[str] = set()
    combos: set[tuple[int | None, str]] = set()
    for index, listener in enumerate(spec.listeners):
        at = f"spec.listeners[{index}]"
        if required(found, f"{at}.name", listener.name):
            assert listener.name is not None
            if not SECTION_NAME.match(listener.name):
                found.append(
                    Problem(
                        f"{at}.name",
                        f'Invalid value: "{listener.name}": must be a lowercase RFC 1123 subdomain',
                    )
                )
            if listener.name in names:
                found.append(
                    Problem("spec.listeners", "Listener name must be unique within the Gateway")
                )
            names.add(listener.name)
        if required(found, f"{at}.port", listener.port) and not 1 <= (listener.port or 0) <= 65535:
            found.append(
                Problem(
                    f"{at}.port", f"Invalid value: {listener.port}: must be between 1 and 65535"
                )
            )
        if required(found, f"{at}.protocol", listener.protocol) and not PROTOCOL.match(
            listener.protocol or ""
        ):
            found.append(
                Problem(
                    f"{at}.protocol",
                    f'Invalid value: "{listener.protocol}": must be a protocol name',
                )
            )
        hostname(found, f"{at}.hostname", listener.hostname)
        if listener.protocol in ("HTTPS", "TLS") and listener.tls is None:
            found.append(Problem(f"{at}", "tls must be specified for protocols ['HTTPS', 'TLS']"))
        if listener.protocol in ("TCP", "UDP") and listener.hostname:
            found.append(
                Problem(f"{at}", "hostname must not be specified for protocols ['TCP', 'UDP']")
            )
        combo = (listener.port, listener.hostname or "")
        if combo in combos:
            found.append(
                Problem(
                    "spec.listeners",
                    "Combination of port, protocol and hostname must be unique for each listener",
                )
            )
        combos.add(combo)
    return found


def reference_grant_problems(spec: ReferenceGrantSpec) -> list[Problem]:
    found: list[Problem] = []
    if not spec.from_:
        found.append(Problem("spec.from", "Required value"))
    if not spec.to:
        found.append(Problem("spec.to", "Required value"))
    for index, item in enumerate(spec.from_):
        required(found, f"spec.from[{index}].kind", item.kind)
        required(found, f"spec.from[{index}].namespace", item.namespace)
        if item.group is None:
            found.append(Problem(f"spec.from[{index}].group", "Required value"))
    for index, to in enumerate(spec.to):
        required(found, f"spec.to[{index}].kind", to.kind)
        if to.group is None:
            found.append(Problem(f"spec.to[{index}].group", "Required value"))
    return found


def class_problems(spec: Any) -> list[Problem]:
    found: list[Problem] = []
    required(found, "spec.controllerName", spec.controller_name)
    return found


_CHECKS: dict[str, Callable[[Any], list[Problem]]] = {
    "Gateway": gateway_problems,
    "HTTPRoute": route_problems,
    "GRPCRoute": grpc_route_problems,
    "TCPRoute": l4_route_problems,
    "TLSRoute": l4_route_problems,
    "ReferenceGrant": reference_grant_problems,
    "GatewayClass": class_problems,
}
