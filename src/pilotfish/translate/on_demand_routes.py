"""On-demand virtual hosts (VHDS; pilotfish's default, beyond Istio: `PILOTFISH_ON_DEMAND_ROUTES`
=false turns it off, `model.mesh`): a sidecar's `http_proxy` route configuration holds no
service's virtual host up front; Envoy asks for the one a request needs.

How: the route configuration a delta sidecar is sent (`up_front`) keeps only its pod-local
virtual host and names VHDS over ADS (`vhds.config_source`). A request whose Host no virtual
host matches is paused by the on-demand filter (`translate.on_demand`, already in the chain),
and Envoy subscribes to `http_proxy/<host>` (type `VirtualHost`). The control plane remembers
the hosts each sidecar asked for and answers each with the virtual host the full
configuration (`virtual_hosts.http_proxy_route_config`, unchanged, shared by a namespace)
would route that host to (`resolved`), renamed `http_proxy/<fqdn>:<port>`, the resource
carrying the asked name as an alias. A host no service has gets a virtual host of its own
holding exactly what the catch-all would do (passthrough under ALLOW_ANY, 502 under
REGISTRY_ONLY): the catch-all (`*`) cannot stay up front, since a request it matches never
asks. A change of a VirtualService then reaches only the sidecars holding its virtual host,
with that virtual host alone.

Who: sidecars that get clusters on demand (`on_demand.applies`: delta xDS, not gateways),
not captured pods (their per-port route configurations are kept whole). A state-of-the-world
Envoy cannot use VHDS (Envoy: "only 'DELTA_GRPC' or 'ADS' (which uses Delta xDS)").

Envoy 1.40 facts this relies on (read in its source, vhds.cc, rds_impl.cc,
route_config_update_receiver_impl.cc, on_demand_update.cc; checked through real Envoys by
tests/e2e/test_on_demand_routes.py):
- the VHDS watch is on the route configuration's name as a namespace (every resource named
  `<name>/...` is delivered to it); its first request names no resource (measured), and must
  be answered with one resource at least (the route configuration, and so the listener, waits
  for it; an empty update reaches only wildcard watches: measured, the listener stayed
  warming);
- Envoy keys VHDS virtual hosts by the VirtualHost's `name` and removes them by resource name
  (`removed_resources`): so the two are the same;
- after an update carrying the asked alias, Envoy checks whether a virtual host now exists
  for the host and, if so, replays the request (a request whose body was buffered meanwhile
  is not replayed: it continues, with the route now found); an alias answered with no
  resource continues the request without a route (404 `NR`);
- virtual host domains must stay unique across the route configuration and every VHDS
  virtual host (Envoy rejects the update otherwise): every virtual host comes from the one
  full configuration, whose domains are unique, and a host no service has is answered only
  when it matches no other virtual host.

Pure: reads only its arguments (memoised per push context; what a sidecar is sent of a part
built without its whole configuration is kept in lasting `Carry` units: `vhds_part.pieces`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2

from pilotfish.model.proxy import Proxy
from pilotfish.model.push_context import PushContext
from pilotfish.translate import names, on_demand, vhds_part
from pilotfish.translate.envoy_pb import ads_config_source
from pilotfish.translate.resources import ProxyResources
from pilotfish.translate.vhds_part import (
    PREFIX,
    UP_FRONT_VHOSTS,
    DomainIndex,
    OnDemandRoutePart,
    answer_of,
    host_of,
    resource_name,
)
from pilotfish.type_urls import ROUTE, VIRTUAL_HOST

MAX_HOSTS_PER_PROXY = 4096
"""Hosts one sidecar may ask for (each may cost a virtual host): past this, a new host is
answered with no resource, and the request fails with 404, as Envoy routes an unknown name."""


def applies(proxy: Proxy, push: PushContext) -> bool:
    """Whether this proxy's `http_proxy` virtual hosts come on demand."""
    return push.mesh.on_demand_routes and on_demand.applies(proxy, push) and not proxy.captured


def holds_any(answers: Mapping[str, str], hostnames: Collection[str]) -> bool:
    """Whether a sidecar whose asked names were answered with `answers` (VHDS name asked ->
    virtual host) holds a virtual host of one of `hostnames`, or one of a wildcard host
    (which may cover them)."""
    return held_hosts(answers).holds_any(hostnames)


@dataclass(frozen=True)
class Held:
    """The hosts of the virtual hosts a sidecar holds, and whether one is a wildcard host."""

    hosts: frozenset[str]
    wildcard: bool

    def holds_any(self, hostnames: Collection[str]) -> bool:
        return self.wildcard or not self.hosts.isdisjoint(hostnames)


def held_hosts(answers: Mapping[str, str]) -> Held:
    """What `answers` (VHDS name asked -> virtual host) hold (`holds_any`)."""
    hosts = set()
    for answer in answers.values():
        rest = answer[len(PREFIX) :]
        hosts.add(rest.rsplit(":", 1)[0] if ":" in rest else rest)
    return Held(frozenset(hosts), any(h.startswith("*") for h in hosts))


