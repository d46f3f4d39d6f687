"""`proxy-config all POD`'s summary as istioctl prints it (its configdump PrintFullSummary):
the bootstrap's versions (`Istio Version:`, `Istio Proxy Version:`, `Envoy Version:`), then the
cluster, listener, route, secret and endpoint tables, an empty line after each, the first three
with a NAME column naming each resource by its type (`cluster/outbound|9080||reviews…`,
`listener/…`, `route/…`; a cluster that is not a service's has that name as its SERVICE FQDN
too, as istioctl prints it), the secrets' names as `secret/…`; `--with-headers` puts
`------ CLUSTER INFO ------` and the like above each. The filters apply to each table as
istioctl's (`proxy_config_filters`).
"""

from __future__ import annotations

from typing import Any

from pilotfish.cli import proxy_config_filters as select
from pilotfish.cli.envoy_tables import cluster_rows, endpoint_rows, listener_rows, route_rows


def bootstrap_lines(section: dict[str, Any]) -> list[list[str]]:
    """(label, value) rows of the bootstrap's Istio and Envoy versions (those it has)."""
    node = section.get("bootstrap", {}).get("node", {})
    metadata = node.get("metadata", {})
    rows = []
    if metadata.get("ISTIO_VERSION"):
        rows.append(["Istio Version:", str(metadata["ISTIO_VERSION"])])
    sha = str(metadata.get("ISTIO_PROXY_SHA") or "")
    if sha:
        rows.append(["Istio Proxy Version:", sha.split(":")[1] if ":" in sha else sha])
    build = node.get("user_agent_build_version")
    if build is not None:
        version, facts = build.get("version", {}), build.get("metadata", {})
        text = "{}.{}.{}".format(*(int(version.get(k, 0)) for k in ("major_number",
                                   "minor_number", "patch")))  # fmt: skip
        text += f"-{facts['build.label']}" if "build.label" in facts else ""
        for key in ("revision.status", "build.type", "ssl.version"):
            text += f"/{facts[key]}" if key in facts else ""
        rows.append(["Envoy Version:", text])
    return rows


def named_tables(
    sections: dict[str, dict[str, Any]], statuses: dict[str, Any], filters: dict[str, str]
) -> list[list[list[str]]]:
    """The cluster, listener and route tables with istioctl's NAME column, and the endpoints'."""
    clusters = [["NAME", *cluster_rows([])[0]]]
    for cluster in select.clusters(sections["cluster"], filters):
        row = cluster_rows([cluster])[1]
        name = f"cluster/{cluster.get('name', '')}"
        clusters.append([name, *(row if len(str(cluster.get("name", "")).split("|")) > 3
                                 else [name, *row[1:]])])  # fmt: skip
    listeners = [["NAME", *listener_rows([])[0]]]
    for listener in select.listeners(sections["listener"], filters):
        name = f"listener/{listener.get('name', '')}"
        listeners += [[name, *row] for row in listener_rows([listener])[1:]]
    routes = route_rows(select.route_configs(sections["route"], filters))
    routes = [routes[0]] + [[f"route/{row[0]}", *row[1:]] for row in routes[1:]]
    endpoints = endpoint_rows(select.endpoint_hosts(statuses, filters))
    return [clusters, listeners, routes, endpoints]
