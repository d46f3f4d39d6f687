"""Istio's `sidecar.istio.io/userVolume` / `userVolumeMount` annotations (`registry.user_volumes`),
with the values of Istio's "Ingress Sidecar TLS Termination" page."""

from __future__ import annotations

from pilotfish.registry.env_sources import EnvSources
from pilotfish.registry.user_volumes import annotation_errors, proxy_volumes

NOTES = {
    "sidecar.istio.io/userVolume": '{"tls-secret":{"secret":{"secretName":"httpbin-mtls-termination","optional":true}},"tls-ca-secret":{"secret":{"secretName":"httpbin-mtls-termination-cacert"}}}',  # noqa: E501 (the page's)
    "sidecar.istio.io/userVolumeMount": '{"tls-secret":{"mountPath":"/etc/istio/tls-certs/","readOnly":true},"tls-ca-secret":{"mountPath":"/etc/istio/tls-ca-certs/","readOnly":true}}',  # noqa: E501 (the page's)
}
TLS = {"tls.crt": "CHAIN", "tls.key": "KEY"}
CA = {"ca.crt": "CA"}


def _sources(**secrets: dict[str, str]) -> EnvSources:
    return EnvSources(secrets={("test", k.replace("_", "-")): v for k, v in secrets.items()})


def test_the_pages_secrets_become_the_proxys_files() -> None:
    sources = _sources(httpbin_mtls_termination=TLS, httpbin_mtls_termination_cacert=CA)
    volumes = proxy_volumes(NOTES, "test", sources)
    assert volumes.missing == "" and volumes.warnings == ()
    assert dict(volumes.files) == {
        "/etc/istio/tls-certs/tls.crt": "CHAIN",
        "/etc/istio/tls-certs/tls.key": "KEY",
        "/etc/istio/tls-ca-certs/ca.crt": "CA",
    }


def test_a_missing_secret_keeps_the_pod_waiting_unless_optional() -> None:
    """The CA secret is not optional: the kubelet's error. The TLS secret is: nothing mounted."""
    waiting = proxy_volumes(NOTES, "test", _sources(httpbin_mtls_termination=TLS))
    assert waiting.missing == (
        'MountVolume.SetUp failed for volume "tls-ca-secret" : '
        'secret "httpbin-mtls-termination-cacert" not found'
    )
    optional = proxy_volumes(NOTES, "test", _sources(httpbin_mtls_termination_cacert=CA))
    assert optional.missing == ""
    assert dict(optional.files) == {"/etc/istio/tls-ca-certs/ca.crt": "CA"}
    assert proxy_volumes(NOTES, "test", None).files == ()  # sources not known: nothing read


def test_text_that_is_not_a_json_map_is_an_error_at_the_annotation() -> None:
    bad = {"sidecar.istio.io/userVolume": "{tls-secret: 1}"}
    ((path, message),) = annotation_errors(bad)
    assert path == "metadata.annotations[sidecar.istio.io/userVolume]"
    assert message.startswith("not JSON")
    assert annotation_errors(NOTES) == []
    empty = proxy_volumes(
        {"sidecar.istio.io/userVolume": '{"x": {"emptyDir": {}}}'}, "t", _sources()
    )
    assert empty.warnings == (
        ("metadata.annotations[sidecar.istio.io/userVolume].x",
         "mounts nothing here: only secret and configMap volumes do"),
    )  # fmt: skip
