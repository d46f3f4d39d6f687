"""A container's env from ConfigMaps and Secrets (`registry.env_sources`), as the kubelet makes
it: `envFrom` first (with `prefix`), then `env` (`configMapKeyRef`, `secretKeyRef`), `optional`
sources left out when missing, and the kubelet's CreateContainerConfigError message when a
source is missing and not optional; what the API server refuses names the field."""

from __future__ import annotations

from tests.registry.test_kube_workloads import deployment, messages, only, parse

SOURCES = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {A: "1", B: "2"}
binaryData: {BIN: AAE=}
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: shop}
data: {USER: YWRtaW4=}
stringData: {PASS: hunter2}
---
"""


def test_envfrom_and_key_refs_resolve_in_the_kubelets_order() -> None:
    container = """\
        envFrom:
        - {configMapRef: {name: settings}, prefix: S_}
        - secretRef: {name: creds}
        - configMapRef: {name: nowhere, optional: true}
        env:
        - {name: A, valueFrom: {configMapKeyRef: {name: settings, key: A}}}
        - {name: USER, value: "override $(PASS)"}
        - {name: GONE, valueFrom: {secretKeyRef: {name: creds, key: nope, optional: true}}}
        - {name: BIN, valueFrom: {configMapKeyRef: {name: settings, key: BIN, optional: true}}}
"""
    workload = only(parse(SOURCES + deployment(container))[1])
    env = dict(workload.env)
    assert {k: env.get(k) for k in ("S_A", "S_B", "PASS", "A", "USER")} == {
        "S_A": "1", "S_B": "2", "PASS": "hunter2", "A": "1", "USER": "override hunter2",
    }  # fmt: skip
    assert "GONE" not in env and "BIN" not in env and "S_BIN" not in env  # data only
    assert workload.config_error == ""


def test_a_missing_source_is_the_kubelets_error_not_the_applys() -> None:
    cases = {
        "- {name: X, valueFrom: {configMapKeyRef: {name: later, key: k}}}": (
            'configmap "later" not found'
        ),
        "- {name: X, valueFrom: {configMapKeyRef: {name: settings, key: Z}}}": (
            "couldn't find key Z in ConfigMap shop/settings"
        ),
        "- {name: X, valueFrom: {secretKeyRef: {name: creds, key: Z}}}": (
            "couldn't find key Z in Secret shop/creds"
        ),
    }
    for item, message in cases.items():
        parsed = parse(SOURCES + deployment(f"        env:\n        {item}\n"))[1]
        assert only(parsed).config_error == message
    absent = deployment("        envFrom:\n        - secretRef: {name: vault}\n")
    assert only(parse(absent)[1]).config_error == 'secret "vault" not found'


def test_what_the_api_server_refuses_names_the_field() -> None:
    container = """\
        envFrom:
        - {configMapRef: {name: a}, secretRef: {name: b}}
        - prefix: P_
        env:
        - {name: X, valueFrom: {configMapKeyRef: {key: k}}}
        - {name: Y, valueFrom: {secretKeyRef: {name: s, key: "bad key"}}}
"""
    errors = messages(parse(deployment(container))[1])
    at = "spec.template.spec.containers[0]"
    for path, text in (
        (f"{at}.envFrom[0]", "may not have more than one field specified at a time"),
        (f"{at}.envFrom[1]", "must specify one of: `configMapRef` or `secretRef`"),
        (f"{at}.env[0].valueFrom.configMapKeyRef.name", "is required"),
        (f"{at}.env[1].valueFrom.secretKeyRef.key", "a valid config key must consist of"),
    ):
        assert any(f"at {path}: {text}" in e for e in errors), (path, errors)
