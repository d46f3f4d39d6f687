"""Unit tests: which file access logs a proxy's listeners get (mesh config and Telemetry API)."""

from __future__ import annotations

from dataclasses import replace

from tests.translate.translate_harness import bookinfo_push, sidecar_for

from pilotfish.config.mesh_telemetry import MeshTelemetry, Provider
from pilotfish.model.push_context import PushContext
from pilotfish.telemetry.access_log import ISTIO_TEXT_FORMAT, FileLog, access_log
from pilotfish.telemetry.labels import Reporter
from pilotfish.telemetry.policy import access_logs

CLIENT_ONLY = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: reviews-logs, namespace: default}
spec:
  selector: {matchLabels: {app: reviews}}
  accessLogging:
  - providers: [{name: json-file}]
    match: {mode: CLIENT}
    filter: {expression: "response.code >= 500"}
"""


def _with_mesh(push: PushContext, telemetry: MeshTelemetry) -> PushContext:
    return replace(push, mesh=replace(push.mesh, telemetry=telemetry))


def test_mesh_access_log_file_logs_both_sides_in_istios_format() -> None:
    push = _with_mesh(bookinfo_push(), MeshTelemetry(access_log_file="/dev/stdout"))
    proxy = sidecar_for(push, "reviews-v2-0", (9080, 40000))
    for reporter in Reporter:
        assert access_logs(proxy, push, reporter) == [FileLog("/dev/stdout")]
    log = access_log(FileLog("/dev/stdout"))
    assert ISTIO_TEXT_FORMAT in log.typed_config.value.decode(errors="replace")


def test_telemetry_mode_provider_and_filter() -> None:
    provider = Provider(
        "json-file", "envoyFileAccessLog", path="/tmp/x.log", labels=(("c", "%RESPONSE_CODE%"),)
    )
    push = _with_mesh(bookinfo_push(CLIENT_ONLY), MeshTelemetry(providers=(provider,)))
    reviews = sidecar_for(push, "reviews-v2-0", (9080, 40000))
    (client,) = access_logs(reviews, push, Reporter.SOURCE)
    assert isinstance(client, FileLog)
    assert (client.path, client.labels, client.filter) == (
        "/tmp/x.log", (("c", "%RESPONSE_CODE%"),), "response.code >= 500",
    )  # fmt: skip
    assert access_logs(reviews, push, Reporter.DESTINATION) == []
    ratings = sidecar_for(push, "ratings-v1-0", (9080, 40000))  # not selected
    assert access_logs(ratings, push, Reporter.SOURCE) == []
    log = access_log(client)
    assert log.filter.extension_filter.name == "envoy.access_loggers.extension_filters.cel"
