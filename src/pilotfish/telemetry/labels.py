"""Istio's standard metric labels, in Istio's order, and where each value comes from.

Every label of a report is one of:
- **fixed**: known at translation time (the reporter, the proxy's own identity, the protocol of
  the logger, the destination service of an inbound port, the security policy and principals of
  a plaintext chain);
- **packed peer fields**: the peer's seven identity labels, as learned (`exchange`: on the
  server side from the client's header, one dynamic-metadata value, or for TCP under mutual TLS
  from the control plane's table of the peer certificate's identity, `exchange.principal_table`;
  on the client side from the server endpoint's metadata): one tag (`PEER_TAGS`), one lookup;
- **dynamic**: per-request operators (`response_code`, principals from the certificates, ...).

All of them travel in ONE Envoy tag, `FIXED_TAG`: first each packed value as
`<PACK_CODES code>=<value>|`, then the fixed and dynamic labels as `code=value;...` (the dynamic
values as operators inside that format string, each label named by its one-letter
`LABEL_CODES`). Envoy's stats logger formats, copies and hashes every tag of every metric of every
request, so each tag saved is 3-5 string formats and symbol-table encodings per request, and each
character saved is copied and hashed 3-5 times less. A packed value never holds `|` (the peer
header keeps `[A-Za-z0-9._;-]`, `literal` removes it), so the packs end at the last `|` before
the labels.

No CEL runs per request unless a Telemetry `tagOverrides` asks for it. Envoy's `/stats` thus
holds packed series; `scrape.expand_lua` (15090, per scrape, not per request) unpacks them into
Istio's labels, in Istio's order, with Istio's `unknown` defaults.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from envoy.config.core.v3 import base_pb2
from google.protobuf import struct_pb2

from pilotfish.telemetry.exchange import FIELDS, Identity, peer_value, source_by_certificate

HTTP_LABELS = (
    "reporter",
    "source_workload",
    "source_canonical_service",
    "source_canonical_revision",
    "source_workload_namespace",
    "source_principal",
    "source_app",
    "source_version",
    "source_cluster",
    "destination_workload",
    "destination_workload_namespace",
    "destination_principal",
    "destination_app",
    "destination_version",
    "destination_service",
    "destination_canonical_service",
    "destination_canonical_revision",
    "destination_service_name",
    "destination_service_namespace",
    "destination_cluster",
    "request_protocol",
    "response_code",
    "grpc_response_status",
    "response_flags",
    "connection_security_policy",
)
# a label's name inside `FIXED_TAG`: one letter, by its place in Istio's order
LABEL_CODES = {label: chr(ord("a") + i) for i, label in enumerate(HTTP_LABELS)}
TCP_LABELS = tuple(
    label for label in HTTP_LABELS if label not in ("response_code", "grpc_response_status")
)

SERVICE_METADATA = "pilotfish.service"  # outbound cluster metadata: `labels` = host;name;namespace
ENDPOINT_METADATA = "pilotfish"  # endpoint metadata: `peer` = the workload's packed identity
UNKNOWN = "unknown"
LITERAL_MEMO = 16384  # `literal` values kept (label values: workload, service, namespace names)

FIXED_TAG = "pilotfish_fixed"
SERVICE_TAG = "pilotfish_service"
MESSAGES_TAG = "pilotfish_messages"  # gRPC calls: `request,response` message counts
PEER_TAGS = {"source": "pilotfish_source", "destination": "pilotfish_destination"}
# the packs inside `FIXED_TAG` (`code=value|`), named by the tag each once was
PACK_CODES = {PEER_TAGS["source"]: "S", PEER_TAGS["destination"]: "D", SERVICE_TAG: "V"}
PACK_END = "|"
# the label suffix of each packed identity field, in `exchange.FIELDS` order, and its default
PEER_SUFFIXES = dict(
    zip(
        FIELDS,
        (
            "workload",
            "workload_namespace",
            "canonical_service",
            "canonical_revision",
            "app",
            "version",
            "cluster",
        ),
        strict=True,
    )
)
SERVICE_LABELS = (
    "destination_service",
    "destination_service_name",
    "destination_service_namespace",
)
PRINCIPALS = ("source_principal", "destination_principal")  # empty (no certificate): unknown


def peer_default(field_name: str) -> str:
    """Istio's value for a peer field it knows nothing about."""
    return "latest" if field_name == "canonical_revision" else UNKNOWN


