"""EnvoyFilter patch values read as the Envoy message `applyTo` names, as Istio's webhook reads
them (pkg/config/validation/envoyfilter, pkg/config/xds BuildXDSObjectFromStruct; cases after
envoyfilter_test.go): a value that does not parse is refused with its field path, fields Envoy
does not have are a warning, an `@type` of Envoy's v2 API or of no API is refused."""

from __future__ import annotations

import pytest

from pilotfish.config import load
from pilotfish.config.validation.envoy_filter import UNSTABLE

HEAD = """apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: ef, namespace: default}
spec:
  configPatches:
"""


def patch(apply_to: str, value: str, match: str = "") -> str:
    return HEAD + (
        f"  - applyTo: {apply_to}\n{match}    patch:\n      operation: ADD\n      value: {value}\n"
    )


CLUSTER_MATCH = "    match: {cluster: {}}\n"
TCP_MATCH = "    match: {listener: {filterChain: {name: envoy.tcp_proxy}}}\n"
EXT_AUTHZ = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"


@pytest.mark.parametrize(
    ("text", "errors", "warnings"),
    [
        pytest.param(  # Istio: json: cannot unmarshal bool into Go value of type string
            patch("CLUSTER", "{name: false}", CLUSTER_MATCH),
            ["Failed to parse name field"],
            [],
            id="invalid patch value",
        ),
        pytest.param(
            patch("CLUSTER", "{lb_policy: RING_HASH}", CLUSTER_MATCH), [], [], id="happy cluster"
        ),
        pytest.param(
            patch("NETWORK_FILTER", f"{{typed_config: {{'@type': {EXT_AUTHZ}}}}}", TCP_MATCH),
            [],
            [],
            id="happy network filter with any typed_config",
        ),
        pytest.param(
            patch(
                "NETWORK_FILTER",
                "{typed_config: {'@type': type.googleapis.com/envoy.config.filter.network"
                ".ext_authz.v2.ExtAuthz}}",
                TCP_MATCH,
            ),
            ["referenced type unknown (hint: try using the v3 XDS API)"],
            [],
            id="deprecated v2 config",
        ),
        pytest.param(
            patch("HTTP_FILTER", "{typed_config: {'@type': type.googleapis.com/envoy.nope.v3.X}}"),
            ["referenced type unknown: could not resolve Any message type"],
            [],
            id="type of no API",
        ),
        pytest.param(patch("CLUSTER", "{dns_refresh_rate: 500ms}"), [], [], id="duration marshal"),
        pytest.param(
            patch("CLUSTER", "{connect_timeout: soon}"),
            ["Cluster.connect_timeout"],
            [],
            id="bad duration names its field",
        ),
        pytest.param(
            patch("HTTP_FILTER", "{name: envoy.lua, config: {inlineCode: x}}"),
            [],
            ['has no field named "config"'],
            id="unknown field is a warning",
        ),
        pytest.param(
            patch(
                "LISTENER",
                "{name: l, filter_chains: [{filters: [{name: t, typed_config: {'@type': "
                "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy, "
                "stat_prefix: s, cluster: c, idle_timeout: forever}}]}]}",
            ),
            ["Listener.filter_chains[0].filters[0].typed_config"],
            [],
            id="nested typed_config names its path",
        ),
        pytest.param(  # Istio skips the value after a listener-class mismatch
            patch("HTTP_FILTER", "{name: false}", CLUSTER_MATCH),
            ["cannot have non listener match"],
            [],
            id="value not read after a listener-class mismatch",
        ),
    ],
)
def test_patch_value_as_envoy_message(text: str, errors: list[str], warnings: list[str]) -> None:
    result = load(text, "ef.yaml")
    found = [str(d) for d in result.errors]
    assert len(found) == len(errors), found
    for want, got in zip(errors, found, strict=True):
        assert want in got and "spec.configPatches[0]" in got, got
    # every EnvoyFilter gets Istio's warning about its instability, at the object (no field)
    assert [d.path for d in result.warnings if d.message == UNSTABLE] == [""]
    said = [str(d) for d in result.warnings if d.message != UNSTABLE]
    assert len(said) == len(warnings), said
    for want, got in zip(warnings, said, strict=True):
        assert want in got and "spec.configPatches[0].patch.value" in got, got
