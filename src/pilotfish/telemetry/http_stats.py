"""`http_stats_logs`: an HTTP connection manager's loggers of Istio's request metrics, built once
per shape and given each proxy's identity.

The loggers (`metrics.logger_config`, one for gRPC requests and one for the others) depend on
the reporter, the metrics policy, whether the inbound port has a service, whether its chain
ends mutual TLS — the shape — and on the proxy's identity and its service's names, which only
ever appear as fixed label values (`labels.literal`, inside the `FIXED_TAG` value of each
metric). So they are built once per shape with a token in place of each such value
(`TOKENS`, `SERVICE_TOKENS`), and each proxy's are that template with its values put in
(measured: building the loggers of three connection managers was ~15 % of a connect storm's
translation, every sidecar having an identity of its own; BENCHMARKS.md). A value that holds
the token character itself is built directly. Either way the bytes are those a direct build
gives (tests/telemetry/test_http_stats.py compares them). For a proxy whose Envoy holds its
identity in its environment (`identity_env`), the run of own-identity labels is that
variable's operator instead (`_env_template`), so the loggers are shared by every proxy with
the same service and namespace (tests/telemetry/test_identity_env.py). Pure.
"""

from __future__ import annotations

import functools

from envoy.config.accesslog.v3 import accesslog_pb2
from envoy.extensions.access_loggers.stats.v3 import stats_pb2

from pilotfish.telemetry import identity_env
from pilotfish.telemetry.exchange import Identity
from pilotfish.telemetry.labels import Reporter, ServiceLabels, label_plan, literal
from pilotfish.telemetry.metrics import (
    STANDARD_METRICS,
    MetricsPolicy,
    logger_config,
    skipping_authorities,
    stats_access_log,
)

HTTP_STATS_MEMO = 8192  # `http_stats_logs` results kept (~3 KB each; three per proxy)
TEMPLATES = 256  # shapes kept (reporter x policy x service or not x mutual TLS)
MARK = "\x01"  # the token character: no label value a user writes holds it
TOKENS = Identity(*(f"{MARK}{c}{MARK}" for c in "abcdefg"))
"""An identity whose every field is a token (`Identity`'s fields in order)."""
SERVICE_TOKENS = ServiceLabels(f"{MARK}h{MARK}", f"{MARK}i{MARK}", f"{MARK}j{MARK}")


def http_stats_logs(
    reporter: Reporter,
    me: Identity,
    policy: MetricsPolicy,
    service: ServiceLabels | None = None,
    mtls: bool | None = None,
    skip: tuple[str, ...] = (),
    env: bool = False,
) -> list[accesslog_pb2.AccessLog]:
    """The HTTP connection manager's loggers for Istio's request metrics: one for gRPC
    requests, one for the others (new messages: the caller may change them); requests for
    the authorities `skip` not counted (`metrics.skipping_authorities`). `env`: the proxy's
    Envoy holds its identity in its environment (`identity_env`): its own-identity labels are
    read from there."""
    found = http_stats_bytes(reporter, me, policy, service, mtls, skip, env)
    return [accesslog_pb2.AccessLog.FromString(data) for data in found]


@functools.lru_cache(maxsize=HTTP_STATS_MEMO)
def http_stats_bytes(
    reporter: Reporter,
    me: Identity,
    policy: MetricsPolicy,
    service: ServiceLabels | None,
    mtls: bool | None,
    skip: tuple[str, ...] = (),
    env: bool = False,
) -> tuple[bytes, ...]:
    """`http_stats_logs` serialised, memoised on its arguments (all it reads): a proxy's
    outbound and WebSocket managers share them, and a change that translates every proxy
    again (a mesh setting) finds each proxy's built before."""
    values = _values(me, service)
    if values is None or not _plain(policy):
        return built(reporter, me, policy, service, mtls, skip)
    if env:  # the same bytes for every proxy whose remaining values are the same
        shape = (reporter, policy, service is not None, mtls, skip)
        letters = _env_template(*shape)[1]
        return _env_filled(*shape, tuple((k, values[k]) for k in letters))
    template = _template(reporter, policy, service is not None, mtls, skip)
    return tuple(_substituted(data, patterns, values) for data, patterns in template)


def built(
    reporter: Reporter,
    me: Identity,
    policy: MetricsPolicy,
    service: ServiceLabels | None,
    mtls: bool | None,
    skip: tuple[str, ...] = (),
) -> tuple[bytes, ...]:
    """The loggers built directly, serialised (~150 us)."""
    logs = []
    for grpc in (False, True):
        metrics = [m for m in STANDARD_METRICS if not m.tcp and (grpc or not m.grpc)]
        plan = label_plan(reporter, me, service, protocol="grpc" if grpc else "http", mtls=mtls)
        config = logger_config(metrics, reporter, plan, policy)
        if config.counters or config.histograms:
            log = stats_access_log(config, content_type=grpc)
            if skip:
                skipping_authorities(log, skip)
            logs.append(log.SerializeToString())
    return tuple(logs)


