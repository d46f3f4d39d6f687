"""The sidecar HTTP proxy's `ws://` request lines: a tiny proxy-wasm network filter, built here.

A client that sends a WebSocket through its HTTP proxy in absolute form writes `GET ws://host/path
HTTP/1.1` (aiohttp does, for a `ws://` URL through `WS_PROXY`). Envoy's HTTP/1 codec accepts an
absolute-form scheme only if it is `http` or `https` (`ServerConnectionImpl::handlePath`, response
detail `http1.invalid_scheme`; no option or runtime flag changes it), so it answers 400. This
network filter, placed before the connection manager of the pod's `ws://` proxy listener
(`outbound_ws_proxy`, only on pods annotated `pilotfish.io/ws-proxy: "true"`), rewrites a read
that starts with `GET ws://` to start with `GET http://`; Envoy then routes the upgrade like any
proxied `GET http://…` with `Upgrade: websocket`. It looks at the first 9 bytes of each read and
nothing else (no copy of the request, no allocation); everything else passes untouched. It sits
on a listener of its own because any Wasm filter costs every request of its listener (~15% Envoy
CPU, measured: bench/ws_scheme_cost.py), and a Wasm VM ~4 MiB per Envoy.

The module is assembled from its instructions below (no compiler, no file): proxy-wasm ABI 0.2.1,
exports `proxy_on_memory_allocate` (a fixed scratch area: the filter only ever asks the host for
9 bytes), `proxy_on_context_create`, `proxy_on_new_connection`, `proxy_on_downstream_data`,
`proxy_on_upstream_data`, `proxy_on_vm_start`, `proxy_on_configure` and `memory`. Pure: bytes
and protobufs out, deterministic; no I/O.
"""

from __future__ import annotations

from functools import cache

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_components_pb2 as lc_pb2
from envoy.extensions.filters.network.wasm.v3 import wasm_pb2 as network_wasm_pb2
from envoy.extensions.wasm.v3 import wasm_pb2

from pilotfish.translate.envoy_pb import pack

WASM_FILTER = "envoy.filters.network.wasm"
PLUGIN_NAME = "pilotfish.ws_scheme"
RUNTIME = "envoy.wasm.runtime.v8"

WS_PREFIX = b"GET ws://"
HTTP_PREFIX = b"GET http://"
_WS_AT, _HTTP_AT, _SCRATCH = 16, 32, 1024  # data addresses in the module's memory
_DOWNSTREAM_DATA = 2  # proxy-wasm BufferType
_I32 = 0x7F


def _uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _sleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        done = (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40)
        out.append(byte | (0 if done else 0x80))
        if done:
            return bytes(out)


def _vec(items: list[bytes]) -> bytes:
    return _uleb(len(items)) + b"".join(items)


def _name(text: str) -> bytes:
    return _uleb(len(text)) + text.encode()


def _section(section_id: int, body: bytes) -> bytes:
    return bytes([section_id]) + _uleb(len(body)) + body


def _const(value: int) -> bytes:
    return b"\x41" + _sleb(value)


def _functype(params: int, results: int) -> bytes:
    return b"\x60" + _vec([bytes([_I32])] * params) + _vec([bytes([_I32])] * results)


RETURN_CONTINUE = _const(0) + b"\x0f"  # FilterStatus::Continue


def _unless(condition: bytes) -> bytes:
    """`if (condition) return Continue`."""
    return condition + b"\x04\x40" + RETURN_CONTINUE + b"\x0b"