class Reporter(StrEnum):
    SOURCE = "source"  # the client sidecar, and gateways
    DESTINATION = "destination"  # the server sidecar


@dataclass(frozen=True)
class ServiceLabels:
    """The destination service of an inbound port, known at translation time."""

    host: str
    name: str
    namespace: str


@functools.lru_cache(maxsize=LITERAL_MEMO)
def literal(value: str) -> str:
    """A fixed value: never empty, and free of the characters the fixed tag's format uses (`%`
    starts an Envoy operator, `;`, `=` and `|` separate the packed labels). Memoised: a
    connect storm asks it ten times per connection manager (~35,000 times at 2,000 proxies)."""
    for separator in (";", "=", PACK_END):
        value = value.replace(separator, "_")
    return value.replace("%", "") or UNKNOWN


@dataclass(frozen=True)
class LabelPlan:
    """Where each label of one report comes from (see the module docstring)."""

    fixed: dict[str, str]
    packs: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)  # tag: fmt, labels
    dynamic: dict[str, str] = field(default_factory=dict)  # label: access-log operator

    def tags(
        self, removed: frozenset[str] = frozenset(), upserted: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The Envoy tags of one metric, after Telemetry `tagOverrides` (`removed` labels;
        `upserted`: label -> operator, which wins over a fixed or packed value): `FIXED_TAG`,
        and one tag per upserted label."""
        upserted = upserted or {}
        gone = removed | set(upserted)
        code = LABEL_CODES
        fixed = [f"{code[k]}={v}" for k, v in self.fixed.items() if k not in gone]
        measured = [f"{code[k]}={v}" for k, v in self.dynamic.items() if k not in gone]
        packed = [k for _, labels in self.packs.values() for k in labels]
        dropped = [f"!{code[k]}" for k in packed if k in removed]
        packs = "".join(
            f"{PACK_CODES[tag]}={fmt}{PACK_END}" for tag, (fmt, _) in self.packs.items()
        )
        return {FIXED_TAG: packs + (";".join(fixed + measured + dropped) or ";")} | dict(upserted)


def split_packs(value: str) -> tuple[dict[str, str], str]:
    """A `FIXED_TAG` value's packs (tag name: format) and the rest (its labels)."""
    tags = {code: tag for tag, code in PACK_CODES.items()}
    packs = {}
    while (code := value.partition("=")[0]) in tags and PACK_END in value:
        pack, _, value = value.partition(PACK_END)
        packs[tags[code]] = pack[len(code) + 1 :]
    return packs, value


def fixed_labels(value: str) -> dict[str, str]:
    """The labels a `FIXED_TAG` value sets (`name`: value) and drops (`!name`: ""), by name."""
    names = {c: label for label, c in LABEL_CODES.items()}
    out = {}
    for item in split_packs(value)[1].split(";"):
        key, _, v = item.partition("=")
        dropped = key.startswith("!")
        name = names.get(key.removeprefix("!"))
        if name is not None:
            out["!" + name if dropped else name] = v
    return out


def _local(prefix: str, me: Identity) -> dict[str, str]:
    return {
        f"{prefix}_{suffix}": literal(getattr(me, name)) for name, suffix in PEER_SUFFIXES.items()
    }


def _peer_pack(prefix: str, fmt: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    labels = tuple(f"{prefix}_{suffix}" for suffix in PEER_SUFFIXES.values())
    return {PEER_TAGS[prefix]: (fmt, labels)}


def label_plan(
    reporter: Reporter,
    me: Identity,
    service: ServiceLabels | None,
    *,
    protocol: str,
    mtls: bool | None = None,
) -> LabelPlan:
    """One report's labels. `protocol`: `http`, `grpc` or `tcp` (one logger per protocol).
    `mtls`: whether the inbound filter chain terminates Istio mutual TLS (None: not known,
    decided per connection)."""
    tcp = protocol == "tcp"
    fixed: dict[str, str] = {"reporter": reporter.value, "request_protocol": protocol}
    dynamic: dict[str, str] = {}
    if reporter is Reporter.DESTINATION:
        if tcp and mtls:  # the client from its certificate (`exchange.principal_table`)
            packs = _peer_pack("source", source_by_certificate())
        elif tcp:  # no headers and no certificate to learn the client from: Istio's unknown peer
            fixed |= {f"source_{s}": peer_default(n) for n, s in PEER_SUFFIXES.items()}
            packs = {}
        else:
            packs = _peer_pack("source", peer_value())
        fixed |= _local("destination", me)
        target = service or ServiceLabels(me.canonical_service, me.canonical_service, me.namespace)
        fixed["destination_service"] = literal(target.host)
        fixed["destination_service_name"] = literal(target.name)
        fixed["destination_service_namespace"] = literal(me.namespace)
        if mtls is False:
            fixed |= dict.fromkeys(PRINCIPALS, UNKNOWN)
            fixed["connection_security_policy"] = "none"
        else:
            dynamic["source_principal"] = "%DOWNSTREAM_PEER_URI_SAN%"
            dynamic["destination_principal"] = "%DOWNSTREAM_LOCAL_URI_SAN%"
            if mtls:
                fixed["connection_security_policy"] = "mutual_tls"
            else:
                dynamic["connection_security_policy"] = (
                    "%CEL(connection.mtls ? 'mutual_tls' : 'none')%"
                )
    else:
        fixed |= _local("source", me)
        # the server: its endpoint's metadata (`endpoint_fields`), HTTP and TCP alike
        packs = _peer_pack("destination", f"%UPSTREAM_METADATA({ENDPOINT_METADATA}:peer)%")
        packs[SERVICE_TAG] = (f"%CLUSTER_METADATA({SERVICE_METADATA}:labels)%", SERVICE_LABELS)
        dynamic["source_principal"] = "%UPSTREAM_LOCAL_URI_SAN%"
        dynamic["destination_principal"] = "%UPSTREAM_PEER_URI_SAN%"
        fixed["connection_security_policy"] = UNKNOWN  # Istio: always unknown client side
    if not tcp:
        dynamic["response_code"] = "%RESPONSE_CODE%"
        dynamic["grpc_response_status"] = "%GRPC_STATUS_NUMBER%"
    dynamic["response_flags"] = "%RESPONSE_FLAGS%"
    return LabelPlan(fixed, packs, dynamic)


def _pack(*values: str) -> str:
    return ";".join(literal(v) for v in values)


def service_metadata(host: str, name: str, namespace: str, port: int = 0) -> base_pb2.Metadata:
    """Cluster metadata the client side reads `destination_service*` from, packed in one value
    (Istio keeps the same facts in `istio.services`), and the service port (`port`, a string),
    Istio's client-side `destination.port` (`metrics.client_cel`)."""
    fields = struct_pb2.Struct()
    fields.update({"labels": _pack(host, name, namespace)} | ({"port": str(port)} if port else {}))
    metadata = base_pb2.Metadata()
    metadata.filter_metadata[SERVICE_METADATA].CopyFrom(fields)
    return metadata


def endpoint_fields(me: Identity) -> dict[str, str]:
    """Endpoint metadata (under `ENDPOINT_METADATA`) a client reads its server from: the same
    packed identity a client sends a server in its header."""
    return {"peer": me.header_value()}
