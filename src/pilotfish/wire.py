"""Protobuf wire-format primitives (varints and length-delimited fields), for code that writes
serialised messages or splices fields into them without packing: `xds.encoding` (Any-wrapped
resources, responses) and `translate.hcm_telemetry` / `translate.observability` (fields added
to a serialised connection manager: `insert_field`), and for code that reads a field's place
in serialised bytes (`decode_varint`: `translate.message_facts`, `translate.hcm_telemetry`).
Pure bytes in, bytes out; imports nothing of pilotfish (a bottom module)."""

from __future__ import annotations

_ONE_BYTE = tuple(bytes((value,)) for value in range(0x80))


def encode_varint(value: int) -> bytes:
    """Protobuf base-128 varint of a non-negative int (tags and lengths under 128, most of
    them, from a table; under 16,384 without a loop)."""
    if 0 <= value < 0x80:
        return _ONE_BYTE[value]
    if 0 < value < 0x4000:
        return bytes((value & 0x7F | 0x80, value >> 7))
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_field(field_number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (wire type 2): tag, length, payload."""
    return encode_varint(field_number << 3 | 2) + encode_varint(len(payload)) + payload


def field_head(field_number: int, length: int) -> bytes:
    """The tag and length of a length-delimited field whose payload (of `length` bytes)
    follows: `field_head(n, len(p)) + p == encode_field(n, p)`."""
    return encode_varint(field_number << 3 | 2) + encode_varint(length)


def decode_varint(data: bytes, offset: int) -> tuple[int, int]:
    """(value, offset after it) of the varint at `offset`."""
    value = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, offset
        shift += 7


def field_end(data: bytes, offset: int) -> tuple[int, int]:
    """(field number, offset after it) of the top-level field starting at `offset`."""
    key, at = decode_varint(data, offset)
    wire = key & 7
    if wire == 0:
        _, at = decode_varint(data, at)
    elif wire == 2:
        length, at = decode_varint(data, at)
        at += length
    elif wire in (1, 5):
        at += 8 if wire == 1 else 4
    else:
        raise ValueError(f"wire type {wire} in a serialised message")
    return key >> 3, at


def insert_field(data: bytes, field_number: int, encoded: bytes) -> bytes:
    """A serialised message with `encoded` (a whole field of `field_number`, as `encode_field`
    gives) put before its first field of a higher number: where a deterministic serialisation
    of the message with that field set writes it."""
    offset = 0
    while offset < len(data):
        number, after = field_end(data, offset)
        if number > field_number:
            break
        offset = after
    return data[:offset] + encoded + data[offset:]
