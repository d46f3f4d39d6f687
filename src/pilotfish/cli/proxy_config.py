"""`pilotfish proxy-config TYPE PROXY`: what one Envoy really holds, read from its admin API
(`/config_dump`, `/clusters`), as `istioctl proxy-config` shows it.

TYPE is cluster, listener, route, endpoint, secret, bootstrap or all; PROXY an instance
(`reviews-v2-0`), a workload (`reviews-v2`) or `istio-ingressgateway`. `-o json|yaml` prints the
raw config dump sections instead of the table.
"""

from __future__ import annotations

import base64
import json
import sys
import urllib.error
import urllib.request
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pilotfish.ca.certs import summarize
from pilotfish.cli.errors import running_mesh
from pilotfish.cli.pods import PodNotFound, admin_address, resolve_pod
from pilotfish.config.yaml_text import dump_yaml

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

SECTIONS = {
    "bootstrap": "BootstrapConfigDump",
    "cluster": "ClustersConfigDump",
    "listener": "ListenersConfigDump",
    "route": "RoutesConfigDump",
    "secret": "SecretsConfigDump",
    "endpoint": "EndpointsConfigDump",
}


def _admin(address: str, path: str) -> Any:
    """GET `path` from the Envoy admin at `address` (see `pods.admin_address`) as JSON."""
    with _DIRECT.open(f"http://{address}{path}", timeout=10) as resp:
        return json.loads(resp.read())


def _section(dump: dict[str, Any], name: str) -> dict[str, Any]:
    for config in dump.get("configs", []):
        if config.get("@type", "").endswith("." + name):
            return dict(config)
    return {}


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def cluster_rows(section: dict[str, Any]) -> list[list[str]]:
    rows = [["SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE"]]
    entries = section.get("static_clusters", []) + section.get("dynamic_active_clusters", [])
    for entry in entries:
        cluster = entry.get("cluster", {})
        name = cluster.get("name", "")
        kind = (
            cluster.get("type")
            or cluster.get("cluster_type", {}).get("name", "").rsplit(".", 1)[-1]
        )
        parts = name.split("|")
        if len(parts) == 4:
            rows.append([parts[3] or "-", parts[1], parts[2] or "-", parts[0], kind])
        else:
            rows.append([name, "-", "-", "-", kind])
    return rows


def listener_rows(section: dict[str, Any]) -> list[list[str]]:
    rows = [["NAME", "ADDRESS", "PORT", "CHAINS", "FILTERS"]]
    for entry in section.get("static_listeners", []) + section.get("dynamic_listeners", []):
        listener = entry.get("listener") or entry.get("active_state", {}).get("listener", {})
        address = listener.get("address", {}).get("socket_address", {})
        chains = listener.get("filter_chains", [])
        filters = sorted(
            {f.get("name", "").rsplit(".", 1)[-1] for c in chains for f in c.get("filters", [])}
        )
        port = str(address.get("port_value", ""))
        name = listener.get("name", "")
        rows.append([name, address.get("address", ""), port, str(len(chains)), ",".join(filters)])
    return rows


def route_rows(section: dict[str, Any]) -> list[list[str]]:
    rows = [["NAME", "VHOST NAME", "DOMAINS", "ROUTES"]]
    configs = section.get("static_route_configs", []) + section.get("dynamic_route_configs", [])
    for entry in configs:
        config = entry.get("route_config", {})
        for vhost in config.get("virtual_hosts", []):
            domains = vhost.get("domains", [])
            shown = ", ".join(domains[:2]) + (
                f" + {len(domains) - 2} more" if len(domains) > 2 else ""
            )
            rows.append(
                [
                    config.get("name", ""),
                    vhost.get("name", ""),
                    shown,
                    str(len(vhost.get("routes", []))),
                ]
            )
    return rows


def secret_rows(section: dict[str, Any]) -> list[list[str]]:
    """istioctl's secret table: each SDS secret, its type, and its first certificate's dates;
    then the identity the certificate carries (its SPIFFE URI SAN; `-` for a CA)."""
    rows = [["RESOURCE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER",
             "NOT BEFORE", "IDENTITY"]]  # fmt: skip
    for status, key in (
        ("ACTIVE", "dynamic_active_secrets"),
        ("WARMING", "dynamic_warming_secrets"),
    ):
        for entry in section.get(key, []):
            secret = entry.get("secret", {})
            if "validation_context" in secret:
                kind, pem = "CA", secret["validation_context"].get("trusted_ca", {})
            else:
                kind, pem = (
                    "Cert Chain",
                    secret.get("tls_certificate", {}).get("certificate_chain", {}),
                )
            rows.append([entry.get("name", ""), kind, status, *_cert_facts(pem)])
    return rows


