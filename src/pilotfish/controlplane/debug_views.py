"""The control plane API's read-only debug views (mixed into `controlplane.api.Api`, which
routes them): `/debug/ca` (the CA's key material and roots, what it signed and refused),
`/debug/syncz` (per-proxy xDS sync status and the versions generated, and the push version
istiod's syncz answer carries as its `versionInfo`: `proxy-status`),
`/debug/config_dump?proxyID=` (the resources generated for one proxy, private keys redacted),
`/debug/registryz` (services and instances), `/metrics` (Prometheus exposition) and `/ready`
(serving, with the newest instance list pushed). They read the control plane; none writes.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from typing import Any

from aiohttp import web
from google.protobuf.json_format import MessageToDict
from prometheus_client import CollectorRegistry

from pilotfish.ca.service import CaService
from pilotfish.controlplane.auth import redact_private_key
from pilotfish.controlplane.core import ControlPlane
from pilotfish.xds.metrics import exposition
from pilotfish.xds.server import XdsServer


class DebugViews:
    """The handlers; `Api` gives the control plane, the xDS server, the metrics registry, the CA
    service and the newest instance list pushed (`registry_applied`)."""

    cp: ControlPlane
    xds: XdsServer
    metrics: CollectorRegistry
    ca: CaService | None
    registry_applied: int

    async def ca_status(self, request: web.Request) -> web.Response:
        return web.json_response(
            self.cp.ca.status()
            | {
                "signed": self.ca.signed if self.ca else 0,
                "refused": self.ca.refused if self.ca else 0,
            }
        )

    async def syncz(self, request: web.Request) -> web.Response:
        rows = []
        for status in self.xds.status():
            row = asdict(status)
            proxy = self.cp.proxies.get(status.node_id)
            row["proxy"] = asdict(proxy) if proxy else None
            row["generation_errors"] = self.cp.generation_errors.get(status.node_id, [])
            snapshot = self.cp.snapshots.get(status.node_id)
            row["latest"] = (
                {t: snapshot.version_of(t) for t in snapshot.type_urls()} if snapshot else {}
            )
            rows.append(row)
        cache = self.cp.cache  # istiod's PushVersion: RFC 3339 time of the push, "/", a count
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(cache.published_at))
        return web.json_response(
            {
                "proxies": rows,
                "registry_applied": self.registry_applied,
                "push_version": f"{at}/{cache.generation}",
            }
        )

    async def config_dump(self, request: web.Request) -> web.Response:
        node_id = request.query.get("proxyID", "")
        matches = [
            n
            for n in list(self.cp.snapshots)
            if node_id in (n, n.split("~")[2], n.split("~")[2].split(".")[0])
        ]
        if len(matches) != 1:
            return web.json_response(
                {"error": f"proxy {node_id!r} not found", "known": sorted(self.cp.snapshots)},
                status=404,
            )
        parts = await asyncio.to_thread(self.cp.current_parts, matches[0])  # takes a lock
        resources: Any = {}
        if parts:
            resources = parts[1]
            for part in reversed(parts[0]):
                resources = part.merged(resources)
        dump = {
            type_url: [
                redact_private_key(MessageToDict(m, preserving_proto_field_name=True))
                for m in named.values()
            ]
            for type_url, named in resources.items()
        }
        return web.json_response({"node": matches[0], "resources": dump})

    async def registryz(self, request: web.Request) -> web.Response:
        registry = self.cp.push.registry
        return web.json_response(
            {
                "services": [asdict(s) | {"hostname": s.hostname} for s in registry.services],
                "instances": [asdict(i) for i in registry.instances],
            }
        )

    async def prometheus(self, request: web.Request) -> web.Response:
        return web.Response(body=exposition(self.metrics), content_type="text/plain")

    async def ready(self, request: web.Request) -> web.Response:
        return web.json_response({"ready": True, "registry_applied": self.registry_applied})