def up_front(config: route_pb2.RouteConfiguration) -> route_pb2.RouteConfiguration:
    """`config` as a sidecar with on-demand virtual hosts is sent it: its settings, no virtual
    host, and VHDS over ADS (the virtual hosts of `UP_FRONT_VHOSTS` come over VHDS)."""
    trimmed = route_pb2.RouteConfiguration()  # field by field: a copy of the whole, emptied,
    for field, value in config.ListFields():  # would keep its virtual hosts' memory (arena)
        if field.name == "virtual_hosts":
            continue
        if field.is_repeated:
            getattr(trimmed, field.name).extend(value)
        elif field.type == field.TYPE_MESSAGE:
            getattr(trimmed, field.name).CopyFrom(value)
        else:
            setattr(trimmed, field.name, value)
    trimmed.vhds.config_source.CopyFrom(ads_config_source())
    return trimmed


def _renamed(vhost: rc_pb2.VirtualHost, push: PushContext) -> rc_pb2.VirtualHost:
    """`vhost` named as its VHDS resource, memoised per push context."""
    key = ("pilotfish.translate.vhds", id(vhost), "")
    found: tuple[rc_pb2.VirtualHost, rc_pb2.VirtualHost] | None = push.memo.get(key)
    if found is None or found[0] is not vhost:
        answer = rc_pb2.VirtualHost()
        answer.CopyFrom(vhost)
        answer.name = resource_name(vhost.name)
        found = push.memo[key] = (vhost, answer)
    return found[1]


def matching_vhost(config: route_pb2.RouteConfiguration, host: str) -> rc_pb2.VirtualHost | None:
    """The virtual host of `config` Envoy picks for `host` (`DomainIndex.lookup`)."""
    index = DomainIndex.of(config).lookup(host.lower())
    return config.virtual_hosts[index] if index is not None else None


def _index_key(config: route_pb2.RouteConfiguration) -> tuple[str, int]:
    return ("pilotfish.translate.vhds.index", id(config))


def index_of(config: route_pb2.RouteConfiguration, push: PushContext) -> DomainIndex:
    """`DomainIndex.of(config)`, memoised per push context (and kept with `config`'s record:
    `keep_in`)."""
    found: tuple[route_pb2.RouteConfiguration, DomainIndex] | None = push.memo.get(
        _index_key(config)
    )
    if found is None or found[0] is not config:
        found = push.memo[_index_key(config)] = (config, DomainIndex.of(config))
        _kept(config, push, "index", found[1])
    return found[1]


def _kept_key(config: route_pb2.RouteConfiguration) -> tuple[str, int]:
    return ("pilotfish.translate.vhds.kept", id(config))


def keep_in(
    config: route_pb2.RouteConfiguration, push: PushContext, kept: dict[str, object]
) -> None:
    """What `push` makes of `config` for on-demand routes (its domain index, its up-front part:
    pure functions of it) is put in `kept` too, so a configuration derived from it in a later
    push context takes them (`carry_index`)."""
    push.memo[_kept_key(config)] = (config, kept)
    for name, key in (("index", _index_key(config)), ("up_front", _up_front_key(config))):
        found = push.memo.get(key)
        if found is not None and found[0] is config:
            kept[name] = found[1]


def _kept(
    config: route_pb2.RouteConfiguration, push: PushContext, name: str, value: object
) -> None:
    found: tuple[route_pb2.RouteConfiguration, dict[str, object]] | None = push.memo.get(
        _kept_key(config)
    )
    if found is not None and found[0] is config:
        found[1][name] = value


def carry_index(
    old: route_pb2.RouteConfiguration,
    kept: dict[str, object],
    new: route_pb2.RouteConfiguration,
    push: PushContext,
) -> None:
    """`new` has the domains of `old` at the same positions, its settings and the virtual
    hosts of `UP_FRONT_VHOSTS` (`derived_routes`): the index and the up-front part made of
    `old` (`kept` with it: `keep_in`), if any, serve `new` in `push`."""
    index = kept.get("index")
    if isinstance(index, DomainIndex):
        push.memo[_index_key(new)] = (new, index)
    up_front_before = kept.get("up_front")  # same settings, the same pod's own virtual host
    if up_front_before is not None:
        push.memo[_up_front_key(new)] = (new, up_front_before)


def resolved(
    config: route_pb2.RouteConfiguration, host: str, push: PushContext
) -> rc_pb2.VirtualHost | None:
    """The VHDS virtual host answering `host` for a sidecar whose full `http_proxy`
    configuration is `config`: the virtual host Envoy would route it to, renamed; for a host
    only the catch-all takes, a virtual host of that host alone with the catch-all's routes.
    None when nothing would route it. Memoised per push context (shared by every sidecar)."""
    index = index_of(config, push).lookup(host)
    vhost = config.virtual_hosts[index] if index is not None else None
    if vhost is None or vhost.name in UP_FRONT_VHOSTS:
        return None
    if "*" not in vhost.domains:
        return _renamed(vhost, push)
    key = ("pilotfish.translate.vhds", id(vhost), host)
    found: tuple[rc_pb2.VirtualHost, rc_pb2.VirtualHost] | None = push.memo.get(key)
    if found is None or found[0] is not vhost:
        answer = rc_pb2.VirtualHost()
        answer.CopyFrom(vhost)
        answer.name = resource_name(host)
        del answer.domains[:]
        answer.domains.append(host)
        found = push.memo[key] = (vhost, answer)
    return found[1]


