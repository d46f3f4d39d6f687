"""The agent's merged metrics endpoint, Istio's 15020 `/stats/prometheus`: Envoy's own stats
(from 15090, where Istio's metrics already have Istio's names; their series kept across listener
replacement by `continuity`), the agent's, and the app's if the workload declares
`prometheus.io/scrape: "true"` (with `prometheus.io/port` and `prometheus.io/path`, default
`/metrics`) and Istio's injector merges it (`merges`: MeshConfig `enablePrometheusMerge`, the
pod's `prometheus.istio.io/merge-metrics`); `scrape_annotations` are the pod's annotations the
injector leaves for Prometheus. Also `/app-health/<container>/readyz`, where Istio's injector
points a container's rewritten readiness probe. Scrape path only: nothing here touches requests
between workloads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from pilotfish.agent.continuity import SeriesKeeper
from pilotfish.agent.ports import MERGED_PORT

log = logging.getLogger("pilotfish.agent")

SCRAPE_ANNOTATION = "prometheus.io/scrape"
PORT_ANNOTATION = "prometheus.io/port"
PATH_ANNOTATION = "prometheus.io/path"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class AppScrape:
    """Where the app serves its own metrics (already mapped to its real loopback port)."""

    port: int
    path: str = "/metrics"


MERGE_ANNOTATION = "prometheus.istio.io/merge-metrics"
MERGED_PATH = "/stats/prometheus"


def merges(annotations: Mapping[str, str], mesh_merge: bool) -> bool:
    """Istio's injector merges the app's metrics into 15020 (MeshConfig `enablePrometheusMerge`,
    the pod's `prometheus.istio.io/merge-metrics` first) unless the pod says
    `prometheus.io/scrape: "false"`."""
    if annotations.get(SCRAPE_ANNOTATION, "").lower() == "false":
        return False
    own = annotations.get(MERGE_ANNOTATION, "").lower()
    return own == "true" if own in ("true", "false") else mesh_merge


def scrape_annotations(
    annotations: Mapping[str, str], mesh_merge: bool, injected: bool = True
) -> dict[str, str]:
    """The pod's `prometheus.io/*` annotations as Istio's injector leaves them: pointing at the
    agent's merged endpoint when it merges (`merges`), else (or with no sidecar injected) the
    pod's own, untouched (the app's port and path, scraped directly, or nothing)."""
    if injected and merges(annotations, mesh_merge):
        return {SCRAPE_ANNOTATION: "true", PORT_ANNOTATION: str(MERGED_PORT),
                PATH_ANNOTATION: MERGED_PATH}  # fmt: skip
    keys = (SCRAPE_ANNOTATION, PORT_ANNOTATION, PATH_ANNOTATION)
    return {k: annotations[k] for k in keys if k in annotations}


def app_scrape(
    annotations: dict[str, str], app_ports: tuple[tuple[int, int], ...]
) -> AppScrape | None:
    """The app's metrics target from its `prometheus.io/*` annotations, if it declares one."""
    if annotations.get(SCRAPE_ANNOTATION, "").lower() != "true":
        return None
    ports = dict(app_ports)
    raw = annotations.get(PORT_ANNOTATION, "")
    if raw.isdigit():
        port = ports.get(int(raw), int(raw))
    elif app_ports:
        port = app_ports[0][1]
    else:
        return None
    path = annotations.get(PATH_ANNOTATION) or "/metrics"
    return AppScrape(port, path if path.startswith("/") else f"/{path}")


class MergedMetrics:
    """An aiohttp server on ip:15020 for one proxy; `agent_lines` gives the agent's own series."""

    def __init__(
        self,
        ip: str,
        stats_url: str,
        app: AppScrape | None,
        agent_lines: Callable[[], str],
        app_health: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        self.ip = ip
        self.app_health = app_health  # container -> its readiness probe passes
        self.stats_url = stats_url
        self.app = app
        self.agent_lines = agent_lines
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._keeper = SeriesKeeper()  # Istio's series survive listener replacement

    async def start(self) -> None:
        application = web.Application()
        application.router.add_get("/stats/prometheus", self._handle)
        application.router.add_get("/metrics", self._handle)
        application.router.add_get("/app-health/{container}/readyz", self._app_health)
        self._runner = web.AppRunner(application, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.ip, MERGED_PORT, reuse_address=True)
        await site.start()
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=5), trust_env=False
        )

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _fetch(self, url: str) -> str:
        assert self._session is not None
        try:
            async with self._session.get(url) as resp:
                if resp.status != 200:
                    log.warning("metrics merge: %s answered %s", url, resp.status)
                    return ""
                return await resp.text()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.warning("metrics merge: cannot read %s: %s", url, exc)
            return ""

    async def _app_health(self, request: web.Request) -> web.Response:
        """Istio's rewritten readiness probe: 200 when the container's own probe passes."""
        if self.app_health is None:
            return web.Response(status=404)
        ok = await self.app_health(request.match_info["container"])
        return web.Response(status=200 if ok else 500)

    async def _handle(self, request: web.Request) -> web.Response:
        sources = [self._fetch(self.stats_url)]
        if self.app is not None:
            sources.append(self._fetch(f"http://127.0.0.1:{self.app.port}{self.app.path}"))
        parts = await asyncio.gather(*sources)
        envoy = self._keeper.apply(parts[0]) if parts[0] else ""
        merged = [envoy, self.agent_lines(), *parts[1:]]
        text = "".join(p if p.endswith("\n") or not p else p + "\n" for p in merged)
        return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})