def _on_downstream_data() -> bytes:
    """(context, size, end_of_stream) -> Continue; rewrites `GET ws://` at the read's start."""
    get_bytes = _const(_DOWNSTREAM_DATA) + _const(0) + _const(len(WS_PREFIX))
    get_bytes += _const(0) + _const(4) + b"\x10\x00"  # -> *0 = address, *4 = size
    pointer = b"\x20\x03"  # local 3
    body = _unless(b"\x20\x01" + _const(len(WS_PREFIX)) + b"\x49")  # size < 9
    body += _unless(get_bytes)  # the host could not give them
    body += _const(0) + b"\x28\x02\x00" + b"\x21\x03"  # local 3 = *0
    first8 = pointer + b"\x29\x00\x00" + _const(_WS_AT) + b"\x29\x03\x00" + b"\x52"
    body += _unless(first8)  # i64 at the read != "GET ws:/"
    ninth = pointer + b"\x2d\x00\x08" + _const(_WS_AT) + b"\x2d\x00\x08" + b"\x47"
    body += _unless(ninth)  # the 9th byte != "/"
    body += _const(_DOWNSTREAM_DATA) + _const(0) + _const(len(WS_PREFIX))
    body += _const(_HTTP_AT) + _const(len(HTTP_PREFIX)) + b"\x10\x01\x1a"  # replace, drop status
    return _vec([b"\x01" + bytes([_I32])]) + body + _const(0) + b"\x0b"


@cache
def ws_scheme_module() -> bytes:
    """The filter's WebAssembly module (a few hundred bytes)."""
    types = [
        b"\x60" + _vec([bytes([_I32])] * 5) + _vec([bytes([_I32])]),  # 0: host buffer calls
        _functype(0, 0),  # 1: abi version marker
        _functype(1, 1),  # 2: (i32) -> i32
        _functype(2, 0),  # 3: (i32, i32)
        _functype(3, 1),  # 4: (i32, i32, i32) -> i32
        _functype(2, 1),  # 5: (i32, i32) -> i32
    ]
    imports = [
        _name("env") + _name("proxy_get_buffer_bytes") + b"\x00\x00",
        _name("env") + _name("proxy_set_buffer_bytes") + b"\x00\x00",
    ]
    empty = _vec([])
    functions: list[tuple[str, int, bytes]] = [
        ("proxy_abi_version_0_2_1", 1, empty + b"\x0b"),
        ("proxy_on_memory_allocate", 2, empty + _const(_SCRATCH) + b"\x0b"),
        ("proxy_on_context_create", 3, empty + b"\x0b"),
        ("proxy_on_new_connection", 2, empty + _const(0) + b"\x0b"),
        ("proxy_on_downstream_data", 4, _on_downstream_data()),
        ("proxy_on_upstream_data", 4, empty + _const(0) + b"\x0b"),
        ("proxy_on_vm_start", 5, empty + _const(1) + b"\x0b"),
        ("proxy_on_configure", 5, empty + _const(1) + b"\x0b"),
    ]
    first = len(imports)
    exports = [_name(n) + b"\x00" + _uleb(first + i) for i, (n, _, _) in enumerate(functions)]
    exports.append(_name("memory") + b"\x02\x00")
    data = [
        b"\x00" + _const(at) + b"\x0b" + _vec([bytes([b]) for b in text])
        for at, text in ((_WS_AT, WS_PREFIX), (_HTTP_AT, HTTP_PREFIX))
    ]
    return b"".join(
        [
            b"\x00asm\x01\x00\x00\x00",
            _section(1, _vec(types)),
            _section(2, _vec(imports)),
            _section(3, _vec([_uleb(t) for _, t, _ in functions])),
            _section(5, _vec([b"\x00\x01"])),  # one 64 KiB page
            _section(7, _vec(exports)),
            _section(10, _vec([_uleb(len(code)) + code for _, _, code in functions])),
            _section(11, _vec(data)),
        ]
    )


def ws_scheme_filter() -> lc_pb2.Filter:
    """The network filter, for the HTTP proxy listener's chain before its connection manager.
    Fail open: if the VM ever failed, `ws://` lines would get 400 again, nothing else changes."""
    plugin = wasm_pb2.PluginConfig(
        name=PLUGIN_NAME,
        vm_config=wasm_pb2.VmConfig(
            vm_id=PLUGIN_NAME,
            runtime=RUNTIME,
            code=base_pb2.AsyncDataSource(
                local=base_pb2.DataSource(inline_bytes=ws_scheme_module())
            ),
        ),
        failure_policy=wasm_pb2.FAIL_OPEN,
    )
    return lc_pb2.Filter(name=WASM_FILTER, typed_config=pack(network_wasm_pb2.Wasm(config=plugin)))
