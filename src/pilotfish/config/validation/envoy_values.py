"""An EnvoyFilter patch value read as the Envoy message its `applyTo` names, as Istio's webhook
reads it (pkg/config/xds `BuildXDSObjectFromStruct`, called by the EnvoyFilter validation).

`value_problems(apply_to, value)` gives (error, warning): the error when the value does not
parse as that message with unknown fields ignored (a field of the wrong type, an unknown enum
value, an `@type` no Envoy API defines: Istio's "referenced type unknown", with the hint to use
the v3 API for a v2 type); otherwise the warning when it has fields Envoy's messages do not
have (Istio's strict second parse, a warning so that values written for a newer Envoy still
apply), or else when a filter in it is named without its typed_config. The messages are the
`envoy` / `xds` / `udpa` packages of `xds-protos`, imported when a value is first checked (they
are slow to import), the package of each `@type` on demand.
Pure apart from those imports; no I/O of its own.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
from decimal import Decimal
from functools import cache
from typing import Any

APPLY_TO_MESSAGE = {
    "CLUSTER": ("envoy.config.cluster.v3.cluster_pb2", "Cluster"),
    "LISTENER": ("envoy.config.listener.v3.listener_pb2", "Listener"),
    "ROUTE_CONFIGURATION": ("envoy.config.route.v3.route_pb2", "RouteConfiguration"),
    "FILTER_CHAIN": ("envoy.config.listener.v3.listener_components_pb2", "FilterChain"),
    "HTTP_FILTER": (
        "envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2",
        "HttpFilter",
    ),
    "NETWORK_FILTER": ("envoy.config.listener.v3.listener_components_pb2", "Filter"),
    "VIRTUAL_HOST": ("envoy.config.route.v3.route_components_pb2", "VirtualHost"),
    "HTTP_ROUTE": ("envoy.config.route.v3.route_components_pb2", "Route"),
    "EXTENSION_CONFIG": ("envoy.config.core.v3.extension_pb2", "TypedExtensionConfig"),
    "BOOTSTRAP": ("envoy.config.bootstrap.v3.bootstrap_pb2", "Bootstrap"),
    "LISTENER_FILTER": ("envoy.config.listener.v3.listener_components_pb2", "ListenerFilter"),
}
E = "Envoy filter: "
_WELL_KNOWN = ("wrappers_pb2", "struct_pb2", "any_pb2", "duration_pb2", "empty_pb2")
_GO_DURATION = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|\u00b5s|ms|s|m|h)")
_UNIT = {"ns": "1e-9", "us": "1e-6", "\u00b5s": "1e-6", "ms": "1e-3", "s": "1", "m": "60"}
_UNIT["h"] = "3600"


def _type_urls(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["@type"]} if isinstance(value.get("@type"), str) else set()
        for item in value.values():
            found |= _type_urls(item)
        return found
    if isinstance(value, list):
        return set().union(*(_type_urls(item) for item in value)) if value else set()
    return set()


@cache
def _import_package(package: str) -> None:
    """Register every message of a proto package (`envoy.extensions.filters.http.lua.v3`):
    import each `*_pb2` module of its Python package; nothing when there is none."""
    if not package.startswith(("envoy.", "xds.", "udpa.", "validate.")):
        return
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return
    if spec is None or not spec.submodule_search_locations:
        return
    for module in pkgutil.iter_modules(spec.submodule_search_locations):
        if module.name.endswith("_pb2"):
            importlib.import_module(f"{package}.{module.name}")


def value_problems(apply_to: str, value: dict[str, Any]) -> tuple[str | None, str | None]:
    """(error, warning) of parsing `value` as the message of `apply_to` (see the module)."""
    from google.protobuf import json_format

    target = APPLY_TO_MESSAGE.get(apply_to)
    if target is None:
        return E + f"unknown object type for applyTo {apply_to}", None
    unknown = sorted(url for url in _type_urls(value) if not _known_type(url))
    if unknown:
        hint = " (hint: try using the v3 XDS API)" if ".v2." in f"{unknown[0]}." else ""
        text = f"could not resolve Any message type: {unknown[0]}"
        return f"referenced type unknown{hint}: {text}", None
    message_class = getattr(importlib.import_module(target[0]), target[1])
    value, enum_problem = _as_proto_json(value, message_class.DESCRIPTOR, target[1])
    if enum_problem is not None:
        return E + enum_problem, None
    try:
        json_format.ParseDict(value, message_class(), ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        return E + _first_line(exc), None
    message = message_class()
    try:
        json_format.ParseDict(value, message)
    except json_format.ParseError as exc:
        return None, E + _first_line(exc)
    unnamed = _without_typed_config(message)
    if unnamed:
        return None, f"using deprecated types by name without typed_config; {', '.join(unnamed)}"
    return None, None


def parsed_value(apply_to: str, value: dict[str, Any]) -> Any | None:
    """`value` as the Envoy message of `apply_to`, read as istiod reads a patch when it builds
    its push context (unknown fields ignored); None when it does not parse (`value_problems`
    says why at apply)."""
    from google.protobuf import json_format

    target = APPLY_TO_MESSAGE.get(apply_to)
    if target is None or any(not _known_type(url) for url in _type_urls(value)):
        return None
    message_class = getattr(importlib.import_module(target[0]), target[1])
    value, enum_problem = _as_proto_json(value, message_class.DESCRIPTOR, target[1])
    if enum_problem is not None:
        return None
    message = message_class()
    try:
        json_format.ParseDict(value, message, ignore_unknown_fields=True)
    except json_format.ParseError:
        return None
    return message


def message_class(type_url: str) -> Any | None:
    """The generated class of the message an `@type` / Any type URL names (its package
    imported on demand), or None for a type no imported API defines."""
    from google.protobuf import descriptor_pool, message_factory

    if not _known_type(type_url if "/" in type_url else f"type.googleapis.com/{type_url}"):
        return None
    descriptor = descriptor_pool.Default().FindMessageTypeByName(type_url.rsplit("/", 1)[-1])
    return message_factory.GetMessageClass(descriptor)


def _without_typed_config(message: Any) -> list[str]:
    """The names of the messages that have a typed_config field but neither it nor a
    config_discovery set, children first, following set singular message fields only (Istio's
    recurseMissingTypedConfig: filters named without their configuration)."""
    fields = message.DESCRIPTOR.fields
    names = [str(getattr(message, f.name)) for f in fields if f.json_name == "name"]
    requires = any(f.json_name == "typedConfig" for f in fields)
    configured = False
    found: list[str] = []
    for field in fields:
        if field.message_type is None or field.is_repeated or not message.HasField(field.name):
            continue
        configured = configured or field.json_name in ("typedConfig", "configDiscovery")
        found += _without_typed_config(getattr(message, field.name))
    if requires and not configured:
        found.append(names[-1] if names else "")
    return found


def _first_line(exc: Exception) -> str:
    """The parser's message without its list of the message's fields."""
    return str(exc).split("\n", 1)[0]


def _known_type(url: str) -> bool:
    """Whether an `@type` names a message Istio knows: Envoy's v3 API and the xds/udpa types
    (Istio no longer imports Envoy's v2 API, which `xds-protos` still ships)."""
    from google.protobuf import descriptor_pool

    name = url.rsplit("/", 1)[-1]
    if "/" not in url or (name.startswith("envoy.") and ".v2." in f"{name}."):
        return False
    if name.startswith("google.protobuf."):  # Istio's resolver knows every well-known type
        for module in _WELL_KNOWN:  # StringValue (attributegen's `configuration`), Struct, ...
            importlib.import_module(f"google.protobuf.{module}")
    _import_package(name.rpartition(".")[0])
    try:
        descriptor_pool.Default().FindMessageTypeByName(name)
    except KeyError:
        return False
    return True


def _go_duration(text: str) -> str | None:
    """A Go duration ("1m30s", "500ms"), which Istio's JSON reader takes for a Duration, in
    proto JSON's form ("90s"); None when it is not one."""
    sign, body = ("-", text[1:]) if text[:1] == "-" else ("", text.removeprefix("+"))
    if body == "0":
        return "0s"
    parts = _GO_DURATION.findall(body)
    whole = "".join(a + b for a, b in parts) == body
    if not body or not whole or any(a in ("", ".") for a, _ in parts):
        return None
    seconds = sum((Decimal(a) * Decimal(_UNIT[b]) for a, b in parts), Decimal(0))
    return f"{sign}{seconds.quantize(Decimal('1e-9')).normalize():f}s"


def _as_proto_json(value: Any, descriptor: Any, where: str) -> tuple[Any, str | None]:
    """`value` with Go durations as proto JSON reads them, and the first enum name the field's
    enum does not have (Istio's reader refuses those even where it ignores unknown fields)."""
    from google.protobuf import descriptor_pool

    if not isinstance(value, dict):
        return value, None
    out = dict(value)
    for key, item in value.items():
        field = descriptor.fields_by_name.get(key) or next(
            (f for f in descriptor.fields if f.json_name == key), None
        )
        if field is None:
            continue
        path = f"{where}.{field.name}"
        items = item if isinstance(item, list) else [item]
        if field.enum_type is not None:
            for one in items:
                if isinstance(one, str) and one not in field.enum_type.values_by_name:
                    enum = field.enum_type.full_name
                    return out, f'unknown value "{one}" for enum {enum} at {path}'
            continue
        kind = field.message_type
        if kind is None:
            continue
        if kind.GetOptions().map_entry and isinstance(item, dict):
            kind, items = kind.fields_by_name["value"].message_type, list(item.values())
            if kind is None:
                continue
        converted = []
        for one in items:
            if kind.full_name == "google.protobuf.Duration" and isinstance(one, str):
                one = _go_duration(one) or one
            elif kind.full_name == "google.protobuf.Any" and isinstance(one, dict):
                name = str(one.get("@type", "")).rsplit("/", 1)[-1]
                try:
                    inner = descriptor_pool.Default().FindMessageTypeByName(name)
                except KeyError:
                    inner = None
                if inner is not None:
                    one, problem = _as_proto_json(one, inner, path)
                    if problem is not None:
                        return out, problem
            elif isinstance(one, dict):
                one, problem = _as_proto_json(one, kind, path)
                if problem is not None:
                    return out, problem
            converted.append(one)
        if field.message_type.GetOptions().map_entry and isinstance(item, dict):
            out[key] = dict(zip(item, converted, strict=True))
        else:
            out[key] = converted if isinstance(item, list) else converted[0]
    return out, None
