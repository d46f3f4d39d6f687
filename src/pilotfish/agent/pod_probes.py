"""A pod's probes, both sides of Istio's rewrite:

- the kubelet's side (`kubelet_check`, `container_prober`): how the kubelet runs one of a
  container's probes. An `exec` probe runs its command in the container (its env, folder and
  network namespace). With a sidecar and Istio's rewrite on (`sidecar.istio.io/
  rewriteAppHTTPProbers`, default true) an httpGet, tcpSocket or grpc probe is the rewritten one:
  a GET of `/app-health/<container>/<endpoint>` on the agent's 15020 (`probes.rewritten`).
  Without the rewrite it goes straight at the pod's address and container port, where a
  sidecar's inbound listener takes it (under STRICT mTLS, a plaintext probe fails there: what
  the rewrite is for); without a sidecar, straight at the app;
- the agent's side (`app_health`): what 15020 answers for `/app-health/<container>/<endpoint>`,
  as Istio's status server: the original probe run against the app on the pod's localhost,
  answered with the app's own status (a redirect: 200), or 200/500 for tcp and grpc; 400 for a
  path it has no probe for.

`pod_probes` lists every probe of a pod (each container's readiness, liveness and startup).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable

from pilotfish.agent.kubelet_probes import ContainerProber, Run
from pilotfish.agent.ports import MERGED_PORT
from pilotfish.agent.probes import Outcome, check, rewritten, run_exec
from pilotfish.agent.spec import AgentSpec, AppSpec, app_env, in_pod
from pilotfish.registry.workloads import Probe

NO_PROBER = 400  # Istio's answer for a path with no probe ("app prober config does not exists")


def pod_probes(spec: AgentSpec) -> list[Probe]:
    """Every probe of the pod's containers, the first's first, then the ones this agent only
    serves (another process runs those containers: `served_probes`)."""
    apps = [spec.app] if spec.app is not None else []
    found: list[Probe | None] = [spec.readiness]
    for app in [*apps, *spec.siblings]:
        found += [app.liveness, app.startup] if app is spec.app else [
            app.readiness, app.liveness, app.startup]  # fmt: skip
    return [p for p in (*found, *spec.served_probes) if p is not None]


def through_agent(spec: AgentSpec, probe: Probe) -> bool:
    """The kubelet runs the rewritten probe (Istio's injector rewrote it to the agent)."""
    return spec.sidecar and spec.rewrite_probes and probe.rewritable


def kubelet_check(
    spec: AgentSpec, app: AppSpec | None = None
) -> Callable[[Probe], Awaitable[Outcome]]:
    """How the kubelet runs a probe of container `app` (default: the first; see the module's
    docstring)."""
    proxy = spec.proxy
    app = app or spec.app

    async def run(probe: Probe) -> Outcome:
        if probe.kind == "exec" and app is not None:
            argv = list(probe.command)
            if argv[0] in ("python", "python3"):
                argv[0] = sys.executable
            return await run_exec(probe, in_pod(spec, argv), app_env(spec, app), app.workdir)
        if through_agent(spec, probe):
            return await check(rewritten(probe), proxy.ip, MERGED_PORT)
        real = probe.port if spec.sidecar else dict(proxy.app_ports).get(probe.port, probe.port)
        return await check(probe, proxy.ip, real)

    return run


def container_prober(
    spec: AgentSpec,
    app: AppSpec,
    current_run: Callable[[], Run | None],
    kill: Callable[[float], Awaitable[None]],
    on_change: Callable[[], None],
) -> ContainerProber | None:
    """The kubelet's startup and liveness probes of `app`; None when it has neither."""
    if app.liveness is None and app.startup is None:
        return None
    name = app.name or (app.liveness or app.startup or Probe("", "")).container
    return ContainerProber(
        name, app.startup, app.liveness, kubelet_check(spec, app), current_run, kill, on_change,
        grace=spec.termination_grace,
    )  # fmt: skip


async def app_health(spec: AgentSpec, container: str, endpoint: str) -> int:
    """The agent's answer to `/app-health/<container>/<endpoint>` (Istio's status server)."""
    probe = next(
        (p for p in pod_probes(spec) if p.container == container and p.endpoint == endpoint),
        None,
    )
    if probe is None or probe.kind == "exec":
        return NO_PROBER
    proxy = spec.proxy
    host = "127.0.0.1" if spec.sidecar else proxy.ip
    outcome = await check(probe, host, dict(proxy.app_ports).get(probe.port, probe.port))
    return answer(outcome)


def answer(outcome: Outcome) -> int:
    """Istio's status for a probe's outcome: the app's own status (a redirect, or no status:
    200 when it passed), else 500."""
    if outcome.status and not 300 <= outcome.status < 400:
        return outcome.status
    return 200 if outcome.ok else 500
