"""EnvoyFilter: Istio's `configPatches` applied to what translation built for one proxy.

Which apply (Istio's `PushContext.EnvoyFilters`): the EnvoyFilters of the mesh's root namespace
and of the proxy's namespace whose workloadSelector selects the proxy's labels (no selector:
every proxy there); one with targetRefs applies to no proxy, as in Istio. They apply in order of
priority, then the root namespace's first, then creation time, then `name.namespace`; of each,
the patches whose `match.proxy` fits the proxy. These proxies report no Istio version and no
node metadata to match, so a patch with a `proxyVersion` or `metadata` match fits none of them
(Istio's rule for a proxy without them); `config.unenforced` says so at apply.

What is patched: a gateway's whole configuration (context GATEWAY); a sidecar's listeners
(inbound: SIDECAR_INBOUND, the others SIDECAR_OUTBOUND), route configurations and clusters
(`inbound|...`: SIDECAR_INBOUND), and what patches ADD. A sidecar's outbound routes and service
clusters are shared with every sidecar that sees the same services (and come on demand): one
that a patch may change (`patches_shared_parts`) gets them as its own part instead, nothing on
demand. Its one `http_proxy` route configuration serves every port, so a `portNumber` match
selects its virtual hosts of that port (`host:port`); a ROUTE_CONFIGURATION merge with a
`portNumber` has nothing to apply to there (`config.unenforced` says so). The operations are
Istio's (envoyfilter package): listeners in `envoy_filter_listeners`, route configurations in
`envoy_filter_routes`, clusters here. MERGE is a proto merge whose Durations are replaced
whole (`merge`).
Pure: it patches copies and never changes a message it is given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from google.protobuf.message import Message

from pilotfish.config.kinds import ENVOY_FILTER
from pilotfish.config.models.networking.envoy_filter import (
    APPLY_TO,
    CONTEXTS,
    OPERATIONS,
    EnvoyConfigObjectMatch,
    enum_name,
)
from pilotfish.config.objects import ConfigObject
from pilotfish.config.validation.envoy_values import parsed_value
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate.resources import ProxyResources
from pilotfish.type_urls import CLUSTER, LISTENER, ROUTE

INSERTS = ("INSERT_BEFORE", "INSERT_AFTER", "INSERT_FIRST")
_INSERTABLE = ("HTTP_FILTER", "NETWORK_FILTER", "HTTP_ROUTE")
_DURATION = "google.protobuf.Duration"


@dataclass(frozen=True)
class ConfigPatch:
    """One patch of one EnvoyFilter, its enums by name and its value as an Envoy message."""

    apply_to: str
    context: str
    operation: str
    match: EnvoyConfigObjectMatch
    value: Message | None
    source: str  # namespace/name of its EnvoyFilter


def config_patches(envoy_filter: ConfigObject[Any]) -> tuple[ConfigPatch, ...]:
    """The patches of one EnvoyFilter, as istiod reads them (INSERT_* on anything but filters
    and routes is ADD; a patch whose value does not parse has none)."""
    out = []
    source = f"{envoy_filter.meta.namespace}/{envoy_filter.meta.name}"
    for cp in envoy_filter.spec.config_patches:
        apply_to = enum_name(cp.apply_to, APPLY_TO)
        operation = enum_name(cp.patch.operation if cp.patch else None, OPERATIONS)
        if operation in INSERTS and apply_to not in _INSERTABLE:
            operation = "ADD"
        raw = cp.patch.value if cp.patch else None
        value = parsed_value(apply_to, raw) if raw is not None else None
        match = cp.match or EnvoyConfigObjectMatch()
        context = enum_name(match.context, CONTEXTS)
        out.append(ConfigPatch(apply_to, context, operation, match, value, source))
    return tuple(out)


def patches_for(proxy: Proxy, push: PushContext) -> dict[str, list[ConfigPatch]]:
    """applyTo -> the patches that apply to `proxy`, in Istio's order ({} for none); made
    once per push context for each namespace and label set (never mutate it)."""
    if not push.kind(ENVOY_FILTER):
        return {}
    key = ("pilotfish.envoy_filters.for", proxy.namespace, proxy.labels)
    return push.memoized(key, partial(_patches_for, proxy, push))


def patches_shared_parts(proxy: Proxy, push: PushContext) -> bool:
    """Whether a patch that applies to sidecar `proxy` may change a route configuration or
    cluster it would share with other sidecars (context ANY or SIDECAR_OUTBOUND): then it gets
    them as its own part, none on demand (`generate.generate_parts`, `on_demand.applies`)."""
    if proxy.is_gateway or not push.kind(ENVOY_FILTER):
        return False
    patches = patches_for(proxy, push)
    return any(
        p.context in ("ANY", "SIDECAR_OUTBOUND")
        and not (kind == "CLUSTER" and p.operation == "ADD")
        for kind in _SHARED_KINDS
        for p in patches.get(kind, [])
    )


_SHARED_KINDS = ("ROUTE_CONFIGURATION", "VIRTUAL_HOST", "HTTP_ROUTE", "CLUSTER")


def _patches_for(proxy: Proxy, push: PushContext) -> dict[str, list[ConfigPatch]]:
    envoy_filters = push.kind(ENVOY_FILTER)
    root = push.mesh.root_namespace
    labels = proxy.label_map
    chosen = [
        f
        for f in envoy_filters
        if f.meta.namespace in (root, proxy.namespace)
        and not f.spec.target_refs
        and (
            f.spec.workload_selector is None
            or all(labels.get(k) == v for k, v in f.spec.workload_selector.labels.items())
        )
    ]
    chosen.sort(
        key=lambda f: (
            f.spec.priority or 0,
            f.meta.namespace != root,
            str(f.raw.get("metadata", {}).get("creationTimestamp") or ""),
            f"{f.meta.name}.{f.meta.namespace}",
        )
    )
    out: dict[str, list[ConfigPatch]] = {}
    for envoy_filter in chosen:
        key = ("pilotfish.envoy_filters", envoy_filter.meta.key, id(envoy_filter))
        for patch in push.memoized(key, partial(config_patches, envoy_filter)):
            if patch.match.proxy is None or not (
                patch.match.proxy.proxy_version or patch.match.proxy.metadata
            ):
                out.setdefault(patch.apply_to, []).append(patch)
    return out


def context_matches(patch: ConfigPatch, context: str) -> bool:
    return patch.context in (context, "ANY")


def merge(dst: Message, src: Message) -> None:
    """Istio's `merge.Merge`: proto merge (lists appended, map entries replaced, scalars and
    bytes set, messages merged field by field) except that a Duration is replaced whole."""
    for field, value in src.ListFields():
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            target = getattr(dst, field.name)
            value_field = field.message_type.fields_by_name["value"]
            for key, item in value.items():
                if value_field.message_type is not None:
                    target[key].CopyFrom(item)
                else:
                    target[key] = item
        elif field.is_repeated:
            getattr(dst, field.name).extend(value)
        elif field.message_type is not None:
            child = getattr(dst, field.name)
            if field.message_type.full_name == _DURATION:
                child.CopyFrom(value)
            else:
                child.SetInParent()
                merge(child, value)
        else:
            setattr(dst, field.name, value)


def kept_after(item: Message, matched: Iterable[ConfigPatch], replace: bool = False) -> bool:
    """Apply to `item`, in place and in order, the REMOVE and MERGE patches (REPLACE too when
    `replace`) of `matched` (the patches whose match selects it); False once one removes it."""
    for patch in matched:
        if patch.operation == "REMOVE":
            return False
        if not isinstance(patch.value, type(item)):
            continue
        if patch.operation == "MERGE":
            merge(item, patch.value)
        elif replace and patch.operation == "REPLACE":
            item.CopyFrom(patch.value)
    return True


def copied(message: Message) -> Any:
    twin = type(message)()
    twin.CopyFrom(message)
    return twin


def patched(proxy: Proxy, push: PushContext, own: ProxyResources) -> ProxyResources:
    """`own` (a gateway's everything, a sidecar's own part) with the EnvoyFilter patches that
    apply to `proxy`; `own` itself when none applies."""
    patches = patches_for(proxy, push)
    if not patches:
        return own
    from pilotfish.translate import envoy_filter_listeners, envoy_filter_routes

    listeners: list[listener_pb2.Listener] = list(own[LISTENER].values())
    if proxy.is_gateway:
        groups = {"GATEWAY": listeners}
    else:
        inbound = [lis for lis in listeners if lis.traffic_direction == base_pb2.INBOUND]
        groups = {
            "SIDECAR_INBOUND": inbound,
            "SIDECAR_OUTBOUND": [lis for lis in listeners if lis not in inbound],
        }
    new_listeners = [
        lis
        for context, group in groups.items()
        for lis in envoy_filter_listeners.patched_listeners(context, patches, group)
    ]
    routes = [
        envoy_filter_routes.patched_route_config(_route_context(proxy, config), patches, config)
        for config in own[ROUTE].values()
    ]
    clusters = _patched_clusters(proxy, patches, own[CLUSTER].values())
    others = [m for t in own if t not in (LISTENER, ROUTE, CLUSTER) for m in own[t].values()]
    messages: Iterable[Message] = (*new_listeners, *routes, *clusters, *others)
    return ProxyResources.build(messages, own.diagnostics)


def _route_context(proxy: Proxy, config: route_pb2.RouteConfiguration) -> str:
    if proxy.is_gateway:
        return "GATEWAY"
    return "SIDECAR_INBOUND" if config.name.startswith("inbound|") else "SIDECAR_OUTBOUND"


def _cluster_context(proxy: Proxy, name: str) -> str:
    if proxy.is_gateway:
        return "GATEWAY"
    return "SIDECAR_INBOUND" if name.startswith("inbound|") else "SIDECAR_OUTBOUND"


def _patched_clusters(
    proxy: Proxy, patches: Mapping[str, list[ConfigPatch]], clusters: Iterable[Message]
) -> list[Message]:
    found = patches.get("CLUSTER", [])
    out: list[Message] = []
    for cluster in clusters:
        assert isinstance(cluster, cluster_pb2.Cluster)
        context = _cluster_context(proxy, cluster.name)
        matched = [p for p in found if context_matches(p, context) and _cluster_matches(cluster, p)]
        mine = copied(cluster) if matched else cluster
        if kept_after(mine, matched):
            out.append(mine)
    contexts = ("GATEWAY",) if proxy.is_gateway else ("SIDECAR_OUTBOUND", "SIDECAR_INBOUND")
    for patch in found:
        if patch.operation != "ADD" or not isinstance(patch.value, cluster_pb2.Cluster):
            continue
        if any(patch.context == c for c in contexts) or patch.context == "ANY":
            out.append(copied(patch.value))
    return out


def _cluster_matches(cluster: cluster_pb2.Cluster, patch: ConfigPatch) -> bool:
    match = patch.match.cluster
    if match is None:
        return True
    if match.name:
        return bool(match.name == cluster.name)
    parts = cluster.name.split("|")
    if len(parts) != 4:
        parts = ["", "", "", ""]
    direction, port, subset, host = parts
    if match.subset and match.subset != subset:
        return False
    if match.service and (direction == "inbound" or match.service != host):
        return False
    return not match.port_number or str(match.port_number) == port
