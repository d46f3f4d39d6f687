"""The protobuf wire fragments xDS responses are assembled from: a resource serialised once
into its `Any` bytes and its SotW and delta entries, the VHDS alias entry, content-hash versions,
and the cache that keeps a reused message from being serialised again. Pure: no I/O; imports
only protobuf, `pilotfish.type_urls` and `pilotfish.wire` (the varint and field primitives)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.message import Message

from pilotfish.type_urls import PREFIX, resource_name, short_name
from pilotfish.wire import encode_field, field_head


class SnapshotError(ValueError):
    """A snapshot was built from inconsistent input (wrong name, wrong message type)."""


def content_hash(data: bytes) -> str:
    """Short, stable content hash used as a version string."""
    return hashlib.sha256(data).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class EncodedResource:
    """One resource, serialised once: its `Any` bytes, and the few bytes around them that make
    it a response entry. The entries are laid out as pieces (`sotw_pieces`, `delta_pieces`)
    around the one copy of `any_bytes`, joined only when a response is written: holding each
    entry whole would keep three copies of every resource (measured: 2/3 of the encoded bytes
    held at 1,000 services / 2,000 proxies, BENCHMARKS.md)."""

    name: str
    version: str
    any_bytes: bytes
    delta_head: bytes = b""
    """`DeltaDiscoveryResponse.resources` entry up to the `Any`: field 2's tag and length, the
    `Resource`'s version (1), and the tag and length of its `Any` (2)."""
    delta_tail: bytes = b""
    """The `Resource`'s name (3), after the `Any`."""

    @property
    def sotw_pieces(self) -> tuple[bytes, bytes]:
        """`DiscoveryResponse.resources` entry (field 2 holding the `Any`), as pieces."""
        return field_head(2, len(self.any_bytes)), self.any_bytes

    @property
    def delta_pieces(self) -> tuple[bytes, bytes, bytes]:
        """`DeltaDiscoveryResponse.resources` entry (field 2 holding a `Resource`), as pieces."""
        return self.delta_head, self.any_bytes, self.delta_tail

    @property
    def sotw_entry(self) -> bytes:
        return b"".join(self.sotw_pieces)

    @property
    def delta_entry(self) -> bytes:
        return b"".join(self.delta_pieces)


def _encode_resource(type_url: str, name: str, message: Message) -> EncodedResource:
    return encoded_value(type_url, name, message.SerializeToString(deterministic=True))


def encoded_value(type_url: str, name: str, value: bytes) -> EncodedResource:
    """The resource `name` of `type_url` whose message serialises (deterministically) to
    `value`, e.g. bytes spliced of a serialised message's (`translate.own_shape`)."""
    any_bytes = encode_field(1, type_url.encode()) + encode_field(2, value)
    version = content_hash(any_bytes)
    before = encode_field(1, version.encode()) + field_head(2, len(any_bytes))
    tail = encode_field(3, name.encode())
    head = field_head(2, len(before) + len(any_bytes) + len(tail)) + before
    return EncodedResource(name, version, any_bytes, head, tail)


def aliased_entry(
    name: str, aliases: Sequence[str], resource: EncodedResource | None
) -> tuple[bytes, ...]:
    """A `DeltaDiscoveryResponse.resources` entry answering on-demand `aliases` (VHDS: the
    names Envoy asked with): `resource` with the aliases added, or, for None, a `Resource`
    named `name` with the aliases and no body (Envoy's "could not resolve")."""
    body = b""
    if resource is not None:
        body = encode_field(1, resource.version.encode()) + encode_field(2, resource.any_bytes)
    body += encode_field(3, name.encode())
    body += b"".join(encode_field(4, alias.encode()) for alias in aliases)
    return (encode_field(2, body),)


def checked_encode(
    type_url: str, name: str, message: Message, value: bytes | None = None
) -> EncodedResource:
    """`message` as the resource `name` of `type_url`, checked to be that type and named so;
    `value`: its deterministic serialisation, when the caller has it already."""
    full_name = message.DESCRIPTOR.full_name
    if full_name != type_url.removeprefix(PREFIX):
        raise SnapshotError(f"{short_name(type_url)} {name!r}: got a {full_name}")
    own_name = resource_name(type_url, message)
    if own_name != name:
        raise SnapshotError(
            f"{short_name(type_url)} resource stored as {name!r} is named {own_name!r}"
        )
    if value is not None:
        return encoded_value(type_url, name, value)
    return _encode_resource(type_url, name, message)


class EncodeCache:
    """Encoded resources by message identity, across snapshots: a message object reused by the
    next snapshot (translation shares unchanged ones) is not serialised again. Entries not used
    since the previous `rotate()` are dropped; messages must not be mutated once encoded."""

    def __init__(self) -> None:
        self._current: dict[int, tuple[Message, str, EncodedResource]] = {}
        self._previous: dict[int, tuple[Message, str, EncodedResource]] = {}

    def rotate(self) -> None:
        self._previous, self._current = self._current, {}

    def forget_previous(self) -> None:
        """Every message still in use has been encoded since the last `rotate()` (a change
        was translated for every proxy): drop the entries of the ones before it now, not at
        the next `rotate()` (they hold the old messages and their bytes)."""
        self._previous = {}

    def encode(self, type_url: str, name: str, message: Message) -> EncodedResource:
        key = id(message)
        found = self._current.get(key) or self._previous.get(key)
        if found is None or found[0] is not message or found[1] != type_url:
            found = (message, type_url, checked_encode(type_url, name, message))
        elif found[2].name != name:
            raise SnapshotError(f"{short_name(type_url)} stored as {name!r} is {found[2].name!r}")
        self._current[key] = found
        return found[2]
