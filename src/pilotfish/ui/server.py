"""The UI's HTTP routes (aiohttp), mounted under /ui by whoever serves them (the control plane
on its debug port). Static assets are files of this package; JSON endpoints:

GET /ui/api/graph?window=60            Kiali's graph (nodes, edges with rps, errors, p99, mTLS)
GET /ui/api/node?id=wl:ns/name         a node's inbound/outbound edges, config, proxy sync
GET /ui/api/dashboard/mesh|service|workload?window=&host=|namespace=&name=
GET /ui/api/controlplane               pilot_* metrics
GET /ui/api/explain?pod=NAME           failed requests of a pod, explained (`x explain`)
GET /ui/api/edge?id=SRC->DST           the same for the failing requests of one graph edge
GET /ui/api/traces/...                 the trace collector's Zipkin v2 API, passed through
"""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from aiohttp import web

from pilotfish.model.push_context import PushContext
from pilotfish.ui.access_log import parse_lines, tail
from pilotfish.ui.answers import DASHBOARDS, Answers, Query, RatesFor
from pilotfish.ui.control_panel import control_panel
from pilotfish.ui.explain import destination_of, explain
from pilotfish.ui.node_config import node_config, traffic_hint, workload_instances
from pilotfish.ui.prometheus_reader import (
    PrometheusRates,
    PrometheusReader,
    PrometheusUnavailable,
)
from pilotfish.ui.promql import Rates, ScrapeRates
from pilotfish.ui.scraper import Scraper
from pilotfish.ui.series import History, Target

STATIC = resources.files("pilotfish.ui") / "static"
CONTENT_TYPES = {".html": "text/html", ".js": "application/javascript", ".css": "text/css",
                 ".svg": "image/svg+xml"}  # fmt: skip
WINDOWS = (60, 300, 900, 3600)


class MeshSource(Protocol):
    """What the UI reads from the control plane that serves it."""

    def targets(self) -> list[Target]: ...
    def push(self) -> PushContext: ...
    def sync_status(self) -> dict[str, dict[str, str]]: ...  # instance -> xDS type -> state
    def pilot_metrics(self) -> str: ...
    def access_log(self, instance: str, namespace: str) -> Path | None: ...
    def zipkin_url(self) -> str | None: ...
    def prometheus_url(self) -> str | None: ...  # the mesh's Prometheus, when one runs


def _window(request: web.Request) -> int:
    try:
        value = int(request.query.get("window", "60"))
    except ValueError:
        return 60
    return min(max(value, 10), 3600)


