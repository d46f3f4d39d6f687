"""The `http_proxy` route part of a sidecar with on-demand virtual hosts, without its whole
configuration (`OnDemandRoutePart`), and the domain index both kinds of part resolve a host
with (`DomainIndex`).

A sidecar with on-demand virtual hosts (`on_demand_routes`) is sent its `http_proxy` route
configuration up front (settings, no virtual host) and, over VHDS, the virtual hosts its
Envoy asks for. Building each namespace's whole configuration (1,000 virtual hosts copied in
at the scale benchmark's size, then indexed and walked for on-demand clusters) only to send
none of it whole was most of a connect storm's shared work. `OnDemandRoutePart` holds
instead the configuration's virtual hosts as the units they are built from
(`http_proxy_part.vhds_built`), in the whole configuration's order, with what the whole
build would change on its copies (the attempt-count flag on every one, the domains of
ServiceEntry hosts tidied) applied when one is answered. Its `ROUTE` map holds the up-front
configuration, so what its names give other parts (a listener's RDS name) is what the whole
part gives.

What a sidecar is sent of it (`pieces`) comes in two `KeptPart`s, each a lasting `Carry`
unit keyed by the very messages it holds: the up-front configuration with the answers of
service hosts, and the answers made for one host (the catch-all's), if any. A change of the
outbound traffic policy swaps only the catch-all: every sidecar's first piece is then the
same object, whose check and bytes the snapshot assembly kept with it.

VHDS names (`PREFIX`, `host_of`, `resource_name`) live here too. A leaf module of the route
parts: `on_demand` and `on_demand_routes` read it, `http_proxy_part` builds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2
from google.protobuf.message import Message

from pilotfish.config.objects import Diagnostic
from pilotfish.model.push_context import PushContext
from pilotfish.translate import names
from pilotfish.translate.carry import carry_of
from pilotfish.translate.resources import KeptPart, ProxyResources
from pilotfish.type_urls import ROUTE, VIRTUAL_HOST

PREFIX = names.HTTP_PROXY_ROUTE_CONFIG + "/"
"""What Envoy puts before the Host in a VHDS name: the route configuration's name and `/`."""
UP_FRONT_VHOSTS = frozenset({names.POD_LOCAL_VHOST})
"""Virtual hosts a sidecar always holds: they are no service's and name no on-demand
cluster (`localhost:15000`, the pod's own admin). Sent over VHDS too: Envoy's route
configuration waits for a first VHDS update with a resource in it (an empty one reaches only
wildcard watches, and VHDS subscribes to its route configuration's name: measured, the
listener stayed warming)."""


def resource_name(vhost_name: str) -> str:
    """The VHDS resource (and virtual host) name of a virtual host of `http_proxy`."""
    return PREFIX + vhost_name


def host_of(alias: str) -> str | None:
    """The host of a VHDS name Envoy asks for (`http_proxy/reviews:9080` -> `reviews:9080`),
    lower-cased and without a trailing dot as Envoy matches it; None for a name of another
    route configuration."""
    if not alias.startswith(PREFIX):
        return None
    host = alias[len(PREFIX) :].lower()
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and name.endswith("."):
        host = f"{name[:-1]}:{port}"
    return host.removesuffix(".") or None


@dataclass(frozen=True)
class DomainIndex:
    """A route configuration's virtual hosts (by position) by domain, as Envoy looks a host
    up: exact domains, suffix wildcards (`*.example.com`) and prefix wildcards (`api.*`)
    longest first, and the default (`*`)."""

    exact: dict[str, int]
    suffixes: tuple[tuple[str, int], ...]
    prefixes: tuple[tuple[str, int], ...]
    default: int | None

    @classmethod
    def of(cls, config: route_pb2.RouteConfiguration) -> DomainIndex:
        return cls.of_domains(list(v.domains) for v in config.virtual_hosts)

    @classmethod
    def of_domains(cls, domains_by_vhost: Iterable[Sequence[str]]) -> DomainIndex:
        """The index of virtual hosts with these domains, in this order."""
        exact: dict[str, int] = {}
        suffixes: list[tuple[str, int]] = []
        prefixes: list[tuple[str, int]] = []
        default = None
        joined = ["\n".join(domains).lower() for domains in domains_by_vhost]
        for index in range(len(joined) - 1, -1, -1):  # last first: the first one wins
            if "*" not in joined[index]:  # exact domains only (most): in C
                if joined[index]:
                    exact.update(dict.fromkeys(joined[index].split("\n"), index))
                continue
            for domain in joined[index].split("\n"):
                if domain == "*":
                    default = index
                elif domain.startswith("*"):
                    suffixes.append((domain[1:], index))
                elif domain.endswith("*"):
                    prefixes.append((domain[:-1], index))
                else:
                    exact[domain] = index
        suffixes.sort(key=lambda item: (-len(item[0]), item[1]))  # the first of a length wins
        prefixes.sort(key=lambda item: (-len(item[0]), item[1]))
        return cls(exact, tuple(suffixes), tuple(prefixes), default)

    def lookup(self, host: str) -> int | None:
        """The position of the virtual host Envoy picks for `host` (lower case): an exact
        domain, else the longest suffix wildcard, else the longest prefix wildcard (a wildcard
        matches one character at least), else the one with `*`."""
        found = self.exact.get(host)
        if found is not None:
            return found
        for suffix, index in self.suffixes:
            if len(host) > len(suffix) and host.endswith(suffix):
                return index
        for prefix, index in self.prefixes:
            if len(host) > len(prefix) and host.startswith(prefix):
                return index
        return self.default


