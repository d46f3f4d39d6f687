"""EnvoyFilter patches of listeners: LISTENER, LISTENER_FILTER, FILTER_CHAIN, NETWORK_FILTER and
HTTP_FILTER, as Istio's envoyfilter listener_patch applies them to one group of listeners (one
patch context): per listener its own MERGE/REMOVE, its listener filters, then per filter chain
(and the default chain) its MERGE/REMOVE, the network filters' inserts and removes, each network
filter's MERGE and, inside an HTTP connection manager, the HTTP filters' inserts, removes and
MERGEs; then the filter chains and the listeners patches ADD. An insert with no filter named in
its match goes first (INSERT_BEFORE, INSERT_FIRST) or last (INSERT_AFTER, ADD). A filter's
MERGE merges the patch's typed_config into the filter's own message (a TypedStruct is read as
that message first). Called by `envoy_filters.patched` on copies it owns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableSequence
from typing import Any, TypeVar

from envoy.config.listener.v3 import listener_components_pb2 as lc_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from google.protobuf import any_pb2, json_format
from google.protobuf.message import Message

from pilotfish.config.validation.envoy_values import message_class
from pilotfish.translate.envoy_filters import (
    ConfigPatch,
    context_matches,
    copied,
    kept_after,
    merge,
)
from pilotfish.translate.envoy_pb import HCM_FILTER
from pilotfish.translate.names import VIRTUAL_INBOUND_LISTENER, VIRTUAL_OUTBOUND_LISTENER

Patches = Mapping[str, list[ConfigPatch]]
F = TypeVar("F", lc_pb2.Filter, hcm_pb2.HttpFilter, lc_pb2.ListenerFilter)
_VIRTUAL = (VIRTUAL_INBOUND_LISTENER, VIRTUAL_OUTBOUND_LISTENER)
_TYPED_STRUCTS = ("udpa.type.v1.TypedStruct", "xds.type.v3.TypedStruct")


def patched_listeners(
    context: str, patches: Patches, listeners: list[listener_pb2.Listener]
) -> list[listener_pb2.Listener]:
    """The listeners of one patch context after the listener-level patches (copies of the
    ones a patch matches; the others as given)."""
    out: list[listener_pb2.Listener] = []
    for listener in listeners:
        if not _touches(context, patches, listener):
            out.append(listener)
            continue
        mine: listener_pb2.Listener = copied(listener)
        if _patch_listener(context, patches, mine):
            out.append(mine)
    for patch in patches.get("LISTENER", []):
        if patch.operation != "ADD" or not isinstance(patch.value, listener_pb2.Listener):
            continue
        if patch.context == "ANY" and context not in ("SIDECAR_OUTBOUND", "GATEWAY"):
            continue
        if context_matches(patch, context):
            out.append(copied(patch.value))
    return out


def _touches(context: str, patches: Patches, listener: listener_pb2.Listener) -> bool:
    return any(
        context_matches(p, context) and _listener_matches(listener, p)
        for found in patches.values()
        for p in found
        if p.apply_to in ("LISTENER", "LISTENER_FILTER", "FILTER_CHAIN", "NETWORK_FILTER")
        or p.apply_to == "HTTP_FILTER"
    )


def _patch_listener(context: str, patches: Patches, listener: listener_pb2.Listener) -> bool:
    """Patch `listener` in place; False when a patch removes it."""
    if not kept_after(listener, _matching(context, patches, "LISTENER", listener)):
        return False
    for patch in _matching(context, patches, "LISTENER_FILTER", listener):
        named = patch.match.listener.listener_filter if patch.match.listener else None
        _insert_or_remove(listener.listener_filters, patch, lc_pb2.ListenerFilter, named or None)
    chains = [chain for chain in listener.filter_chains if chain.filters]
    kept = [chain for chain in chains if _patch_chain(context, patches, listener, chain)]
    default = listener.default_filter_chain
    has_default = listener.HasField("default_filter_chain") and bool(default.filters)
    if has_default and not _patch_chain(context, patches, listener, default):
        listener.ClearField("default_filter_chain")
    for patch in _matching(context, patches, "FILTER_CHAIN", listener):
        if patch.operation == "ADD" and isinstance(patch.value, lc_pb2.FilterChain):
            kept.append(copied(patch.value))
    kept = [copied(chain) for chain in kept]
    del listener.filter_chains[:]
    listener.filter_chains.extend(kept)
    return True


def _matching(
    context: str, patches: Patches, apply_to: str, listener: listener_pb2.Listener
) -> list[ConfigPatch]:
    return [
        p
        for p in patches.get(apply_to, [])
        if context_matches(p, context) and _listener_matches(listener, p)
    ]


def _listener_matches(listener: listener_pb2.Listener, patch: ConfigPatch) -> bool:
    match = patch.match.listener
    if match is None:
        return True
    if match.name and match.name != listener.name:
        return False
    if patch.apply_to != "LISTENER" and listener.name in _VIRTUAL:
        return True  # the port is matched on the filter chain's destination port
    port = listener.address.socket_address.port_value
    return not match.port_number or match.port_number == port


def _chain_matches(
    listener: listener_pb2.Listener, chain: lc_pb2.FilterChain, patch: ConfigPatch
) -> bool:
    match = patch.match.listener
    if match is None:
        return True
    chain_match = chain.filter_chain_match
    port = chain_match.destination_port.value
    if listener.name in _VIRTUAL and match.port_number and port != match.port_number:
        return False
    wanted = match.filter_chain
    if wanted is None:
        return True
    if wanted.name and wanted.name != chain.name:
        return False
    if wanted.sni and wanted.sni not in chain_match.server_names:
        return False
    if wanted.transport_protocol and wanted.transport_protocol != chain_match.transport_protocol:
        return False
    if wanted.application_protocols and any(
        p not in chain_match.application_protocols for p in wanted.application_protocols.split(",")
    ):
        return False
    return not wanted.destination_port or (
        chain_match.HasField("destination_port")
        and chain_match.destination_port.value == wanted.destination_port
    )


def _filter_name(patch: ConfigPatch) -> str | None:
    """The network filter a patch's match names (None: it names none)."""
    match = patch.match.listener
    if match is None or match.filter_chain is None or match.filter_chain.filter is None:
        return None
    return match.filter_chain.filter.name or ""


