"""`pilotfish agent` as a process: one pod's pilot-agent, configured by `pilotfish.agent.config`.

It runs the same `Agent` the local launcher runs in-process: writes Envoy's bootstrap, gets the
workload certificate and serves it over SDS, starts and supervises Envoy (and the app, when one
is given), and serves merged metrics and `/app-health/…` on 15020 (Envoy serves 15021).

In a captured pod it exempts its own connections (to the CA, to Envoy's admin) from capture the
way Istio's agent is exempted, by running with the proxy's gid 1337 (when started as root; its
app is started with its real group, so the app's traffic stays captured).

Stopping follows Istio's pilot-agent on SIGTERM: Envoy drains its inbound listeners (all of them
for a gateway) for `terminationDrainDuration`, then the app stops, then Envoy. A second SIGTERM
or SIGINT cuts the drain short. Exit status: 0 after a clean stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time

from pilotfish.agent.config import AgentConfig
from pilotfish.agent.health_report import reporter_for
from pilotfish.agent.sidecar import Agent
from pilotfish.capture.rules import PROXY_GID

log = logging.getLogger("pilotfish.agent")

LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING}


def exempt_from_capture(config: AgentConfig) -> None:
    """Istio's agent runs as 1337: our connections pass the capture rules' gid exemption."""
    if config.spec.proxy.captured and os.geteuid() == 0 and os.getegid() != PROXY_GID:
        os.setegid(PROXY_GID)


async def serve(config: AgentConfig) -> int:
    spec = config.spec
    agent = Agent(spec)
    stop, hurry = asyncio.Event(), asyncio.Event()

    def on_signal() -> None:
        (hurry if stop.is_set() else stop).set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    log.info(
        "agent %s (%s) starting: discovery %s:%d, run dir %s",
        spec.proxy.id,
        spec.proxy.type.value,
        spec.xds_host,
        spec.xds_port,
        spec.run_dir,
    )
    await agent.start()
    reporter = reporter_for(spec, config.proxy_config)  # a host outside the mesh: its probe
    health = asyncio.create_task(reporter.run()) if reporter is not None else None
    await stop.wait()
    if health is not None:
        health.cancel()
    started = time.monotonic()
    log.info("draining for %.1f s (terminationDrainDuration)", spec.termination_drain)
    await agent.drain_listeners()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(hurry.wait(), spec.termination_drain)
    await agent.stop()
    log.info("stopped after %.1f s", time.monotonic() - started)
    return 0


def run_agent(config: AgentConfig) -> int:
    logging.basicConfig(
        level=LOG_LEVELS.get(config.log_level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    exempt_from_capture(config)
    return asyncio.run(serve(config))
