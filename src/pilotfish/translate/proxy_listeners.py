"""A sidecar's outbound listeners but its TCP ones (`outbound_listeners`): the HTTP and WebSocket
proxy listeners apps send their requests to, or a captured pod's outbound virtual listeners.

The HTTP proxy listener of every sidecar is the same but for the address it binds (the pod's
IP): it is built once per port and setting (WebSocket scheme, on-demand clusters) and each
sidecar gets a copy with its own address (measured: building it and adding the
on-demand filter cost ~0.5 ms a sidecar, 1 s of a connect storm of 2,000; BENCHMARKS.md).
Istio's telemetry is added by the caller (`observability.decorate`). Pure.

It has the dynamic forward proxy filter under either outbound traffic policy (and whether or
not a ServiceEntry resolves through it): under REGISTRY_ONLY it is idle, since no route names a
forward-proxy cluster (unknown hosts meet the catch-all's 502, as Istio's BlackHole), and so a
sidecar's listeners read neither the policy nor the ServiceEntries: a policy change leaves
every sidecar's own part and LDS as they were (`generate.with_new_outbound_policy`).
Measured: the idle filter's cost per request under REGISTRY_ONLY, BENCHMARKS.md.
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
    listeners; `push` is its scoped push context. Only a captured pod's read the outbound
    traffic policy and the forward-proxy flag (see the module docstring)."""
    demand = on_demand.applies(proxy, full_push)  # clusters come when a request needs them
    if proxy.captured:
        block = outbound_block(proxy.namespace, push)
        passthrough = push.mesh.outbound_traffic_policy != "REGISTRY_ONLY"
        found = captured.outbound_listeners(
            block.specs, allow_any=passthrough, forward_proxy=block.forward_proxy
        )
        return [on_demand.with_filter(m) for m in found] if demand else found
    messages: list[Message] = []
    for port, ws in ((proxy.outbound_port, False), (proxy.ws_proxy_port, True)):
        if port:
            template = _http_proxy_listener(port, ws, demand)
            listener = listener_pb2.Listener.FromString(template)
            listener.address.CopyFrom(socket_address(proxy.ip, port))
            messages.append(listener)
    return messages


@functools.lru_cache(maxsize=TEMPLATES)
def _http_proxy_listener(port: int, ws_scheme: bool, demand: bool) -> bytes:
    """The HTTP proxy listener on `port` bound to no address yet, serialised."""
    listener = listeners.outbound_http_proxy_listener(
        "", port, passthrough=True, ws_scheme=ws_scheme
    )
    if demand:
        listener = on_demand.with_filter(listener)
    data: bytes = listener.SerializeToString()
    return data
