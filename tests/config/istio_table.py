"""The runner of the ported Istio validation tables (test_istio_*_tables modules): a case is
(name, kind, spec in YAML flow style, whether Istio's webhook refuses it[, metadata]); it is
loaded as one document of that kind and must be refused (naming a field path) or accepted as
Istio decides."""

from __future__ import annotations

from typing import Any

from pilotfish.config import load

# (name, kind, spec, Istio refuses[, metadata]); loose so tables may be built by comprehension
Case = tuple[Any, ...]

API = {
    "AuthorizationPolicy": "security.istio.io/v1",
    "RequestAuthentication": "security.istio.io/v1",
    "PeerAuthentication": "security.istio.io/v1",
    "Telemetry": "telemetry.istio.io/v1",
    "WasmPlugin": "extensions.istio.io/v1alpha1",
    "TrafficExtension": "extensions.istio.io/v1alpha1",
    "EnvoyFilter": "networking.istio.io/v1alpha3",
    "ProxyConfig": "networking.istio.io/v1beta1",
}
META = "{name: name, namespace: namespace}"


def ids(cases: list[Case]) -> list[str]:
    return [case[0] for case in cases]


def decided_as_istio(case: Case) -> None:
    """Load the case and assert pilotfish decides it as Istio does."""
    name, kind, spec, istio_refuses = case[:4]
    meta = case[4] if len(case) > 4 else META
    api = API.get(kind, "networking.istio.io/v1")
    result = load(f"apiVersion: {api}\nkind: {kind}\nmetadata: {meta}\nspec: {spec}\n", "t.yaml")
    errors = [str(d) for d in result.errors]
    assert (not result.ok) == istio_refuses, (name, errors)
    assert all(d.path.startswith(("spec", "metadata")) for d in result.errors), errors
