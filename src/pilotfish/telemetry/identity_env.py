"""The proxy's own identity read by Envoy from its environment, so its listeners are the same
bytes for every proxy with the same inputs.

Istio's stats filter reads the proxy's own workload labels from the node's metadata at run
time. Envoy's stock access-log formatter has no operator for node metadata, but it has
`%ENVIRONMENT(NAME)%`, read once when the formatter is built (a request pays what a literal
costs: it is a fixed string then; measured with `bench/dataplane_limit.py --instructions`,
BENCHMARKS.md). So the agent starts Envoy with these variables (`environment`): each
reporter's run of own-identity labels in the metric loggers' fixed tag, as `labels.label_plan`
would write them (`source_workload=…;…` as `b=…;e=…;…`), the peer header value
(`exchange.identity_filter`), and the values of Istio's span tags of the proxy's own identity
(`TRACE_TAGS`, read by environment custom tags: `tracing.hcm_tracing`). It declares them,
values and all, in the node's metadata (`METADATA_KEY`); the control plane writes the
operators instead of the values only when the declared values are exactly those it would have
written for that proxy (`declared`), else the literals as before. Metric names, labels and
values, and span tags, are unchanged either way.
"""

from __future__ import annotations

import functools

from pilotfish.model.node import IDENTITY_ENV_KEY
from pilotfish.model.proxy import Proxy
from pilotfish.telemetry.exchange import Identity, identity_of
from pilotfish.telemetry.labels import LABEL_CODES, PEER_SUFFIXES, Reporter, literal

METADATA_KEY = IDENTITY_ENV_KEY  # node metadata: {variable: value} the agent set
VARIABLES = {
    Reporter.SOURCE: "PILOTFISH_SOURCE_LABELS",
    Reporter.DESTINATION: "PILOTFISH_DESTINATION_LABELS",
}
PEER_VARIABLE = "PILOTFISH_PEER_METADATA"
TRACE_TAGS = {  # Istio's span tag -> the variable holding its value
    "istio.canonical_revision": "PILOTFISH_CANONICAL_REVISION",
    "istio.canonical_service": "PILOTFISH_CANONICAL_SERVICE",
    "istio.namespace": "PILOTFISH_NAMESPACE",
    "istio.cluster_id": "PILOTFISH_CLUSTER_ID",
}
ENVIRONMENT_MEMO = 16384  # identities whose variables are kept (one per workload)


def operator(variable: str) -> str:
    return f"%ENVIRONMENT({variable})%"


def labels_run(reporter: Reporter, me: Identity) -> str:
    """The reporter's own-identity labels as they stand, in this order, in the fixed tag
    (`labels._local`, joined as `LabelPlan.tags` joins fixed labels)."""
    return ";".join(
        f"{LABEL_CODES[f'{reporter.value}_{suffix}']}={literal(getattr(me, name))}"
        for name, suffix in PEER_SUFFIXES.items()
    )


def trace_tag_values(me: Identity) -> dict[str, str]:
    """Istio's span tags of the proxy's own identity (buildServiceTags), by tag."""
    return {
        "istio.canonical_revision": me.canonical_revision,
        "istio.canonical_service": me.canonical_service,
        "istio.namespace": me.namespace,
        "istio.cluster_id": me.cluster,
    }


def environment(me: Identity) -> dict[str, str]:
    """The variables the agent gives the Envoy it starts (and declares: `METADATA_KEY`)."""
    return dict(_environment(me))


@functools.lru_cache(maxsize=ENVIRONMENT_MEMO)
def _environment(me: Identity) -> tuple[tuple[str, str], ...]:
    found = {variable: labels_run(reporter, me) for reporter, variable in VARIABLES.items()}
    found |= {TRACE_TAGS[tag]: value for tag, value in trace_tag_values(me).items()}
    return tuple(sorted((found | {PEER_VARIABLE: me.header_value()}).items()))


def proxy_environment(proxy: Proxy) -> dict[str, str]:
    return environment(identity_of(proxy))


def declared(proxy: Proxy, me: Identity) -> bool:
    """The proxy's Envoy holds exactly the variables `environment(me)` gives."""
    return bool(proxy.identity_env) and proxy.identity_env == _environment(me)
