"""Peer metadata exchange, as Istio's `istio.metadata_exchange` does it over HTTP, with
standard Envoy pieces.

Requests: the client's sidecar sets one header with its own identity, overwriting whatever the
app sent, so an app cannot pose as another workload; the server's sidecar copies the value into
dynamic metadata (`PEER_NAMESPACE`/`PEER_KEY`) with `header_to_metadata` and removes the header,
so apps never see it. Responses carry nothing: the client learns the server from the endpoint
its request went to (EDS metadata, `labels.ENDPOINT_METADATA`: the same packed identity, what
Istio's stats fall back to from its `istio.workload` endpoint metadata), as its TCP metrics do.
That saves a response header on every server and a `header_to_metadata` filter on every client
(measured: BENCHMARKS.md, "The generated pair, cheaper"). The metric labels unpack the fields
(`labels`); a missing header or field becomes `unknown` (`latest` for the canonical revision),
Istio's defaults for a peer it knows nothing about.

When no server of the mesh reads the header (every request metric off on the server side,
`policy.peers_exchanged`), nothing of this is generated: no client sends it, no server reads or
removes it. Istio keeps its exchange filter whatever the metrics; here nothing else reads the
peer (access logs and spans do not), so that is a saving nobody can see (BENCHMARKS.md,
"Nothing sent that nobody reads").

Header value: `workload;namespace;canonical service;canonical revision;app;version;cluster`.

The server's reading rewrites the value to the characters a sidecar sends (`[A-Za-z0-9._;-]`)
only on chains a client outside the mesh can reach (plaintext): on an Istio mTLS chain the peer
is a sidecar, which sends nothing else (`Identity.header_value`), so the regex is skipped there.

Where the proxy's own identity is written (Istio keeps it in the node's metadata, read by its
metadata-exchange filter, so route configurations stay the same for every proxy that sees the
same routes): by a header-mutation filter in the proxy's own outbound and gateway connection
managers (`identity_filter`), kept off routes to hosts outside the mesh (`identity_off`).

TCP (`principal_table`, `source_by_certificate`): Istio's sidecars exchange their metadata over
TCP inside the mutual TLS stream (ALPN `istio-peer-exchange`, a filter of Istio's own build).
The standard build has nothing that sends bytes ahead of a TCP stream inside TLS, so the server
finds its client from what the handshake already proved: the peer certificate's SPIFFE URI (its
namespace and service account). The control plane knows which workloads run under each identity
and sends that table (`principal_table`) in the metadata of the inbound clusters a TCP proxy
forwards to (cluster metadata, not the listener: a new workload elsewhere then changes those
clusters, and open connections are not drained as a listener change would drain them). The
server's TCP metric loggers read the entry of the connection's certificate
(`source_by_certificate`: one CEL lookup per connection report, never per byte); such a server
connects to its app only once the handshake is done (`translate.observability`), so even the
opening report knows the client.

Nothing a client sends is read: the key is the certificate the mesh's CA issued and the TLS
handshake verified, so a client can be nobody but a workload of its own identity, and nothing
authorization sees (addresses, principals) is touched. When workloads of different names share a
service account (Bookinfo's `reviews` versions share `bookinfo-reviews`), the fields they do not
share are left empty, which the labels print as Istio's `unknown` (`latest` for the revision):
the certificate cannot tell them apart. A plaintext connection has no certificate: its client is
Istio's unknown peer, as Istio's (its exchange needs mutual TLS too).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from envoy.config.common.mutation_rules.v3 import mutation_rules_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.extensions.filters.http.header_mutation.v3 import header_mutation_pb2
from envoy.extensions.filters.http.header_to_metadata.v3 import header_to_metadata_pb2 as h2m_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.type.matcher.v3 import regex_pb2
from google.protobuf import struct_pb2

from pilotfish.model.proxy import Proxy
from pilotfish.telemetry.envoy import pack

PEER_HEADER = "x-pilotfish-peer-metadata"
PEER_NAMESPACE = "pilotfish.peer"
PEER_KEY = "identity"
FILTER_NAME = "envoy.filters.http.header_to_metadata"
IDENTITY_FILTER = "pilotfish.peer_identity"  # the header-mutation filter sending the identity
DEFAULT_CLUSTER_ID = "Kubernetes"  # Istio's CLUSTER_ID default (global.multiCluster.clusterName)
FIELDS = (
    "workload",
    "namespace",
    "canonical_service",
    "canonical_revision",
    "app",
    "version",
    "cluster",
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")  # never inside a field (`;` separates them)
_UNSENT = re.compile(r"[^A-Za-z0-9._;-]+")  # never in a header a sidecar sends


@dataclass(frozen=True)
class Identity:
    """What a proxy tells its peers (and reports as the local side of its own metrics)."""

    workload: str
    namespace: str
    canonical_service: str
    canonical_revision: str
    app: str
    version: str
    cluster: str = DEFAULT_CLUSTER_ID

    def header_value(self) -> str:
        """Empty fields travel as `unknown`, what Istio reports for a peer label it lacks."""
        return ";".join(_UNSAFE.sub("_", getattr(self, name)) or "unknown" for name in FIELDS)


def identity_of(proxy: Proxy) -> Identity:
    return identity(proxy.label_map, proxy.workload or proxy.instance, proxy.namespace)


def identity(labels: Mapping[str, str], workload: str, namespace: str) -> Identity:
    """Istio's canonical names: the `service.istio.io/canonical-*` labels, else
    `app.kubernetes.io/name|version`, else `app`|`version`, else the workload name|`latest`."""
    service = (
        labels.get("service.istio.io/canonical-name")
        or labels.get("app.kubernetes.io/name")
        or labels.get("app")
        or workload
    )
    revision = (
        labels.get("service.istio.io/canonical-revision")
        or labels.get("app.kubernetes.io/version")
        or labels.get("version")
        or "latest"
    )
    return Identity(
        workload=workload,
        namespace=namespace,
        canonical_service=service,
        canonical_revision=revision,
        app=labels.get("app", ""),
        version=labels.get("version", ""),
    )


def _header(value: str) -> base_pb2.HeaderValueOption:
    """Overwrites whatever the app sent under that name: an app cannot pose as another."""
    return base_pb2.HeaderValueOption(
        header=base_pb2.HeaderValue(key=PEER_HEADER, value=value),
        append_action=base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD,
    )


def identity_filter(me: Identity, read: str = "") -> hcm_pb2.HttpFilter:
    """Outbound and gateways: `me` on every request sent (a filter of the proxy's own listener,
    so the route configurations it uses can be shared with other proxies); `read`: the
    formatter operator that gives the same value at run time (`identity_env`), if any."""
    return sending_filter(read or me.header_value())


def sending_filter(value: str) -> hcm_pb2.HttpFilter:
    """`identity_filter` sending `value` (a header value, formatter operators allowed)."""
    mutation = mutation_rules_pb2.HeaderMutation(append=_header(value))
    config = header_mutation_pb2.HeaderMutation(
        mutations=header_mutation_pb2.Mutations(request_mutations=[mutation])
    )
    return hcm_pb2.HttpFilter(name=IDENTITY_FILTER, typed_config=pack(config))


def identity_off(route: rc_pb2.Route) -> None:
    """Keep the proxy's identity off a route to a host outside the mesh (Istio sends its
    metadata only to mesh clusters): `identity_filter` turned off on the route, and the header
    removed by the route itself. The removal is what holds: Envoy decides which filters a
    request runs when it creates the request's filter chain, from the route known then, and a
    request that fetches its virtual host on demand (VHDS) or is routed again later has none
    yet, so the filter still runs for it (measured: tests/e2e/test_external_services.py)."""
    route.typed_per_filter_config[IDENTITY_FILTER].CopyFrom(
        pack(rc_pb2.FilterConfig(disabled=True))
    )
    if PEER_HEADER not in route.request_headers_to_remove:
        route.request_headers_to_remove.append(PEER_HEADER)


def _rules(sanitize: bool) -> list[h2m_pb2.Config.Rule]:
    """One rule: the whole header into one metadata value (the labels unpack it at scrape time,
    not per request). With `sanitize`, any character a sidecar never sends is removed, so a
    client outside the mesh cannot break the packing."""
    value = h2m_pb2.Config.KeyValuePair(metadata_namespace=PEER_NAMESPACE, key=PEER_KEY)
    if sanitize:
        value.regex_value_rewrite.CopyFrom(
            regex_pb2.RegexMatchAndSubstitute(
                pattern=regex_pb2.RegexMatcher(regex=_UNSENT.pattern), substitution=""
            )
        )
    return [h2m_pb2.Config.Rule(header=PEER_HEADER, on_header_present=value, remove=True)]


def downstream_peer_filter(*, from_sidecar: bool = False) -> hcm_pb2.HttpFilter:
    """Inbound: learn the client from the request header (and remove it). `from_sidecar`: the
    chain takes only Istio mTLS, so the header comes from a sidecar (no rewrite)."""
    config = h2m_pb2.Config(request_rules=_rules(sanitize=not from_sidecar))
    return hcm_pb2.HttpFilter(name=FILTER_NAME, typed_config=pack(config))


def peer_value() -> str:
    """The access-log operator that reads the client a server learned (its packed header value;
    empty when the peer sent none: every field is then Istio's default)."""
    return f"%DYNAMIC_METADATA({PEER_NAMESPACE}:{PEER_KEY})%"


PEERS_METADATA = "pilotfish.peers"  # inbound cluster metadata: SPIFFE URI -> packed identity
UNKNOWN_PEER = "unknown"  # a certificate not in the table: every field its default


def principal_table(
    workloads: Iterable[tuple[str, Identity]],
) -> dict[str, str]:
    """SPIFFE URI -> the packed identity (`Identity.header_value`) of the workloads running
    under it; a field the workloads of one URI do not agree on is left empty."""
    found: dict[str, list[Identity]] = {}
    for uri, who in workloads:
        found.setdefault(uri, [])
        if who not in found[uri]:
            found[uri].append(who)
    table = {}
    for uri, identities in sorted(found.items()):
        packed = [_packed(who) for who in identities]
        shared = [
            values[0] if len(set(values)) == 1 else "" for values in zip(*packed, strict=True)
        ]
        table[uri] = ";".join(shared)
    return table


@functools.lru_cache(maxsize=16384)
def _packed(who: Identity) -> list[str]:
    return who.header_value().split(";")


def cluster_metadata(table: Mapping[str, str]) -> base_pb2.Metadata:
    """The table as inbound cluster metadata (`PEERS_METADATA`)."""
    fields = struct_pb2.Struct()
    fields.update(dict(table))
    metadata = base_pb2.Metadata()
    metadata.filter_metadata[PEERS_METADATA].CopyFrom(fields)
    return metadata


_TABLE = f"xds.cluster_metadata.filter_metadata['{PEERS_METADATA}']"
_URI = "connection.uri_san_peer_certificate"


def source_by_certificate() -> str:
    """The access-log operator that reads the client of a mutual TLS connection from the
    table: its packed identity, `unknown` for a certificate the table does not list."""
    has_table = f"'{PEERS_METADATA}' in xds.cluster_metadata.filter_metadata"
    expression = f"{has_table} && {_URI} in {_TABLE} ? {_TABLE}[{_URI}] : '{UNKNOWN_PEER}'"
    return f"%CEL({expression})%"
