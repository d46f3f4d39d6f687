"""telemetry.istio.io models: `TelemetrySpec` and its messages (Istio's proto names).

Imports nothing outside `config.models`; the module is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pilotfish.config.models.lazy import lazy_exports

if TYPE_CHECKING:
    from pilotfish.config.models.telemetry.telemetry import (
        AccessLogging,
        AccessLoggingFilter,
        AccessLoggingSelector,
        CustomTag,
        Environment,
        Formatter,
        Metrics,
        MetricSelector,
        MetricsOverrides,
        ProviderRef,
        RequestHeader,
        TagOverride,
        TelemetrySpec,
        Tracing,
        TracingLiteral,
        TracingSelector,
    )

_HOMES: dict[str, tuple[str, ...]] = {
    "telemetry": (
        "AccessLogging",
        "AccessLoggingFilter",
        "AccessLoggingSelector",
        "CustomTag",
        "Environment",
        "Formatter",
        "Metrics",
        "MetricSelector",
        "MetricsOverrides",
        "ProviderRef",
        "RequestHeader",
        "TagOverride",
        "TelemetrySpec",
        "Tracing",
        "TracingLiteral",
        "TracingSelector",
    ),
}

__getattr__ = lazy_exports(__name__, _HOMES)

__all__ = [
    "AccessLogging",
    "AccessLoggingFilter",
    "AccessLoggingSelector",
    "CustomTag",
    "Environment",
    "Formatter",
    "MetricSelector",
    "Metrics",
    "MetricsOverrides",
    "ProviderRef",
    "RequestHeader",
    "TagOverride",
    "TelemetrySpec",
    "Tracing",
    "TracingLiteral",
    "TracingSelector",
]
