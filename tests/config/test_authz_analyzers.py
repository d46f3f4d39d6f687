"""The authz analyzer PF0101 (peer identity where mTLS is off), as `pilotfish analyze` prints it."""

from __future__ import annotations

from pilotfish.config import load
from pilotfish.config.analyzers.analyze import analyze


def codes(text: str, code: str) -> list[str]:
    return [str(m) for m in analyze(load(text, "a.yaml")) if m.code == code]


WORKLOADS = """apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata: {name: httpbin, labels: {app: httpbin}}
spec: {}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: plain, namespace: default}
spec:
  selector: {matchLabels: {app: httpbin}}
  mtls: {mode: DISABLE}
---
"""


def policy(rule: str, selector: str = "{matchLabels: {app: httpbin}}") -> str:
    return f"""apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: by-identity}}
spec:
  selector: {selector}
  rules: [{rule}]
"""


def test_identity_where_mtls_is_disabled() -> None:
    found = codes(WORKLOADS + policy("{from: [{source: {principals: [a/b]}}]}"), "PF0101")
    assert found == [
        "Warning [PF0101] (AuthorizationPolicy default/by-identity a.yaml:13) The policy matches "
        'on peer identity (principals, namespaces) but the PeerAuthentication "default/plain" '
        "disables mTLS for pod httpbin: plaintext requests carry no identity, so ALLOW rules on "
        "it never match and DENY rules with not* forms always do."
    ]
    when = "{when: [{key: source.namespace, values: [foo]}]}"
    assert len(codes(WORKLOADS + policy(when), "PF0101")) == 1
    assert len(codes(WORKLOADS + policy("{from: [{source: {notNamespaces: [x]}}]}"), "PF0101")) == 1
    # no identity in the rule, or a workload the DISABLE policy does not cover: nothing to say
    assert codes(WORKLOADS + policy("{to: [{operation: {methods: [GET]}}]}"), "PF0101") == []
    other = policy("{from: [{source: {principals: [a/b]}}]}", "{matchLabels: {app: other}}")
    assert codes(WORKLOADS + other, "PF0101") == []
