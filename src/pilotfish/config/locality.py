"""Where a workload is: Istio's locality, `region/zone/subzone`, and the labels that say it.

Istio reads a pod's locality from its `topology.istio.io/locality` label, else its older
`istio-locality` label (`region1.zone1.subzone1`: dots, as label values cannot hold `/`; Istio's
`GetLocalityLabel` in pkg/model/proxy.go), else from its node's topology labels; local mode
has one node, so the pod's own `topology.kubernetes.io/region`, `topology.kubernetes.io/zone` and
`topology.istio.io/subzone` labels stand for its node's. A WorkloadEntry (or a ServiceEntry
endpoint) says `locality: region/zone/subzone`, else its `istio-locality` label. Proxies and
endpoints carry the topology labels of their locality too (Istio's AugmentLabels), which is what
a `failoverPriority` label list compares. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping

REGION = "topology.kubernetes.io/region"
ZONE = "topology.kubernetes.io/zone"
SUBZONE = "topology.istio.io/subzone"
TOPOLOGY_LABELS = (REGION, ZONE, SUBZONE)
"""The locality labels of a workload (Kubernetes' node topology and Istio's subzone)."""

LOCALITY_LABEL = "istio-locality"
TOPOLOGY_LOCALITY = "topology.istio.io/locality"  # read before LOCALITY_LABEL, as Istio reads it


def split(locality: str) -> tuple[str, str, str]:
    """`region/zone/subzone` -> its three parts ("" for those it leaves out)."""
    parts = [*locality.split("/"), "", "", ""][:3] if locality else ["", "", ""]
    return parts[0], parts[1], parts[2]


def joined(region: str, zone: str, subzone: str) -> str:
    """Istio's LocalityToString: parts up to the last one set."""
    if not zone:
        return region
    return f"{region}/{zone}" if not subzone else f"{region}/{zone}/{subzone}"


def from_labels(labels: Mapping[str, str], declared: str = "") -> str:
    """A workload's locality: `declared` (a WorkloadEntry's `locality`), else its
    `topology.istio.io/locality` or `istio-locality` label, else its topology labels; "" when
    none says it."""
    if declared:
        return declared
    for key in (TOPOLOGY_LOCALITY, LOCALITY_LABEL):
        if labels.get(key):
            return labels[key] if "/" in labels[key] else labels[key].replace(".", "/")
    region, zone, subzone = (labels.get(k, "") for k in TOPOLOGY_LABELS)
    if not (region or zone or subzone):
        return ""
    return f"{region}/{zone}/{subzone}".rstrip("/")


def augmented(labels: Mapping[str, str], locality: str) -> dict[str, str]:
    """`labels` with the topology labels of `locality` (Istio's AugmentLabels: set when the
    locality sets them)."""
    found = dict(labels)
    for key, value in zip(TOPOLOGY_LABELS, split(locality), strict=True):
        if value:
            found[key] = value
    return found