def published(
    route_part: ProxyResources, aliases: Iterable[str], push: PushContext
) -> tuple[ProxyResources, dict[str, str]]:
    """What a sidecar that asked for `aliases` (VHDS names as Envoy sent them) is sent of its
    `http_proxy` route part, in one part (`published_pieces`, merged), with the VHDS name each
    alias is answered by ("" for none)."""
    pieces, answers = published_pieces(route_part, aliases, push)
    merged = pieces[0]
    for piece in pieces[1:]:
        merged = merged.merged(piece)
    return merged, answers


def published_pieces(
    route_part: ProxyResources,
    aliases: Iterable[str],
    push: PushContext,
    before: vhds_part.Before | None = None,
) -> tuple[tuple[ProxyResources, ...], dict[str, str]]:
    """What a sidecar that asked for `aliases` is sent of its `http_proxy` route part: the
    route configuration `up_front` and the virtual hosts the aliases' hosts resolve to; with
    the VHDS name each alias is answered by ("" for none). Memoised per push context. Of a
    part built without its whole configuration, in two pieces, each a lasting `Carry` unit
    keyed by the very messages it holds (`KeptPart`): the configuration with the answers of
    service hosts (the same piece while their virtual hosts are the same objects: a change of
    the outbound traffic policy keeps them), then the answers made for one host (those the
    catch-all takes: what such a change changes), if any. `before`: what was made of an
    earlier part for the same aliases (`vhds_part.pieces`)."""
    asked = frozenset(aliases)
    key = ("pilotfish.translate.vhds.part", id(route_part), asked)
    found: tuple[ProxyResources, tuple[ProxyResources, ...], dict[str, str]] | None = push.memo.get(
        key
    )
    if found is not None and found[0] is route_part:
        return found[1], found[2]
    if isinstance(route_part, OnDemandRoutePart):
        pieces, answers = vhds_part.pieces(route_part, asked, push, before)
    else:
        whole, answers = _published_whole(route_part, asked, push)
        pieces = (whole,)
    push.memo[key] = (route_part, pieces, answers)
    return pieces, answers


def _published_whole(
    route_part: ProxyResources, asked: frozenset[str], push: PushContext
) -> tuple[ProxyResources, dict[str, str]]:
    """`published_pieces` of a whole configuration, in one part."""
    configs: dict[str, route_pb2.RouteConfiguration] = {}
    for name, message in route_part[ROUTE].items():
        assert isinstance(message, route_pb2.RouteConfiguration)
        configs[name] = message
    full = configs.get(names.HTTP_PROXY_ROUTE_CONFIG)
    vhosts: dict[str, rc_pb2.VirtualHost] = {}
    answers: dict[str, str] = {}
    if full is not None:
        configs[names.HTTP_PROXY_ROUTE_CONFIG], always = _up_front(full, push)
        vhosts.update(always)
    for alias in sorted(asked) if full is not None else ():
        host = host_of(alias)
        vhost = resolved(full, host, push) if full is not None and host is not None else None
        answers[alias] = vhost.name if vhost is not None else ""
        if vhost is not None:
            vhosts[vhost.name] = vhost
    part = ProxyResources(
        {**{t: route_part[t] for t in route_part}, ROUTE: configs, VIRTUAL_HOST: vhosts},
        route_part.diagnostics,
    )
    return part, answers


_UpFront = tuple[
    route_pb2.RouteConfiguration, tuple[route_pb2.RouteConfiguration, dict[str, rc_pb2.VirtualHost]]
]


def _up_front_key(config: route_pb2.RouteConfiguration) -> tuple[str, int]:
    return ("pilotfish.translate.vhds.up_front", id(config))


def _up_front(
    config: route_pb2.RouteConfiguration, push: PushContext
) -> tuple[route_pb2.RouteConfiguration, dict[str, rc_pb2.VirtualHost]]:
    """`up_front(config)` and the VHDS virtual hosts every sidecar holding it gets
    (`UP_FRONT_VHOSTS`), memoised per push context (not looked for again per sidecar)."""
    key = _up_front_key(config)
    found: _UpFront | None = push.memo.get(key)
    if found is None or found[0] is not config:
        always = {
            resource_name(v.name): _renamed(v, push)
            for v in config.virtual_hosts
            if v.name in UP_FRONT_VHOSTS
        }
        found = push.memo[key] = (config, (up_front(config), always))
        _kept(config, push, "up_front", found[1])
    return found[1]


__all__ = [
    "MAX_HOSTS_PER_PROXY",
    "PREFIX",
    "UP_FRONT_VHOSTS",
    "DomainIndex",
    "Held",
    "answer_of",
    "applies",
    "carry_index",
    "held_hosts",
    "holds_any",
    "host_of",
    "keep_in",
    "matching_vhost",
    "published",
    "published_pieces",
    "resolved",
    "resource_name",
    "up_front",
]
