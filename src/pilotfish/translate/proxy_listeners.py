"""A sidecar's outbound listeners but its TCP ones (`outbound_listeners`): the HTTP and WebSocket
proxy listeners apps send their requests to, or a captured pod's outbound virtual listeners.

The HTTP proxy listener of every sidecar is the same but for the address it binds (the pod's
IP): it is built once per port and setting (passthrough, WebSocket scheme, on-demand clusters)
and each sidecar gets a copy with its own address (measured: building it and adding the
on-demand filter cost ~0.5 ms a sidecar, 1 s of a connect storm of 2,000; BENCHMARKS.md).
Istio's telemetry is added by the caller (`observability.decorate`). Pure.
"""

from __future__ import annotations

import functools

from envoy.config.listener.v3 import listener_pb2
from google.protobuf.message import Message

from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate import captured, listeners, on_demand
from pilotfish.translate.envoy_pb import socket_address
from pilotfish.translate.outbound import outbound_block

TEMPLATES = 64  # distinct (port, settings) HTTP proxy listeners kept


def outbound_listeners(proxy: Proxy, push: PushContext, full_push: PushContext) -> list[Message]:
    """The proxy's HTTP (and WebSocket) proxy listeners, or a captured pod's outbound virtual
    listeners; `push` is its scoped push context. The only part of a sidecar's own translation
    that reads the outbound traffic policy (`generate.with_new_outbound_policy`)."""
    block = outbound_block(proxy.namespace, push)
    forward_proxy = block.forward_proxy
    passthrough = push.mesh.outbound_traffic_policy != "REGISTRY_ONLY"
    demand = on_demand.applies(proxy, full_push)  # clusters come when a request needs them
    if proxy.captured:
        found = captured.outbound_listeners(
            block.specs, allow_any=passthrough, forward_proxy=forward_proxy
        )
        return [on_demand.with_filter(m) for m in found] if demand else found
    messages: list[Message] = []
    for port, ws in ((proxy.outbound_port, False), (proxy.ws_proxy_port, True)):
        if port:
            template = _http_proxy_listener(port, passthrough or forward_proxy, ws, demand)
            listener = listener_pb2.Listener.FromString(template)
            listener.address.CopyFrom(socket_address(proxy.ip, port))
            messages.append(listener)
    return messages


@functools.lru_cache(maxsize=TEMPLATES)
def _http_proxy_listener(port: int, passthrough: bool, ws_scheme: bool, demand: bool) -> bytes:
    """The HTTP proxy listener on `port` bound to no address yet, serialised."""
    listener = listeners.outbound_http_proxy_listener(
        "", port, passthrough=passthrough, ws_scheme=ws_scheme
    )
    if demand:
        listener = on_demand.with_filter(listener)
    data: bytes = listener.SerializeToString()
    return data
