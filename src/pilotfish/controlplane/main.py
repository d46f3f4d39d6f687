"""Entry point of the control-plane process: `python -m pilotfish.controlplane`.

Serves xDS and the CA (gRPC: Istio's 15010 plaintext for loopback, 15012 over TLS with its own
certificate from the CA, renewed before it expires: `pilotfish.ca.serving`) and the HTTP API +
debug endpoints + the web UI (`/ui/`, `pilotfish.ui`) (Istio's 15014) on one address; reads
and writes the state directory. SIGTERM/SIGINT stop it cleanly. If the state says a CA exists
but its key is lost, it refuses to start (exit status 2) instead of re-rooting the mesh.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import ipaddress
import logging
import os
import signal
import sys
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry

from pilotfish.ca.authority import MAX_TTL
from pilotfish.ca.errors import CaStateError
from pilotfish.ca.service import CaService
from pilotfish.ca.serving import SERVING_CERT_TTL, ServingCertificate
from pilotfish.controlplane import gc_freeze
from pilotfish.controlplane.api import Api
from pilotfish.controlplane.auth import ensure_admin_token
from pilotfish.controlplane.autoregister import AutoRegistration, grace_period
from pilotfish.controlplane.citadel import CaState, CitadelMetrics
from pilotfish.controlplane.controlz import ControlZ
from pilotfish.controlplane.core import ControlPlane
from pilotfish.controlplane.removal import Removal
from pilotfish.controlplane.scopes import Scopes
from pilotfish.controlplane.ui_source import ControlPlaneSource
from pilotfish.model.mesh import on_demand_enabled, on_demand_routes_enabled
from pilotfish.registry.images import IMAGE_MAP_ENV
from pilotfish.state_files import UI_TOKEN_FILE
from pilotfish.ui.guard import ui_guard
from pilotfish.ui.server import UiServer
from pilotfish.xds.server import XdsServer, XdsServerError

log = logging.getLogger("pilotfish.controlplane")


async def serve(
    state_dir: Path,
    address: str,
    xds_port: int,
    http_port: int,
    ca: CaState,
    tls_port: int = 0,
    serving_ttl: datetime.timedelta = SERVING_CERT_TTL,
    image_map: str | None = None,
    service_cidr: str = "",
    filter_gateway_clusters: bool = False,
    on_demand_clusters: bool = False,
    on_demand_routes: bool = False,
    scopes: Scopes | None = None,
    ctrlz_port: int = 0,
) -> None:
    cp = ControlPlane(
        state_dir,
        ca,
        trace_collector_address=address,
        image_map=image_map,
        service_cidr=service_cidr,
        filter_gateway_clusters=filter_gateway_clusters,
        on_demand_clusters=on_demand_clusters,
        on_demand_routes=on_demand_routes,
    )
    for problem in cp.load_state():
        log.warning("state: %s", problem)
    ca.start(cp.push.mesh.trust_domain, datetime.datetime.now(datetime.UTC))
    admin_token = ensure_admin_token(state_dir)
    metrics = CollectorRegistry()
    CitadelMetrics(ca, metrics)
    registration = AutoRegistration(
        cp.tokens,
        cp.store.of_kind,
        lambda docs, keys: api.change_documents(docs, keys),
        controller=f"pilotfish-{address}",
        grace=grace_period(),
    )
    loop = asyncio.get_running_loop()
    xds = XdsServer(  # a connect burst collects once, when its pushes are out (`gc_freeze`)
        gc_freeze.quiet_while(cp.snapshot_for_node, loop, lambda: api.release_later()),
        registry=metrics,
        forget=cp.forget,
        observer=registration,
        cache=cp.cache,
        demand=cp.demand,
        demand_hosts=cp.demand_hosts,
    )
    cp.connected = xds.connected
    signer = CaService(cp.authority, cp.tokens)
    ca.on_change = signer.notify_roots
    secure = None
    if tls_port:
        serving = ServingCertificate(cp.authority, address, serving_ttl)
        secure = (f"{address}:{tls_port}", serving.credentials())
    bound = await xds.start(f"{address}:{xds_port}", signer.handlers(), secure)
    api = Api(cp, xds, metrics, admin_token, signer)
    pusher = asyncio.create_task(api.push_registry_changes())
    registrar = asyncio.create_task(registration.run())
    app = api.app()
    stop = asyncio.Event()
    removal = Removal(cp, xds, stop)  # `kubectl delete namespace istio-system`
    api.serving = lambda: removal.serving
    app.add_routes(removal.routes())
    ui = UiServer(ControlPlaneSource(cp, xds, metrics, address))
    app.middlewares.append(ui_guard(ensure_admin_token(state_dir, UI_TOKEN_FILE)))
    app.add_routes(ui.routes())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, address, http_port, reuse_address=True)
    await site.start()
    log.info("control plane serving xDS on %s:%d, API on %s:%d", address, bound, address, http_port)
    controlz = None
    if ctrlz_port:
        metrics_url = f"http://{address}:{http_port}/metrics"
        introspection = ControlZ(scopes or Scopes(), admin_token, metrics_url)
        controlz = web.AppRunner(introspection.app(), access_log=None)
        await controlz.setup()
        try:  # introspection only: the mesh runs without it
            await web.TCPSite(controlz, address, ctrlz_port, reuse_address=True).start()
            log.info("ControlZ on %s:%d", address, ctrlz_port)
        except OSError as exc:
            log.warning("ControlZ not served on %s:%d: %s", address, ctrlz_port, exc)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("control plane stopping")
    pusher.cancel()
    registrar.cancel()
    await ui.close()
    if controlz is not None:
        await controlz.cleanup()
    await runner.cleanup()
    await xds.stop(grace=0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pilotfish-controlplane")
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--xds-port", type=int, default=15010)
    parser.add_argument("--http-port", type=int, default=15014)
    parser.add_argument("--tls-port", type=int, default=0, help="xDS + CA over TLS (15012)")
    parser.add_argument(
        "--serving-cert-ttl",
        type=float,
        default=SERVING_CERT_TTL.total_seconds(),
        help="lifetime of the 15012 serving certificate, seconds (renewed at half)",
    )
    parser.add_argument("--cacerts", type=Path, default=None, help="plug-in CA files folder")
    parser.add_argument(
        "--max-workload-cert-ttl", type=float, default=MAX_TTL.total_seconds(), help="seconds"
    )
    parser.add_argument(
        "--service-cidr",
        default="",
        help="give Kubernetes-shaped services a cluster IP from this range (captured pods)",
    )
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument(
        "--ctrlz-port", type=int, default=0, help="ControlZ (istiod's 9876); 0: not served"
    )
    parser.add_argument(
        "--image-map",
        default=os.environ.get(IMAGE_MAP_ENV) or None,
        help=f"the user's image map (default ${IMAGE_MAP_ENV}); read on each apply",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    scopes = Scopes()
    scopes.install(logging.getLogger().level)
    try:
        ipaddress.ip_network(args.service_cidr or "0.0.0.0/32", strict=False)
    except ValueError as exc:
        log.error("refusing to start: --service-cidr: %s", exc)
        return 2
    ca = CaState(
        args.state_dir,
        args.cacerts,
        datetime.timedelta(seconds=args.max_workload_cert_ttl),
    )
    gc_freeze.install()  # full collections stay short however large the heap grows
    try:
        asyncio.run(
            serve(
                args.state_dir,
                args.address,
                args.xds_port,
                args.http_port,
                ca,
                args.tls_port,
                datetime.timedelta(seconds=args.serving_cert_ttl),
                args.image_map,
                args.service_cidr,
                # Istio's flag (default off): gateways get only the clusters they route to
                os.environ.get("PILOT_FILTER_GATEWAY_CLUSTER_CONFIG", "").lower() == "true",
                # pilotfish's option: sidecars get clusters on demand (translate.on_demand)
                on_demand_enabled(os.environ),
                # pilotfish's option: and their virtual hosts (translate.on_demand_routes)
                on_demand_routes_enabled(os.environ),
                scopes,
                args.ctrlz_port,
            )
        )
    except CaStateError as exc:
        log.error("refusing to start: %s", exc)
        return 2
    except (OSError, XdsServerError) as exc:
        log.error("cannot serve: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
