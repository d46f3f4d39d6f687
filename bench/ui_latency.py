"""How fast the web UI answers for a 50-service mesh (the goal: within 200 ms).

A synthetic mesh: N services (default 50), two versions each, every version calling the next
two services; each of the 2N sidecars exposes what Envoy would on 15090 (istio_requests_total
with both reporters and three response codes, and istio_request_duration_milliseconds buckets
with Istio's 20 bounds). An hour of scrapes (every 5 s for 2 minutes, then the UI's sparse
history) is loaded into the UI's own history, the UI's aiohttp routes are served on loopback,
and the real scraper loop keeps adding rounds (every `--interval` s: the 100 expositions parsed
in a worker thread, counters growing) while a client asks every endpoint in turn over HTTP for
`--seconds`. Two modes, side by side in one run: every answer computed when first asked after
a new round (`UiServer(precompute=False)`, the code before), and answers prepared in the
background before a round is shown (the default).

    .venv/bin/python bench/ui_latency.py [--services 50] [--seconds 30] [--interval 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import urllib.request
from pathlib import Path

from aiohttp import web

from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import (
    Protocol,
    RegistrySnapshot,
    Service,
    ServicePort,
    WorkloadInstance,
)
from pilotfish.ui.scraper import Scraper
from pilotfish.ui.series import Parser, Scrape, Target, parse_exposition
from pilotfish.ui.server import UiServer

BOUNDS = ("0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000",
          "10000", "30000", "60000", "300000", "600000", "1800000", "3600000", "+Inf")  # fmt: skip
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def labels(reporter: str, src: str, dst: str, dst_svc: str, code: str) -> str:
    return (
        f'reporter="{reporter}",source_workload="{src}",source_canonical_service="{src[:-3]}",'
        f'source_canonical_revision="v1",source_workload_namespace="default",'
        f'source_principal="unknown",source_app="{src[:-3]}",source_version="v1",'
        f'source_cluster="Kubernetes",destination_workload="{dst}",'
        f'destination_workload_namespace="default",destination_principal="unknown",'
        f'destination_app="{dst_svc}",destination_version="v1",'
        f'destination_service="{dst_svc}.default.svc.cluster.local",'
        f'destination_canonical_service="{dst_svc}",destination_canonical_revision="v1",'
        f'destination_service_name="{dst_svc}",destination_service_namespace="default",'
        f'destination_cluster="Kubernetes",request_protocol="http",response_code="{code}",'
        f'grpc_response_status="",response_flags="-",connection_security_policy="unknown"'
    )


def exposition(services: int, svc: int, version: int, tick: int) -> str:
    """What one sidecar (service svc, version) shows after `tick` scrape intervals."""
    me = f"svc{svc}-v{version}"
    lines = []
    for reporter, pairs in (
        ("source", [(me, f"svc{(svc + k) % services}-v{v}", f"svc{(svc + k) % services}")
                    for k in (1, 2) for v in (1, 2)]),
        ("destination", [(f"svc{(svc - k) % services}-v{v}", me, f"svc{svc}")
                         for k in (1, 2) for v in (1, 2)]),
    ):  # fmt: skip
        for src, dst, dst_svc in pairs:
            for code, share in (("200", 0.97), ("503", 0.02), ("404", 0.01)):
                count = int(tick * 10 * share) + 1
                lab = labels(reporter, src, dst, dst_svc, code)
                lines.append(f"istio_requests_total{{{lab}}} {count}")
                for i, le in enumerate(BOUNDS):
                    lines.append(
                        f'istio_request_duration_milliseconds_bucket{{{lab},le="{le}"}} '
                        f"{min(count, count * (i + 1) // 8)}"
                    )
    return "\n".join(lines) + "\n"


class Source:
    def __init__(self, services: int) -> None:
        self._targets = [
            Target(f"svc{s}-v{v}-0", f"svc{s}-v{v}", "default", f"127.9.{s}.{v}")
            for s in range(services) for v in (1, 2)
        ]  # fmt: skip
        port = ServicePort("http", 9080, Protocol.HTTP, 9080)
        registry = RegistrySnapshot(
            services=tuple(Service(f"svc{s}", "default", (port,), (("app", f"svc{s}"),))
                           for s in range(services)),
            instances=tuple(WorkloadInstance(t.instance, t.workload, "default", t.ip,
                            (("app", t.workload[:-3]), ("version", t.workload[-2:])))
                            for t in self._targets),
        )  # fmt: skip
        self._push = PushContext(registry)

    def targets(self) -> list[Target]:
        return self._targets

    def push(self) -> PushContext:
        return self._push

    def sync_status(self) -> dict[str, dict[str, str]]:
        return {t.instance: {"Cluster": "SYNCED"} for t in self._targets}

    def pilot_metrics(self) -> str:
        return "# TYPE pilot_xds gauge\npilot_xds 100\n"

    def access_log(self, instance: str, namespace: str) -> Path | None:
        return None

    def zipkin_url(self) -> str | None:
        return None

    def prometheus_url(self) -> str | None:
        return None


def timed_get(url: str) -> float:
    started = time.perf_counter()
    with _DIRECT.open(url, timeout=30) as resp:
        resp.read()
        assert resp.status == 200
    return (time.perf_counter() - started) * 1000


PATHS = (
    "/api/graph?window=60",
    "/api/graph?window=3600",
    "/api/dashboard/mesh?window=60",
    "/api/dashboard/service?window=300&host=svc3.default.svc.cluster.local",
    "/api/node?id=wl:default/svc3-v1&window=60",
    "/",
)


def synthetic_history(source: Source, texts: list[str], rounds: list[int]) -> list[Scrape]:
    """Rounds of scrapes `tick * 5` s ago (counters grow with time), oldest first."""
    base = {t.instance: parse_exposition(text) for t, text in zip(source.targets(), texts,
                                                                     strict=True)}  # fmt: skip
    now = time.time()
    out = []
    for tick in sorted(rounds, reverse=True):
        scrape = Scrape(now - tick * 5)
        for instance, samples in base.items():
            scrape.by_target[instance] = {
                name: {k: v * (720 - tick) for k, v in series.items()}
                for name, series in samples.items()
            }
        out.append(scrape)
    return out


class LiveScraper(Scraper):
    """The real scraper loop, the sidecars replaced by the synthetic expositions: each round
    parses all of them (the real parser, in a worker thread) and adds a round whose counters
    grew, as a busy mesh's do."""

    def __init__(self, source: Source, texts: list[str], interval: float) -> None:
        super().__init__(source.targets, interval=interval, idle_after=3600)
        ticks = list(range(1, 25)) + list(range(30, 720, 6))
        self.history.scrapes.extend(synthetic_history(source, texts, ticks))
        self.base = synthetic_history(source, texts, [0])[0]
        self.texts = texts
        self.rounds = 0

    async def scrape_once(self) -> Scrape:
        self.rounds += 1
        await asyncio.to_thread(lambda: [self.parser.parse(text) for text in self.texts])
        scrape = Scrape(time.time())
        grow = 1 + self.rounds / 100
        for instance, samples in self.base.by_target.items():
            scrape.by_target[instance] = {
                name: {k: v * grow for k, v in series.items()} for name, series in samples.items()
            }
        return scrape


