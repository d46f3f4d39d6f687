"""`explain`: why requests failed. Failed access log entries are grouped by what happened
(response flags, code, destination); each group gets its flags in plain words and the config
object responsible, looked up in the control plane's `PushContext` with the model's own rules
(`destination_rule`, `mesh_virtual_services`), never recomputed here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pilotfish.config.hosts import host_matches, resolve_host
from pilotfish.config.objects import ConfigObject
from pilotfish.model.push_context import PushContext
from pilotfish.ui.access_log import Entry
from pilotfish.ui.flags import RBAC_DENIED, RBAC_WORDS, describe_flags

_RBAC_POLICY = re.compile(r"ns\[([^\]]*)\]-policy\[([^\]]*)\]-rule\[(\d+)\]")
POOL_FLAGS = {"UO", "UC", "DT", "SI", "UMSDR"}


@dataclass(frozen=True)
class Culprit:
    kind: str
    namespace: str
    name: str
    field: str  # spec path, e.g. spec.trafficPolicy.connectionPool
    detail: str  # the setting, e.g. "http: {http1MaxPendingRequests: 1}"

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name,
                "field": self.field, "detail": self.detail}  # fmt: skip


@dataclass
class Finding:
    flags: str
    code: int
    destination: str  # host, with |subset when one
    direction: str  # outbound (this proxy called) or inbound (this proxy was called)
    count: int = 0
    last_time: str = ""
    example: str = ""
    words: list[str] = field(default_factory=list)
    culprits: list[Culprit] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "flags": self.flags, "code": self.code, "destination": self.destination,
            "direction": self.direction, "count": self.count, "last_time": self.last_time,
            "example": self.example, "words": self.words,
            "culprits": [c.as_json() for c in self.culprits],
        }  # fmt: skip


def _dump(model: Any) -> str:
    data = model.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)
    return _flow(data)


def _flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return str(value)


def destination_of(entry: Entry, namespace: str) -> tuple[str, str, int]:
    """(host, subset, port) the request was for: the upstream cluster when Envoy chose one
    (`outbound|9080|v1|reviews.default.svc.cluster.local`), else the authority."""
    parts = entry.upstream_cluster.split("|")
    if len(parts) == 4 and parts[0] == "outbound":
        return parts[3], parts[2], int(parts[1]) if parts[1].isdigit() else 0
    host, _, port = entry.authority.partition(":")
    if host in ("", "-"):
        return "", "", 0
    return resolve_host(host, namespace), "", int(port) if port.isdigit() else 0


def _meta(config: ConfigObject[Any]) -> tuple[str, str, str]:
    return config.meta.kind, config.meta.namespace, config.meta.name


def pool_culprit(rule: ConfigObject[Any], subset: str, port: int) -> Culprit | None:
    """The connectionPool Envoy applied: the subset's, else the port's, else the rule's."""
    spec = rule.spec
    for i, s in enumerate(spec.subsets):
        policy = s.traffic_policy
        if s.name == subset and policy is not None and policy.connection_pool is not None:
            path = f"spec.subsets[{i}].trafficPolicy.connectionPool"
            return Culprit(*_meta(rule), path, _dump(policy.connection_pool))
    top = spec.traffic_policy
    if top is None:
        return None
    for i, p in enumerate(top.port_level_settings):
        if p.port and p.port.number == port and p.connection_pool is not None:
            path = f"spec.trafficPolicy.portLevelSettings[{i}].connectionPool"
            return Culprit(*_meta(rule), path, _dump(p.connection_pool))
    if top.connection_pool is not None:
        path = "spec.trafficPolicy.connectionPool"
        return Culprit(*_meta(rule), path, _dump(top.connection_pool))
    return None


def _virtual_services(push: PushContext, host: str) -> Iterator[ConfigObject[Any]]:
    for vs in push.mesh_virtual_services():
        hosts = [resolve_host(h, vs.meta.namespace) for h in vs.spec.hosts or ()]
        if any(host_matches(h, host) for h in hosts):
            yield vs


def vs_culprits(push: PushContext, host: str, flag: str, code: int) -> list[Culprit]:
    found = []
    for vs in _virtual_services(push, host):
        for i, route in enumerate(vs.spec.http):
            fault = route.fault
            if flag == "FI" and fault and fault.abort:
                if fault.abort.http_status in (None, code):
                    found.append(Culprit(*_meta(vs), f"spec.http[{i}].fault.abort",
                                         _dump(fault.abort)))  # fmt: skip
            elif flag == "DI" and fault and fault.delay:
                found.append(Culprit(*_meta(vs), f"spec.http[{i}].fault.delay", _dump(fault.delay)))
            elif flag == "UT" and route.timeout:
                found.append(Culprit(*_meta(vs), f"spec.http[{i}].timeout", route.timeout))
            elif flag == "URX" and route.retries:
                found.append(Culprit(*_meta(vs), f"spec.http[{i}].retries", _dump(route.retries)))
            elif flag == "NR" and route.match:
                found.append(Culprit(*_meta(vs), f"spec.http[{i}].match", _dump(route.match[0])))
    return found


