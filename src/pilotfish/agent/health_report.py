"""The agent's workload health checks for a host outside the mesh (Istio's
`pkg/istio-agent/health`): it runs the WorkloadGroup's probe (ProxyConfig `readinessProbe`,
written into `mesh.yaml` by `x workload entry configure`) and reports each transition to the
control plane on its own xDS stream as an `istio.v1.HealthInformation` request — no
`error_detail` when healthy, one with the failure when not — which sets the auto-registered
WorkloadEntry's `Healthy` condition.

Probe settings are Kubernetes': `periodSeconds` 10, `timeoutSeconds` 1, `successThreshold` 1,
`failureThreshold` 3, `initialDelaySeconds` 0; `httpGet` (path, port, scheme, httpHeaders, host)
or `tcpSocket` (port, host), to 127.0.0.1 unless `host` says otherwise. `exec` probes are not run
(logged once): nothing is reported. The stream is re-opened with backoff while the control plane
is unreachable, and the last state is sent again on every new stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import json_format
from google.rpc import status_pb2

from pilotfish.agent.probes import run_probe
from pilotfish.agent.spec import AgentSpec
from pilotfish.agent.upstream import ControlPlaneTls, channel
from pilotfish.model.node import node_metadata
from pilotfish.registry.workloads import Probe
from pilotfish.type_urls import HEALTH_INFO

log = logging.getLogger("pilotfish.agent.health")

ADS_METHOD = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
RETRY_FIRST, RETRY_MAX = 0.2, 5.0


@dataclass(frozen=True)
class HealthCheck:
    probe: Probe
    host: str
    period: float = 10.0
    success_threshold: int = 1
    failure_threshold: int = 3
    initial_delay: float = 0.0


def health_check(probe: dict[str, Any]) -> HealthCheck | None:
    """The WorkloadGroup `probe` (ProxyConfig `readinessProbe`) as a check; None when there is
    nothing this agent can run."""
    http, tcp = probe.get("httpGet"), probe.get("tcpSocket")
    action = http if isinstance(http, dict) else tcp if isinstance(tcp, dict) else None
    if action is None or not isinstance(action.get("port"), int):
        if probe:
            log.warning("not running the readiness probe %s: httpGet or tcpSocket needed", probe)
        return None
    headers = tuple(
        (str(h.get("name", "")), str(h.get("value", "")))
        for h in (action.get("httpHeaders") or [])
        if isinstance(h, dict)
    )
    check = Probe(
        container="vm",
        kind="http" if action is http else "tcp",
        port=int(action["port"]),
        path=str(action.get("path") or "/"),
        scheme=str(action.get("scheme") or "HTTP").upper(),
        headers=headers,
        timeout_seconds=int(probe.get("timeoutSeconds") or 1),
    )
    return HealthCheck(
        check,
        str(action.get("host") or "127.0.0.1"),
        float(probe.get("periodSeconds") or 10),
        int(probe.get("successThreshold") or 1),
        int(probe.get("failureThreshold") or 3),
        float(probe.get("initialDelaySeconds") or 0),
    )


def health_request(
    node: base_pb2.Node, healthy: bool, message: str
) -> discovery_pb2.DiscoveryRequest:
    request = discovery_pb2.DiscoveryRequest(type_url=HEALTH_INFO, node=node)
    if not healthy:
        request.error_detail.CopyFrom(status_pb2.Status(code=500, message=message))
    return request


class HealthReporter:
    def __init__(
        self,
        check: HealthCheck,
        node_id: str,
        metadata: dict[str, Any],
        address: str,
        tls: ControlPlaneTls | None,
    ) -> None:
        self.check = check
        self.node = base_pb2.Node(id=node_id)
        json_format.ParseDict(metadata, self.node.metadata)
        self.address = address
        self.tls = tls
        self.state: tuple[bool, str] | None = None  # last reported (healthy, message)
        self.reported = 0
        self._changed = asyncio.Event()

    async def run(self) -> None:
        await asyncio.gather(self._probe_loop(), self._report_loop())

    async def _probe_loop(self) -> None:
        await asyncio.sleep(self.check.initial_delay)
        successes = failures = 0
        probe = self.check.probe
        while True:
            ok = await run_probe(probe, self.check.host, probe.port)
            successes, failures = (successes + 1, 0) if ok else (0, failures + 1)
            new: tuple[bool, str] | None = None
            if ok and successes >= self.check.success_threshold:
                new = (True, "")
            elif not ok and failures >= self.check.failure_threshold:
                target = f"{self.check.host}:{probe.port}"
                new = (False, f"{probe.kind} probe of {target} failed {failures} time(s)")
            if new is not None and (self.state is None or new[0] != self.state[0]):
                self.state = new
                self._changed.set()
            await asyncio.sleep(self.check.period)

    async def _requests(self, sent: list[tuple[bool, str]]) -> AsyncIterator[bytes]:
        while True:
            state = self.state
            if state is not None and (not sent or sent[-1] != state):
                sent.append(state)
                self.reported += 1
                log.info("reporting %s", "healthy" if state[0] else f"unhealthy: {state[1]}")
                yield health_request(self.node, *state).SerializeToString()
            self._changed.clear()
            if self.state == state:
                await self._changed.wait()

    async def _report_loop(self) -> None:
        backoff = RETRY_FIRST
        while True:
            sent: list[tuple[bool, str]] = []
            try:
                metadata = self.tls.metadata() if self.tls is not None else ()
                async with channel(self.address, self.tls) as upstream:
                    call = upstream.stream_stream(
                        ADS_METHOD, request_serializer=None, response_deserializer=None
                    )
                    async for _ in call(self._requests(sent), metadata=metadata):
                        backoff = RETRY_FIRST  # the control plane sends nothing back here
            except (OSError, grpc.aio.AioRpcError) as exc:
                detail = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
                log.debug("health stream ended (retry in %.1f s): %s", backoff, detail)
            if sent:
                backoff = RETRY_FIRST
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RETRY_MAX)


def reporter_for(spec: AgentSpec, proxy_config: dict[str, Any]) -> HealthReporter | None:
    """The reporter of an agent whose ProxyConfig has a `readinessProbe` (the WorkloadGroup's,
    from `mesh.yaml`); None otherwise."""
    probe = proxy_config.get("readinessProbe")
    check = health_check(probe) if isinstance(probe, dict) else None
    if check is None:
        return None
    metadata = dict(spec.extra_metadata) | node_metadata(spec.proxy)
    address = f"{spec.xds_host}:{spec.xds_port}"
    return HealthReporter(check, spec.proxy.id, metadata, address, spec.control_plane_tls)
