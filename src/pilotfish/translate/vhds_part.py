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

A leaf module: `on_demand` and `on_demand_routes` read it, `http_proxy_part` builds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2
from google.protobuf.message import Message

from pilotfish.config.objects import Diagnostic
from pilotfish.translate.resources import ProxyResources
from pilotfish.type_urls import ROUTE


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

    __slots__ = ("always", "index", "tidy", "vhosts")

    def __init__(
        self,
        up_front: route_pb2.RouteConfiguration,
        vhosts: tuple[rc_pb2.VirtualHost, ...],
        tidy: Mapping[str, frozenset[str]],
        always: Mapping[str, rc_pb2.VirtualHost],
        diagnostics: Iterable[Diagnostic],
        index: DomainIndex | None = None,
    ) -> None:
        """`index`: the index of `vhosts`' domains, when the caller has it (a part derived
        from one whose virtual hosts have the same domains by position)."""
        super().__init__({ROUTE: {up_front.name: up_front}}, diagnostics)
        self.vhosts, self.tidy, self.always = vhosts, tidy, always
        self.index = index or DomainIndex.of_domains(self.domains(v) for v in vhosts)

    def domains(self, vhost: rc_pb2.VirtualHost) -> list[str]:
        """`vhost`'s domains as the whole configuration holds them (tidied)."""
        allowed = self.tidy.get(vhost.name)
        if allowed is None:
            return list(vhost.domains)
        return list(dict.fromkeys(d for d in vhost.domains if d in allowed))


def routed_vhosts(part: ProxyResources) -> Iterable[rc_pb2.VirtualHost]:
    """Every virtual host of `part`'s route configurations (of an `OnDemandRoutePart`: of its
    whole configuration)."""
    if isinstance(part, OnDemandRoutePart):
        return part.vhosts
    return (v for config in part[ROUTE].values() for v in _config(config).virtual_hosts)


def _config(message: Message) -> route_pb2.RouteConfiguration:
    assert isinstance(message, route_pb2.RouteConfiguration)
    return message


__all__ = ["DomainIndex", "OnDemandRoutePart", "routed_vhosts"]