async def measure(
    source: Source, texts: list[str], precompute: bool, seconds: float, interval: float
) -> tuple[dict[str, list[float]], int]:
    """Every endpoint asked in turn for `seconds` while the scraper adds a round every
    `interval` s (after a warm-up of two rounds); every latency (the first one: the very first
    request), and how many rounds were added meanwhile."""
    scraper = LiveScraper(source, texts, interval)
    server = UiServer(source, scraper, precompute=precompute)
    app = web.Application()
    app.add_routes(server.routes())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/ui"
    first = [await asyncio.to_thread(timed_get, url + path) for path in PATHS]
    warm_until = scraper.rounds + 2  # the page's steady state: every query asked before
    while scraper.rounds < warm_until:
        for path in PATHS:
            await asyncio.to_thread(timed_get, url + path)
        await asyncio.sleep(0.2)
    times: dict[str, list[float]] = {path: [t] for path, t in zip(PATHS, first, strict=True)}
    rounds = scraper.rounds
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for path in PATHS:
            times[path].append(await asyncio.to_thread(timed_get, url + path))
        await asyncio.sleep(0.05)
    added = scraper.rounds - rounds
    await server.close()
    await runner.cleanup()
    return times, added


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def main() -> None:
    options = argparse.ArgumentParser()
    options.add_argument("--services", type=int, default=50)
    options.add_argument("--seconds", type=float, default=30, help="per mode")
    options.add_argument(
        "--interval", type=float, default=5.0, help="scrape interval, s (the UI: 5)"
    )
    args = options.parse_args()
    source = Source(args.services)
    texts = [exposition(args.services, s, v, 1) for s in range(args.services) for v in (1, 2)]
    series = sum(t.count("\n") for t in texts)
    parser = Parser()
    for text in texts:
        parser.parse(text)  # the first round fills the label cache
    started = time.perf_counter()
    for text in texts:
        parser.parse(text)
    parse_ms = (time.perf_counter() - started) * 1000
    print(f"{args.services} services, {len(source.targets())} sidecars, {series} series per "
          f"round; a round every {args.interval} s, {args.seconds} s per mode; load average "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"parse one scrape round: {parse_ms:.0f} ms (in a worker thread)")
    before, rounds_before = await measure(source, texts, False, args.seconds, args.interval)
    after, rounds_after = await measure(source, texts, True, args.seconds, args.interval)
    print(f"rounds added: {rounds_before} (computed when asked), {rounds_after} (prepared)")
    print(
        "Measured after two rounds of warm-up (every endpoint asked); the very first request "
        "of each endpoint (the first look, which waits for the first round) is shown last."
    )
    print(
        "| endpoint | requests | computed when asked: median / p90 / max ms | "
        "prepared in the background: median / p90 / max ms | max ratio | first ask ms |"
    )
    print("|---|---|---|---|---|---|")
    for path in PATHS:
        b, a = before[path][1:], after[path][1:]
        print(f"| `{path}` | {len(b)} / {len(a)} | {statistics.median(b):.0f} / "
              f"{pct(b, 0.9):.0f} / {max(b):.0f} | {statistics.median(a):.0f} / "
              f"{pct(a, 0.9):.0f} / {max(a):.0f} | {max(b) / max(a):.1f} | "
              f"{before[path][0]:.0f} / {after[path][0]:.0f} |")  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
