"""The ADS gRPC server (grpc.aio): moves messages between Envoy and the stream state machines.

Owns: `XdsServer` — per-node snapshots, open streams, pushes on `set_snapshot`, per-proxy sync
status, `wait_acked` convergence reports, NACK logging, Prometheus metrics. All protocol
decisions are in `xds.stream` / `xds.delta_stream`; this module only does I/O and bookkeeping.

Limits on what one client may cost (streams, queued responses, slow readers, message size) are
`xds.limits`.

Threading: every method except `__init__` must be called from the event loop running the server.
Responses are written as pre-assembled bytes (the gRPC response serializer is the identity), so a
resource shared by many proxies is serialised once. Errors: `XdsServerError` for misuse (start
twice, node-less first message is logged and the stream closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from prometheus_client import CollectorRegistry

from pilotfish.type_urls import HEALTH_INFO
from pilotfish.xds.limits import DEFAULT_LIMITS, MAX_REQUEST_BYTES, Refusals, StreamLimits
from pilotfish.xds.messages import (
    Ack,
    ConvergenceReport,
    Nack,
    ProxySyncStatus,
    StreamOutput,
)
from pilotfish.xds.metrics import XdsMetrics
from pilotfish.xds.observer import NO_OBSERVER, Refused, StreamObserver
from pilotfish.xds.resources import Snapshot, short_name
from pilotfish.xds.stream import DeltaStream, SotwStream, SyncState

log = logging.getLogger(__name__)
SLOT_HOLD = 0.5  # seconds a write may hold one of the shared write slots
REFUSAL_READ_WAIT = 1.0  # seconds a refused stream's first message is waited for

SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService"
SnapshotGenerator = Callable[[str, dict[str, Any]], Snapshot | None]
"""(node id, node metadata as a dict) → the node's first snapshot, or None (wait for one)."""

GRPC_OPTIONS: tuple[tuple[str, int], ...] = (
    # grpc.aio accepts calls one at a time: the default pending-call limits cancel streams
    # when thousands of proxies connect at once (measured: bench/xds_push.py).
    ("grpc.server.max_pending_requests", 20_000),
    ("grpc.server.max_pending_requests_hard_limit", 40_000),
    # bigger than `MAX_REQUEST_BYTES` so that `_checked` sees, counts and refuses what is over it
    ("grpc.max_receive_message_length", 4 * MAX_REQUEST_BYTES),
    ("grpc.max_send_message_length", 256 * 1024 * 1024),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
)


class XdsServerError(RuntimeError):
    """The server was used wrongly (e.g. started twice)."""


class RefusedRequest(ValueError):
    """A request over a limit or not a discovery request (the stream ends)."""


@dataclass(eq=False)
class _Connection:
    """One open ADS stream."""

    stream: SotwStream | DeltaStream
    connected_at: float
    outbox: asyncio.Queue[tuple[bytes, str, float] | None] = field(default_factory=asyncio.Queue)
    """(response bytes, its type's short name, when it was queued)."""
    node_id: str = ""
    version: str = ""
    closing: bool = False  # over a limit: the writer stops at the next message
    credential: object = None  # what the observer admitted the stream with


