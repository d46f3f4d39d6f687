"""Retry policies of HTTP routes, as Istio builds them (its route/retry package).

- Outbound (a sidecar's or a gateway's route): a VirtualService route's `retries`, else
  MeshConfig's `defaultHttpRetryPolicy`, else Istio's default: 2 retries on connect-failure,
  refused-stream, unavailable, cancelled and retriable-status-codes, to another host than the
  ones tried (`previous_hosts`, but for a route of a consistent-hash destination), 5 host
  selection attempts. Since Istio 1.24 (EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY, on by default)
  the default lists no status code: a 503 the app answered is not sent again (it may have acted
  on the request). A written policy starts from the default and replaces what it sets; retryOn
  entries that are HTTP status codes become retriable status codes; `attempts: 0` (or none)
  means no retries.
- Inbound (a sidecar's route to its app, but on gRPC ports): MeshConfig's
  `defaultInboundHttpRetryPolicy`, else Istio's default (ENABLE_INBOUND_RETRY_POLICY, on by
  default): 2 retries on `reset-before-request`, which sends again a request whose connection
  to the app failed or was reset before the request was written (the app's keep-alive close
  racing a new request), never one the app may have seen. Only attempts, retryOn and backoff
  apply.

Pure: config models in, Envoy messages out. Built messages are shared: never mutate them.
"""

from __future__ import annotations

import functools
from http import HTTPStatus

from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.extensions.retry.host.previous_hosts.v3 import previous_hosts_pb2
from envoy.extensions.retry.priority.previous_priorities.v3 import (
    previous_priorities_config_pb2,
)
from google.protobuf import wrappers_pb2

from pilotfish.config.models.networking import HTTPRetry
from pilotfish.translate.envoy_pb import duration_of, pack

DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
DEFAULT_INBOUND_RETRY_ON = "reset-before-request"
DEFAULT_ATTEMPTS = 2
PREVIOUS_HOSTS_PREDICATE = "envoy.retry_host_predicates.previous_hosts"
PREVIOUS_PRIORITIES = "envoy.retry_priorities.previous_priorities"
HTTP_STATUS_CODES = frozenset(int(s) for s in HTTPStatus)  # Go's http.StatusText set


def _conditions(retry_on: str) -> tuple[str, list[int]]:
    """Istio's parseRetryOn: Envoy's conditions, and the entries that are HTTP status codes
    (with `retriable-status-codes` added when codes are given without it)."""
    conditions: list[str] = []
    codes: list[int] = []
    for token in (t.strip() for t in retry_on.split(",")):
        if token.isdigit() and int(token) in HTTP_STATUS_CODES:
            codes.append(int(token))
        elif token:
            conditions.append(token)
    if codes and "retriable-status-codes" not in conditions:
        conditions.append("retriable-status-codes")
    return ",".join(conditions), codes


def _backoff(policy: rc_pb2.RetryPolicy, backoff: object) -> None:
    base_interval = duration_of(backoff)
    if base_interval is not None:
        policy.retry_back_off.base_interval.CopyFrom(base_interval)


@functools.cache
def _previous_hosts() -> rc_pb2.RetryPolicy.RetryHostPredicate:
    predicate = pack(previous_hosts_pb2.PreviousHostsPredicate())
    predicate_type = rc_pb2.RetryPolicy.RetryHostPredicate
    return predicate_type(name=PREVIOUS_HOSTS_PREDICATE, typed_config=predicate)


def _starting_policy(consistent_hash: bool) -> rc_pb2.RetryPolicy:
    """Istio's default outbound policy (a new message)."""
    policy = rc_pb2.RetryPolicy(
        retry_on=DEFAULT_RETRY_ON,
        num_retries=wrappers_pb2.UInt32Value(value=DEFAULT_ATTEMPTS),
        host_selection_retry_max_attempts=5,
    )
    if not consistent_hash:
        policy.retry_host_predicate.append(_previous_hosts())
    return policy


@functools.cache
def _default_policy(consistent_hash: bool) -> rc_pb2.RetryPolicy:
    """Built once: protobuf constructors copy it, so the shared message is never mutated."""
    return _starting_policy(consistent_hash)


def outbound_retry_policy(
    written: HTTPRetry | None, consistent_hash: bool = False
) -> rc_pb2.RetryPolicy | None:
    """Istio's ConvertPolicy: the route's policy (`written`: its `retries`, else the mesh's
    default policy; None: Istio's default), None for no retries. With consistent hashing the
    default keeps to the hashed host (no `previous_hosts`) unless `retryIgnorePreviousHosts`
    says otherwise."""
    if written is None:
        return _default_policy(consistent_hash)
    if not written.attempts or written.attempts <= 0:
        return None
    policy = _starting_policy(consistent_hash)
    policy.num_retries.value = written.attempts
    if written.retry_on:
        policy.retry_on, codes = _conditions(written.retry_on)
        policy.retriable_status_codes.extend(codes)
    per_try = duration_of(written.per_try_timeout)
    if per_try is not None:
        policy.per_try_timeout.CopyFrom(per_try)
    if written.retry_ignore_previous_hosts is not None:
        del policy.retry_host_predicate[:]
        if written.retry_ignore_previous_hosts:
            policy.retry_host_predicate.append(_previous_hosts())
    if written.retry_remote_localities:  # as Istio: retries prefer other priorities
        policy.retry_priority.name = PREVIOUS_PRIORITIES
        policy.retry_priority.typed_config.CopyFrom(
            pack(previous_priorities_config_pb2.PreviousPrioritiesConfig(update_frequency=2))
        )
    _backoff(policy, written.backoff)
    return policy


@functools.cache
def _default_inbound_policy() -> rc_pb2.RetryPolicy:
    return rc_pb2.RetryPolicy(
        retry_on=DEFAULT_INBOUND_RETRY_ON,
        num_retries=wrappers_pb2.UInt32Value(value=DEFAULT_ATTEMPTS),
    )


def inbound_retry_policy(written: HTTPRetry | None, grpc: bool) -> rc_pb2.RetryPolicy | None:
    """Istio's ConvertInboundPolicy for an inbound route (`written`: the mesh's
    `defaultInboundHttpRetryPolicy`, None: Istio's default); None for no retries, and on gRPC
    ports, where `reset-before-request` does not suit streams (Istio's `IsGRPC`)."""
    if grpc:
        return None
    if written is None:
        return _default_inbound_policy()
    if not written.attempts or written.attempts <= 0:
        return None
    policy = rc_pb2.RetryPolicy(
        retry_on=DEFAULT_INBOUND_RETRY_ON,
        num_retries=wrappers_pb2.UInt32Value(value=written.attempts),
    )
    if written.retry_on:
        policy.retry_on, codes = _conditions(written.retry_on)
        policy.retriable_status_codes.extend(codes)
    _backoff(policy, written.backoff)
    return policy
