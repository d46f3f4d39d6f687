"""Istio's ProxyConfig `tracing` (the mesh's `defaultConfig.tracing`, and a pod's own in its
`proxy.istio.io/config` annotation, which replaces the mesh's whole), parsed.

Fields, with both of protobuf's JSON spellings as Istio reads them: `sampling` (percent; 0 or
unset: istiod's PILOT_TRACE_SAMPLING, 1.0; above 100 Istio uses 1.0), `max_path_tag_length`
(0: not set), `custom_tags` (`literal.value`, `environment.name|defaultValue`,
`header.name|defaultValue`), `enableIstioTags` (unset: true), and one tracer (a oneof, as in
Istio): `zipkin.address` or `datadog.address` (the legacy collectors, `host:port` as Istio
validates them; Istio's bootstrap tracer, used by tracing without a Telemetry), `lightstep`
(refused: Envoy has had no Lightstep tracer since 1.30, so Istio's bootstrap with it cannot
start), `stackdriver` and `openCensusAgent` (accepted and unused, as Istio's bootstrap
template has neither), and `tlsSettings` (accepted, unused).

`sampling_value` is Istio's proxyConfigSamplingValue. Parsing never raises: problems come back
as (field path, message) pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PILOT_TRACE_SAMPLING = 1.0  # percent: istiod's default when no ProxyConfig sets one
TAG_KINDS = {"literal": ("value",), "environment": ("name", "defaultValue"),
             "header": ("name", "defaultValue")}  # fmt: skip
TRACERS = ("zipkin", "lightstep", "datadog", "stackdriver", "openCensusAgent")  # a oneof
LIGHTSTEP = (
    "Envoy has had no Lightstep tracer since 1.30 (a bootstrap naming it does not start): "
    "use an opentelemetry extension provider (Lightstep takes OTLP)"
)
_SNAKE = {
    "custom_tags": "customTags",
    "max_path_tag_length": "maxPathTagLength",
    "enable_istio_tags": "enableIstioTags",
    "open_census_agent": "openCensusAgent",
    "tls_settings": "tlsSettings",
    "default_value": "defaultValue",
}
Errors = list[tuple[str, str]]


@dataclass(frozen=True)
class ProxyTracing:
    """One ProxyConfig's `tracing`; the defaults are an unset field's."""

    sampling: float = 0.0  # 0: not set
    max_path_tag_length: int = 0  # 0: not set (Envoy's 256)
    custom_tags: tuple[tuple[str, str, str, str], ...] = ()  # (tag, kind, name|value, default)
    enable_istio_tags: bool = True
    zipkin_address: str = ""  # `zipkin.address`: `host:port`
    datadog_address: str = ""  # `datadog.address`: `host:port`


def sampling_value(tracing: ProxyTracing | None) -> float:
    """The random sampling percentage a ProxyConfig gives (Istio's proxyConfigSamplingValue)."""
    if tracing is None or tracing.sampling == 0.0:
        return PILOT_TRACE_SAMPLING
    return 1.0 if tracing.sampling > 100.0 else tracing.sampling


def tracing_json(tracing: ProxyTracing) -> dict[str, Any]:
    """The ProxyConfig `tracing` map of `tracing` (what `parse_proxy_tracing` reads back)."""
    found: dict[str, Any] = {}
    if tracing.sampling:
        found["sampling"] = tracing.sampling
    if tracing.max_path_tag_length:
        found["maxPathTagLength"] = tracing.max_path_tag_length
    if tracing.custom_tags:
        found["customTags"] = {
            tag: {kind: {TAG_KINDS[kind][0]: value}
                  | ({"defaultValue": default} if default else {})}
            for tag, kind, value, default in tracing.custom_tags
        }  # fmt: skip
    if not tracing.enable_istio_tags:
        found["enableIstioTags"] = False
    if tracing.zipkin_address:
        found["zipkin"] = {"address": tracing.zipkin_address}
    if tracing.datadog_address:
        found["datadog"] = {"address": tracing.datadog_address}
    return found


def _camel(raw: dict[str, Any]) -> dict[str, Any]:
    return {_SNAKE.get(str(k), str(k)): v for k, v in raw.items()}


def parse_proxy_tracing(raw: Any, path: str, errors: Errors) -> ProxyTracing | None:
    """A ProxyConfig `tracing` map (None: absent or null)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        errors.append((path, "must be a map (ProxyConfig.Tracing)"))
        return None
    raw = _camel(raw)
    sampling = raw.get("sampling", 0.0)
    if isinstance(sampling, bool) or not isinstance(sampling, int | float) or sampling < 0:
        errors.append((f"{path}.sampling", f"{sampling!r} is not a percentage from 0.0 to 100.0"))
        sampling = 0.0
    length = raw.get("maxPathTagLength", 0)
    if isinstance(length, float) and length.is_integer():  # a protobuf Struct's number
        length = int(length)
    if isinstance(length, bool) or not isinstance(length, int) or not 0 <= length < 2**32:
        errors.append((f"{path}.max_path_tag_length", f"{length!r} is not a whole number >= 0"))
        length = 0
    istio_tags = raw.get("enableIstioTags", True)
    if not isinstance(istio_tags, bool):
        errors.append((f"{path}.enableIstioTags", f"{istio_tags!r} is not true or false"))
        istio_tags = True
    tracers = [k for k in TRACERS if raw.get(k) is not None]
    if len(tracers) > 1:  # protobuf's oneof `tracer`
        errors.append((f"{path}.{tracers[1]}", f"only one tracer may be set ({tracers[0]} is)"))
    if "lightstep" in tracers:
        errors.append((f"{path}.lightstep", LIGHTSTEP))
    return ProxyTracing(
        sampling=float(sampling),
        max_path_tag_length=length,
        custom_tags=_custom_tags(raw.get("customTags"), f"{path}.custom_tags", errors),
        enable_istio_tags=istio_tags,
        zipkin_address=_address(raw.get("zipkin"), f"{path}.zipkin", errors),
        datadog_address=_address(raw.get("datadog"), f"{path}.datadog", errors),
    )


def _custom_tags(raw: Any, path: str, errors: Errors) -> tuple[tuple[str, str, str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        errors.append((path, "must be a map of tag name to custom tag"))
        return ()
    tags = []
    for name, tag in raw.items():
        where = f"{path}.{name}"
        if tag is None:  # Istio's validateCustomTags
            errors.append((where, f"encountered nil value for custom tag: {name}"))
            continue
        kinds = [k for k in tag if k in TAG_KINDS] if isinstance(tag, dict) else []
        if not isinstance(tag, dict) or len(kinds) != 1 or len(tag) != 1:
            errors.append((where, "needs exactly one of literal, environment, header"))
            continue
        kind = kinds[0]
        body = _camel(tag[kind] or {}) if isinstance(tag[kind], dict | None) else None
        unknown = sorted(set(body or {}) - set(TAG_KINDS[kind])) if body is not None else []
        if body is None or unknown:
            errors.append((f"{where}.{kind}", f"unknown field {unknown[0]!r}" if unknown
                           else "must be a map"))  # fmt: skip
            continue
        first, default = TAG_KINDS[kind][0], "defaultValue"
        tags.append((str(name), kind, str(body.get(first) or ""), str(body.get(default) or "")))
    return tuple(sorted(tags))


def _address(raw: Any, path: str, errors: Errors) -> str:
    """Istio's ValidateZipkinCollector / ValidateDatadogCollector: `host:port` (`$(HOST_IP)`
    stands for an address)."""
    if raw is None:
        return ""
    address = raw.get("address") if isinstance(raw, dict) else None
    if not isinstance(address, str) or not address:
        errors.append((f"{path}.address", "is required: the collector's host:port"))
        return ""
    host, _, port = address.replace("$(HOST_IP)", "127.0.0.1", 1).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        errors.append((f"{path}.address", f"{address!r} is not host:port"))
        return ""
    return address
