"""The telemetry part of Istio's MeshConfig (the `istio` ConfigMap's `mesh` key), parsed.

Honoured fields, with Istio's names and defaults: `accessLogFile` ("" = off), `accessLogEncoding`
(TEXT|JSON), `accessLogFormat`, `enableTracing` (true), `defaultConfig.tracing`
(`config.proxy_tracing`: sampling, custom tags, path tag length, the legacy `zipkin.address`),
`extensionProviders` (zipkin, opentelemetry, envoyFileAccessLog, envoyOtelAls, prometheus) and
`defaultProviders` (metrics default `prometheus`). A provider's fields may be written in
snake_case too, as Istio's protobuf JSON parser takes them (`resource_detectors`); an
`opentelemetry` provider's `resourceDetectors` (environment, dynatrace) and `dynatraceSampler`
are kept for `telemetry.tracing`. Also the legacy `istio-tracing` ConfigMap
(`data.zipkin: {enabled, endpoint}`), which sets the Zipkin address. Parsing never raises:
problems come back as (field path, message) pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pilotfish.config.durations import parse_duration
from pilotfish.config.proxy_tracing import ProxyTracing, parse_proxy_tracing, sampling_value

PROVIDER_KINDS = (
    "zipkin",
    "opentelemetry",
    "datadog",
    "skywalking",
    "envoyFileAccessLog",
    "envoyOtelAls",
    "prometheus",
)
BACKEND_TRACERS = ("datadog", "skywalking")  # traced only to a service of the mesh (`service:port`)
UNSUPPORTED_KINDS = (
    "envoyExtAuthzHttp",
    "envoyExtAuthzGrpc",
    "lightstep",
    "stackdriver",
    "opencensus",
    "envoyHttpAls",
    "envoyTcpAls",
    "sds",
)
OTEL_ALS = "envoyOtelAls"  # OpenTelemetry access logs (`telemetry.access_log.OtelLog`)
ENVOY_PROVIDER = "envoy"  # Istio's built-in file access log provider (/dev/stdout)
LEGACY_ZIPKIN = "zipkin"  # the provider name `defaultConfig.tracing.zipkin` stands for
LEGACY_DATADOG = "datadog"  # and `defaultConfig.tracing.datadog`


@dataclass(frozen=True)
class DynatraceSampler:
    """An `opentelemetry` provider's `dynatraceSampler`: without `service`, it asks the OTLP/HTTP
    exporter's host (Istio's configureDynatraceSampler)."""

    tenant: str = ""
    cluster_id: int = 0
    root_spans_per_minute: int = 0
    service: str = ""  # httpService.service: "" reuses the exporter's
    port: int = 0
    path: str = ""
    timeout: float = 0.0
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Provider:
    """One `extensionProviders` entry (the fields pilotfish uses)."""

    name: str
    kind: str
    service: str = ""
    port: int = 0
    path: str = ""  # zipkin: collector path; envoyFileAccessLog: file path; otel http: path
    max_tag_length: int = 0  # 0: not set (the ProxyConfig's max_path_tag_length, else Envoy's)
    text_format: str = ""  # envoyFileAccessLog, envoyOtelAls logFormat.text
    labels: tuple[tuple[str, str], ...] = ()  # their logFormat.labels (JSON keys; OTel attributes)
    log_name: str = ""  # envoyOtelAls logName
    otel_http: bool = False  # opentelemetry with `http` (OTLP/HTTP) instead of gRPC
    b3_and_w3c: bool = False  # zipkin traceContextOption USE_B3_WITH_W3C_PROPAGATION
    trace_id_64bit: bool = False  # zipkin enable64bitTraceId
    timeout: float = 0.0  # seconds (0: not set): zipkin `timeout`, opentelemetry http|grpc
    headers: tuple[tuple[str, str], ...] = ()  # zipkin / otel http `headers`, grpc metadata
    environment_detector: bool = False  # opentelemetry resourceDetectors.environment
    dynatrace_detector: bool = False  # opentelemetry resourceDetectors.dynatrace
    dynatrace_sampler: DynatraceSampler | None = None  # opentelemetry dynatraceSampler
    legacy: bool = False  # the legacy Zipkin address (ProxyConfig or istio-tracing), not a provider


@dataclass(frozen=True)
class MeshTelemetry:
    access_log_file: str = ""
    access_log_encoding: str = "TEXT"
    access_log_format: str = ""
    enable_tracing: bool = True
    tracing: ProxyTracing | None = None  # defaultConfig.tracing (Istio's default: none)
    providers: tuple[Provider, ...] = ()
    default_metrics_providers: tuple[str, ...] = ("prometheus",)
    default_tracing_providers: tuple[str, ...] = ()
    default_access_log_providers: tuple[str, ...] = ()

    @property
    def sampling(self) -> float:
        """The percentage `defaultConfig.tracing.sampling` gives (Istio's 1% when unset)."""
        return sampling_value(self.tracing)

    def provider(self, name: str) -> Provider | None:
        return next((p for p in self.providers if p.name == name), None)

    def extension_provider(self, name: str) -> Provider | None:
        """The `extensionProviders` entry `name` (Istio's fetchProvider: the legacy Zipkin
        address is none)."""
        return next((p for p in self.providers if p.name == name and not p.legacy), None)

    @property
    def legacy_tracer(self) -> Provider | None:
        """The legacy Zipkin address's tracer (`defaultConfig.tracing.zipkin.address` or the
        istio-tracing ConfigMap), if any."""
        return next((p for p in self.providers if p.legacy), None)

    def provider_kind(self, name: str) -> str:
        found = self.provider(name)
        return found.kind if found is not None else ""


Errors = list[tuple[str, str]]


def _names(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _port(raw: dict[str, Any], path: str, errors: Errors) -> int:
    port = raw.get("port", 0)
    if not isinstance(port, int) or not 0 <= port < 65536:
        errors.append((f"{path}.port", f"{port!r} is not a port"))
        return 0
    return port


def _provider(raw: Any, path: str, errors: Errors) -> Provider | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        errors.append((f"{path}.name", "is required"))
        return None
    kinds = [k for k in raw if k != "name"]
    if len(kinds) != 1:
        errors.append((path, "needs exactly one provider type (zipkin, opentelemetry, …)"))
        return None
    kind, body = kinds[0], _camel_keys(raw[kinds[0]] or {})
    if kind in UNSUPPORTED_KINDS:
        return Provider(raw["name"], kind)
    if kind not in PROVIDER_KINDS or not isinstance(body, dict):
        errors.append((f"{path}.{kind}", "is not a known extension provider"))
        return None
    where = f"{path}.{kind}"
    if kind in ("zipkin", "opentelemetry", OTEL_ALS, *BACKEND_TRACERS) and not isinstance(
        body.get("service"), str
    ):
        errors.append((f"{where}.service", "is required"))
        return None
    if kind in (OTEL_ALS, *BACKEND_TRACERS) and body.get("port", 0) == 0:  # Istio: required
        errors.append((f"{where}.port", "is required: a port from 1 to 65535"))
        return None
    log_format = body.get("logFormat") or {}
    labels = log_format.get("labels") if isinstance(log_format, dict) else None
    return Provider(
        name=raw["name"],
        kind=kind,
        service=str(body.get("service", "")),
        port=_port(body, where, errors),
        path=str(body.get("path") or (body.get("http") or {}).get("path") or ""),
        max_tag_length=int(body.get("maxTagLength") or 0),
        text_format=str(log_format.get("text") or "") if isinstance(log_format, dict) else "",
        labels=tuple((str(k), str(v)) for k, v in (labels or {}).items()),
        log_name=str(body.get("logName") or "") if kind == OTEL_ALS else "",
        otel_http=kind == "opentelemetry" and "http" in body,
        b3_and_w3c=body.get("traceContextOption") == "USE_B3_WITH_W3C_PROPAGATION",
        trace_id_64bit=body.get("enable64bitTraceId") is True,
        timeout=_timeout(_transport(body), where, errors),
        headers=_headers(_transport(body), where, errors),
        environment_detector="environment" in (body.get("resourceDetectors") or {}),
        dynatrace_detector="dynatrace" in (body.get("resourceDetectors") or {}),
        dynatrace_sampler=_dynatrace(body.get("dynatraceSampler"), f"{where}.dynatraceSampler",
                                     errors),
    )  # fmt: skip


def _camel(key: str) -> str:
    first, *rest = key.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def _camel_keys(value: Any) -> Any:
    """A provider body with protobuf's JSON names for snake_case keys (Istio's parser takes both:
    its "Configure trace sampling" page writes `resource_detectors`); a log format's `labels`
    are the user's own names."""
    if isinstance(value, dict):
        return {_camel(str(k)): v if k == "labels" else _camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel_keys(v) for v in value]
    return value


def _dynatrace(raw: Any, where: str, errors: Errors) -> DynatraceSampler | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        errors.append((where, "must be a map (DynatraceSampler)"))
        return None
    service = raw.get("httpService") or {}
    http = service.get("http") or {} if isinstance(service, dict) else {}
    if service and (not isinstance(service.get("service"), str) or not service.get("port")):
        errors.append((f"{where}.httpService", "needs a service and a port"))
        return None
    numbers = {k: raw.get(k) or 0 for k in ("clusterId", "rootSpansPerMinute")}
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in numbers.values()):
        errors.append((where, "clusterId and rootSpansPerMinute must be whole numbers"))
        return None
    return DynatraceSampler(
        tenant=str(raw.get("tenant") or ""),
        cluster_id=int(numbers["clusterId"]),
        root_spans_per_minute=int(numbers["rootSpansPerMinute"]),
        service=str(service.get("service") or "") if service else "",
        port=_port(service, f"{where}.httpService", errors) if service else 0,
        path=str(http.get("path") or ""),
        timeout=_timeout(http, f"{where}.httpService.http", errors),
        headers=_headers(http, f"{where}.httpService.http", errors),
    )


def _transport(body: dict[str, Any]) -> dict[str, Any]:
    """Where a tracer's timeout and headers are: the zipkin body, otel `http` or `grpc`."""
    for key in ("http", "grpc"):
        if isinstance(body.get(key), dict):
            return dict(body[key])
    return body


def _timeout(body: dict[str, Any], where: str, errors: Errors) -> float:
    if body.get("timeout") in (None, ""):
        return 0.0
    try:
        return parse_duration(str(body["timeout"]))
    except ValueError:
        errors.append((f"{where}.timeout", f"{body['timeout']!r} is not a duration"))
        return 0.0


def _headers(body: dict[str, Any], where: str, errors: Errors) -> tuple[tuple[str, str], ...]:
    """`headers` (`initialMetadata` for gRPC): name and `value` (an `envName` reads istiod's
    environment in Istio; none is read here: empty)."""
    raw = body.get("headers", body.get("initialMetadata")) or []
    if not isinstance(raw, list) or not all(isinstance(h, dict) and h.get("name") for h in raw):
        errors.append((f"{where}.headers", "must be a list of {name, value}"))
        return ()
    return tuple((str(h["name"]), str(h.get("value") or "")) for h in raw)


def parse_mesh_telemetry(mesh: dict[str, Any], errors: Errors) -> MeshTelemetry:
    encoding = str(mesh.get("accessLogEncoding") or "TEXT")
    if encoding not in ("TEXT", "JSON"):
        errors.append(("accessLogEncoding", f"{encoding!r} is not TEXT or JSON"))
        encoding = "TEXT"
    providers = []
    for index, raw in enumerate(mesh.get("extensionProviders") or []):
        found = _provider(raw, f"extensionProviders[{index}]", errors)
        if found is not None:
            providers.append(found)
    default_config = mesh.get("defaultConfig")
    raw_tracing = default_config.get("tracing") if isinstance(default_config, dict) else None
    tracing = parse_proxy_tracing(raw_tracing, "defaultConfig.tracing", errors)
    legacy = legacy_tracer(tracing)
    if legacy is not None:
        providers.append(legacy)
    defaults = mesh.get("defaultProviders") or {}
    return MeshTelemetry(
        access_log_file=str(mesh.get("accessLogFile") or ""),
        access_log_encoding=encoding,
        access_log_format=str(mesh.get("accessLogFormat") or ""),
        enable_tracing=mesh.get("enableTracing", True) is not False,
        tracing=tracing,
        providers=tuple(providers),
        default_metrics_providers=_names(defaults.get("metrics")) or ("prometheus",),
        default_tracing_providers=_names(defaults.get("tracing")),
        default_access_log_providers=_names(defaults.get("accessLogging")),
    )


def legacy_tracer(tracing: ProxyTracing | None) -> Provider | None:
    """The tracer of a ProxyConfig's legacy `zipkin` or `datadog` address, if any."""
    if tracing is not None and tracing.zipkin_address:
        return legacy_zipkin(tracing.zipkin_address)
    if tracing is not None and tracing.datadog_address:
        host, _, port = tracing.datadog_address.rpartition(":")
        return Provider(LEGACY_DATADOG, "datadog", service=host, port=int(port), legacy=True)
    return None


def legacy_zipkin(address: str) -> Provider:
    """The tracer a legacy Zipkin address stands for (in Istio, the bootstrap's, which only a
    connection manager's `tracing` block without a provider uses): `zipkin.istio-system:9411`
    (ProxyConfig) or a URL (the istio-tracing ConfigMap)."""
    if "://" not in address:
        address = f"http://{address}"
    parts = urlsplit(address)
    return Provider(
        name=LEGACY_ZIPKIN,
        kind="zipkin",
        service=parts.hostname or "",
        port=parts.port or 9411,
        path=parts.path if parts.path not in ("", "/") else "",
        legacy=True,
    )


def legacy_tracing_address(data: dict[str, Any], errors: Errors) -> str:
    """The Zipkin endpoint of an `istio-tracing` ConfigMap's `data.zipkin` (YAML text or map),
    "" when absent or `enabled: false`."""
    zipkin = data.get("zipkin")
    if isinstance(zipkin, str):
        from ruamel.yaml import YAML, YAMLError

        try:
            zipkin = YAML(typ="safe", pure=True).load(zipkin) or {}
        except YAMLError as exc:
            errors.append(("data.zipkin", f"is not YAML: {exc}"))
            return ""
    if not isinstance(zipkin, dict) or zipkin.get("enabled") is False:
        return ""
    endpoint = zipkin.get("endpoint") or zipkin.get("address") or ""
    if not isinstance(endpoint, str) or not endpoint:
        errors.append(("data.zipkin.endpoint", "is required when zipkin is enabled"))
        return ""
    return endpoint


def with_legacy_tracing(mesh: MeshTelemetry, endpoint: str) -> MeshTelemetry:
    """Mesh telemetry plus the legacy Zipkin endpoint (unless the mesh config names one)."""
    if not endpoint or mesh.legacy_tracer is not None:
        return mesh
    from dataclasses import replace

    return replace(mesh, providers=(*mesh.providers, legacy_zipkin(endpoint)))