def _sub_filter_name(patch: ConfigPatch) -> str | None:
    match = patch.match.listener
    chain = match.filter_chain if match else None
    sub = chain.filter.sub_filter if chain and chain.filter else None
    return None if sub is None else (sub.name or "")


def _patch_chain(
    context: str, patches: Patches, listener: listener_pb2.Listener, chain: lc_pb2.FilterChain
) -> bool:
    """Patch one filter chain in place; False when a patch removes it."""
    chain_patches = _matching(context, patches, "FILTER_CHAIN", listener)
    if not kept_after(chain, [p for p in chain_patches if _chain_matches(listener, chain, p)]):
        return False
    network = [
        p
        for p in _matching(context, patches, "NETWORK_FILTER", listener)
        if _chain_matches(listener, chain, p)
    ]
    _patch_filters(chain.filters, network, lc_pb2.Filter, _filter_name)
    for network_filter in chain.filters:
        if network_filter.name == HCM_FILTER:
            _patch_http_filters(context, patches, listener, chain, network_filter)
    return True


def _patch_http_filters(
    context: str,
    patches: Patches,
    listener: listener_pb2.Listener,
    chain: lc_pb2.FilterChain,
    network_filter: lc_pb2.Filter,
) -> None:
    mine = [
        p
        for p in _matching(context, patches, "HTTP_FILTER", listener)
        if _chain_matches(listener, chain, p) and _filter_name(p) in (None, network_filter.name)
    ]
    manager = hcm_pb2.HttpConnectionManager()
    if not mine or not network_filter.typed_config.Unpack(manager):
        return
    _patch_filters(manager.http_filters, mine, hcm_pb2.HttpFilter, _sub_filter_name)
    network_filter.typed_config.Pack(manager)


