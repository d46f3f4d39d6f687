"""The agent's merged metrics endpoint, Istio's 15020 `/stats/prometheus`: Envoy's own stats (from
15090, where Istio's metrics already have Istio's names; their series kept across listener
replacement by `continuity`), the agent's, and the app's if the workload declares
`prometheus.io/scrape: "true"` (with `prometheus.io/port` and `prometheus.io/path`, default
`/metrics`) and Istio's injector merges it (`merges`: MeshConfig `enablePrometheusMerge`, the pod's
`prometheus.istio.io/merge-metrics`); `scrape_annotations` are the pod's annotations the injector
leaves for Prometheus. Also `/app-health/<container>/<readyz|livez|startupz>`, where Istio's
injector points a container's rewritten probes. Scrape path only: nothing here touches requests
between workloads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from pilotfish import __version__
from pilotfish.agent.continuity import SeriesKeeper
from pilotfish.agent.ports import MERGED_PORT
from pilotfish.ca.identity import WORKLOAD_SECRET

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


def agent_series(envoy_restarts: int, app_restarts: int, cert_expiry: float | None) -> str:
    """The agent's own series in the merged output: Istio's `istio_build`, the agent's
    `istio_agent_cert_expiry_seconds` (time left on the workload certificate it serves, whose
    not-after is `cert_expiry`, negative once expired), and the restarts of its children."""
    text = (
        "# TYPE istio_build gauge\n"
        f'istio_build{{component="proxy",tag="{__version__}"}} 1\n'
        "# TYPE pilotfish_agent_child_restarts_total counter\n"
        f'pilotfish_agent_child_restarts_total{{child="envoy"}} {envoy_restarts}\n'
        f'pilotfish_agent_child_restarts_total{{child="app"}} {app_restarts}\n'
    )
    if cert_expiry is not None:
        left = cert_expiry - time.time()
        text += (
            "# HELP istio_agent_cert_expiry_seconds The time remaining, in seconds, before "
            "the certificate chain will expire. A negative value indicates the cert is "
            "expired.\n"
            "# TYPE istio_agent_cert_expiry_seconds gauge\n"
            f'istio_agent_cert_expiry_seconds{{resource_name="{WORKLOAD_SECRET}"}} {left:.3f}\n'
        )
    return text


class MergedMetrics:
    """An aiohttp server on ip:15020 for one proxy; `agent_lines` gives the agent's own series."""

    def __init__(
        self,
        ip: str,
        stats_url: str,
        app: AppScrape | None,
        agent_lines: Callable[[], str],
        app_health: Callable[[str, str], Awaitable[int]] | None = None,
    ) -> None:
        self.ip = ip
        self.app_health = app_health  # (container, endpoint) -> the status to answer
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
        endpoints = "{endpoint:readyz|livez|startupz}"
        application.router.add_get(f"/app-health/{{container}}/{endpoints}", self._app_health)
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
        """Istio's rewritten probes: the container's own probe's answer (`pod_probes`)."""
        if self.app_health is None:
            return web.Response(status=404)
        info = request.match_info
        return web.Response(status=await self.app_health(info["container"], info["endpoint"]))

    async def _handle(self, request: web.Request) -> web.Response:
        sources = [self._fetch(self.stats_url)]
        if self.app is not None:
            sources.append(self._fetch(f"http://127.0.0.1:{self.app.port}{self.app.path}"))
        parts = await asyncio.gather(*sources)
        envoy = self._keeper.apply(parts[0]) if parts[0] else ""
        merged = [envoy, self.agent_lines(), *parts[1:]]
        text = "".join(p if p.endswith("\n") or not p else p + "\n" for p in merged)
        return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})
