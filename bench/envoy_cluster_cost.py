"""What applying its clusters costs a real Envoy: the agent's bootstrap as it is, side by side with
the same bootstrap plus Istio's stats inclusion list as Envoy's `stats_matcher` (what Istio's
pilot-agent writes; pilotfish applies the list only to what 15090 serves, `config.proxy_stats`).

    .venv/bin/python bench/envoy_cluster_cost.py [--services 100] [--rounds 2]

Starts the control plane with on-demand clusters and virtual hosts off (every sidecar holds
every service's three mTLS clusters, as in Istio without a Sidecar), applies bench/scale.py's
mesh through the API and starts two real Envoys at once, sidecars of two pods, one per
bootstrap. Reported per Envoy: seconds from its start until it has applied its first CDS
response (`cluster_manager.cds.update_success` 1), then per round, from a change of every
DestinationRule (a connection pool: every cluster changes) until it has applied it. Every
stat of every cluster goes through the bootstrap's `stats_tags` regexes
(`agent.bootstrap.ISTIO_STATS_TAGS`); with the inclusion list most stats are never made.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from meshbench import machine
from scale_api import DIRECT, TOKEN, apply_file, call, free_port
from scale_mesh import Topology
from scale_proxies import RealEnvoys

from pilotfish.config import proxy_stats

VARIANTS = ("bootstrap as it is", "with Istio's stats_matcher")


def inclusion_list() -> dict[str, object]:
    """Istio's default inclusion list (no user entries), as Envoy's `stats_matcher`."""
    prefixes = [*proxy_stats.HEAD_PREFIXES, *proxy_stats.REQUIRED_PREFIXES]
    prefixes += proxy_stats.TAIL_PREFIXES
    patterns: list[dict[str, object]] = [{"prefix": p} for p in prefixes]
    patterns += [{"suffix": s} for s in proxy_stats.REQUIRED_SUFFIXES]
    patterns += [{"safe_regex": {"regex": r}} for r in proxy_stats.REQUIRED_REGEXPS]
    return {"inclusion_list": {"patterns": patterns}}


def cds_updates(envoys: RealEnvoys, i: int) -> int:
    """The Envoy's `cluster_manager.cds.update_success` (-1 while its admin does not answer)."""
    admin = f"http://{envoys.instances[i].address}:15000"
    url = f"{admin}/stats?filter=^cluster_manager.cds.update_success$"
    try:
        with DIRECT.open(url, timeout=2) as response:
            return int(response.read().decode().split(":")[1])
    except (OSError, ValueError, IndexError):
        return -1


async def until(envoys: RealEnvoys, count: int, started: float, timeout: float) -> list[float]:
    """Seconds from `started` until each Envoy has applied `count` CDS responses."""
    done: dict[int, float] = {}
    while len(done) < len(envoys.procs) and time.monotonic() - started < timeout:
        for i in range(len(envoys.procs)):
            if i not in done and await asyncio.to_thread(cds_updates, envoys, i) >= count:
                done[i] = time.monotonic() - started
        await asyncio.sleep(0.05)
    return [done.get(i, float("nan")) for i in range(len(envoys.procs))]


async def run(args: argparse.Namespace) -> None:
    block = random.randint(100, 250)
    host = f"127.{block}.0.1"
    topo = Topology(args.services, 2 * args.services, block=block)  # two pods a service
    xds_port, http_port = free_port(host), free_port(host)
    base = f"http://{host}:{http_port}"
    tmp = Path(tempfile.mkdtemp(prefix="pilotfish-envoy-cost-"))
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env |= {"PILOTFISH_ON_DEMAND_CLUSTERS": "false", "PILOTFISH_ON_DEMAND_ROUTES": "false"}
    command = [sys.executable, "-m", "pilotfish.controlplane", "--state-dir", str(tmp / "state")]
    command += ["--address", host, "--xds-port", str(xds_port), "--http-port", str(http_port)]
    cp = subprocess.Popen(command, env=env, stderr=(tmp / "controlplane.log").open("wb"))
    envoys: RealEnvoys | None = None
    try:
        deadline = time.monotonic() + 60
        while not (tmp / "state" / "admin-token").exists() or not _ready(base):
            if time.monotonic() > deadline or cp.poll() is not None:
                raise RuntimeError((tmp / "controlplane.log").read_text()[-3000:])
            await asyncio.sleep(0.1)
        TOKEN["token"] = (tmp / "state" / "admin-token").read_text().strip()
        files = [["manifest.yaml", topo.manifest_yaml()], ["config.yaml", topo.config_yaml()]]
        call(base, "POST", "/api/v1/apply", {"files": files, "wait": False})
        instances = topo.instances()
        call(base, "PUT", "/api/v1/instances", {"instances": [i.row() for i in instances]})
        while call(base, "GET", "/ready").get("registry_applied", 0) < 1:
            await asyncio.sleep(0.1)
        envoys = RealEnvoys(instances[:2], (host, xds_port), tmp)
        with_matcher = json.loads(envoys.configs[1].read_text())
        with_matcher["stats_config"]["stats_matcher"] = inclusion_list()
        envoys.configs[1].write_text(json.dumps(with_matcher))
        await envoys.start_sds()
        started = time.monotonic()
        envoys.start()
        rows = {"first CDS applied, s from start": await until(envoys, 1, started, 120)}
        for n in range(args.rounds):
            started = time.monotonic()
            text = topo.pooled_rules(512 + n)
            applied, seconds = await asyncio.gather(  # the API answers once both have ACKed
                asyncio.to_thread(apply_file, base, "dr.yaml", text, 120),
                until(envoys, n + 2, started, 120),
            )
            assert applied.get("ok"), applied
            rows[f"every DestinationRule changed (round {n + 1}), s"] = seconds
        clusters = f"{args.services} services, {3 * args.services} mTLS clusters"
        print(f"| {clusters} | {' | '.join(VARIANTS)} |")
        print("|---|---|---|")
        for name, seconds in rows.items():
            print(f"| {name} | {' | '.join(f'{s:.2f}' for s in seconds)} |")
    finally:
        if envoys is not None:
            envoys.stop()
            await envoys.stop_sds()
        cp.send_signal(signal.SIGTERM)
        cp.wait(20)
        shutil.rmtree(tmp, ignore_errors=True)


def _ready(base: str) -> bool:
    try:
        return bool(call(base, "GET", "/ready", timeout=2))
    except (OSError, ValueError):
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