def _patch_filters(
    items: MutableSequence[Any],
    patches: list[ConfigPatch],
    kind: type[F],
    target_of: Callable[[ConfigPatch], str | None],
) -> None:
    """A filter list's inserts, adds, replaces and removes, then each filter's MERGEs
    (`target_of`: the filter name a patch's match names, None when it names none)."""
    for patch in patches:
        _insert_or_remove(items, patch, kind, target_of(patch))
    for item in items:
        for patch in patches:
            if patch.operation == "MERGE" and target_of(patch) in (None, item.name):
                _merge_filter(item, patch.value)


def _insert_or_remove(
    items: MutableSequence[Any], patch: ConfigPatch, kind: type[F], target: str | None
) -> None:
    """An insert, ADD, REPLACE or REMOVE on one filter list; `target`: the name of the filter
    the patch's match names (None when it names none)."""
    if not isinstance(patch.value, kind) and patch.operation != "REMOVE":
        return
    specific = target is not None
    op = patch.operation

    def named(item: Any) -> bool:
        return bool(item.name == target)

    value = patch.value
    if op == "ADD" or (op == "INSERT_AFTER" and not specific):
        items.append(copied(value))
    elif op == "INSERT_FIRST" or (op == "INSERT_BEFORE" and not specific):
        items.insert(0, copied(value))
    elif not specific:
        return  # REPLACE and REMOVE need a named filter
    elif op in ("INSERT_BEFORE", "INSERT_AFTER"):
        at = next((i for i, item in enumerate(items) if named(item)), None)
        if at is not None:
            items.insert(at + (op == "INSERT_AFTER"), copied(value))
    elif op == "REPLACE":
        at = next((i for i, item in enumerate(items) if named(item)), None)
        if at is not None:
            items[at].CopyFrom(value)
    elif op == "REMOVE":
        kept = [copied(item) for item in items if not named(item)]
        del items[:]
        items.extend(kept)


def _merge_filter(target: lc_pb2.Filter | hcm_pb2.HttpFilter, value: Message | None) -> None:
    """Istio's filter MERGE: the patch's name replaces the filter's; its typed_config merges
    into the filter's own configuration message (a filter without one is left alone)."""
    if not isinstance(value, type(target)) or not target.HasField("typed_config"):
        return
    if value.name:
        target.name = value.name
    if not value.HasField("typed_config"):
        return
    mine = message_class(target.typed_config.type_url)
    if mine is None:
        return
    current = mine()
    target.typed_config.Unpack(current)
    change = _as_message(value.typed_config, mine)
    if change is None:
        return
    merge(current, change)
    target.typed_config.Pack(current)


def _as_message(packed: any_pb2.Any, kind: Any) -> Message | None:
    """A patch's typed_config as a `kind` message: the same type unpacked, a TypedStruct of
    that type read from its JSON; None for anything else (Istio keeps the filter then)."""
    name = packed.type_url.rsplit("/", 1)[-1]
    if name == kind.DESCRIPTOR.full_name:
        out = kind()
        packed.Unpack(out)
        return out
    if name not in _TYPED_STRUCTS:
        return None
    typed = message_class(packed.type_url)
    if typed is None:
        return None
    holder = typed()
    packed.Unpack(holder)
    if holder.type_url.rsplit("/", 1)[-1] != kind.DESCRIPTOR.full_name:
        return None
    out = kind()
    try:
        as_dict = json_format.MessageToDict(holder.value, preserving_proto_field_name=True)
        json_format.ParseDict(as_dict, out, ignore_unknown_fields=True)
    except json_format.ParseError:
        return None
    return out
