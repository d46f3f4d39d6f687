"""Every CEL rule (`x-kubernetes-validations`) of the Istio CRDs is enforced as a semantic check,
with the CRD's message, at the rule's field path.

The rules are enumerated from ../shared/istio-crds/crd-all.gen.yaml (skipped when missing); each
one gets a spec that breaks it: generated for the families of rules that repeat (durations of at
least 1ms, port ranges, selector label wildcards, cross-namespace targetRefs) and written by hand
for the others. A rule of a kind pilotfish does not serve (WasmPlugin, TrafficExtension) is
listed apart, so a new rule in a new CRD version fails the test until it is mapped."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from ruamel.yaml import YAML
from tests.config.crd_file import CRD_FILE

from pilotfish.config import load
from pilotfish.config.kinds import ISTIO_KINDS

CRDS = CRD_FILE
ONE = "only one of targetRefs or selector can be set"
NOT_SERVED = {"WasmPlugin", "TrafficExtension"}
Rule = tuple[str, str, str, str]  # kind, field path (".spec.a[].b"), CEL rule, message


def _walk(node: Any, kind: str, path: str, found: set[Rule]) -> None:
    if not isinstance(node, dict):
        return
    for rule in node.get("x-kubernetes-validations") or []:
        found.add((kind, path, rule["rule"], rule["message"]))
    for key, child in (node.get("properties") or {}).items():
        _walk(child, kind, f"{path}.{key}", found)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            _walk(node[key], kind, f"{path}[]", found)


def crd_rules() -> list[Rule]:
    if not CRDS.exists():
        return []
    found: set[Rule] = set()
    for doc in YAML(typ="safe").load_all(CRDS.read_text()):
        if doc:
            kind = doc["spec"]["names"]["kind"]
            for version in doc["spec"]["versions"]:
                _walk(version["schema"]["openAPIV3Schema"], kind, "", found)
    return sorted(found)


def _nest(path: str, leaf: Any) -> Any:
    """`.spec.a[].b` and a leaf → {"a": [{"b": leaf}]} (the part under spec)."""
    parts = path.removeprefix(".spec").strip(".").split(".") if path != ".spec" else []
    value = leaf
    for part in reversed(parts):
        value = {part[:-2]: [value]} if part.endswith("[]") else {part: value}
    return value


def _concrete(path: str) -> str:
    return path.lstrip(".").replace("[]", "[0]")


def breaking_spec(rule: Rule) -> tuple[Any, str] | None:
    """A spec that breaks a rule of a repeated family, and the path of the error; None if none."""
    _, path, cel, _ = rule
    if cel == "duration(self) >= duration('1ms')":
        return _nest(path, "0s"), _concrete(path)
    if cel == "0 < self && self <= 65535":
        if path.endswith("ports[]"):  # a map of port name → number
            return _nest(path.removesuffix("[]"), {"http": 70000}), _concrete(path[:-2]) + ".http"
        return _nest(path, 70000), _concrete(path)
    if cel == "self.size() == 0" and path.endswith(".namespace"):
        return _nest(path, "other"), _concrete(path)
    if cel == 'self.all(key, !key.contains("*"))':
        return _nest(path, {"a*": "b"}), _concrete(path) + ".a*"
    if cel == "self.all(key, key.size() != 0)":
        return _nest(path, {"": "b"}), _concrete(path) + "."
    if cel == '!self.contains("*")':
        return _nest(path.removesuffix("[]"), {"app": "b*"}), _concrete(path[:-2]) + ".app"
    return None


TLS_BOTH = {
    "mode": "SIMPLE",
    "credentialNames": ["a"],
    "tlsCertificates": [{"serverCertificate": "/c", "privateKey": "/k"}],
}
TLS_NAMES = {"mode": "SIMPLE", "credentialName": "a", "credentialNames": ["b"]}
# The TLS settings breaking each "only one of" rule of Gateway servers and Sidecar ingress.
TLS_ONE_OF = {
    "only one of credentialName or credentialNames can be set": TLS_NAMES,
    "only one of credentialName or tlsCertificates can be set": TLS_BOTH,
    "only one of credentialNames or tlsCertificates can be set": TLS_BOTH,
}
GW = {"servers": [{"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": ["*"]}]}
SC = {"ingress": [{"port": {"number": 443, "name": "https", "protocol": "HTTPS"}}]}
SEL = {"matchLabels": {"app": "a"}}
REF = {"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "g"}
SE = {"hosts": ["db.example.com"], "ports": [{"number": 5432, "name": "tcp", "protocol": "TCP"}]}


def _with(base: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(base))
    node: Any = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


# (kind, CEL path, message) → (a spec breaking the rule, field path of the error)
HAND: dict[tuple[str, str, str], tuple[Any, str]] = {
    ("AuthorizationPolicy", ".spec", ONE): ({"selector": SEL, "targetRef": REF}, "spec"),
    ("RequestAuthentication", ".spec", ONE): ({"selector": SEL, "targetRefs": [REF]}, "spec"),
    ("Telemetry", ".spec", ONE): ({"targetRef": REF, "targetRefs": [REF]}, "spec"),
    (
        "AuthorizationPolicy",
        ".spec.rules[].from[].source",
        "Cannot set serviceAccounts with namespaces or principals",
    ): (
        {"rules": [{"from": [{"source": {"serviceAccounts": ["ns/sa"], "principals": ["p"]}}]}]},
        "spec.rules[0].from[0].source",
    ),
    ("EnvoyFilter", ".spec", "only one of targetRefs or workloadSelector can be set"): (
        {"workloadSelector": {"labels": {"app": "a"}}, "targetRefs": [REF]},
        "spec",
    ),
    (
        "EnvoyFilter",
        ".spec.configPatches[].match",
        "only support waypointMatch when context is WAYPOINT",
    ): (
        {
            "configPatches": [
                {
                    "applyTo": "HTTP_FILTER",
                    "match": {"context": "SIDECAR_INBOUND", "waypoint": {}},
                    "patch": {"operation": "REMOVE"},
                }
            ]
        },
        "spec.configPatches[0].match",
    ),
    **{
        (kind, f".spec.{field}[].tls", message): (
            _with(base, (field, 0, "tls"), tls),
            f"spec.{field}[0].tls",
        )
        for kind, base, field in (("Gateway", GW, "servers"), ("Sidecar", SC, "ingress"))
        for message, tls in TLS_ONE_OF.items()
    },
    ("PeerAuthentication", ".spec", "portLevelMtls requires selector"): (
        {"portLevelMtls": {"8080": {"mode": "DISABLE"}}},
        "spec.portLevelMtls",
    ),
    ("PeerAuthentication", ".spec.portLevelMtls", "port must be between 1-65535"): (
        {"selector": SEL, "portLevelMtls": {"0": {"mode": "DISABLE"}}},
        "spec.portLevelMtls.0",
    ),
    ("RequestAuthentication", ".spec.jwtRules[]", "only one of jwks or jwksUri can be set"): (
        {"jwtRules": [{"issuer": "i", "jwks": "{}", "jwksUri": "https://a/k"}]},
        "spec.jwtRules[0]",
    ),
    (
        "RequestAuthentication",
        ".spec.jwtRules[].jwksUri",
        "url must have scheme http:// or https://",
    ): (
        {"jwtRules": [{"issuer": "i", "jwksUri": "ftp://a/k"}]},
        "spec.jwtRules[0].jwksUri",
    ),
    (
        "RequestAuthentication",
        ".spec.jwtRules[].jwks_uri",
        "url must have scheme http:// or https://",
    ): (
        {"jwtRules": [{"issuer": "i", "jwks_uri": "ftp://a/k"}]},
        "spec.jwtRules[0].jwksUri",
    ),
    ("ServiceEntry", ".spec", "DNS_ROUND_ROBIN mode cannot have multiple endpoints"): (
        {
            **SE,
            "resolution": "DNS_ROUND_ROBIN",
            "endpoints": [{"address": "a.com"}, {"address": "b.com"}],
        },
        "spec",
    ),
    ("ServiceEntry", ".spec", "only one of WorkloadSelector or Endpoints can be set"): (
        {
            **SE,
            "resolution": "STATIC",
            "addresses": ["10.0.0.1"],
            "workloadSelector": {"labels": {"app": "a"}},
            "endpoints": [{"address": "1.1.1.1"}],
        },
        "spec",
    ),
    ("ServiceEntry", ".spec", "NONE mode cannot set endpoints"): (
        {**SE, "addresses": ["10.0.0.1"], "endpoints": [{"address": "1.1.1.1"}]},
        "spec",
    ),
    ("ServiceEntry", ".spec", "CIDR addresses are allowed only for NONE/STATIC resolution types"): (
        {**SE, "resolution": "DNS", "addresses": ["10.0.0.0/24"]},
        "spec",
    ),
    ("ServiceEntry", ".spec.endpoints[]", "Address is required"): (
        {
            **SE,
            "resolution": "STATIC",
            "addresses": ["10.0.0.1"],
            "endpoints": [{"labels": {"a": "b"}}],
        },
        "spec.endpoints[0]",
    ),
    ("ServiceEntry", ".spec.endpoints[]", "UDS may not include ports"): (
        {
            **SE,
            "resolution": "STATIC",
            "endpoints": [{"address": "unix:///sock", "ports": {"tcp": 1}}],
        },
        "spec.endpoints[0]",
    ),
    (
        "ServiceEntry",
        ".spec.endpoints[].address",
        "UDS must be an absolute path or abstract socket",
    ): (
        {**SE, "resolution": "STATIC", "endpoints": [{"address": "unix://sock"}]},
        "spec.endpoints[0].address",
    ),
    ("ServiceEntry", ".spec.endpoints[].address", "UDS may not be a dir"): (
        {**SE, "resolution": "STATIC", "endpoints": [{"address": "unix:///run/"}]},
        "spec.endpoints[0].address",
    ),
    ("ServiceEntry", ".spec.endpoints[].ports", "port name must be valid"): (
        {
            **SE,
            "resolution": "STATIC",
            "addresses": ["10.0.0.1"],
            "endpoints": [{"address": "1.1.1.1", "ports": {"-bad": 80}}],
        },
        "spec.endpoints[0].ports",
    ),
    ("ServiceEntry", ".spec.hosts[]", "hostname cannot be wildcard"): (
        {**SE, "hosts": ["*"]},
        "spec.hosts[0]",
    ),
    ("ServiceEntry", ".spec.ports", "port number cannot be duplicated"): (
        {
            **SE,
            "addresses": ["10.0.0.1"],
            "ports": [{"number": 80, "name": "a"}, {"number": 80, "name": "b"}],
        },
        "spec.ports",
    ),
    (
        "Telemetry",
        ".spec.metrics[].overrides[].tagOverrides[]",
        "value must not be set when operation is REMOVE",
    ): (
        {
            "metrics": [
                {"overrides": [{"tagOverrides": {"t": {"operation": "REMOVE", "value": "v"}}}]}
            ]
        },
        "spec.metrics[0].overrides[0].tagOverrides.t",
    ),
    (
        "Telemetry",
        ".spec.metrics[].overrides[].tagOverrides[]",
        "value must be set when operation is UPSERT",
    ): (
        {"metrics": [{"overrides": [{"tagOverrides": {"t": {"operation": "UPSERT"}}}]}]},
        "spec.metrics[0].overrides[0].tagOverrides.t",
    ),
    ("WorkloadEntry", ".spec", "Address is required"): ({"labels": {"a": "b"}}, "spec"),
    ("WorkloadEntry", ".spec", "UDS may not include ports"): (
        {"address": "unix:///sock", "ports": {"tcp": 1}},
        "spec",
    ),
    ("WorkloadEntry", ".spec.address", "UDS must be an absolute path or abstract socket"): (
        {"address": "unix://sock"},
        "spec.address",
    ),
    ("WorkloadEntry", ".spec.address", "UDS may not be a dir"): (
        {"address": "unix:///run/"},
        "spec.address",
    ),
    ("WorkloadEntry", ".spec.ports", "port name must be valid"): (
        {"address": "1.1.1.1", "ports": {"bad_name": 80}},
        "spec.ports",
    ),
    ("WorkloadGroup", ".spec.probe.httpGet.scheme", "scheme must be one of [HTTP, HTTPS]"): (
        {"probe": {"httpGet": {"port": 80, "scheme": "FTP"}}},
        "spec.probe.httpGet.scheme",
    ),
    ("WorkloadGroup", ".spec.template", "UDS may not include ports"): (
        {"template": {"address": "unix:///sock", "ports": {"tcp": 1}}},
        "spec.template",
    ),
    (
        "WorkloadGroup",
        ".spec.template.address",
        "UDS must be an absolute path or abstract socket",
    ): (
        {"template": {"address": "unix://sock"}},
        "spec.template.address",
    ),
    ("WorkloadGroup", ".spec.template.address", "UDS may not be a dir"): (
        {"template": {"address": "unix:///run/"}},
        "spec.template.address",
    ),
    ("WorkloadGroup", ".spec.template.ports", "port name must be valid"): (
        {"template": {"ports": {"Bad_Name": 80}}},
        "spec.template.ports",
    ),
}


def test_rules_are_found() -> None:
    if not CRDS.exists():
        pytest.skip(f"{CRDS} is missing: the CRD reference data lives outside the repository")
    assert len([r for r in crd_rules() if r[0] not in NOT_SERVED]) > 100


def cases() -> list[Any]:
    out = []
    for rule in crd_rules():
        kind, path, _, message = rule
        if kind in NOT_SERVED:
            continue
        found = breaking_spec(rule) or HAND.get((kind, path, message))
        spec, where = found if found is not None else (None, "unmapped")
        out.append(pytest.param(kind, spec, where, message, id=f"{kind}{path}:{message}"))
    return out


def errors_of(kind: str, spec: Any) -> list[tuple[str, str]]:
    info = ISTIO_KINDS[kind]
    head = f"apiVersion: {info.group}/{info.versions[0]}\nkind: {kind}\nmetadata: {{name: x}}\n"
    result = load(head + "spec: " + json.dumps(spec) + "\n", "cel.yaml")
    return [(d.path, d.message) for d in result.errors]


# CEL messages whose rule Istio's webhook validation (which pilotfish follows) words otherwise.
EQUIVALENT = {
    "must be a valid duration greater than 1ms": re.compile(r"duration must be greater than 1ms"),
    "port must be between 1-65535": re.compile(
        r"(target )?port( number)? \S+ is out of range 1-65535"
    ),
    "wildcard not allowed in label key match": re.compile(
        r'invalid tag key: "[^"]*\*[^"]*"|wildcard is not supported in selector: "[^"]*"'
    ),
    "key must not be empty": re.compile(
        r'invalid tag key: ""|empty key is not supported in selector: "=[^"]*"'
    ),
    "wildcard not allowed in label value match": re.compile(
        r'invalid tag value: "[^"]*\*[^"]*"|wildcard is not supported in selector: "[^"]*"'
    ),
    "only one of targetRefs or selector can be set": re.compile(
        r"only one of (selector, targetRef and targetRefs may be set"
        r"|targetRefs or workloadSelector can be set)"
    ),
    "only one of credentialName or credentialNames can be set": re.compile(
        r"only one of credentialName and credentialNames may be set"
    ),
    "only one of credentialName or tlsCertificates can be set": re.compile(
        r"only one of credentialNames and tlsCertificates may be set"
    ),
    "only one of credentialNames or tlsCertificates can be set": re.compile(
        r"only one of credentialNames and tlsCertificates may be set"
    ),
    "portLevelMtls requires selector": re.compile(r"portLevelMtls requires a workload selector"),
    "only one of jwks or jwksUri can be set": re.compile(
        r"only one of jwks and jwksUri may be set"
    ),
    "url must have scheme http:// or https://": re.compile(r'invalid jwksUri "[^"]*"'),
    "only one of WorkloadSelector or Endpoints can be set": re.compile(
        r"only one of workloadSelector and endpoints may be set"
    ),
    "hostname cannot be wildcard": re.compile(r'host "\*" is not allowed here'),
    "wildcard is not supported in selector": re.compile(
        r'invalid tag value: "[^"]*\*[^"]*"|wildcard is not supported in selector: "[^"]*"'
    ),
    # the webhook's wording of rules both state (pilotfish.config.validation.webhook_twins)
    "Cannot set serviceAccounts with namespaces or principals": re.compile(
        r"cannot set serviceAccounts with namespaces or principals, found at rule \d+"
    ),
    "cross namespace referencing is not currently supported": re.compile(
        r"targetRef namespace must not be set; cross namespace referencing is not supported"
    ),
    "UDS may not be a dir": re.compile(r"\S* is not an absolute path to a file"),
    "UDS must be an absolute path or abstract socket": re.compile(
        r"\S* is not an absolute path to a file|unix address must not be empty"
    ),
    "Address is required": re.compile(r"address is required"),
    "UDS may not include ports": re.compile(r"unix endpoint \S+ must not include ports"),
    "NONE mode cannot set endpoints": re.compile(
        r"no endpoints should be provided for resolution type none"
    ),
    "value must be set when operation is UPSERT": re.compile(
        r"tagOverrides.value must be set when operation is UPSERT"
    ),
    "value must not be set when operation is REMOVE": re.compile(
        r"tagOverrides.value may only be set when operation is UPSERT"
    ),
}


def accepted(message: str, expected: str) -> bool:
    pattern = EQUIVALENT.get(expected)
    return message == expected or (pattern is not None and pattern.fullmatch(message) is not None)


@pytest.mark.parametrize(("kind", "spec", "path", "message"), cases())
def test_cel_rule_is_enforced(kind: str, spec: Any, path: str, message: str) -> None:
    assert path != "unmapped", f"CEL rule of {kind} not mapped to a check: {message}"
    found = errors_of(kind, spec)
    assert any(p == path and accepted(m, message) for p, m in found), found
