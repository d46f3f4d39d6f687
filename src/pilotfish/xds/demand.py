"""What Envoy asks for on demand, asked of the control plane before the request is answered:
clusters a delta stream subscribes on top of its wildcard CDS (on-demand CDS) and virtual hosts
by Host (VHDS, `http_proxy/<host>`; the stream is told what answers each, `DeltaStream.aliases`).

The control plane publishes the snapshot holding them (in the server's generation thread), and
publishing schedules a push to the node's streams. For a VHDS demand that push is held until
the request's reply is out (`hold` / `release`): the reply carries the new virtual hosts with
their aliases, so a push of them first was one response more per demand (Envoy replays a
paused request only when its alias comes back, so the reply cannot be the one left out). The
held push then sends what the reply did not (nothing, unless something else changed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from functools import partial
from typing import Any

from pilotfish.xds.cache import SnapshotCache
from pilotfish.xds.connection import Connection
from pilotfish.xds.observer import Demand, DemandHosts
from pilotfish.xds.resources import CLUSTER, VIRTUAL_HOST
from pilotfish.xds.stream import DeltaStream


class OnDemand:
    """The server's on-demand asks (`answer`) and the pushes held meanwhile."""

    def __init__(
        self,
        cache: SnapshotCache,
        executor: Executor,
        demand: Demand | None,
        demand_hosts: DemandHosts | None,
    ) -> None:
        self._cache, self._executor = cache, executor
        self._demand, self._demand_hosts = demand, demand_hosts

    def answer(self, connection: Connection, request: Any) -> Awaitable[None] | None:
        """Have the control plane add what `request` asks for on demand, off the loop: what to
        await, or None when it asks for nothing (most requests: no coroutine made)."""
        names = connection.stream.on_demand_names(request)
        return self._answer(connection, request, names) if names else None

    async def _answer(self, connection: Connection, request: Any, names: tuple[str, ...]) -> None:
        stream, loop, node_id = connection.stream, asyncio.get_running_loop(), connection.node_id
        if request.type_url == VIRTUAL_HOST and isinstance(stream, DeltaStream):
            if names and self._demand_hosts is not None:
                connection.answering = True  # its reply carries what the demand publishes
                ask = partial(self._demand_hosts, node_id, names)
                stream.aliases.update(await loop.run_in_executor(self._executor, ask))
            return
        if (snapshot := self._cache.get(node_id)) is not None:
            names = tuple(n for n in names if n not in snapshot.resources(CLUSTER).by_name)
        if names and self._demand is not None:
            await loop.run_in_executor(self._executor, self._demand, node_id, names)

    @staticmethod
    def hold(connection: Connection) -> bool:
        """Whether a push to `connection` waits for the reply to its VHDS demand (noted)."""
        if connection.answering:
            connection.push_held = True
        return connection.answering

    @staticmethod
    def release(connection: Connection, push: Callable[[Connection], None]) -> None:
        """The request was answered: `push` what was held, if anything."""
        held, connection.answering, connection.push_held = connection.push_held, False, False
        if held:
            push(connection)
