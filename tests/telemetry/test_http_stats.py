"""Unit tests: the HTTP metric loggers made from a template per shape (`telemetry.http_stats`)
are, byte for byte, the loggers built directly for the same identity and service."""

from __future__ import annotations

import itertools
import re

import pytest

from pilotfish.telemetry import http_stats
from pilotfish.telemetry.exchange import Identity
from pilotfish.telemetry.labels import Reporter, ServiceLabels
from pilotfish.telemetry.metrics import MetricsPolicy, TagOverride

IDENTITIES = [
    Identity("reviews-v1", "default", "reviews", "v1", "reviews", "v1"),
    Identity("w", "ns", "", "", "", "", ""),  # empty values are Istio's `unknown`
    Identity("a;b=c|d%e", "n s", "x|y", "1.0;2", "app=1", "v%", "c;1"),  # separators replaced
    Identity("{w}", "{0}", "}{", "{a}", "{{", "}", "{}"),  # braces are no pattern fields
]
SERVICES = [None, ServiceLabels("reviews.default.svc.cluster.local", "reviews", "default")]
POLICIES = [
    MetricsPolicy(),
    MetricsPolicy(disabled=frozenset({("REQUEST_COUNT", Reporter.SOURCE)})),
    MetricsPolicy(
        overrides=(
            TagOverride("ALL_METRICS", None, "request_protocol", True),
            TagOverride("REQUEST_COUNT", Reporter.DESTINATION, "app_tag", False, "'fixed'"),
            TagOverride("ALL_METRICS", None, "destination_app", False, "request.host"),
            TagOverride("REQUEST_SIZE", None, "braces", False, "'{a}' + '}'"),
        )
    ),
]


@pytest.mark.parametrize(
    ("me", "service", "policy"), list(itertools.product(IDENTITIES, SERVICES, POLICIES))
)
def test_templated_loggers_are_the_direct_ones(
    me: Identity, service: ServiceLabels | None, policy: MetricsPolicy
) -> None:
    for reporter, mtls in itertools.product(Reporter, (None, True, False)):
        direct = http_stats.built(reporter, me, policy, service, mtls)
        logs = http_stats.http_stats_logs(reporter, me, policy, service, mtls)
        assert direct, "the default policy emits HTTP metrics"
        assert tuple(log.SerializeToString() for log in logs) == direct
        assert not re.search(rb"\x01[a-j]\x01", b"".join(direct))  # no token left


def test_a_value_holding_the_token_character_is_built_directly() -> None:
    odd = Identity("w\x01a\x01", "ns", "svc", "v1", "app", "v1")
    logs = http_stats.http_stats_logs(Reporter.SOURCE, odd, MetricsPolicy())
    direct = http_stats.built(Reporter.SOURCE, odd, MetricsPolicy(), None, None)
    assert tuple(log.SerializeToString() for log in logs) == direct
    assert b"w\x01a\x01" in b"".join(direct)  # its own value, not another's


def test_an_override_holding_the_token_character_is_built_directly() -> None:
    policy = MetricsPolicy(overrides=(TagOverride("ALL_METRICS", None, "x", False, "'\x01a\x01'"),))
    me = IDENTITIES[0]
    logs = http_stats.http_stats_logs(Reporter.DESTINATION, me, policy)
    direct = http_stats.built(Reporter.DESTINATION, me, policy, None, None)
    assert tuple(log.SerializeToString() for log in logs) == direct