class UiServer:
    def __init__(
        self, source: MeshSource, scraper: Scraper | None = None, precompute: bool = True
    ) -> None:
        self.source = source
        self.scraper = scraper or Scraper(source.targets)
        self.answers = Answers()
        self.prometheus = PrometheusReader(max_age=self.scraper.interval)
        self.prometheus_problem = ""
        if precompute:  # else every query is computed when asked (the benchmark's "before")
            self.scraper.prepare = lambda history: self.answers.prepare(self._rates_for(history))

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/ui", self.redirect),
            web.get("/ui/", self.index),
            web.get("/ui/static/{name}", self.static),
            web.get("/ui/api/graph", self.graph),
            web.get("/ui/api/node", self.node),
            web.get("/ui/api/dashboard/{kind}", self.dashboard),
            web.get("/ui/api/controlplane", self.controlplane),
            web.get("/ui/api/explain", self.explain),
            web.get("/ui/api/edge", self.edge),
            web.get("/ui/api/traces/{tail:.*}", self.traces),
        ]

    async def redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/ui/")

    async def index(self, request: web.Request) -> web.Response:
        return self._file("index.html")

    async def static(self, request: web.Request) -> web.Response:
        return self._file(request.match_info["name"])

    def _file(self, name: str) -> web.Response:
        if "/" in name or name.startswith(".") or Path(name).suffix not in CONTENT_TYPES:
            raise web.HTTPNotFound()
        item = STATIC / name
        if not item.is_file():
            raise web.HTTPNotFound()
        return web.Response(body=item.read_bytes(), content_type=CONTENT_TYPES[Path(name).suffix],
                            headers={"Cache-Control": "no-cache"})  # fmt: skip

    def _rates_for(self, history: History) -> RatesFor:
        def rates_for(window: int) -> Rates | None:
            span = history.window(window)
            return None if span is None else ScrapeRates(*span)

        return rates_for

    async def _lookup(self, query: Query) -> tuple[dict[str, Any], RatesFor]:
        """Where the query's answer comes from: the mesh's Prometheus when one runs (and
        answers), else the UI's own scrape; and the rates to answer it from."""
        url = self.source.prometheus_url()
        if url:
            try:
                rates = await self.prometheus.rates(url, query.window, self._prepare_prometheus)
            except PrometheusUnavailable as exc:
                self.prometheus_problem = str(exc)  # and the own scrape answers
            else:
                meta = {"window": query.window, "scrapes": None, "scraped_at": rates.at,
                        "interval": self.prometheus.max_age,
                        "source": f"the mesh's Prometheus ({url})"}  # fmt: skip
                return meta, lambda _: rates
        history = await self.scraper.look()
        source = "pilotfish scrape of every proxy's :15090/stats/prometheus"
        meta = {
            "window": query.window,
            "scrapes": len(history.scrapes),
            "scraped_at": history.scrapes[-1].at if history.scrapes else None,
            "interval": self.scraper.interval,
            "source": f"{source} ({self.prometheus_problem})" if url else source,
        }
        return meta, self._rates_for(history)

    async def _answer(self, query: Query) -> dict[str, Any]:
        meta, rates_for = await self._lookup(query)
        return meta | self.answers.get(query, rates_for)

    async def _respond(self, query: Query, **extra: Any) -> web.Response:
        """The answer as JSON, serialised once per round (the graph of a large mesh is ~100 KB)
        and joined to this request's fields."""
        meta, rates_for = await self._lookup(query)
        head = json.dumps(meta | extra)
        body = self.answers.text(query, rates_for)
        text = head if body == "{}" else f"{head[:-1]}, {body[1:]}"
        return web.Response(text=text, content_type="application/json")

    def _prepare_prometheus(self, rates: PrometheusRates, window: int) -> None:
        self.answers.prepare(lambda _: rates, window)

    async def graph(self, request: web.Request) -> web.Response:
        targets = self.source.targets()
        query = Query("graph", _window(request), targets=tuple(targets))
        return await self._respond(query, hint=traffic_hint(self.source.push(), targets))

    async def node(self, request: web.Request) -> web.Response:
        node_id = request.query.get("id", "")
        kind, _, rest = node_id.partition(":")
        namespace, _, name = rest.partition("/")
        if kind not in ("wl", "svc") or not name:
            return web.json_response({"error": f"unknown node {node_id!r}"}, status=404)
        graph = await self._answer(
            Query("graph", _window(request), targets=tuple(self.source.targets()))
        )
        meta = {k: v for k, v in graph.items() if k not in ("nodes", "edges")}
        push = self.source.push()
        info = node_config(push, "service" if kind == "svc" else "workload", namespace, name)
        sync = self.source.sync_status()
        return web.json_response(
            meta
            | info
            | {
                "id": node_id,
                "inbound": [e for e in graph["edges"] if e["target"] == node_id],
                "outbound": [e for e in graph["edges"] if e["source"] == node_id],
                "sync": {i: sync[i] for i in info["instances"] if i in sync},
            }
        )

    async def dashboard(self, request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        if kind not in DASHBOARDS:
            return web.json_response({"error": f"no dashboard {kind!r}"}, status=404)
        query = request.query
        args = (query.get("host", ""), query.get("namespace", "default"), query.get("name", ""))
        return await self._respond(Query(kind, _window(request), args))

    async def controlplane(self, request: web.Request) -> web.Response:
        return web.json_response(control_panel(self.source.pilot_metrics()))

    def _instances(self, pod: str) -> list[Target]:
        return [t for t in self.source.targets() if pod in (t.instance, t.workload)]

    def _findings(self, targets: list[Target], host: str = "") -> dict[str, Any]:
        """{findings, logged}: `logged` counts the access log lines read (0: logs are off)."""
        push = self.source.push()
        out: list[dict[str, Any]] = []
        logged = 0
        for target in targets:
            path = self.source.access_log(target.instance, target.namespace)
            entries = parse_lines(tail(path)) if path else []
            logged += len(entries)
            if host:
                entries = [e for e in entries
                           if destination_of(e, target.namespace)[0] == host]  # fmt: skip
            for finding in explain(entries, push, target.namespace, dict(target.labels)):
                out.append(finding.as_json() | {"pod": target.instance})
        return {"findings": out, "logged": logged}

    async def explain(self, request: web.Request) -> web.Response:
        pod = request.query.get("pod", "")
        targets = self._instances(pod)
        if not targets:
            known = sorted(t.instance for t in self.source.targets())
            return web.json_response({"error": f"no pod {pod!r}", "known": known}, status=404)
        return web.json_response({"pods": [t.instance for t in targets]} | self._findings(targets))

    async def edge(self, request: web.Request) -> web.Response:
        source, _, target = request.query.get("id", "").partition("->")
        src_ns, _, src_name = source.partition(":")[2].partition("/")
        dst_kind, _, rest = target.partition(":")
        dst_ns, _, dst_name = rest.partition("/")
        push = self.source.push()
        host = ""
        if dst_kind == "svc":
            host = next((s.hostname for s in push.registry.services
                         if (s.namespace, s.name) == (dst_ns, dst_name)), "")  # fmt: skip
        targets = [t for t in self.source.targets()
                   if (t.namespace, t.workload) == (src_ns, src_name)]  # fmt: skip
        if dst_kind == "wl":  # service -> workload: what the destination saw inbound
            targets = [t for t in self.source.targets() if t.instance in
                       {i.name for i in workload_instances(push, dst_ns, dst_name)}]  # fmt: skip
        return web.json_response(self._findings(targets, host))

    async def traces(self, request: web.Request) -> web.Response:
        base = self.source.zipkin_url()
        if not base:
            return web.json_response(
                {"error": "no trace collector is running in this mesh"}, status=503
            )
        url = f"{base.rstrip('/')}/api/v2/{request.match_info['tail']}"
        started = time.monotonic()
        try:
            timeout = aiohttp.ClientTimeout(total=5)
            async with (
                aiohttp.ClientSession(trust_env=False, timeout=timeout) as session,
                session.get(url, params=request.query) as resp,
            ):
                body = await resp.read()
                return web.Response(body=body, status=resp.status, content_type="application/json")
        except (aiohttp.ClientError, TimeoutError, OSError):
            waited = round(time.monotonic() - started, 1)
            return web.json_response(
                {
                    "error": f"no trace collector answers at {base} ({waited} s): turn tracing on "
                    "with a zipkin extensionProvider in the mesh config and a Telemetry `tracing` "
                    "rule, and `pilotfish up` starts one"
                },
                status=502,
            )

    async def close(self) -> None:
        await self.prometheus.close()
        await self.scraper.stop()
