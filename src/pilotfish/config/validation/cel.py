"""The CEL rules of Istio's CRDs (`x-kubernetes-validations`), as checks on the built models.

The API server enforces these rules on every Istio object; pilotfish enforces them here, with the
CRD's message, wherever the message type appears (a `TCPSettings` is checked the same in a
DestinationRule, a subset, a port-level setting or a Sidecar). `cel_problems(spec)` walks a spec
and dispatches on each message type (`module.Class` of the model); `validate_spec` keeps a CEL
problem only where the kind's own (webhook-worded) checks found nothing at that path, so a rule
both enforce is reported once. The rule list is checked against the CRD file by
tests/config/test_cel_rules.py. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from pydantic import BaseModel

from pilotfish.config.durations import duration_problem
from pilotfish.config.schema import Problem
from pilotfish.config.yaml_text import join_path

Add = Callable[[str, str], None]
Check = Callable[[Any, str, Add], None]

DURATIONS: dict[str, tuple[str, ...]] = {
    "destination_rule.TCPSettings": ("connect_timeout", "max_connection_duration"),
    "destination_rule.TcpKeepalive": ("interval", "time"),
    "destination_rule.HTTPSettings": ("idle_timeout",),
    "destination_rule.Http2KeepAlive": ("interval", "timeout"),
    "destination_rule.LoadBalancerSettings": ("warmup_duration_secs",),
    "destination_rule.WarmupConfiguration": ("duration",),
    "destination_rule.OutlierDetection": ("base_ejection_time", "interval"),
    "virtual_service.CorsPolicy": ("max_age",),
    "virtual_service.Delay": ("fixed_delay", "exponential_delay"),
    "virtual_service.HTTPRetry": ("backoff", "per_try_timeout"),
    "virtual_service.HTTPRoute": ("timeout",),
    "request_authentication.JWTRule": ("timeout",),
    "telemetry.Metrics": ("reporting_interval",),
}
PORTS: dict[str, tuple[str, ...]] = {
    "service_entry.ServicePort": ("number", "target_port"),
    "envoy_filter.WaypointMatch": ("port_number",),
    "workload_entry.HTTPHealthCheckConfig": ("port",),
    "workload_entry.TCPHealthCheckConfig": ("port",),
    "workload_entry.GrpcHealthCheckConfig": ("port",),
}
PORT_RANGE = "port must be between 1-65535"
PORT_NAME = re.compile(r"^[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?$")
ONE_SELECTOR = "only one of targetRefs or selector can be set"


@cache
def _message(model: type[BaseModel]) -> tuple[str, dict[str, str]]:
    """A message type's key (`module.Class`) and its attributes' YAML keys, once per type
    (pydantic's `model_fields` is a computed class property: slow for every field of every
    document of a large apply)."""
    fields = {a: info.alias or a for a, info in model.__pydantic_fields__.items()}
    return f"{model.__module__.rpartition('.')[2]}.{model.__name__}", fields


def _key(model: BaseModel) -> str:
    return _message(type(model))[0]


def _yaml_key(model: BaseModel, attribute: str) -> str:
    return _message(type(model))[1][attribute]


def _at(model: BaseModel, path: str, attribute: str) -> str:
    return join_path(path, _yaml_key(model, attribute))


def _match_labels(model: Any, path: str, add: Add) -> None:
    where = _at(model, path, "match_labels")
    for key, value in model.match_labels.items():
        if not key:
            add(join_path(where, key), "key must not be empty")
        elif "*" in key:
            add(join_path(where, key), "wildcard not allowed in label key match")
        if "*" in value:
            add(join_path(where, key), "wildcard not allowed in label value match")


def _plain_labels(model: Any, path: str, add: Add) -> None:
    where = _at(model, path, "labels")
    for key, value in model.labels.items():
        if "*" in value:
            add(join_path(where, key), "wildcard is not supported in selector")


def _target_ref(model: Any, path: str, add: Add) -> None:
    if model.namespace:
        add(_at(model, path, "namespace"), "cross namespace referencing is not currently supported")


def _server_tls(model: Any, path: str, add: Add) -> None:
    name, names, certs = model.credential_name, model.credential_names, model.tls_certificates
    if name and names:
        add(path, "only one of credentialName or credentialNames can be set")
    if names and certs:
        add(path, "only one of credentialName or tlsCertificates can be set")
        add(path, "only one of credentialNames or tlsCertificates can be set")


def _tag_override(model: Any, path: str, add: Add) -> None:
    if model.operation == "REMOVE" and model.value is not None:
        add(path, "value must not be set when operation is REMOVE")
    if model.operation == "UPSERT" and not model.value:
        add(path, "value must be set when operation is UPSERT")


def _jwt_rule(model: Any, path: str, add: Add) -> None:
    if model.jwks and model.jwks_uri:
        add(path, "only one of jwks or jwksUri can be set")
    uri = model.jwks_uri
    if uri is not None and uri.partition("://")[0].lower() not in ("http", "https"):
        add(_at(model, path, "jwks_uri"), "url must have scheme http:// or https://")


def _patch_match(model: Any, path: str, add: Add) -> None:
    if (model.context == "WAYPOINT") != (model.waypoint is not None):
        add(path, "only support waypointMatch when context is WAYPOINT")


def _selector_or_refs(model: Any, path: str, add: Add) -> None:
    chosen = [model.selector is not None, model.target_ref is not None, bool(model.target_refs)]
    if sum(chosen) > 1:
        add(path, ONE_SELECTOR)


def _envoy_filter(model: Any, path: str, add: Add) -> None:
    if model.workload_selector is not None and model.target_refs:
        add(path, "only one of targetRefs or workloadSelector can be set")


def _peer_authentication(model: Any, path: str, add: Add) -> None:
    # "portLevelMtls requires selector" is the PeerAuthentication validator's (at portLevelMtls).
    for key in model.port_level_mtls:
        if not (key.isdigit() and 0 < int(key) <= 65535):
            add(join_path(_at(model, path, "port_level_mtls"), key), PORT_RANGE)


def _source(model: Any, path: str, add: Add) -> None:
    if (model.service_accounts or model.not_service_accounts) and (
        model.principals or model.not_principals or model.namespaces or model.not_namespaces
    ):
        add(path, "Cannot set serviceAccounts with namespaces or principals")


def _service_entry(model: Any, path: str, add: Add) -> None:
    resolution = model.resolution or "NONE"
    if resolution == "DNS_ROUND_ROBIN" and len(model.endpoints) > 1:
        add(path, "DNS_ROUND_ROBIN mode cannot have multiple endpoints")
    if model.workload_selector is not None and model.endpoints:
        add(path, "only one of WorkloadSelector or Endpoints can be set")
    if resolution == "NONE" and model.endpoints:
        add(path, "NONE mode cannot set endpoints")
    if any("/" in a for a in model.addresses) and resolution not in ("STATIC", "NONE"):
        add(path, "CIDR addresses are allowed only for NONE/STATIC resolution types")
    for index, host in enumerate(model.hosts):
        if host == "*":
            add(join_path(_at(model, path, "hosts"), index), "hostname cannot be wildcard")
    numbers = [p.number for p in model.ports]
    if len(set(numbers)) != len(numbers):
        add(_at(model, path, "ports"), "port number cannot be duplicated")
    for index, endpoint in enumerate(model.endpoints):
        if not endpoint.address and not endpoint.network:
            add(join_path(_at(model, path, "endpoints"), index), "Address is required")


def _workload_address(model: Any, path: str, add: Add) -> None:
    """WorkloadEntry as a ServiceEntry endpoint, a WorkloadEntry spec or a WorkloadGroup
    template: unix socket addresses and port names."""
    address = model.address or ""
    if address.startswith("unix://"):
        if model.ports:
            add(path, "UDS may not include ports")
        where = _at(model, path, "address")
        if address[7:8] not in ("/", "@"):
            add(where, "UDS must be an absolute path or abstract socket")
        if address.endswith("/"):
            add(where, "UDS may not be a dir")
    ports = _at(model, path, "ports")
    for name, number in model.ports.items():
        if not (len(name) < 63 and PORT_NAME.match(name)):
            add(ports, "port name must be valid")
        if not 0 < number <= 65535:
            add(join_path(ports, name), PORT_RANGE)


def _workload_entry_spec(model: Any, path: str, add: Add) -> None:
    if not model.address and not model.network:
        add(path, "Address is required")
    _workload_address(model, path, add)


def _http_probe(model: Any, path: str, add: Add) -> None:
    if model.scheme not in (None, "", "HTTP", "HTTPS"):
        add(_at(model, path, "scheme"), "scheme must be one of [HTTP, HTTPS]")


CHECKS: dict[str, tuple[Check, ...]] = {
    "selectors.WorkloadSelector": (_match_labels,),
    "selectors.SidecarWorkloadSelector": (_plain_labels,),
    "service_entry.ServiceEntryWorkloadSelector": (_plain_labels,),
    "selectors.PolicyTargetReference": (_target_ref,),
    "gateway.ServerTLSSettings": (_server_tls,),
    "telemetry.TagOverride": (_tag_override,),
    "request_authentication.JWTRule": (_jwt_rule,),
    "envoy_filter.EnvoyConfigObjectMatch": (_patch_match,),
    "envoy_filter.EnvoyFilterSpec": (_envoy_filter,),
    "authorization_policy.AuthorizationPolicySpec": (_selector_or_refs,),
    "request_authentication.RequestAuthenticationSpec": (_selector_or_refs,),
    "telemetry.TelemetrySpec": (_selector_or_refs,),
    "peer_authentication.PeerAuthenticationSpec": (_peer_authentication,),
    "authorization_policy.Source": (_source,),
    "service_entry.ServiceEntrySpec": (_service_entry,),
    "service_entry.WorkloadEntry": (_workload_address,),
    "workload_entry.WorkloadEntrySpec": (_workload_entry_spec,),
    "workload_entry.HTTPHealthCheckConfig": (_http_probe,),
}


def _families(model: BaseModel, key: str, path: str, add: Add) -> None:
    for attribute in DURATIONS.get(key, ()):
        value = getattr(model, attribute)
        if isinstance(value, str):
            problem = duration_problem(value)
            if problem is not None:
                add(_at(model, path, attribute), problem)
    for attribute in PORTS.get(key, ()):
        value = getattr(model, attribute)
        if isinstance(value, int) and not 0 < value <= 65535:
            add(_at(model, path, attribute), PORT_RANGE)


def _walk(model: BaseModel, path: str, add: Add) -> None:
    key, fields = _message(type(model))
    _families(model, key, path, add)
    for check in CHECKS.get(key, ()):
        check(model, path, add)
    for attribute, yaml_key in fields.items():
        value = getattr(model, attribute)
        if value is None:
            continue
        if isinstance(value, BaseModel):
            _walk(value, join_path(path, yaml_key), add)
        elif isinstance(value, tuple):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    _walk(item, join_path(join_path(path, yaml_key), index), add)
        elif isinstance(value, dict):
            for name, item in value.items():
                if isinstance(item, BaseModel):
                    _walk(item, join_path(join_path(path, yaml_key), str(name)), add)


def cel_problems(spec: BaseModel, root: str = "spec") -> list[Problem]:
    """Every CEL rule of the CRDs that `spec` breaks, as errors with the CRD's message."""
    found: list[Problem] = []
    _walk(spec, root, lambda path, message: found.append(Problem(path, message)))
    return found
