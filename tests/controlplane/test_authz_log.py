"""The `authorization` logging scope (`controlplane.authz_log`): at debug, a full translation of a
proxy says which AuthorizationPolicies apply to it, in Istio's evaluation order, with the RBAC
names of their rules; at info it computes nothing."""

from __future__ import annotations

import logging
from unittest import mock

import pytest

from pilotfish.config import load
from pilotfish.controlplane import authz_log
from pilotfish.controlplane.authz_log import LOGGER, log_applied
from pilotfish.controlplane.scopes import SCOPES
from pilotfish.model.proxy import Proxy, ProxyType
from pilotfish.model.push_context import PushContext
from pilotfish.registry.types import RegistrySnapshot

SEC = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
POLICIES = "---\n".join(
    [
        SEC + "metadata: {name: viewer, namespace: default}\n"
        "spec:\n  selector: {matchLabels: {app: reviews}}\n  action: ALLOW\n"
        "  rules:\n  - to: [{operation: {methods: [GET]}}]\n"
        "  - from: [{source: {namespaces: [foo]}}]\n",
        SEC + "metadata: {name: deny-nothing, namespace: istio-system,"
        " annotations: {istio.io/dry-run: 'true'}}\nspec:\n  action: DENY\n"
        "  rules:\n  - to: [{operation: {paths: [/admin]}}]\n",
        SEC + "metadata: {name: allow-nothing, namespace: default}\nspec:\n"
        "  selector: {matchLabels: {app: reviews}}\n",
        SEC + "metadata: {name: ratings-only, namespace: default}\nspec:\n"
        "  selector: {matchLabels: {app: ratings}}\n  rules:\n  - {}\n",
    ]
)


def _proxy(app: str) -> Proxy:
    return Proxy(
        type=ProxyType.SIDECAR,
        ip="127.1.0.9",
        instance=f"{app}-v1-0",
        namespace="default",
        labels=(("app", app),),
    )


def _push() -> PushContext:
    result = load(POLICIES, "p.yaml")
    assert result.ok, result.errors
    return PushContext(registry=RegistrySnapshot(), configs=tuple(result.objects))


def test_the_scope_is_istiods() -> None:
    (scope,) = [s for s in SCOPES if s.name == "authorization"]
    assert scope.description == "Istio Authorization Policy"  # istiod's own description
    assert scope.loggers == (LOGGER,)


def test_at_debug_it_names_the_policies_of_the_proxy(caplog: pytest.LogCaptureFixture) -> None:
    push = _push()
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        log_applied(_proxy("reviews"), push)
        log_applied(_proxy("details"), push)
    assert [r.getMessage() for r in caplog.records] == [
        "Processed authorization policy for reviews-v1-0.default with details:\n"
        "\t* DENY policy istio-system/deny-nothing (dry-run: evaluated, not enforced): "
        "ns[istio-system]-policy[deny-nothing]-rule[0]\n"
        "\t* ALLOW policy default/allow-nothing: ns[default]-policy[allow-nothing]-rule[0] "
        "matches nothing (no rules)\n"
        "\t* ALLOW policy default/viewer: ns[default]-policy[viewer]-rule[0], "
        "ns[default]-policy[viewer]-rule[1]",
        "Processed authorization policy for details-v1-0.default with details:\n"
        "\t* DENY policy istio-system/deny-nothing (dry-run: evaluated, not enforced): "
        "ns[istio-system]-policy[deny-nothing]-rule[0]",
    ]


def test_a_proxy_no_policy_selects_is_said(caplog: pytest.LogCaptureFixture) -> None:
    push = PushContext(registry=RegistrySnapshot())
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        log_applied(_proxy("reviews"), push)
    assert [r.getMessage() for r in caplog.records] == [
        "Processed authorization policy for reviews-v1-0.default: no AuthorizationPolicy applies"
    ]


def test_at_info_nothing_is_computed(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.INFO, logger=LOGGER),
        mock.patch.object(authz_log, "applied_policies") as applied,
    ):
        log_applied(_proxy("reviews"), _push())
    assert not applied.called and not caplog.records
