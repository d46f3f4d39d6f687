"""The ADS gRPC server (grpc.aio): moves messages between Envoy and the stream state machines.

Owns `XdsServer`: open streams; pushes of what is published in its `SnapshotCache` (shared with
the control plane, `xds.cache`) through a bounded, coalescing push queue (`xds.push_queue`);
per-proxy sync status; `wait_acked` convergence reports; NACK logging; Prometheus metrics.
Protocol decisions are in `xds.stream` / `xds.delta_stream`, limits on what one client may cost
in `xds.limits`; this module does I/O and bookkeeping. Every method but `__init__` runs on the
server's event loop; the cache may be published to from any thread. Responses are written as
pre-assembled bytes (a resource shared by many proxies is serialised once). `XdsServerError`:
misuse (start twice); a node-less first message is logged and its stream closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf import json_format
from prometheus_client import CollectorRegistry

from pilotfish.type_urls import HEALTH_INFO
from pilotfish.xds.cache import SnapshotCache
from pilotfish.xds.connection import Connection
from pilotfish.xds.convergence import Convergence, node_sync_state, proxy_status
from pilotfish.xds.demand import OnDemand
from pilotfish.xds.limits import (
    DEFAULT_LIMITS,
    GRPC_OPTIONS,
    Refusals,
    RefusedRequest,
    StreamLimits,
    checked,
)
from pilotfish.xds.messages import (
    Ack,
    ConvergenceReport,
    Nack,
    ProxySyncStatus,
    StreamOutput,
)
from pilotfish.xds.metrics import XdsMetrics
from pilotfish.xds.observer import (
    NO_OBSERVER,
    Demand,
    DemandHosts,
    Refused,
    SnapshotGenerator,
    StreamObserver,
)
from pilotfish.xds.push_queue import Pusher, PushQueue
from pilotfish.xds.resources import Snapshot, short_name
from pilotfish.xds.stream import DeltaStream, SotwStream, SyncState
from pilotfish.xds.write_window import DEFAULT_WINDOW_BYTES, WriteWindow

log = logging.getLogger(__name__)
REFUSAL_READ_WAIT = 1.0  # seconds a refused stream's first message is waited for

SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService"


class XdsServerError(RuntimeError):
    """The server was used wrongly (e.g. started twice) or cannot listen where asked."""


class XdsServer(ads_pb2_grpc.AggregatedDiscoveryServiceServicer):  # type: ignore[misc]
    """ADS over gRPC, state of the world and delta, for many nodes."""

    def __init__(
        self,
        generate: SnapshotGenerator,
        registry: CollectorRegistry | None = None,
        write_window_bytes: int = DEFAULT_WINDOW_BYTES,
        limits: StreamLimits = DEFAULT_LIMITS,
        forget: Callable[[str], None] = lambda node_id: None,
        observer: StreamObserver = NO_OBSERVER,
        cache: SnapshotCache | None = None,
        demand: Demand | None = None,
        demand_hosts: DemandHosts | None = None,
    ) -> None:
        self._generate = generate
        self.observer = observer  # admits streams; told of connections and reported health
        self._forget = forget  # told when a node's last stream closes
        self.limits = limits
        self.metrics = XdsMetrics(registry if registry is not None else CollectorRegistry())
        self.refusals = Refusals(self.metrics.registry)
        self.cache = cache if cache is not None else SnapshotCache(limits.max_idle_snapshots)
        self.cache.watch(self._published)
        queue = PushQueue(limits.max_streams, self.metrics.queue_time, self.metrics.queue_depth)
        self._pusher = Pusher(queue, self._push_now)
        self._open = 0  # ADS streams open, registered or not
        self._connections: dict[str, list[Connection]] = {}
        self.convergence = Convergence(self.metrics.convergence_time)
        self._window_bytes = write_window_bytes  # responses being written (`xds.write_window`)
        self._write_window: WriteWindow | None = None
        self._server: grpc.aio.Server | None = None
        # one thread: the generator is called for one node at a time, as it was on the loop
        self._generator = ThreadPoolExecutor(1, thread_name_prefix="xds-generate")
        # on-demand clusters (`DeltaStream.on_demand_names`) and virtual hosts (VHDS)
        self._on_demand = OnDemand(self.cache, self._generator, demand, demand_hosts)

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
        self._write_window = WriteWindow(self._window_bytes)
        self._pusher.start()
        self._server = grpc.aio.server(options=list(GRPC_OPTIONS))
        handlers = {
            "StreamAggregatedResources": grpc.stream_stream_rpc_method_handler(
                self.StreamAggregatedResources,
                request_deserializer=checked(
                    discovery_pb2.DiscoveryRequest.FromString, self.refusals
                ),
                response_serializer=bytes,
            ),
            "DeltaAggregatedResources": grpc.stream_stream_rpc_method_handler(
                self.DeltaAggregatedResources,
                request_deserializer=checked(
                    discovery_pb2.DeltaDiscoveryRequest.FromString, self.refusals
                ),
                response_serializer=bytes,
            ),
        }
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, handlers), *extra_handlers)
        )
        try:
            port = int(self._server.add_insecure_port(address))
            if secure is not None:
                self._server.add_secure_port(*secure)
        except RuntimeError as exc:  # grpc's "Failed to bind to address ..."
            self._server = None
            await self._pusher.stop()
            raise XdsServerError(f"cannot listen on {address}: address already in use?") from exc
        await self._server.start()
        return port

    async def stop(self, grace: float) -> None:
        """Stop accepting streams; close open ones after `grace` seconds."""
        server, self._server = self._server, None  # streams it now ends are no client's doing
        if server is not None:
            await server.stop(grace)
        await self._pusher.stop()
        self._generator.shutdown(wait=False, cancel_futures=True)

    def set_snapshot(
        self, node_id: str, snapshot: Snapshot, changed_at: float | None = None
    ) -> None:
        """Publish `snapshot` for `node_id` in the cache (see `SnapshotCache.set`); what
        changed is pushed to its open streams."""
        self.cache.set(node_id, snapshot, changed_at)

    def snapshot(self, node_id: str) -> Snapshot | None:
        """The last snapshot published (or generated) for a node, connected or not."""
        return self.cache.get(node_id)

    def connected(self) -> list[str]:
        """Node ids with at least one open stream."""
        return sorted(self._connections)

    def status(self) -> list[ProxySyncStatus]:
        """Sync status of every connected node (`convergence.proxy_status`)."""
        return [
            proxy_status(node_id, [(c.connected_at, c.stream) for c in connections])
            for node_id, connections in sorted(self._connections.items())
        ]

    async def wait_acked(self, expected: dict[str, Snapshot], timeout: float) -> ConvergenceReport:
        """Wait until every node in `expected` ACKed (or NACKed) that snapshot, or a newer one
        published since, or `timeout` (`Convergence.wait`)."""
        return await self.convergence.wait(expected, timeout, self._node_sync_state, self.cache.get)

    # ---- gRPC handlers ----------------------------------------------------------------------

    async def StreamAggregatedResources(
        self,
        requests: AsyncIterator[discovery_pb2.DiscoveryRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> None:
        await self._serve(Connection(SotwStream(), time.time()), requests, context)

    async def DeltaAggregatedResources(
        self,
        requests: AsyncIterator[discovery_pb2.DeltaDiscoveryRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> None:
        await self._serve(Connection(DeltaStream(), time.time()), requests, context)

    # ---- internals --------------------------------------------------------------------------

    async def _serve(
        self,
        connection: Connection,
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
        window = self._write_window
        assert window is not None
        try:
            await connection.write_out(
                context, window, self.limits.write_timeout, self._observe_convergence
            )
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
            if not connection.requests and connection.refused is None and self._server is not None:
                self.refusals.unread(context.peer())
        if (refused := connection.refused) is not None:  # end it as gRPC would, never with OK
            await context.abort(grpc.StatusCode[refused.status], str(refused))

    async def _read(self, connection: Connection, requests: AsyncIterator[Any]) -> None:
        try:
            async for request in requests:
                connection.requests += 1
                if not connection.node_id:
                    streams = len(self._connections.get(request.node.id, ()))
                    limit = self.limits.max_streams_per_node
                    if not self.refusals.admit_node(request, streams, limit):
                        break
                    await self._first_snapshot(connection, request.node)
                if (asked := self._on_demand.answer(connection, request)) is not None:
                    await asked
                if not self._on_request(connection, request):
                    break
                self._on_demand.release(connection, self._push_one)
        except asyncio.CancelledError:
            raise
        except grpc.aio.AioRpcError as error:
            log.info("xds stream of %r ended: %s", connection.node_id or "?", error.code())
        except RefusedRequest as refused:  # counted and logged when it was refused
            connection.refused = refused
        except Exception:  # a broken stream (or generate()) must not take the server down
            log.warning("xds stream of %r failed", connection.node_id or "?", exc_info=True)
        finally:
            connection.outbox.put_nowait(None)

    def _on_request(self, connection: Connection, request: Any) -> bool:
        if request.type_url == HEALTH_INFO:  # the agent's probe result, not a subscription
            failed = request.HasField("error_detail")
            self.observer.health(connection.node_id, not failed, request.error_detail.message)
            return True
        snapshot = self.cache.get(connection.node_id)
        output = connection.stream.on_request(request, snapshot, time.time())
        self._deliver(connection, output)
        return True

    async def _first_snapshot(self, connection: Connection, node: base_pb2.Node) -> None:
        """Register the stream; generate the node's snapshot off the loop (a connect storm
        translated on it starved gRPC, which CANCELS calls not taken in time: BENCHMARKS.md).
        Always asked: the node may be new, or config changed while it was away."""
        metadata = self._register(connection, node)
        loop = asyncio.get_running_loop()
        generated = await loop.run_in_executor(self._generator, self._generate, node.id, metadata)
        if generated is not None:
            self.cache.set(node.id, generated)

    def _register(self, connection: Connection, node: base_pb2.Node) -> dict[str, Any]:
        node_id = node.id
        connection.node_id = node_id
        self._connections.setdefault(node_id, []).append(connection)
        self.cache.acquire(node_id)
        metadata: dict[str, Any] = json_format.MessageToDict(node.metadata)
        self.observer.connected(node_id, metadata, connection.credential)
        connection.version = str(metadata.get("ISTIO_VERSION") or "unknown")
        self.metrics.connections.labels(connection.version).inc()
        log.debug("xds: %s connected (%s)", node_id, "delta" if connection.stream.delta else "sotw")
        return metadata

    def _unregister(self, connection: Connection) -> None:
        connections = self._connections.get(connection.node_id)
        if connections is None or connection not in connections:
            return
        connections.remove(connection)
        self.observer.disconnected(connection.node_id, connection.credential)
        self.metrics.connections.labels(connection.version).dec()
        if not connections:
            del self._connections[connection.node_id]
            self.convergence.forget(connection.node_id)
            self._pusher.discard(connection.node_id)
            self.cache.release(connection.node_id)  # the snapshot stays for a reconnect
            self._forget(connection.node_id)
        self.convergence.answered(connection.node_id)

    def _published(self, node_id: str, snapshot: Snapshot, changed_at: float) -> None:
        """The cache's watcher, called in the publishing thread (the control plane publishes
        from a worker thread): the rest happens on the event loop."""
        self._pusher.on_loop(self._schedule, node_id, changed_at)

    def _schedule(self, node_id: str, changed_at: float) -> None:
        self.convergence.changed(node_id, changed_at)
        if node_id in self._connections:
            self._pusher.schedule(node_id)

    def _push_now(self, node_id: str) -> None:
        snapshot = self.cache.get(node_id)
        if snapshot is None:
            return
        now = time.time()  # streams record wall-clock times (shown in status)
        for connection in self._connections.get(node_id, ()):
            if not self._on_demand.hold(connection):  # a VHDS demand's reply comes first
                self._deliver(connection, connection.stream.push(snapshot, now))

    def _push_one(self, connection: Connection) -> None:
        if (snapshot := self.cache.get(connection.node_id)) is not None:
            self._deliver(connection, connection.stream.push(snapshot, time.time()))

    def _deliver(self, connection: Connection, output: StreamOutput) -> None:
        over = connection.enqueue(output.responses, self.limits, self.metrics)
        if over is not None:
            self._close(connection, *over)
            return
        answered = False
        for event in output.events:
            if isinstance(event, Ack):
                answered = True
            elif isinstance(event, Nack):
                answered = True
                kind = short_name(event.type_url)
                self.metrics.rejects.labels(kind).inc()
                why = f"{kind} version {event.version}: {event.error_message}"
                log.warning("xds NACK from %s for %s", connection.node_id, why)
        if answered:
            node_id = connection.node_id
            if self.convergence.unacked(node_id):
                snapshot = self.cache.get(node_id)
                if snapshot is not None and connection.stream.acked(snapshot):
                    self.convergence.acked(node_id)
            self.convergence.answered(node_id)
        self._observe_convergence(connection, time.monotonic())  # nothing queued: all sent

    def _close(self, connection: Connection, reason: str, why: str) -> None:
        """Over a limit: count it and end the stream once its writer reaches this point."""
        self.refusals.refuse(reason, f"closing the stream of {connection.node_id!r}: {why}")
        connection.closing = True
        connection.outbox.put_nowait(None)

    def _observe_convergence(self, connection: Connection, sent_at: float) -> None:
        """Istio's `pilot_proxy_convergence_time` ends when the push of the node's change has
        been sent (istiod records it once `pushConnection` has handed every type to gRPC), not
        when it is ACKed: here, once the stream holds no unwritten response and has been pushed
        every type of the node's newest snapshot, observed at `sent_at`, when the last write was
        handed to gRPC. (`wait_acked`, what `apply` reports, waits for the ACKs.)"""
        if connection.unwritten or not self.convergence.pending(connection.node_id):
            return
        snapshot = self.cache.get(connection.node_id)
        if snapshot is not None and connection.stream.sent(snapshot):
            self.convergence.converged(connection.node_id, sent_at)

    def _node_sync_state(self, node_id: str, snapshot: Snapshot) -> tuple[SyncState, str]:
        return node_sync_state([c.stream for c in self._connections.get(node_id, ())], snapshot)