class OnDemandRoutePart(ProxyResources):
    """A shared `http_proxy` route part for sidecars with on-demand virtual hosts: `ROUTE`
    holds the up-front configuration; `vhosts` the whole configuration's virtual hosts as
    built (never mutate them: shared), `tidy` the allowed domains of those a whole build
    tidies (virtual host name -> domains), `index` their domains (tidied) by position,
    `always` the VHDS virtual hosts every holder gets, and the diagnostics are the whole
    build's."""

    __slots__ = ("always", "index", "slots", "tidy", "vhosts")

    def __init__(
        self,
        up_front: route_pb2.RouteConfiguration,
        vhosts: tuple[rc_pb2.VirtualHost, ...],
        tidy: Mapping[str, frozenset[str]],
        always: Mapping[str, rc_pb2.VirtualHost],
        diagnostics: Iterable[Diagnostic],
        index: DomainIndex | None = None,
        slots: int | None = None,
    ) -> None:
        """`index`: the index of `vhosts`' domains, when the caller has it (a part derived
        from one whose virtual hosts have the same domains by position); `slots`: how many of
        `vhosts` are services' (`slots.http_slots`), the tail after them (CONNECT
        virtual hosts, the pod's own, the catch-all) read the outbound traffic policy."""
        super().__init__({ROUTE: {up_front.name: up_front}}, diagnostics)
        self.vhosts, self.tidy, self.always = vhosts, tidy, always
        self.index = index or DomainIndex.of_domains(self.domains(v) for v in vhosts)
        self.slots = len(vhosts) if slots is None else slots

    def domains(self, vhost: rc_pb2.VirtualHost) -> list[str]:
        """`vhost`'s domains as the whole configuration holds them (tidied)."""
        allowed = self.tidy.get(vhost.name)
        if allowed is None:
            return list(vhost.domains)
        return list(dict.fromkeys(d for d in vhost.domains if d in allowed))


def answer_of(
    vhost: rc_pb2.VirtualHost, host: str, allowed: frozenset[str] | None
) -> rc_pb2.VirtualHost:
    """The VHDS virtual host an `OnDemandRoutePart` answers with: `vhost` as a whole
    configuration holds it (the attempt count on; only `allowed` domains, if given: a
    ServiceEntry host's) named as its VHDS resource, or, for a `host` only the catch-all
    takes, a virtual host of that host alone."""
    answer = rc_pb2.VirtualHost()
    answer.CopyFrom(vhost)
    answer.include_request_attempt_count = True  # `with_istio_route_defaults`
    answer.name = resource_name(host or vhost.name)
    if host or allowed is not None:
        kept = [host] if host else [d for d in dict.fromkeys(vhost.domains) if d in (allowed or ())]
        del answer.domains[:]
        answer.domains.extend(kept)
    return answer


def _answer(
    push: PushContext, vhost: rc_pb2.VirtualHost, asked: str, allowed: frozenset[str] | None
) -> rc_pb2.VirtualHost:
    """The answer made of `vhost` (`answer_of`) by a part built without its whole
    configuration (of a whole one: `on_demand_routes.resolved`). A lasting `Carry` unit per
    virtual host (an answer reads nothing else), so the answers of virtual hosts a change
    kept are the same objects: what a sidecar is sent of them is not checked or serialised
    again (`pieces`)."""
    key = ("pilotfish.translate.vhds.lazy", id(vhost), asked, allowed)
    build = partial(answer_of, vhost, asked, allowed)
    return carry_of(push).unit(push, key, build, keep=vhost, lasting=True)


def _answering(part: OnDemandRoutePart, host: str) -> Answering | None:
    """What `part`'s answer to `host` is made of (`answer_of`'s arguments: the virtual host
    Envoy would route it to, the host if that one is a catch-all's or wildcard's, answered
    for that host alone, and the domains allowed), None for none."""
    index = part.index.lookup(host)
    vhost = part.vhosts[index] if index is not None else None
    if vhost is None or vhost.name in UP_FRONT_VHOSTS:
        return None
    allowed = part.tidy.get(vhost.name)
    asked = host if "*" in (vhost.domains if allowed is None else part.domains(vhost)) else ""
    return vhost, asked, allowed


