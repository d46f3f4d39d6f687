"""`ProxyResources`: the immutable result of translating for one proxy.

A frozen mapping type URL -> {resource name -> protobuf message} over the resource types
pilotfish generates (LDS, RDS, CDS, EDS and SDS for gateway credentials, v3), each sorted by
name, plus the diagnostics found while generating. Building one never raises: a duplicate name
keeps the first resource and adds a diagnostic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType

from google.protobuf.message import Message

from pilotfish.config.objects import Diagnostic
from pilotfish.type_urls import (
    CLUSTER,
    ENDPOINT,
    LISTENER,
    RESOURCE_TYPES,
    ROUTE,
    SECRET,
    resource_name,
    type_url_of,
)

_EMPTY: Mapping[str, Message] = MappingProxyType({})  # every part's types it has none of


class ProxyResources(Mapping[str, Mapping[str, Message]]):
    """type URL -> {name -> message}, sorted and read-only. Unused types map to `{}`."""

    __slots__ = ("__weakref__", "_by_type", "diagnostics")

    def __init__(
        self,
        by_type: Mapping[str, Mapping[str, Message]],
        diagnostics: Iterable[Diagnostic] = (),
    ) -> None:
        self._by_type: Mapping[str, Mapping[str, Message]] = MappingProxyType(
            {
                type_url: MappingProxyType(dict(sorted(found.items()))) if found else _EMPTY
                for type_url in RESOURCE_TYPES
                for found in (by_type.get(type_url, _EMPTY),)
            }
        )
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)

    @classmethod
    def build(
        cls, messages: Iterable[Message], diagnostics: Iterable[Diagnostic] = ()
    ) -> ProxyResources:
        """Group messages by type; a repeated name keeps the first and reports the others."""
        found: dict[str, dict[str, Message]] = {t: {} for t in RESOURCE_TYPES}
        problems = list(diagnostics)
        for message in messages:
            type_url = type_url_of(message)
            name = resource_name(type_url, message)
            if name in found[type_url]:
                kind = type_url.rsplit(".", 1)[-1]
                problems.append(
                    Diagnostic("warning", f"duplicate {kind} {name!r}: kept the first", kind=kind)
                )
                continue
            found[type_url][name] = message
        return cls(found, problems)

    def merged(self, other: ProxyResources) -> ProxyResources:
        """Both parts in one (names are unique across them: `check_invariants` says so)."""
        if not any(other.values()) and not other.diagnostics:
            return self
        return ProxyResources(
            {t: {**self[t], **other[t]} for t in RESOURCE_TYPES},
            self.diagnostics + other.diagnostics,
        )

    def __getitem__(self, type_url: str) -> Mapping[str, Message]:
        return self._by_type[type_url]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_type)

    def __len__(self) -> int:
        return len(self._by_type)

    def __repr__(self) -> str:
        counts = ", ".join(f"{t.rsplit('.', 1)[-1]}={len(v)}" for t, v in self._by_type.items())
        return f"ProxyResources({counts}, diagnostics={len(self.diagnostics)})"

    @property
    def listeners(self) -> Mapping[str, Message]:
        return self._by_type[LISTENER]

    @property
    def routes(self) -> Mapping[str, Message]:
        return self._by_type[ROUTE]

    @property
    def clusters(self) -> Mapping[str, Message]:
        return self._by_type[CLUSTER]

    @property
    def endpoints(self) -> Mapping[str, Message]:
        return self._by_type[ENDPOINT]

    @property
    def secrets(self) -> Mapping[str, Message]:
        return self._by_type[SECRET]

    def version(self, type_url: str) -> str:
        """Content hash of one resource type (deterministic serialisation), for xDS versions."""
        digest = hashlib.sha256()
        for name, message in self._by_type[type_url].items():
            digest.update(name.encode())
            digest.update(b"\0")
            digest.update(message.SerializeToString(deterministic=True))
        return digest.hexdigest()[:16]


class KeptPart(ProxyResources):
    """A part kept across push contexts (a lasting `Carry` unit: what an on-demand sidecar is
    sent of its route part, `on_demand_routes.published_pieces`). `held` is the snapshot
    assembly's (its check and serialised form, kept with the part so they live as long as it
    does, however many push contexts pass before a proxy is composed with it again); opaque to
    translation."""

    __slots__ = ("held",)

    def __init__(
        self,
        by_type: Mapping[str, Mapping[str, Message]],
        diagnostics: Iterable[Diagnostic] = (),
    ) -> None:
        super().__init__(by_type, diagnostics)
        self.held: object = None
