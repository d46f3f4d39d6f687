"""Istio's `istio` filter metadata: which Istio config a route or cluster was built from.

istiod writes it and `istioctl proxy-config` reads it back from the proxy's config dump (the
VIRTUAL SERVICE column of the route table, the DESTINATION RULE column of the cluster table);
telemetry reads a cluster's `services`. As Istio writes it (`pilot/pkg/networking/util`
`AddConfigInfoMetadata`, `core/route/route.go` `TranslateRoute`, `core/cluster_builder.go`
`buildCluster`/`applyDestinationRule`/`buildSubsetCluster`):

- `config`: `/apis/<group>/<version>/namespaces/<ns>/<kebab-kind>/<name>`, the version the one
  istiod reads the kind at (`networking.istio.io/v1` for VirtualService and DestinationRule,
  whichever version the object was written in: the API server serves it as v1).
- every HTTP route made from a VirtualService: `config` naming it (a delegate's routes name the
  root VirtualService, whose merged copy they are in; Gateway API routes the VirtualService
  istiod makes of them); routes made from no VirtualService (the default route, the catch-alls)
  carry none.
- every outbound cluster of a service: `services` [{host, name, namespace}]; with the
  DestinationRule that applies, `config` naming it and, when its TLS mode is SIMPLE or
  MUTUAL, `alpn_override: "false"`; a subset's cluster also `subset`; a MESH_EXTERNAL
  service's `external: true`.
- an inbound cluster: `services`, those targeting its port (not for a `Sidecar` ingress port,
  whose service Istio finds or makes up; nor `config`: the DestinationRule policy Istio applies
  there is not applied here).
- sidecar outbound TCP/TLS filter chains made from a VirtualService route: `config` naming it.

`default_original_port` (on outbound clusters up to Istio 1.17) is gone from Istio since 1.18
(istio/istio#42903): not written. Pure; one home for the path and the field names.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from envoy.config.core.v3 import base_pb2
from google.protobuf import struct_pb2

from pilotfish.config.objects import ConfigMeta
from pilotfish.registry.types import Service

ISTIO_METADATA_KEY = "istio"
"""Istio's `util.IstioMetadataKey`: the filter metadata key of everything here."""
CONFIG = "config"
ISTIO_VERSIONS = {"networking.istio.io": "v1"}
"""The version istiod reads each group's kinds at (`pkg/config/schema/gvk`), but those
below."""
KIND_VERSIONS = {"EnvoyFilter": "v1alpha3", "ProxyConfig": "v1beta1"}
TLS_OWN_ALPN = frozenset({"SIMPLE", "MUTUAL"})
"""TLS modes whose clusters get `alpn_override: "false"` (`util.AddALPNOverrideToMetadata`)."""


@functools.lru_cache(maxsize=64)
def _kebab(kind: str) -> str:
    """Istio's `gvk.KebabKind`: `VirtualService` -> `virtual-service`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", kind).lower()


def config_path(meta: ConfigMeta) -> str:
    """The `config` value naming the object of `meta` (`AddConfigInfoMetadata`)."""
    gvk = meta.gvk
    version = KIND_VERSIONS.get(gvk.kind) or ISTIO_VERSIONS.get(gvk.group) or gvk.version
    return _path(gvk.group, version, meta.namespace, _kebab(gvk.kind), meta.name)


@functools.lru_cache(maxsize=65536)
def _path(group: str, version: str, namespace: str, kebab: str, name: str) -> str:
    return f"/apis/{group}/{version}/namespaces/{namespace}/{kebab}/{name}"


def set_config(metadata: base_pb2.Metadata, path: str) -> None:
    """Add `istio.config: path` to `metadata` (a route's, a filter chain's)."""
    metadata.filter_metadata[ISTIO_METADATA_KEY].fields[CONFIG].string_value = path


@functools.lru_cache(maxsize=65536)
def config_metadata(path: str) -> base_pb2.Metadata:
    """Metadata with only `istio.config: path`, built once: copy it (`CopyFrom`, one call where
    `set_config` makes three: routes are many), never change it."""
    metadata = base_pb2.Metadata()
    set_config(metadata, path)
    return metadata


def _describe(services: struct_pb2.ListValue, service: Service) -> None:
    described = services.values.add().struct_value.fields
    described["host"].string_value = service.hostname
    described["name"].string_value = service.name
    described["namespace"].string_value = service.namespace


def add_inbound_metadata(
    metadata: base_pb2.Metadata, targets: Sequence[tuple[Service, int]]
) -> None:
    """An inbound cluster's `istio.services`, as Istio's `addTelemetryMetadata`: `targets`
    (service, service port) target its port; the first decides (none if it is
    MESH_EXTERNAL), and every service of the same service port number is listed once."""
    if not targets or targets[0][0].mesh_external:
        return
    services = metadata.filter_metadata[ISTIO_METADATA_KEY].fields["services"].list_value
    seen: set[str] = set()
    for service, port in targets:
        if port == targets[0][1] and service.hostname not in seen:
            seen.add(service.hostname)
            _describe(services, service)


def add_cluster_metadata(
    metadata: base_pb2.Metadata,
    service: Service,
    *,
    rule: str = "",
    subset: str = "",
    tls_mode: object = None,
) -> None:
    """An outbound cluster's `istio` metadata: its service; `rule` the applying
    DestinationRule's `config_path` ("" for none), `subset` the subset's name, `tls_mode` the
    cluster's DestinationRule TLS mode. Field by field (a third of `Struct.update`'s cost)."""
    istio = metadata.filter_metadata[ISTIO_METADATA_KEY].fields
    _describe(istio["services"].list_value, service)
    if service.mesh_external:
        istio["external"].bool_value = True
    if rule:
        istio[CONFIG].string_value = rule
        if subset:
            istio["subset"].string_value = subset
        if tls_mode in TLS_OWN_ALPN:
            istio["alpn_override"].string_value = "false"


def config_of(metadata: base_pb2.Metadata) -> str:
    """The `istio.config` value `metadata` carries ("" for none)."""
    found = metadata.filter_metadata.get(ISTIO_METADATA_KEY)
    value = found.fields.get(CONFIG) if found is not None else None
    return value.string_value if value is not None else ""
