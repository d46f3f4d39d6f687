"""Istio's peer attributes in Telemetry `tagOverrides` values, from the peer the sidecars learned.

Istio's stats filter gives CEL `upstream_peer` (on the client side: the server) and
`downstream_peer` (on the server side: the client), the peer's metadata as its metadata exchange
learned it. Istio's "Telemetry API" metrics task adds `destination_x:
upstream_peer.labels['app'].value` and `source_x: downstream_peer.labels['app'].value`. Envoy's
standard build has no such attributes; here the peer travels packed in one tag
(`labels.PEER_TAGS`) and 15090 unpacks it into Istio's `source_*` / `destination_*` labels at
scrape time. So a value that is exactly one peer field is not CEL at all: its tag holds
`PEER_REF` + the label that carries that field (`destination_app`), which 15090 replaces with
that label's value (`scrape`). No CEL runs per request for it.

Read: `X.labels['app'|'version'|'service.istio.io/canonical-name'|...]` (with or without Istio's
`.value`), and `X.workload|namespace|app|version|service|revision|cluster`. On the side with no
such peer (`upstream_peer` on the server side, `downstream_peer` on the client side) the value is
`unknown`, as for a peer Istio knows nothing about. Pure.
"""

from __future__ import annotations

import re

from pilotfish.telemetry.labels import PEER_SUFFIXES, UNKNOWN, Reporter

PEER_REF = "pilotfish_peer:"
"""A tag value `PEER_REF<label>`: 15090 prints that label's value instead."""
_FIELDS = {  # attribute -> `exchange.FIELDS` name
    "workload": "workload",
    "name": "workload",
    "namespace": "namespace",
    "service": "canonical_service",
    "revision": "canonical_revision",
    "app": "app",
    "version": "version",
    "cluster": "cluster",
}
_LABELS = {  # a pod label -> the field that carries it
    "app": "app",
    "version": "version",
    "service.istio.io/canonical-name": "canonical_service",
    "service.istio.io/canonical-revision": "canonical_revision",
    "app.kubernetes.io/name": "canonical_service",
    "app.kubernetes.io/version": "canonical_revision",
}
_ATTRIBUTE = re.compile(
    r"^(?P<peer>upstream_peer|downstream_peer)"
    r"(?:\.labels\[\s*(?P<q>['\"])(?P<label>[^'\"]+)(?P=q)\s*\](?:\.value)?|\.(?P<field>\w+))$"
)
_SIDE = {"upstream_peer": Reporter.SOURCE, "downstream_peer": Reporter.DESTINATION}
_PREFIX = {Reporter.SOURCE: "destination", Reporter.DESTINATION: "source"}


def peer_reference(expression: str, reporter: Reporter) -> str | None:
    """The tag value for a `tagOverrides` value that is one peer field (see the module), else
    None (the value is CEL, evaluated by Envoy)."""
    match = _ATTRIBUTE.match(expression.strip())
    if match is None:
        return None
    if match["label"] is not None:
        field = _LABELS.get(match["label"])
    else:
        field = _FIELDS.get(match["field"])
    if field is None:
        return None
    if _SIDE[match["peer"]] is not reporter:
        return UNKNOWN
    return f"{PEER_REF}{_PREFIX[reporter]}_{PEER_SUFFIXES[field]}"
