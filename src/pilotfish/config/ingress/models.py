"""Spec models and API-server rules of networking.k8s.io/v1 `Ingress` and `IngressClass`.

Field names are Kubernetes' (`ingressClassName`, `defaultBackend`, `rules[].http.paths[]` with
`path`, `pathType` and `backend.service.{name, port.{number|name}}`, `tls[].{hosts, secretName}`;
`IngressClass.spec.controller`). The rules are the API server's that a user meets with these
files: hosts are DNS names (`*.` allowed in front, no IP address); `pathType` is required and
one of Exact, Prefix, ImplementationSpecific; an Exact or Prefix path is absolute; a backend
names a service with exactly one of port number and port name; an Ingress has `rules` or a
`defaultBackend`. `document_problems` gives the problems with their field paths (None: not
such a kind).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from pydantic import Field

from pilotfish.config.kinds import INGRESS_GROUP, INGRESS_KINDS
from pilotfish.config.models.base import Int, IstioModel, Str
from pilotfish.config.object_meta import metadata_problems, top_level_problems
from pilotfish.config.schema import Problem, build_spec

PATH_TYPES = ("Exact", "Prefix", "ImplementationSpecific")


class ServiceBackendPort(IstioModel):
    number: Int | None = None
    name: Str | None = None


class IngressServiceBackend(IstioModel):
    name: Str = ""
    port: ServiceBackendPort | None = None


class TypedLocalObjectReference(IstioModel):
    api_group: Str | None = None
    kind: Str = ""
    name: Str = ""


class IngressBackend(IstioModel):
    service: IngressServiceBackend | None = None
    resource: TypedLocalObjectReference | None = None


class HTTPIngressPath(IstioModel):
    path: Str | None = None
    path_type: Str | None = None
    backend: IngressBackend = Field(default_factory=IngressBackend)


class HTTPIngressRuleValue(IstioModel):
    paths: list[HTTPIngressPath] = Field(default_factory=list)


class IngressRule(IstioModel):
    host: Str | None = None
    http: HTTPIngressRuleValue | None = None


class IngressTLS(IstioModel):
    hosts: list[Str] = Field(default_factory=list)
    secret_name: Str | None = None


class IngressSpec(IstioModel):
    ingress_class_name: Str | None = None
    default_backend: IngressBackend | None = None
    tls: list[IngressTLS] = Field(default_factory=list)
    rules: list[IngressRule] = Field(default_factory=list)


class IngressClassSpec(IstioModel):
    controller: Str | None = None
    parameters: dict[Str, Any] | None = None


MODELS: dict[str, type[IstioModel]] = {"Ingress": IngressSpec, "IngressClass": IngressClassSpec}


def document_problems(data: dict[str, Any], strict: bool = False) -> list[Problem] | None:
    """Problems of a networking.k8s.io document; None for a kind not served here."""
    api_version, kind = str(data.get("apiVersion", "")), str(data.get("kind", ""))
    group, _, version = api_version.rpartition("/")
    if group != INGRESS_GROUP or kind not in INGRESS_KINDS:
        return None
    if version != "v1":
        return [Problem("apiVersion", f"{api_version} is not served for {kind} (served: v1)")]
    metadata = data.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    name = metadata.get("name")
    problems = metadata_problems(metadata, name if isinstance(name, str) else "")
    problems += top_level_problems(data)
    spec, found = build_spec(MODELS[kind], data.get("spec"), "spec", strict)
    problems += found
    if isinstance(spec, IngressSpec):
        problems += ingress_problems(spec)
    return problems


def ingress_problems(spec: IngressSpec) -> list[Problem]:
    found: list[Problem] = []
    if spec.default_backend is not None:
        found += _backend_problems(spec.default_backend, "spec.defaultBackend")
    elif not spec.rules:
        found.append(Problem("spec.rules", "either `defaultBackend` or `rules` must be specified"))
    for i, rule in enumerate(spec.rules):
        at = f"spec.rules[{i}]"
        if rule.host:
            found += _host_problems(rule.host, f"{at}.host")
        for j, path in enumerate(rule.http.paths if rule.http else []):
            found += _path_problems(path, f"{at}.http.paths[{j}]")
    for i, tls in enumerate(spec.tls):
        for j, host in enumerate(tls.hosts):
            found += _host_problems(host, f"spec.tls[{i}].hosts[{j}]")
    return found


_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = re.compile(rf"{_LABEL}(\.{_LABEL})*")


def _host_problems(host: str, at: str) -> list[Problem]:
    """The API server's host rules: a DNS name (lowercase RFC 1123 subdomain, at most 253
    characters), `*.` before one for a wildcard, never an IP address."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [Problem(at, f'Invalid value: "{host}": must be a DNS name, not an IP address')]
    name = host[2:] if host.startswith("*.") else host
    if len(host) <= 253 and _SUBDOMAIN.fullmatch(name):
        return []
    what = "a wildcard DNS-1123 subdomain (*. and a " if "*" in host else "a ("
    message = f"must be {what}lowercase RFC 1123 subdomain, e.g. 'example.com')"
    return [Problem(at, f'Invalid value: "{host}": {message}')]


def _path_problems(path: HTTPIngressPath, at: str) -> list[Problem]:
    found = _backend_problems(path.backend, f"{at}.backend")
    if path.path_type is None:
        found.append(Problem(f"{at}.pathType", "Required value: pathType must be specified"))
    elif path.path_type not in PATH_TYPES:
        supported = ", ".join(f'"{t}"' for t in PATH_TYPES)
        message = f'Unsupported value: "{path.path_type}": supported values: {supported}'
        found.append(Problem(f"{at}.pathType", message))
    elif path.path_type != "ImplementationSpecific" and not (path.path or "").startswith("/"):
        found.append(
            Problem(f"{at}.path", f"Invalid value: {path.path!r}: must be an absolute path")
        )
    return found


def _backend_problems(backend: IngressBackend, at: str) -> list[Problem]:
    if backend.service is None and backend.resource is None:
        return [Problem(at, "Invalid value: at least one backend must be specified")]
    if backend.service is None:
        return []
    port = backend.service.port
    if not backend.service.name:
        return [Problem(f"{at}.service.name", "Required value")]
    if port is None or (port.number is None) == (port.name is None):
        return [Problem(f"{at}.service.port", "Invalid value: exactly one of number or name")]
    if port.number is not None and not 0 < port.number < 65536:
        return [Problem(f"{at}.service.port.number", "must be between 1 and 65535, inclusive")]
    return []
