"""The `Sidecar` resource: which config a sidecar receives, and how its inbound side looks.

Selection (Istio's order): in the proxy's namespace, a Sidecar whose `workloadSelector` matches
the proxy's labels (first by name); else that namespace's Sidecar without a selector; else the
root namespace's (istio-system) Sidecar without a selector, which applies mesh-wide.

- `egress[].hosts` (`ns/dnsName`: `.` = the proxy's own namespace, which for a root-namespace
  Sidecar applying mesh-wide is each workload's namespace, not istio-system; `*` = any,
  `~` = none; the dnsName may be `*` or `*.suffix`): the proxy receives clusters, endpoints,
  HTTP-proxy virtual hosts and TCP listeners only for the services it may reach. An egress
  listener with a `port` limits that entry to services exposing that port.
- `outboundTrafficPolicy.mode` overrides MeshConfig for the selected proxies (ALLOW_ANY passes
  unknown hosts through, REGISTRY_ONLY answers 502 from the `block_all` route, as Istio's
  BlackHoleCluster does).
- `ingress[]` replaces the inbound listeners derived from the workload's ports: one listener per
  `port.number`, to `defaultEndpoint` (`127.0.0.1:<port>` or `0.0.0.0:<port>`); in local mode an
  endpoint port that is one of the workload's container ports goes to the port its app really
  listens on. The port's `protocol` says HTTP (HTTP connection manager) or TCP; with `tls`
  (`ingress_tls`, `sidecar_ingress_tls`), as after termination: HTTPS is HTTP; as Istio, `tls`
  counts only when istiod's `ENABLE_TLS_ON_SIDECAR_INGRESS` is on (`MeshConfig`).

Before any Sidecar, Istio's `exportTo` of services (a ServiceEntry's field, a Service's
`networking.istio.io/exportTo` annotation) hides a service from proxies of the namespaces it is
not exported to, gateways included.

Scoping is done by handing translation a narrower `PushContext` (memoised per scope in the full
one), so every translator sees the same, smaller registry. A proxy that a DestinationRule's
`workloadSelector` of its namespace selects gets one too (per selection: `model.destination_rules`),
whose look-ups apply those rules for its namespace. Pure.
"""

from __future__ import annotations

import dataclasses

from pilotfish.config.hosts import host_matches
from pilotfish.config.kinds import SERVICE_ENTRY, SIDECAR, WORKLOAD_ENTRY
from pilotfish.config.models.networking.gateway import ServerTLSSettings
from pilotfish.config.objects import Sidecar
from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import RegistrySnapshot, Service
from pilotfish.translate import sidecar_ingress_tls
from pilotfish.translate.carry import Carry, carry_of


def selected_sidecar(proxy: Proxy, push: PushContext) -> Sidecar | None:
    """The Sidecar that applies to `proxy`, or None."""
    sidecars: tuple[Sidecar, ...] = push.kind(SIDECAR)
    if not sidecars:  # the common case, asked for every proxy a change may reach
        return None
    labels = proxy.label_map
    local = [s for s in sidecars if s.meta.namespace == proxy.namespace]
    root = [s for s in sidecars if s.meta.namespace == push.mesh.root_namespace]
    for sidecar in local:
        selector = sidecar.spec.workload_selector
        if (
            selector is not None
            and selector.labels
            and all(labels.get(k) == v for k, v in selector.labels.items())
        ):
            return sidecar
    for sidecar in local + root:
        selector = sidecar.spec.workload_selector
        if selector is None or not selector.labels:
            return sidecar
    return None


def _host_allows(written: str, proxy_namespace: str, service: Service) -> bool:
    if "/" not in written:
        namespace, host = "*", written
    else:
        namespace, host = written.split("/", 1)
    if namespace == "~":
        return False
    if namespace == ".":
        namespace = proxy_namespace
    if namespace != "*" and namespace != service.namespace:
        return False
    return host == "*" or host_matches(host, service.hostname)


def visible(sidecar: Sidecar, proxy_namespace: str, service: Service) -> bool:
    """True if one of the Sidecar's egress listeners lets a proxy in `proxy_namespace` reach
    `service` (Istio resolves `.` against the workload's namespace, so a mesh-wide default in the
    root namespace written `./*` means "the workload's own namespace")."""
    for egress in sidecar.spec.egress:
        number = egress.port.number if egress.port is not None else None
        if number and service.port(number) is None:
            continue
        if any(_host_allows(h, proxy_namespace, service) for h in egress.hosts):
            return True
    return False


def _restricted_exports(push: PushContext) -> bool:
    """Whether some service is not exported to every namespace (memoised per push context)."""
    key = "pilotfish.translate.sidecar_scope.restricted"
    found: bool | None = push.memo.get(key)
    if found is None:
        found = push.memo[key] = any(s.export_to for s in push.registry.services)
    return found


