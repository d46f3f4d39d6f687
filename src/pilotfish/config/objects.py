"""Config objects as the rest of pilotfish sees them: metadata + a typed, validated spec.

A `ConfigObject` is immutable. Its `spec` is one of the pydantic models in
`pilotfish.config.models` (e.g. `VirtualServiceSpec`); `meta.source` says where it came from so
that every later message can point at a file and line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

if TYPE_CHECKING:
    from pilotfish.config.models.networking import (
        DestinationRuleSpec,  # noqa: F401
        EnvoyFilterSpec,  # noqa: F401
        GatewaySpec,  # noqa: F401
        ServiceEntrySpec,  # noqa: F401
        SidecarSpec,  # noqa: F401
        VirtualServiceSpec,  # noqa: F401
        WorkloadEntrySpec,  # noqa: F401
    )
    from pilotfish.config.models.security import (
        AuthorizationPolicySpec,  # noqa: F401
        PeerAuthenticationSpec,  # noqa: F401
        RequestAuthenticationSpec,  # noqa: F401
    )
    from pilotfish.config.models.telemetry import TelemetrySpec  # noqa: F401

SpecT = TypeVar("SpecT")

Level = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Source:
    """Where a document (or a field inside it) was read from. line is 1-based; 0 = unknown."""

    file: str = "<unknown>"
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


def parent_path(path: str) -> str:
    """`spec.http[0].route` → `spec.http[0]` → `spec.http` → `spec` → ``."""
    cut = max(path.rfind("."), path.rfind("["))
    return path[:cut] if cut > 0 else ""


def line_at(lines: Mapping[str, int], path: str, default: int) -> int:
    """Line of a field path such as `spec.http[0].route[1].weight` in a path → line table, or
    of its nearest ancestor that has one; `default` when nothing matches. A map key written in
    brackets (`metadata.annotations[sidecar.istio.io/inject]`) is that key's line."""
    candidate = path
    while candidate:
        head, _, key = candidate[:-1].rpartition("[") if candidate.endswith("]") else ("", "", "")
        keyed = head and not key.isdigit()
        found = lines.get(f"{head}.{key}" if keyed else candidate)
        if found is not None:
            return found
        candidate = head if keyed else parent_path(candidate)
    return default


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in user input: never raised, always returned."""

    level: Level
    message: str
    path: str = ""  # field path such as spec.http[0].route[1].weight
    source: Source = field(default_factory=Source)
    kind: str = ""
    name: str = ""  # namespace/name of the object, when known
    webhook: bool = False  # one of Istio's webhook rules (istioctl analyze: IST0106 / IST0133)
    unreadable: bool = False  # istioctl's reader (protobuf JSON) refuses the document itself

    def __str__(self) -> str:
        parts = [] if self.source == Source() else [str(self.source)]
        if self.kind:
            parts.append(
                f"{self.kind} {self.name}".rstrip() + (f" at {self.path}" if self.path else "")
            )
        elif self.path:
            parts.append(f"at {self.path}")
        return ": ".join([*parts, self.message])


@dataclass(frozen=True)
class GroupVersionKind:
    group: str
    version: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


@dataclass(frozen=True)
class ConfigMeta:
    gvk: GroupVersionKind
    name: str
    namespace: str = "default"
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    source: Source = field(default_factory=Source)

    @property
    def kind(self) -> str:
        return self.gvk.kind

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity in the store: (kind, namespace, name). Versions of one kind share a key."""
        return (self.gvk.kind, self.namespace, self.name)

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True)
class ConfigObject(Generic[SpecT]):
    meta: ConfigMeta
    spec: SpecT
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """The document as read (plain dicts/lists), for `get -o yaml` and round-tripping."""
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, hash=False, repr=False)
    """Field path → line in `meta.source.file`, as read (empty when not read from text)."""

    def source_of(self, path: str) -> Source:
        """Where the field at `path` (or its nearest ancestor read from the file) was read: its
        own line, not the object's."""
        source = self.meta.source
        return Source(source.file, line_at(self.lines, path, source.line)) if path else source

    def diagnostic(self, message: str, path: str = "", level: Level = "warning") -> Diagnostic:
        """A problem with this object, pointing at its file, the line of the field at `path`,
        its kind and namespace/name."""
        return Diagnostic(
            level,
            message,
            path=path,
            source=self.source_of(path),
            kind=self.meta.kind,
            name=f"{self.meta.namespace}/{self.meta.name}",
        )


VirtualService = ConfigObject["VirtualServiceSpec"]
DestinationRule = ConfigObject["DestinationRuleSpec"]
Gateway = ConfigObject["GatewaySpec"]
Sidecar = ConfigObject["SidecarSpec"]
ServiceEntry = ConfigObject["ServiceEntrySpec"]
WorkloadEntry = ConfigObject["WorkloadEntrySpec"]
EnvoyFilter = ConfigObject["EnvoyFilterSpec"]
PeerAuthentication = ConfigObject["PeerAuthenticationSpec"]
AuthorizationPolicy = ConfigObject["AuthorizationPolicySpec"]
RequestAuthentication = ConfigObject["RequestAuthenticationSpec"]
Telemetry = ConfigObject["TelemetrySpec"]
"""Typed config objects of the kinds translation reads (the spec models import lazily)."""
AnyConfig = ConfigObject[Any]
"""A config object of any kind: the members of a list of every kind (`PushContext.configs`),
read only through `meta` or after picking one kind (`PushContext.kind(VIRTUAL_SERVICE)`)."""