class XdsServer(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):  # type: ignore[misc]
    """ADS over gRPC, state of the world and delta, for many nodes."""

    def __init__(
        self,
        generate: SnapshotGenerator,
        registry: CollectorRegistry | None = None,
        max_inflight_writes: int = 64,
        limits: StreamLimits = DEFAULT_LIMITS,
        forget: Callable[[str], None] = lambda node_id: None,
        observer: StreamObserver = NO_OBSERVER,
    ) -> None:
        self._generate = generate
        self.observer = observer  # admits streams; told of connections and reported health
        self._forget = forget  # told when a node's last stream closes
        self.limits = limits
        self.metrics = XdsMetrics(registry if registry is not None else CollectorRegistry())
        self.refusals = Refusals(self.metrics.registry)
        self._open = 0  # ADS streams open, registered or not
        self._idle: dict[str, None] = {}  # disconnected nodes whose snapshot is kept, oldest first
        self._snapshots: dict[str, Snapshot] = {}
        self._connections: dict[str, list[_Connection]] = {}
        self._set_at: dict[str, float] = {}  # node → monotonic time of its first unconverged change
        self._progress = asyncio.Event()
        self._waiters: dict[int, set[str]] = {}  # wait_acked calls → nodes that answered since
        self._waiter_counter = 0
        self._max_inflight = max_inflight_writes
        self._write_slots: asyncio.Semaphore | None = None
        self._server: grpc.aio.Server | None = None

    # ---- public API -------------------------------------------------------------------------

    async def start(
        self,
        address: str,
        extra_handlers: tuple[grpc.GenericRpcHandler, ...] = (),
        secure: tuple[str, grpc.ServerCredentials] | None = None,
    ) -> int:
        """Listen on `address` ("127.0.0.1:0", "unix:/path"); returns the bound port. Other
        services (the CA) may share the server; `secure` adds a TLS port (Istio's 15012)."""
        if self._server is not None:
            raise XdsServerError("server already started")
        self._write_slots = asyncio.Semaphore(self._max_inflight)
        self._server = grpc.aio.server(options=list(GRPC_OPTIONS))
        handlers = {
            "StreamAggregatedResources": grpc.stream_stream_rpc_method_handler(
                self.StreamAggregatedResources,
                request_deserializer=self._checked(discovery_pb2.DiscoveryRequest.FromString),
                response_serializer=bytes,
            ),
            "DeltaAggregatedResources": grpc.stream_stream_rpc_method_handler(
                self.DeltaAggregatedResources,
                request_deserializer=self._checked(discovery_pb2.DeltaDiscoveryRequest.FromString),
                response_serializer=bytes,
            ),
        }
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, handlers), *extra_handlers)
        )
        port = int(self._server.add_insecure_port(address))
        if secure is not None:
            self._server.add_secure_port(*secure)
        await self._server.start()
        return port

    def _checked(self, parse: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
        """A request deserializer that refuses (metric + log) oversized and malformed messages;
        gRPC then ends the stream."""

        def deserialize(data: bytes) -> Any:
            if len(data) > MAX_REQUEST_BYTES:
                self.refusals.refuse(
                    "size", f"refusing a request of {len(data)} bytes (limit {MAX_REQUEST_BYTES})"
                )
                raise RefusedRequest("request too large")
            try:
                return parse(data)
            except DecodeError:
                self.refusals.refuse("malformed", "refusing a request: not a discovery request")
                raise RefusedRequest("not a discovery request") from None

        return deserialize

    async def stop(self, grace: float) -> None:
        """Stop accepting streams; close open ones after `grace` seconds."""
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None

    def set_snapshot(
        self, node_id: str, snapshot: Snapshot, changed_at: float | None = None
    ) -> None:
        """Store `snapshot` for `node_id` and push what changed to its open streams.
        `changed_at` (monotonic) is when the config change that made it reached the control
        plane; convergence is counted from there (now if not given)."""
        previous = self._snapshots.get(node_id)
        self._snapshots[node_id] = snapshot
        if previous is not None and previous.version == snapshot.version:
            return
        pending_since = self._set_at.get(node_id)  # an earlier change not yet converged
        start = time.monotonic() if changed_at is None else changed_at
        self._set_at[node_id] = start if pending_since is None else min(pending_since, start)
        now = time.time()  # streams record wall-clock times (shown in status)
        for connection in self._connections.get(node_id, ()):
            self._deliver(connection, connection.stream.push(snapshot, now))

    def snapshot(self, node_id: str) -> Snapshot | None:
        """The last snapshot set (or generated) for a node, connected or not."""
        return self._snapshots.get(node_id)

    def connected(self) -> list[str]:
        """Node ids with at least one open stream."""
        return sorted(self._connections)

    def status(self) -> list[ProxySyncStatus]:
        """Sync status of every connected node (its newest stream)."""
        result = []
        for node_id in sorted(self._connections):
            connections = self._connections[node_id]
            newest = max(connections, key=lambda c: c.connected_at)
            result.append(
                ProxySyncStatus(
                    node_id=node_id,
                    connected_since=min(c.connected_at for c in connections),
                    streams=len(connections),
                    delta=newest.stream.delta,
                    types=newest.stream.status(),
                )
            )
        return result

    async def wait_acked(self, expected: dict[str, Snapshot], timeout: float) -> ConvergenceReport:
        """Wait until every node in `expected` ACKed (or NACKed) that snapshot, or `timeout`.

        Nodes are re-checked only when one of their streams answered, so waiting on thousands
        of nodes costs O(answers), not O(nodes x answers)."""
        started = time.monotonic()
        pending = set(expected)
        acked: list[str] = []
        nacked: dict[str, str] = {}
        dirty = set(expected)
        key = self._waiter_counter = self._waiter_counter + 1
        self._waiters[key] = dirty
        try:
            while True:
                for node_id in dirty & pending:
                    # A snapshot set after the expected one supersedes it (the control plane only
                    # moves forward): ACKing the newer one counts.
                    target = self._snapshots.get(node_id, expected[node_id])
                    state, message = self._node_sync_state(node_id, target)
                    if state is SyncState.NACKED:
                        nacked[node_id] = message
                    elif state is SyncState.ACKED:
                        acked.append(node_id)
                    else:
                        continue
                    pending.discard(node_id)
                dirty.clear()
                remaining = started + timeout - time.monotonic()
                if not pending or remaining <= 0:
                    break
                progress = self._progress
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(progress.wait(), remaining)
        finally:
            del self._waiters[key]
        return ConvergenceReport(
            acked=tuple(sorted(acked)),
            nacked=dict(sorted(nacked.items())),
            missing=tuple(sorted(pending)),
            elapsed=time.monotonic() - started,
        )

    # ---- gRPC handlers ----------------------------------------------------------------------

    async def StreamAggregatedResources(
        self,
        requests: AsyncIterator[discovery_pb2.DiscoveryRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> None:
        await self._serve(_Connection(SotwStream(), time.time()), requests, context)

    async def DeltaAggregatedResources(
        self,
        requests: AsyncIterator[discovery_pb2.DeltaDiscoveryRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> None:
        await self._serve(_Connection(DeltaStream(), time.time()), requests, context)

    # ---- internals --------------------------------------------------------------------------

    async def _serve(
        self,
        connection: _Connection,
        requests: AsyncIterator[Any],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> None:
        if self._open >= self.limits.max_streams:
            self.refusals.refuse(
                "streams",
                f"refusing a stream from {context.peer()}: {self._open} streams open "
                f"(limit {self.limits.max_streams})",
            )
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many xDS streams")
            return
        secure = context.auth_context().get("transport_security_type") == [b"ssl"]
        try:
            connection.credential = self.observer.admit(context.invocation_metadata() or (), secure)
        except Refused as exc:
            self.refusals.refuse(
                "unauthenticated", f"refusing a stream from {context.peer()}: {exc}"
            )
            # take the client's first message off the wire first: aborting while it is still
            # in flight makes some TLS clients see INTERNAL instead (measured: ~2 in 100)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(anext(aiter(requests)), REFUSAL_READ_WAIT)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
            return
        self._open += 1
        reader = asyncio.create_task(self._read(connection, requests))
        slots = self._write_slots
        assert slots is not None
        metrics = self.metrics
        try:
            while (item := await connection.outbox.get()) is not None and not connection.closing:
                payload, kind, queued = item
                write = asyncio.ensure_future(context.write(payload))
                async with slots:  # a client slow to read gives its slot back after a moment
                    metrics.queue_time.observe(time.monotonic() - queued)
                    await asyncio.wait({write}, timeout=SLOT_HOLD)
                await asyncio.wait_for(write, self.limits.write_timeout)
                metrics.push_time.labels(kind).observe(time.monotonic() - queued)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            self.refusals.refuse(
                "slow",
                f"closing the stream of {connection.node_id!r}: a write waited more than "
                f"{self.limits.write_timeout:.0f} s for the client to read",
            )
        except Exception as error:  # the proxy went away mid-write
            log.info("xds stream of %r closed while writing: %s", connection.node_id, error)
        finally:
            self._open -= 1
            reader.cancel()
            self._unregister(connection)

    async def _read(self, connection: _Connection, requests: AsyncIterator[Any]) -> None:
        try:
            async for request in requests:
                if not self._on_request(connection, request):
                    break
        except asyncio.CancelledError:
            raise
        except grpc.aio.AioRpcError as error:
            log.info("xds stream of %r ended: %s", connection.node_id or "?", error.code())
        except RefusedRequest:  # counted and logged when it was refused
            pass
        except Exception:  # a broken stream (or generate()) must not take the server down
            log.warning("xds stream of %r failed", connection.node_id or "?", exc_info=True)
        finally:
            connection.outbox.put_nowait(None)

    def _on_request(self, connection: _Connection, request: Any) -> bool:
        if not connection.node_id:
            if not request.HasField("node") or not request.node.id:
                self.refusals.refuse("no_node", "closing a stream: first request has no node id")
                return False
            streams = len(self._connections.get(request.node.id, ()))
            if streams >= self.limits.max_streams_per_node:
                self.refusals.refuse(
                    "node_streams",
                    f"closing a stream of {request.node.id!r}: it has {streams} open "
                    f"(limit {self.limits.max_streams_per_node})",
                )
                return False
            self._register(connection, request.node)
        if request.type_url == HEALTH_INFO:  # the agent's probe result, not a subscription
            failed = request.HasField("error_detail")
            self.observer.health(connection.node_id, not failed, request.error_detail.message)
            return True
        snapshot = self._snapshots.get(connection.node_id)
        output = connection.stream.on_request(request, snapshot, time.time())
        self._deliver(connection, output)
        return True

    def _register(self, connection: _Connection, node: base_pb2.Node) -> None:
        node_id = node.id
        connection.node_id = node_id
        self._connections.setdefault(node_id, []).append(connection)
        self._idle.pop(node_id, None)
        metadata = json_format.MessageToDict(node.metadata)
        self.observer.connected(node_id, metadata, connection.credential)
        connection.version = str(metadata.get("ISTIO_VERSION") or "unknown")
        self.metrics.connections.labels(connection.version).inc()
        # Always ask: the node may be new to the control plane (restarted, or forgotten while it
        # was away), and config may have changed meanwhile. Fall back to the stored snapshot.
        generated = self._generate(node_id, metadata)
        if generated is not None and generated != self._snapshots.get(node_id):
            self._snapshots[node_id] = generated
            self._set_at[node_id] = time.monotonic()
        log.debug("xds: %s connected (%s)", node_id, "delta" if connection.stream.delta else "sotw")

    def _unregister(self, connection: _Connection) -> None:
        connections = self._connections.get(connection.node_id)
        if connections is None or connection not in connections:
            return
        connections.remove(connection)
        self.observer.disconnected(connection.node_id, connection.credential)
        self.metrics.connections.labels(connection.version).dec()
        if not connections:
            del self._connections[connection.node_id]  # the snapshot stays for a reconnect
            self._set_at.pop(connection.node_id, None)
            self._idle[connection.node_id] = None
            while len(self._idle) > self.limits.max_idle_snapshots:
                oldest = next(iter(self._idle))
                del self._idle[oldest]
                self._snapshots.pop(oldest, None)
            self._forget(connection.node_id)
        self._notify(connection.node_id)

    def _deliver(self, connection: _Connection, output: StreamOutput) -> None:
        now = time.monotonic()
        if connection.outbox.qsize() + len(output.responses) > self.limits.max_queued:
            self.refusals.refuse(
                "queue",
                f"closing the stream of {connection.node_id!r}: more than "
                f"{self.limits.max_queued} responses wait for it to read",
            )
            connection.closing = True
            connection.outbox.put_nowait(None)
            return
        for response in output.responses:
            payload = response.to_bytes()
            kind = short_name(response.type_url)
            connection.outbox.put_nowait((payload, kind, now))
            self.metrics.pushes.labels(kind).inc()
            self.metrics.config_size.labels(kind).observe(len(payload))
        answered = False
        for event in output.events:
            if isinstance(event, Ack):
                answered = True
            elif isinstance(event, Nack):
                answered = True
                self.metrics.rejects.labels(short_name(event.type_url)).inc()
                log.warning(
                    "xds NACK from %s for %s version %s: %s",
                    connection.node_id,
                    short_name(event.type_url),
                    event.version,
                    event.error_message,
                )
        if answered:
            self._observe_convergence(connection)
            self._notify(connection.node_id)

    def _observe_convergence(self, connection: _Connection) -> None:
        set_at = self._set_at.get(connection.node_id)
        snapshot = self._snapshots.get(connection.node_id)
        if set_at is None or snapshot is None:
            return
        if connection.stream.sync_state(snapshot)[0] is SyncState.ACKED:
            self.metrics.convergence_time.observe(time.monotonic() - set_at)
            del self._set_at[connection.node_id]

    def _notify(self, node_id: str) -> None:
        for dirty in self._waiters.values():
            dirty.add(node_id)
        self._progress.set()
        self._progress = asyncio.Event()

    def _node_sync_state(self, node_id: str, snapshot: Snapshot) -> tuple[SyncState, str]:
        """NACKED if any open stream of the node rejected it, ACKED if one has all of it."""
        states = [c.stream.sync_state(snapshot) for c in self._connections.get(node_id, ())]
        for state in states:
            if state[0] is SyncState.NACKED:
                return state
        if any(state is SyncState.ACKED for state, _ in states):
            return SyncState.ACKED, ""
        return SyncState.PENDING, ""
