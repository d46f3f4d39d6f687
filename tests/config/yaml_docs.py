"""Istio YAML documents that several config and CLI tests feed to load, validate and analyze:
the `reviews` DestinationRule and a one-route VirtualService. Assertions of those tests name the
lines of these texts (file:line), so a change here shows up there."""

from __future__ import annotations

REVIEWS_RULE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
"""


def virtual_service(name: str, host: str, subset: str = "") -> str:
    """VirtualService `name` sending all HTTP for `host` to `host` (to its `subset` if given)."""
    destination = f"{{host: {host}, subset: {subset}}}" if subset else f"{{host: {host}}}"
    return (
        "apiVersion: networking.istio.io/v1\n"
        "kind: VirtualService\n"
        f"metadata: {{name: {name}}}\n"
        "spec:\n"
        f"  hosts: [{host}]\n"
        "  http:\n"
        "  - route:\n"
        f"    - destination: {destination}\n"
    )