def subset_culprits(
    push: PushContext, host: str, subset: str, namespace: str, labels: Mapping[str, str]
) -> list[Culprit]:
    """A subset that no DestinationRule defines (NC), or whose labels select no pod (UH)."""
    rule = push.destination_rule_for(host, namespace, labels)
    if rule is None:
        return [
            Culprit(*_meta(vs), f"spec.http[{i}].route[{j}].destination.subset",
                    f"subset {d.destination.subset!r} of {host}, but no DestinationRule for it")
            for vs in _virtual_services(push, host)
            for i, r in enumerate(vs.spec.http)
            for j, d in enumerate(r.route)
            if d.destination and d.destination.subset
        ]  # fmt: skip
    names = [s.name for s in rule.spec.subsets]
    if subset and subset not in names:
        return [Culprit(*_meta(rule), "spec.subsets", f"has {names}, not {subset!r}")]
    for i, s in enumerate(rule.spec.subsets):
        if s.name == subset:
            labels = dict(s.labels)
            if not any(all(inst.label_map.get(k) == v for k, v in labels.items())
                       for inst in push.registry.instances):  # fmt: skip
                return [Culprit(*_meta(rule), f"spec.subsets[{i}].labels",
                                f"{_flow(labels)} selects no workload")]  # fmt: skip
    policy = rule.spec.traffic_policy
    if policy is not None and policy.outlier_detection is not None:
        path = "spec.trafficPolicy.outlierDetection"
        return [Culprit(*_meta(rule), path, _dump(policy.outlier_detection))]
    return []


def rbac_culprits(push: PushContext, details: str) -> list[Culprit]:
    match = _RBAC_POLICY.search(details)
    if match is None:
        return [Culprit("AuthorizationPolicy", "", "", "spec.rules",
                        "no ALLOW policy matched the request (or a DENY matched)")]  # fmt: skip
    namespace, name, rule = match.group(1), match.group(2), int(match.group(3))
    for policy in push.kind("AuthorizationPolicy"):
        if (policy.meta.namespace, policy.meta.name) == (namespace, name):
            action = getattr(policy.spec, "action", None) or "ALLOW"
            return [Culprit(*_meta(policy), f"spec.rules[{rule}]", f"action {action}")]
    return [Culprit("AuthorizationPolicy", namespace, name, f"spec.rules[{rule}]", "")]


def culprits_for(
    entry: Entry, push: PushContext, namespace: str, labels: Mapping[str, str]
) -> list[Culprit]:
    """The config objects behind one failed request of a proxy in `namespace` with `labels`
    (its DestinationRule is the one that proxy applies: a `workloadSelector` one when its
    labels match, as istiod picks)."""
    host, subset, port = destination_of(entry, namespace)
    if entry.response_code_details.startswith(RBAC_DENIED):
        return rbac_culprits(push, entry.response_code_details)
    found: list[Culprit] = []
    for flag in (f.code for f in describe_flags(entry.response_flags)):
        if flag in POOL_FLAGS and host:
            rule = push.destination_rule_for(host, namespace, labels)
            culprit = pool_culprit(rule, subset, port) if rule is not None else None
            found += [culprit] if culprit else []
        elif flag in ("FI", "DI", "UT", "URX", "NR") and host:
            found += vs_culprits(push, host, flag, entry.response_code)
        elif flag in ("UH", "NC") and host:
            found += subset_culprits(push, host, subset, namespace, labels)
        elif flag == "UAEX":
            found += [
                Culprit(*_meta(p), "spec.action", "CUSTOM")
                for p in push.kind("AuthorizationPolicy")
                if getattr(p.spec, "action", None) == "CUSTOM"
            ]
    return list(dict.fromkeys(found))


def explain(
    entries: Iterable[Entry],
    push: PushContext,
    namespace: str,
    labels: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Failed requests of one proxy (in `namespace`, with the pod's `labels`), grouped, newest
    group first."""
    groups: dict[tuple[str, int, str, str, str], Finding] = {}
    for entry in entries:
        if not entry.failed:
            continue
        host, subset, _ = destination_of(entry, namespace)
        where = f"{host}|{subset}" if subset else host
        direction = "inbound" if entry.upstream_cluster.startswith("inbound|") else "outbound"
        key = (entry.response_flags, entry.response_code, where, direction,
               entry.response_code_details)  # fmt: skip
        finding = groups.get(key)
        if finding is None:
            finding = groups[key] = Finding(entry.response_flags, entry.response_code, where,
                                            direction)  # fmt: skip
            finding.words = [f"{f.code}: {f.words}" for f in describe_flags(entry.response_flags)]
            if entry.response_code_details.startswith(RBAC_DENIED):
                finding.words.append(f"{entry.response_code}: {RBAC_WORDS}")
            finding.culprits = culprits_for(entry, push, namespace, labels or {})
        finding.count += 1
        finding.last_time = entry.start_time
        finding.example = f"{entry.method} {entry.authority}{entry.path} -> {entry.response_code}"
    return sorted(groups.values(), key=lambda f: f.last_time, reverse=True)


NO_LOGS = (
    "no access log lines to read: turn Istio's access logs on (mesh config "
    "`accessLogFile: /dev/stdout`, or a Telemetry `accessLogging` rule) and try again"
)


def render(pod: str, findings: Sequence[dict[str, Any]], logged: int = 1) -> list[str]:
    """The text `pilotfish x explain POD` prints, from findings as JSON (`Finding.as_json`);
    `logged` is how many access log lines were read."""
    if not logged:
        return [f"{pod}: {NO_LOGS}"]
    if not findings:
        return [f"{pod}: no failed requests in its recent access log"]
    total = sum(int(f["count"]) for f in findings)
    lines = [f"{pod}: {total} failed request(s) in its recent access log"]
    for f in findings:
        lines.append("")
        lines.append(
            f"{f['count']} x {f['direction']} to {f['destination'] or '?'}: {f['code']} "
            f"{f['flags']}  ({f.get('pod', pod)}, last {f['last_time']}, e.g. {f['example']})"
        )
        lines += [f"  {w}" for w in f["words"]]
        for c in f["culprits"]:
            name = f"{c['namespace']}/{c['name']}" if c["name"] else "(none)"
            lines.append(f"  caused by {c['kind']} {name} at {c['field']}: {c['detail']}")
        if not f["culprits"]:
            lines.append("  no mesh config stands behind it (the app or the network did this)")
    return lines