def scoped_push(proxy: Proxy, push: PushContext) -> PushContext:
    """`push` narrowed to what the proxy may see: the services exported to its namespace
    (gateways included, as Istio), then what its Sidecar lets it reach, with the DestinationRule
    selectors of its namespace its labels satisfy (`PushContext.rule_selection`); itself when
    every service is exported everywhere, no Sidecar applies and no rule selects it."""
    sidecar = None if proxy.is_gateway else selected_sidecar(proxy, push)
    restricted = _restricted_exports(push)
    selection = push.rule_selection_of(proxy.namespace, proxy.labels)
    if sidecar is None and not restricted and not selection:
        return push
    sidecar_key = sidecar.meta.key if sidecar is not None else None
    key = ("pilotfish.translate.sidecar_scope", sidecar_key, proxy.namespace, selection)
    if key in push.memo:
        found: PushContext = push.memo[key]
        return found
    registry = push.registry
    services = registry.services
    if restricted:
        services = tuple(s for s in services if s.exported_to(proxy.namespace))
    if sidecar is not None and sidecar.spec.egress:
        services = tuple(s for s in services if visible(sidecar, proxy.namespace, s))
    if services is not registry.services:
        registry = RegistrySnapshot(
            services=services, instances=registry.instances, secrets=registry.secrets
        )
    mesh = push.mesh
    policy = sidecar.spec.outbound_traffic_policy if sidecar is not None else None
    if policy is not None and policy.mode:  # Istio allows any only for ALLOW_ANY: a number
        mode = policy.mode if isinstance(policy.mode, str) else "REGISTRY_ONLY"  # naming none
        mesh = dataclasses.replace(mesh, outbound_traffic_policy=mode)
    # ServiceEntries are already merged into the registry: leave them out, or they would be
    # merged again (and the scoped-out ones come back).
    configs = tuple(c for c in push.configs if c.meta.kind not in (SERVICE_ENTRY, WORKLOAD_ENTRY))
    own = (proxy.namespace, selection) if selection else None
    if sidecar is None and not restricted:  # selected by DestinationRules alone: what it
        # shares with `push` is taken over (rule index, registry memo), and its translation is
        # carried from one push context to the next under its key, as `push`'s own is
        parent = carry_of(push)
        carry = parent.latest(key)
        if carry is None:
            parent.remember(key, carry := Carry())
        scoped = PushContext(
            registry=registry, configs=configs, mesh=mesh, carry=carry, previous=push,
            rule_selection=own,
        )  # fmt: skip
    else:
        scoped = PushContext(registry=registry, configs=configs, mesh=mesh, rule_selection=own)
    push.memo[key] = scoped
    return scoped


def any_ingress(push: PushContext) -> bool:
    """Whether some Sidecar of the push context has `ingress` (once per push context)."""
    key = "pilotfish.translate.sidecar_scope.any_ingress"
    found: bool | None = push.memo.get(key)
    if found is None:
        sidecars: tuple[Sidecar, ...] = push.kind(SIDECAR)
        found = push.memo[key] = any(s.spec.ingress for s in sidecars)
    return found


def ingress_ports(proxy: Proxy, push: PushContext) -> list[tuple[int, int, str]] | None:
    """(listener port, app port, protocol as served: upper case) per Sidecar `ingress` entry;
    None without any."""
    if not any_ingress(push):  # the common case, asked for every sidecar and inbound route
        return None
    sidecar = selected_sidecar(proxy, push)
    if sidecar is None or not sidecar.spec.ingress:
        return None
    real = dict(proxy.app_ports)
    found: list[tuple[int, int, str]] = []
    for ingress in sidecar.spec.ingress:
        if ingress.port is None or not ingress.port.number:
            continue
        endpoint = str(ingress.default_endpoint or "")
        target = endpoint.rsplit(":", 1)[-1] if ":" in endpoint else ""
        app_port = int(target) if target.isdigit() else ingress.port.number
        app_port = real.get(app_port, app_port)
        protocol = str(ingress.port.protocol or "HTTP")
        if ingress.tls is not None and push.mesh.tls_on_sidecar_ingress:
            protocol = sidecar_ingress_tls.terminated(protocol)  # served as after termination
        found.append((ingress.port.number, app_port, protocol.upper()))
    return found


def ingress_tls(proxy: Proxy, push: PushContext) -> dict[int, ServerTLSSettings]:
    """Listener port -> the `tls` of its Sidecar `ingress` entry, for those that set it;
    none unless istiod's `ENABLE_TLS_ON_SIDECAR_INGRESS` is on (Istio's default: off)."""
    sidecar = selected_sidecar(proxy, push) if push.mesh.tls_on_sidecar_ingress else None
    if sidecar is None:
        return {}
    return {
        ingress.port.number: ingress.tls
        for ingress in sidecar.spec.ingress
        if ingress.tls is not None and ingress.port is not None and ingress.port.number
    }
