"""How `describe` words a route's match conditions and faults, as istioctl's `experimental
describe` does: `uri /static*`, `headers end-user=jason`, `port 9080, source labels app=x`,
`~regex`, `Fault injection: delay 7s (100%)`, a destination as `host "reviews" subset "v2"`;
the wording of a mismatch note (Istio's describe page: `when headers are end-user=jason`).
Pure; used by `describe.rules`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pilotfish.config.models.networking import (
        HTTPFaultInjection,
        HTTPMatchRequest,
        StringMatch,
    )


def render_string_match(match: StringMatch | None) -> str:
    if match is None:
        return ""
    if match.exact is not None:
        return str(match.exact)
    if match.prefix is not None:
        return f"{match.prefix}*"
    if match.regex is not None:
        return f"~{match.regex}"
    return "*"


def render_http_match(match: HTTPMatchRequest) -> str:
    """One HTTPMatchRequest as words: `uri /static*`, `headers end-user=jason`, …"""
    parts = []
    if match.uri is not None:
        parts.append(
            f"uri {render_string_match(match.uri)}" + (" uncased" * bool(match.ignore_uri_case))
        )
    for label, field in (("method", match.method), ("authority", match.authority)):
        if field is not None:
            parts.append(f"{label} {render_string_match(field)}")
    for label, fields in (
        ("headers", match.headers),
        ("query params", match.query_params),
        ("without headers", match.without_headers),
    ):
        if fields:
            pairs = "; ".join(f"{k}={render_string_match(v)}" for k, v in sorted(fields.items()))
            parts.append(f"{label} {pairs}")
    parts.extend(l4_match_parts(match))
    return ", ".join(parts) or "everything"


def l4_match_parts(match: Any) -> list[str]:
    parts = []
    if match.port:
        parts.append(f"port {match.port}")
    if match.source_labels:
        labels = ",".join(f"{k}={v}" for k, v in sorted(match.source_labels.items()))
        parts.append(f"source labels {labels}")
    if match.source_namespace:
        parts.append(f"source namespace {match.source_namespace}")
    if getattr(match, "sni_hosts", ()):
        parts.append(f"sni {','.join(match.sni_hosts)}")
    return parts


def render_conditions(matches: Sequence[Any], http: bool = True) -> str:
    if not matches:
        return ""
    render = render_http_match if http else (lambda m: ", ".join(l4_match_parts(m)) or "")
    return " or ".join(render(m) for m in matches)


def render_note_matches(matches: Sequence[Any], http: bool) -> str:
    """A route's matches as istioctl words them in a mismatch note (Istio's describe page: `for
    (when headers are end-user=jason)`): the URI, then `when headers are K=V; …`, matches joined
    by `, `; other fields as `render_http_match` says them; `everything` when there are none."""
    if not http or not matches:
        return render_conditions(matches, http) or "everything"
    words = []
    for m in matches:
        uri = "" if m.uri is None else render_string_match(m.uri) + " uncased" * m.ignore_uri_case
        pairs = "; ".join(f"{k}={render_string_match(v)}" for k, v in sorted(m.headers.items()))
        said = f"{uri} when headers are {pairs}".strip() if m.headers else uri
        words.append(said or render_http_match(m))
    return ", ".join(words)


def render_fault(fault: HTTPFaultInjection) -> str:
    parts = []
    if fault.delay is not None:
        pct = fault.delay.percentage.value if fault.delay.percentage else 100
        parts.append(f"delay {fault.delay.fixed_delay or fault.delay.exponential_delay} ({pct:g}%)")
    if fault.abort is not None:
        pct = fault.abort.percentage.value if fault.abort.percentage else 100
        code = fault.abort.http_status or fault.abort.grpc_status
        parts.append(f"abort {code} ({pct:g}%)")
    return "Fault injection: " + ", ".join(parts)


def render_target(host: str | None, subset: str | None) -> str:
    """A route destination: `host "reviews" subset "v2"`."""
    return f'host "{host}"' + (f' subset "{subset}"' if subset else "")