Template = tuple[tuple[bytes, dict[str, str]], ...]
"""Per logger: its bytes, and each tag value holding tokens as a `str.format` pattern with the
token letters as fields."""


@functools.lru_cache(maxsize=TEMPLATES)
def _template(
    reporter: Reporter,
    policy: MetricsPolicy,
    has_service: bool,
    mtls: bool | None,
    skip: tuple[str, ...],
) -> Template:
    found = []
    service = SERVICE_TOKENS if has_service else None
    for data in built(reporter, TOKENS, policy, service, mtls, skip):
        values = {tag.value_format for tag in _tags(data) if MARK in tag.value_format}
        found.append((data, {value: _pattern(value) for value in values}))
    return tuple(found)


@functools.lru_cache(maxsize=TEMPLATES)
def _env_template(
    reporter: Reporter,
    policy: MetricsPolicy,
    has_service: bool,
    mtls: bool | None,
    skip: tuple[str, ...],
) -> tuple[Template, tuple[str, ...]]:
    """`_template` with the reporter's run of own-identity labels read from Envoy's
    environment (`identity_env.operator`) wherever a tag holds it whole (a tag override that
    removes one of them leaves the literals), and the token letters still in it."""
    run = identity_env.labels_run(reporter, TOKENS)
    read = identity_env.operator(identity_env.VARIABLES[reporter])
    found, letters = [], set()
    for data, patterns in _template(reporter, policy, has_service, mtls, skip):
        done = {value: value.replace(run, read) for value in patterns}
        escaped = {value: d.replace("{", "{{").replace("}", "}}") for value, d in done.items()}
        data = _substituted(data, escaped, {})  # no fields: each value becomes `done`'s
        rest = {d: _pattern(d) for d in done.values() if MARK in d}
        for value in rest:
            letters.update(value.split(MARK)[1::2])
        found.append((data, rest))
    return tuple(found), tuple(sorted(letters))


@functools.lru_cache(maxsize=HTTP_STATS_MEMO)
def _env_filled(
    reporter: Reporter,
    policy: MetricsPolicy,
    has_service: bool,
    mtls: bool | None,
    skip: tuple[str, ...],
    values: tuple[tuple[str, str], ...],
) -> tuple[bytes, ...]:
    """`_env_template` with `values` (its letters' values) put in: one entry per distinct
    service and namespace, not per proxy."""
    template, _ = _env_template(reporter, policy, has_service, mtls, skip)
    given = dict(values)
    return tuple(_substituted(data, patterns, given) if patterns else data
                 for data, patterns in template)  # fmt: skip


def _pattern(value: str) -> str:
    """`value` as a `str.format` pattern: each token a field named by its letter."""
    pieces = value.split(MARK)  # the odd ones are token letters
    escaped = [p.replace("{", "{{").replace("}", "}}") for p in pieces[::2]]
    fields = zip(escaped[:-1], pieces[1::2], strict=True)
    return "".join(f"{text}{{{letter}}}" for text, letter in fields) + escaped[-1]


def _tags(data: bytes) -> list[stats_pb2.Config.Tag]:
    log = accesslog_pb2.AccessLog.FromString(data)
    config = stats_pb2.Config()
    log.typed_config.Unpack(config)
    stats = [c.stat for c in config.counters] + [h.stat for h in config.histograms]
    return [tag for stat in stats for tag in stat.tags]


@functools.lru_cache(maxsize=TEMPLATES)
def _plain(policy: MetricsPolicy) -> bool:
    """No tag override of `policy` holds `MARK` (it would be taken for a token)."""
    return not any(MARK in o.tag + o.expression + o.metric for o in policy.overrides)


def _values(me: Identity, service: ServiceLabels | None) -> dict[str, str] | None:
    """Token letter -> the label value it stands for (as `label_plan` writes it: `literal`);
    None when a value holds `MARK`."""
    raw = [*(getattr(me, f) for f in Identity.__dataclass_fields__)]
    raw += [service.host, service.name, service.namespace] if service else ["", "", ""]
    if any(MARK in value for value in raw):
        return None
    return {letter: literal(value) for letter, value in zip("abcdefghij", raw, strict=True)}


def _substituted(data: bytes, patterns: dict[str, str], values: dict[str, str]) -> bytes:
    """A template logger with `values` in place of its tokens (`patterns`: its tag values that
    hold tokens, as `_pattern`s)."""
    done = {value: pattern.format_map(values) for value, pattern in patterns.items()}
    log = accesslog_pb2.AccessLog.FromString(data)
    config = stats_pb2.Config()
    log.typed_config.Unpack(config)
    for stat in [c.stat for c in config.counters] + [h.stat for h in config.histograms]:
        for tag in stat.tags:
            if MARK in tag.value_format:
                tag.value_format = done[tag.value_format]
    log.typed_config.Pack(config)
    substituted: bytes = log.SerializeToString()
    return substituted
