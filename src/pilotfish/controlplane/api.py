"""The control plane's HTTP API (aiohttp), on the debug port (Istio's 15014).

POST /api/v1/apply      {"files": [[source, text], ...], "namespace": null, "wait": true, ...}
POST /api/v1/delete     {"files": [...], "keys": [[group, kind, namespace, name]], ...}
GET  /api/v1/config     ?kind=&group=&namespace=&name= stored documents (Gateway API: + status)
GET  /api/v1/manifest   manifest documents, their version, services' cluster IPs (launcher),
                        whether istiod's part serves (`controlplane.removal`'s endpoints)
PUT  /api/v1/instances  {"instances": [...]}        the launcher reports workload instances
POST /api/v1/tokens     {"instance", "namespace", "service_account"} -> {"token"} for its agent;
                        {"workload_group", "namespace", "service_account", "duration"} ->
                        {"token", "expires", "root_cert"}: a VM's bootstrap token
GET  /debug/ca          the CA: where its key material comes from, roots, certificates signed
GET  /debug/syncz       per-proxy xDS sync status (what `pilotfish proxy-status` shows)
GET  /debug/config_dump ?proxyID=                  the resources generated for one proxy
GET  /debug/registryz   services and instances
GET  /metrics           Prometheus metrics (pilot_*)
GET  /ready             200 once serving, with the newest instance list pushed

The read-only views (/debug/*, /metrics, /ready) are `controlplane.debug_views`' (routed here).
Writes (POST/PUT/DELETE) need the owner's token (`controlplane.auth`); reads stay open. Request
limits (size, shape, writes waiting) are `controlplane.limits`. A change is validated and
translated in a worker thread, so xDS and this API keep answering while a large one is processed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from pilotfish.ca.service import CaService
from pilotfish.config.gateway_api.status import Pod, with_status
from pilotfish.controlplane import gc_freeze
from pilotfish.controlplane.auth import (
    authenticated,
    redact_secret,
    write_guard,
)
from pilotfish.controlplane.core import ChangeResult, ControlPlane
from pilotfish.controlplane.debug_views import DebugViews
from pilotfish.controlplane.instances import InstanceRows
from pilotfish.controlplane.limits import (
    MAX_REQUEST_BYTES,
    ApiLimits,
    Refused,
    json_body,
    text_pairs,
)
from pilotfish.controlplane.store import DocKey
from pilotfish.model.proxy import ProxyType
from pilotfish.registry import cluster_ips as vips
from pilotfish.registry.types import WorkloadInstance
from pilotfish.xds.debounce import run_debounced
from pilotfish.xds.resources import Snapshot
from pilotfish.xds.server import XdsServer

log = logging.getLogger("pilotfish.controlplane")
invalid = logging.getLogger("pilotfish.validation")  # Istio's `validation` scope
DEFAULT_TOKEN_DURATION = 3600.0  # istioctl's --tokenDuration
RELEASE_AFTER_S = 1.0  # `release_later` (a full push to 2,000 proxies takes longer)


class Api(DebugViews):
    """The API's handlers (the read-only debug views: `DebugViews`)."""

    def __init__(
        self,
        cp: ControlPlane,
        xds: XdsServer,
        metrics: CollectorRegistry,
        admin_token: str = "",
        ca: CaService | None = None,
    ) -> None:
        self.cp = cp
        self.admin_token = admin_token
        self.ca = ca
        self.xds = xds
        self.metrics = metrics
        # (generation, instances, monotonic time received): the time starts convergence
        self.registry_events: asyncio.Queue[tuple[int, list[WorkloadInstance], float]]
        self.registry_events = asyncio.Queue()
        self.registry_received = 0  # instance lists received (PUT /api/v1/instances)
        self.registry_applied = 0  # the newest of them whose push has been handed to xDS
        self.instance_rows = InstanceRows()  # rows as the last list had them, read
        self.limits = ApiLimits(metrics)
        self.serving: Callable[[], bool] = lambda: True  # istiod's part (`removal`)

    def app(self) -> web.Application:
        middlewares: list[Any] = [self.limits.middleware]
        if self.admin_token:
            middlewares.append(write_guard(self.admin_token, self.cp.state_dir))
        app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=middlewares)
        app.add_routes(
            [
                web.post("/api/v1/apply", self.apply),
                web.post("/api/v1/delete", self.delete),
                web.get("/api/v1/config", self.get_config),
                web.get("/api/v1/manifest", self.get_manifest),
                web.put("/api/v1/instances", self.put_instances),
                web.post("/api/v1/tokens", self.issue_token),
                web.get("/debug/ca", self.ca_status),
                web.get("/debug/syncz", self.syncz),
                web.get("/debug/config_dump", self.config_dump),
                web.get("/debug/registryz", self.registryz),
                web.get("/metrics", self.prometheus),
                web.get("/ready", self.ready),
            ]
        )
        return app

    async def _finish(
        self, result: ChangeResult, body: dict[str, Any], started: float
    ) -> web.Response:
        out: dict[str, Any] = {
            "ok": result.ok,
            "diagnostics": [_diag(d) for d in result.diagnostics],
            "changes": result.changes,
        }
        if result.ok:
            self._count_push(result.expected, "config")
            if body.get("wait", True) and result.expected:
                report = await self.xds.wait_acked(result.expected, float(body.get("timeout", 10)))
                out["convergence"] = {
                    "acked": list(report.acked),
                    "nacked": report.nacked,
                    "missing": list(report.missing),
                    "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
                }
            out["proxies"] = len(self.xds.connected())
            out["affected"] = result.affected
        else:
            invalid.info("configuration is invalid: %s", "; ".join(map(str, result.diagnostics)))
        return web.json_response(out, status=200 if result.ok else 422)

    def _count_push(self, snapshots: dict[str, Snapshot], trigger: str) -> None:
        """Count a change that published snapshots (the control plane publishes them in the
        cache the xDS server pushes from) by its reason (Istio's pilot_push_triggers: config,
        endpoint) and refresh the registry gauges."""
        metrics = self.xds.metrics
        metrics.services.set(len(self.cp.push.services))
        metrics.virtual_services.set(len(self.cp.push.kind("VirtualService")))
        if snapshots:
            metrics.triggers.labels(trigger).inc()

    async def apply(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        body = await json_body(request)
        files = text_pairs(body.get("files"), "files")
        result = await self._change(started, self.cp.apply, files, _namespace(body))
        return await self._finish(result, body, started)

    async def delete(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        body = await json_body(request)
        keys = _keys(body.get("keys"))
        files = text_pairs(body.get("files"), "files")
        result = await self._change(started, self.cp.delete, files, keys, _namespace(body))
        return await self._finish(result, body, started)

    async def _change(
        self, started: float, change: Callable[..., ChangeResult], *args: Any
    ) -> ChangeResult:
        """One change at a time, translated off the event loop; proxies that connected meanwhile
        are brought up to date with it. `started`: its arrival (Istio's PushRequest.Start)."""
        self.limits.begin_write()
        try:
            async with self.cp.lock:
                gc_freeze.pause()  # until the idle moment after it (`release_later`)
                result = await asyncio.to_thread(change, *args, started)  # its changed_at
                if result.ok:
                    late = self.cp.catch_up(started)
                    result.expected.update(late)
                    result.affected = sorted(set(result.affected) | set(late))
        finally:
            self.limits.end_write()
            self.release_later()
        return result

    def release_later(self) -> None:
        """What a change replaced let go, what it allocated collected, collections on again
        (`ControlPlane.release_idle`) once its pushes are ACKed (`gc_freeze.when_out`)."""
        waiting, loop = self.xds.convergence.waiting, asyncio.get_running_loop()
        loop.call_later(RELEASE_AFTER_S, gc_freeze.when_out, waiting, self.cp.release_idle)

    async def change_documents(self, docs: list[dict[str, Any]], keys: list[DocKey]) -> bool:
        """A change the control plane makes itself (auto-registered WorkloadEntries): applies
        `docs` or deletes `keys` through the same path as `apply`/`delete`, then pushes."""
        started = time.monotonic()
        if docs:
            text = "\n---\n".join(json.dumps(d) for d in docs)
            result = await self._change(
                started, self.cp.apply, [("<auto-registration>", text)], None
            )
        else:
            result = await self._change(started, self.cp.delete, [], keys, None)
        if result.ok:
            self._count_push(result.expected, "config")
        else:
            log.warning(
                "auto-registration change refused: %s", "; ".join(map(str, result.diagnostics))
            )
        return result.ok

    async def get_config(self, request: web.Request) -> web.Response:
        kind = request.query.get("kind", "").lower()
        namespace = request.query.get("namespace", "")
        name = request.query.get("name", "")
        group = request.query.get("group")
        docs = []
        stored = self.cp.store.documents()
        pods = [Pod(i.namespace, i.address, i.labels, i.ready) for i in self.cp.instances]
        pods += [  # the ingress gateway (a Gateway naming it in `spec.addresses`): where it binds
            Pod(p.namespace, p.bind_address, p.labels, True)
            for p in self.cp.proxies.values()
            if p.type is ProxyType.ROUTER
        ]
        for doc in with_status(stored, pods, kind):
            meta = doc.get("metadata") or {}
            if kind and str(doc.get("kind", "")).lower() not in (kind, kind.rstrip("s")):
                continue
            if group is not None and str(doc.get("apiVersion", "")).rpartition("/")[0] != group:
                continue
            if namespace and (meta.get("namespace") or "default") != namespace:
                continue
            if name and meta.get("name") != name:
                continue
            docs.append(vips.with_allocated_status(doc, self.cp.cluster_ips))
        return web.json_response({"documents": self._shown(request, docs)})

    def _shown(self, request: web.Request, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self.admin_token or authenticated(request, self.admin_token):
            return docs
        return [redact_secret(d) for d in docs]

    async def get_manifest(self, request: web.Request) -> web.Response:
        docs = self._shown(request, self.cp.store.manifest_documents())
        return web.json_response(
            {
                "version": self.cp.manifest_version,
                "documents": docs,
                "cluster_ips": dict(vips.cluster_ips(self.cp.push.registry.services)),
                "entry_addresses": vips.entry_addresses(self.cp.push.registry.services),
                "serving": self.serving(),
            }
        )

    async def issue_token(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        try:
            namespace = str(body["namespace"])
            account = str(body.get("service_account") or "default")
            group = body.get("workload_group")
            if group is None:
                token = self.cp.tokens.issue(str(body["instance"]), namespace, account)
                return web.json_response({"ok": True, "token": token})
            duration = float(body.get("duration") or DEFAULT_TOKEN_DURATION)
            token, expires = self.cp.tokens.issue_bootstrap(
                str(group), namespace, account, duration
            )
        except (KeyError, TypeError) as exc:
            return web.json_response({"ok": False, "error": f"missing {exc}"}, status=400)
        except ValueError as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        roots = self.cp.authority().material.roots_pem
        return web.json_response(
            {
                "ok": True,
                "token": token,
                "expires": expires,
                "root_cert": roots,
                "trust_domain": self.cp.push.mesh.trust_domain,
            }
        )

    async def put_instances(self, request: web.Request) -> web.Response:
        started = time.monotonic()  # its event time: convergence counts from its arrival
        body = await json_body(request)
        try:
            instances = self.instance_rows.read(list(body.get("instances") or []))
        except (KeyError, TypeError, ValueError) as exc:
            return web.json_response({"ok": False, "error": f"bad instance: {exc}"}, status=400)
        self.registry_received += 1
        self.registry_events.put_nowait((self.registry_received, instances, started))
        return web.json_response({"ok": True, "generation": self.registry_received}, status=202)

    async def push_registry_changes(self) -> None:
        """Registry changes are debounced (Istio's PILOT_DEBOUNCE_*): a burst of instance
        updates becomes one push, computed from the newest list."""

        async def handle(batch: list[tuple[int, list[WorkloadInstance], float]]) -> None:
            generation, instances, _ = batch[-1]
            async with self.cp.lock:  # convergence counts from the batch's first event
                gc_freeze.pause()
                changed = self.cp.set_instances(instances, changed_at=batch[0][2])
            self.release_later()
            self._count_push(changed, "endpoint")
            self.registry_applied = generation

        await run_debounced(self.registry_events, handle)


def _namespace(body: dict[str, Any]) -> str | None:
    value = body.get("namespace")
    return str(value) if value else None


def _keys(value: Any) -> list[DocKey]:
    """`[[group, kind, namespace, name], ...]` of a delete request, or `Refused`."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(k, list) and len(k) == 4 and all(isinstance(x, str) for x in k) for k in value
    ):
        raise Refused(400, "malformed", "keys must be a list of [group, kind, namespace, name]")
    return [(g, k, ns, n) for g, k, ns, n in value]


def _diag(d: Any) -> dict[str, Any]:
    return {
        "level": d.level,
        "message": d.message,
        "path": d.path,
        "file": d.source.file,
        "line": d.source.line,
        "kind": d.kind,
        "name": d.name,
        "text": str(d),
    }


async def run_forever() -> None:
    await asyncio.Event().wait()