Before = tuple[ProxyResources, tuple[ProxyResources, ...]]
"""A route part and the pieces made of it for the same VHDS names (a sidecar's last)."""


def pieces(
    part: OnDemandRoutePart, asked: frozenset[str], push: PushContext, before: Before | None = None
) -> tuple[tuple[ProxyResources, ...], dict[str, str]]:
    """What a sidecar that asked for the VHDS names `asked` is sent of `part`, in two pieces
    (`on_demand_routes.published_pieces`), and the VHDS name each is answered by ("" for
    none). `before`: what was made for the same names of an earlier part; its first piece is
    taken as it is when `part` answers every service host of them with the same virtual host
    objects (a part derived for a change of the catch-all)."""
    services: dict[str, rc_pb2.VirtualHost] = dict(part.always)
    for_host: dict[str, rc_pb2.VirtualHost] = {}
    answers: dict[str, str] = {}
    made = {a: (h, _answering(part, h) if h else None) for a in sorted(asked) for h in [host_of(a)]}
    first = _same_services(before, part, made)
    for alias, (_, found) in made.items():
        if found is None:
            answers[alias] = ""
        elif first is not None and not found[1]:  # a service host's, in the first piece kept
            answers[alias] = resource_name(found[0].name)
        else:
            answer = _answer(push, *found)
            answers[alias] = answer.name
            (for_host if found[1] else services)[answer.name] = answer
    if first is None:
        routes: dict[str, route_pb2.RouteConfiguration] = {}
        for name, message in part[ROUTE].items():
            assert isinstance(message, route_pb2.RouteConfiguration)
            routes[name] = message
        first = _piece(push, routes, services)
    return (first, _piece(push, {}, for_host)) if for_host else (first,), answers


Answering = tuple[rc_pb2.VirtualHost, str, frozenset[str] | None]
Made = dict[str, tuple[str | None, Answering | None]]
"""VHDS name -> its host and what the answer to it is made of (`_answering`)."""


def _same_services(
    before: Before | None, part: OnDemandRoutePart, made: Made
) -> ProxyResources | None:
    """`before`'s first piece if `part` makes it of the same messages for the same names
    (`made` of `part`): the same up-front configuration and virtual hosts always sent, and
    each host answered by a service's virtual host in either part answered so by the same
    one in both."""
    if before is None or not isinstance(before[0], OnDemandRoutePart):
        return None
    old, routes = before[0], part[ROUTE]
    if (
        old.always is not part.always
        or len(old[ROUTE]) != len(routes)
        or any(old[ROUTE].get(n) is not m for n, m in routes.items())
    ):
        return None
    for host, now in made.values():
        if host is None:
            continue
        at = old.index.lookup(host)
        was = old.vhosts[at] if at is not None else None
        if now is not None and old.tidy.get(now[0].name) == now[2] and was is now[0]:
            continue  # the same virtual host, read the same way: the same answer
        then = _answering(old, host)
        service = (now is not None and not now[1]) or (then is not None and not then[1])
        same = now is not None and then is not None and now[0] is then[0] and now[1:] == then[1:]
        if service and not same:
            return None
    return before[1][0]


def _piece(
    push: PushContext,
    routes: dict[str, route_pb2.RouteConfiguration],
    vhosts: dict[str, rc_pb2.VirtualHost],
) -> KeptPart:
    """A part of these route configurations and VHDS virtual hosts: a lasting `Carry` unit
    keyed by the messages themselves (so its check and bytes are kept with it)."""
    held = (tuple(sorted(routes.items())), tuple(sorted(vhosts.items())))
    key = (
        "pilotfish.translate.vhds.piece",
        tuple((n, id(m)) for n, m in held[0]),
        tuple((n, id(m)) for n, m in held[1]),
    )
    build = partial(KeptPart, {ROUTE: routes, VIRTUAL_HOST: vhosts})
    return carry_of(push).unit(push, key, build, keep=held, lasting=True)


def routed_vhosts(part: ProxyResources) -> Iterable[rc_pb2.VirtualHost]:
    """Every virtual host of `part`'s route configurations (of an `OnDemandRoutePart`: of its
    whole configuration)."""
    if isinstance(part, OnDemandRoutePart):
        return part.vhosts
    return (v for config in part[ROUTE].values() for v in _config(config).virtual_hosts)


def _config(message: Message) -> route_pb2.RouteConfiguration:
    assert isinstance(message, route_pb2.RouteConfiguration)
    return message


__all__ = [
    "PREFIX",
    "UP_FRONT_VHOSTS",
    "DomainIndex",
    "OnDemandRoutePart",
    "answer_of",
    "host_of",
    "pieces",
    "resource_name",
    "routed_vhosts",
]