def _cert_facts(source: dict[str, Any]) -> list[str]:
    from cryptography import x509

    text = source.get("inline_string") or ""
    if not text and source.get("inline_bytes"):
        text = base64.b64decode(source["inline_bytes"]).decode(errors="replace")
    with warnings.catch_warnings():  # cryptography's notes on odd certificates: not for users
        warnings.simplefilter("ignore")
        try:
            cert = x509.load_pem_x509_certificate(text.encode())
        except ValueError:
            return ["false", "-", "-", "-", "-"]
        now = datetime.now(UTC)
        valid = cert.not_valid_before_utc <= now <= cert.not_valid_after_utc
        facts = summarize(cert)
    identity = ",".join(facts.identities) or "-"
    return [str(valid).lower(), facts.serial, facts.not_after, facts.not_before, identity]


def endpoint_rows(clusters: dict[str, Any]) -> list[list[str]]:
    rows = [["ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER"]]
    for cluster in clusters.get("cluster_statuses", []):
        for host in cluster.get("host_statuses", []):
            address = host.get("address", {}).get("socket_address", {})
            health = host.get("health_status", {})
            status = health.get("eds_health_status", "HEALTHY")
            ejected = "FAILED" if health.get("failed_outlier_check") else "OK"
            rows.append(
                [
                    f"{address.get('address')}:{address.get('port_value')}",
                    status,
                    ejected,
                    cluster.get("name", ""),
                ]
            )
    return rows


FILTER_COLUMNS = {
    "fqdn": "SERVICE FQDN",
    "port": "PORT",
    "subset": "SUBSET",
    "direction": "DIRECTION",
    "name": "NAME",
    "address": "ADDRESS",
    "cluster": "CLUSTER",
}


def filter_rows(rows: list[list[str]], filters: dict[str, str]) -> list[list[str]]:
    """istioctl's table filters (`--fqdn`, `--port`, `--name`, …): the header and the rows whose
    column equals each given value; a filter naming a column this table lacks is ignored."""
    header = rows[0]
    checks = [
        (header.index(FILTER_COLUMNS[flag]), value)
        for flag, value in filters.items()
        if value and FILTER_COLUMNS.get(flag) in header
    ]
    return [header] + [r for r in rows[1:] if all(r[i] == value for i, value in checks)]


def section_name(typed: str) -> str | None:
    """istioctl's type as users type it: `cluster`, `clusters`, `c`, `routes`, `ep`, …"""
    word = typed.lower()
    aliases = {"c": "cluster", "l": "listener", "r": "route", "ep": "endpoint", "s": "secret"}
    word = aliases.get(word, word)
    for known in (*SECTIONS, "all"):
        if word in (known, known + "s"):
            return known
    return None


def proxy_config_command(
    typed: str,
    name: str,
    output: str,
    state_dir: Path,
    namespace: str | None = None,
    filters: dict[str, str] | None = None,
) -> int:
    kind = section_name(typed) or typed
    if kind not in (*SECTIONS, "all"):
        print(
            f"error: unknown type {typed!r}: one of {', '.join([*SECTIONS, 'all'])}",
            file=sys.stderr,
        )
        return 1
    info = running_mesh(state_dir)
    try:
        found = resolve_pod(info, name, namespace)
    except PodNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    admin = admin_address(found[1])
    try:
        dump = _admin(admin, "/config_dump?include_eds")
        clusters = _admin(admin, "/clusters?format=json") if kind in ("endpoint", "all") else {}
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {found[0]}'s Envoy admin at {admin}: {exc}", file=sys.stderr)
        return 1
    kinds = list(SECTIONS) if kind == "all" else [kind]
    if kind == "all" and output not in ("json", "yaml"):
        kinds = [k for k in kinds if k != "bootstrap"]  # istioctl's `all`: the tables
    if output in ("json", "yaml"):
        payload = {k: _section(dump, SECTIONS[k]) for k in kinds}
        data = payload if kind == "all" else payload[kind]
        print(
            json.dumps(data, indent=2) if output == "json" else dump_yaml([data]),
            end="\n" if output == "json" else "",
        )
        return 0
    builders = {
        "cluster": lambda: cluster_rows(_section(dump, SECTIONS["cluster"])),
        "listener": lambda: listener_rows(_section(dump, SECTIONS["listener"])),
        "route": lambda: route_rows(_section(dump, SECTIONS["route"])),
        "endpoint": lambda: endpoint_rows(clusters),
        "secret": lambda: secret_rows(_section(dump, SECTIONS["secret"])),
    }
    for k in kinds:
        if k in builders:
            print(_table(filter_rows(builders[k](), filters or {})))
            if kind == "all":
                print()
        else:
            print(json.dumps(_section(dump, SECTIONS[k]), indent=2))
    return 0
