"""MeshConfig's default HTTP retry policies, as Istio reads and checks them.

- `defaultHttpRetryPolicy`: the retry policy of an outbound HTTP route whose VirtualService
  route sets no `retries`, and of a service's `default` route (no VirtualService). Unset:
  Istio's default (2 retries on connect-failure, refused-stream, unavailable, cancelled and
  retriable-status-codes, with no status code since Istio 1.24).
- `defaultInboundHttpRetryPolicy`: the retry policy of a sidecar's inbound HTTP routes (not on
  gRPC ports). Unset: Istio's default, 2 retries on `reset-before-request` (a request reset
  before it reached the app was never processed, so it is safe to send again); `{}` (no
  attempts) turns inbound retries off. Only `attempts`, `retryOn` and `backoff` apply there.

Both are checked with Istio's ValidateHTTPRetry (`validation.virtual_service.http_retry` and
`validation.webhook_http_actions.retries_problems`), the inbound one also with Istio's rule
that `backoff` with no attempts contradicts itself. Problems are `(path, message)` pairs; the
policy in error is ignored (Istio's default applies). Pure: it must not import translation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pilotfish.config.models.networking import HTTPRetry
from pilotfish.config.schema import message_fields
from pilotfish.config.unmarshal import as_istio_reads
from pilotfish.config.validation.common import Findings
from pilotfish.config.validation.virtual_service import http_retry
from pilotfish.config.validation.webhook_http_actions import retries_problems

OUTBOUND_FIELD = "defaultHttpRetryPolicy"
INBOUND_FIELD = "defaultInboundHttpRetryPolicy"


@dataclass(frozen=True)
class MeshRetries:
    """The mesh's default retry policies (None: Istio's default for that direction)."""

    outbound: HTTPRetry | None = None
    inbound: HTTPRetry | None = None


NO_MESH_RETRIES = MeshRetries()


def parse_mesh_retries(mesh: dict[str, Any], errors: list[tuple[str, str]]) -> MeshRetries:
    """Both policies of a MeshConfig (`mesh`: its YAML as read), checked as Istio checks them."""
    outbound = _policy(mesh.get(OUTBOUND_FIELD), OUTBOUND_FIELD, errors)
    inbound = _policy(mesh.get(INBOUND_FIELD), INBOUND_FIELD, errors)
    if inbound is not None and not inbound.attempts and inbound.backoff is not None:
        errors.append(
            (
                INBOUND_FIELD,
                "invalid default inbound http retry policy: "
                "backoff configured when attempts are set to 0 (disabled)",
            )
        )
        inbound = None
    return MeshRetries(outbound, inbound)


def _policy(raw: Any, path: str, errors: list[tuple[str, str]]) -> HTTPRetry | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        errors.append((path, "must be a map (HTTPRetry)"))
        return None
    known = message_fields(HTTPRetry).keys() | HTTPRetry.model_fields.keys()  # JSON, proto names
    unknown = sorted(str(key) for key in raw if key not in known)
    if unknown:  # istiod reads MeshConfig strictly
        errors.append((f"{path}.{unknown[0]}", "unknown field"))
        return None
    try:
        policy = HTTPRetry.model_validate(as_istio_reads(HTTPRetry, raw))
    except ValueError as exc:
        errors.append((path, str(exc).splitlines()[0]))
        return None
    checks = Findings()
    http_retry(checks, path, policy)
    problems = [(f.path, f.message) for f in checks.problems if f.level == "error"]
    retries_problems(raw, path, lambda where, message: problems.append((where, message)))
    errors.extend(problems)
    return None if problems else policy
