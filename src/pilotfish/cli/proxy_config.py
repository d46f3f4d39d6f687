"""`pilotfish proxy-config TYPE PROXY`: what one Envoy really holds, read from its admin API
(`/config_dump`, `/clusters`), as `istioctl proxy-config` shows it.

TYPE is cluster, listener, route, endpoint, secret, bootstrap, ecds, all, or log (Envoy's logger
levels, set with `--level [LOGGER:]LEVEL,…` or `--reset`); PROXY an instance (`reviews-v2-0`), a
workload (`reviews-v2`) or `istio-ingressgateway`. `-o json|yaml` prints, as istioctl does, the
resources (clusters, listeners, route configurations, endpoints' cluster statuses) as a list —
those the table filters (`--fqdn`, `--port`, …) select — or the config dump section (secret,
bootstrap, all), with protojson's lowerCamelCase field names (`dynamicActiveSecrets`).
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
from pilotfish.cli import proxy_config_filters as select
from pilotfish.cli.envoy_tables import cluster_rows, endpoint_rows, listener_rows, route_rows
from pilotfish.cli.errors import running_mesh
from pilotfish.cli.jsonpath import protojson
from pilotfish.cli.pods import PodNotFound, admin_address, resolve_pod
from pilotfish.config.yaml_text import dump_yaml
from pilotfish.registry.annotation_support import ENVOY_LOG_LEVELS

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


def secret_rows(section: dict[str, Any]) -> list[list[str]]:
    """istioctl's secret table (its sds writer): the warming secrets, then the active ones, each
    with its certificate's type (`CA` when the certificate is a CA, else `Cert Chain`), validity,
    serial (`%032x`), NOT AFTER and NOT BEFORE (RFC 3339); a TRUST DOMAIN column (the leaf's
    SPIFFE URI host) only when every secret has one. Unparsable data leaves the facts empty."""
    items: list[list[str]] = []
    domains: list[str] = []
    for status, key in (
        ("WARMING", "dynamic_warming_secrets"),
        ("ACTIVE", "dynamic_active_secrets"),
    ):
        for entry in section.get(key, []):
            secret = entry.get("secret", {})
            pem = _pem(secret.get("tls_certificate", {}).get("certificate_chain", {}))
            pem = pem or _pem(secret.get("validation_context", {}).get("trusted_ca", {}))
            kind, valid, facts, domain = _cert_facts(pem)
            items.append([entry.get("name", ""), kind, status, valid, *facts])
            domains.append(domain)
    header = ["RESOURCE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER",
              "NOT BEFORE"]  # fmt: skip
    if all(domains):
        return [[*header, "TRUST DOMAIN"]] + [[*r, d] for r, d in zip(items, domains, strict=True)]
    return [header, *items]


def go_tabwriter(rows: list[list[str]], padding: int = 5) -> str:
    """Rows as Go's `tabwriter` (minwidth 0, padding `padding`, blanks) aligns `\t`-joined
    cells: every cell but a line's last padded to its column's width plus `padding`."""
    widths = [max(len(r[i]) for r in rows) + padding for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + r[-1] for r in rows
    )


def full_summary(dump: dict[str, Any], statuses: dict[str, Any], filters: dict[str, str]) -> str:
    """istioctl's `proxy-config all` text (`proxy_config_all`); `filters["with-headers"]`: its
    `------ CLUSTER INFO ------` lines."""
    from pilotfish.cli.proxy_config_all import bootstrap_lines, named_tables

    headed = bool(filters.get("with-headers"))
    sections = {k: _section(dump, SECTIONS[k]) for k in ("cluster", "listener", "route")}
    tables = named_tables(sections, statuses, filters)
    secrets = _section(dump, SECTIONS["secret"])
    rows = secret_rows(secrets)
    rows = [rows[0]] + [[f"secret/{row[0]}", *row[1:]] for row in rows[1:]]
    boot = bootstrap_lines(_section(dump, SECTIONS["bootstrap"]))
    parts = [
        ("BOOTSTRAP INFO", go_tabwriter(boot, padding=1) + "\n" if boot else ""),
        ("CLUSTER INFO", go_tabwriter(tables[0]) + "\n"),
        ("LISTENER INFO", go_tabwriter(tables[1], padding=1) + "\n"),
        ("ROUTE INFO", go_tabwriter(tables[2]) + "\n"),
        (
            "SECRET INFO",
            secret_table(secrets) + "\n" if len(rows) == 1 else go_tabwriter(rows) + "\n",
        ),
        ("ENDPOINTS INFO", go_tabwriter(tables[3]) + "\n"),
    ]
    return "\n".join(
        (f"------ {title} ------\n\n" if headed else "") + text for title, text in parts
    )


def secret_table(section: dict[str, Any]) -> str:
    """istioctl's `proxy-config secret` text: the table, or its sentence when Envoy has none."""
    if not section.get("dynamic_active_secrets") and not section.get("dynamic_warming_secrets"):
        return "No active or warming secrets found."
    return go_tabwriter(secret_rows(section))


def _pem(source: dict[str, Any]) -> str:
    text = str(source.get("inline_string") or "")
    if not text and source.get("inline_bytes"):
        text = base64.b64decode(source["inline_bytes"]).decode(errors="replace")
    return text


def _cert_facts(text: str) -> tuple[str, str, list[str], str]:
    """(TYPE, VALID CERT, [SERIAL NUMBER, NOT AFTER, NOT BEFORE], trust domain) of the first
    certificate in `text`, as istioctl's `secretMetaFromCert` makes them."""
    from cryptography import x509

    with warnings.catch_warnings():  # cryptography's notes on odd certificates: not for users
        warnings.simplefilter("ignore")
        try:
            cert = x509.load_pem_x509_certificate(text.encode())
        except ValueError:
            return "", "false", ["", "", ""], ""
        now = datetime.now(UTC)
        valid = cert.not_valid_before_utc < now < cert.not_valid_after_utc
        facts = summarize(cert)
    domains = [uri.split("/")[2] for uri in facts.identities if uri.startswith("spiffe://")]
    return (
        "CA" if facts.is_ca else "Cert Chain",
        str(valid).lower(),
        [f"{cert.serial_number:032x}", facts.not_after, facts.not_before],
        domains[-1] if domains else "",
    )


PADDING = {"cluster": 5, "listener": 1, "route": 5, "endpoint": 5}
"""The padding of each table's tabwriter in istioctl (its listener writer pads by one)."""


def selected(kind: str, section: dict[str, Any], filters: dict[str, str]) -> list[Any]:
    """The resources of `kind` the filters select, in istioctl's order (`proxy_config_filters`):
    what the table shows and `-o json|yaml` prints (for endpoints, /clusters' ClusterStatuses
    with a selected host)."""
    if kind == "cluster":
        return select.clusters(section, filters)
    if kind == "listener":
        return select.listeners(section, filters)
    if kind == "route":
        return select.route_configs(section, filters)
    return select.endpoint_clusters(section, filters)


def table(kind: str, section: dict[str, Any], filters: dict[str, str]) -> str:
    """istioctl's table of `kind` (cluster, listener, route, endpoint) from its dump section (for
    endpoints, /clusters' JSON), padded as its tabwriter pads it."""
    if kind == "endpoint":
        rows = endpoint_rows(select.endpoint_hosts(section, filters))
    else:
        builder = {"cluster": cluster_rows, "listener": listener_rows, "route": route_rows}[kind]
        rows = builder(selected(kind, section, filters))
    return go_tabwriter(rows, PADDING[kind])


LOG_LEVELS = ENVOY_LOG_LEVELS


def log_levels(admin: str, level: str, pod: str) -> int:
    """`istioctl proxy-config log POD [--level [LOGGER:]LEVEL,…] [--reset]`: Envoy's loggers, set
    with its admin's `POST /logging` (a bare LEVEL sets every logger, then `paths=` the named
    ones; `--reset` is `warning`); prints the loggers as Envoy then reports them."""
    bare: list[str] = []
    named: list[str] = []
    for item in filter(None, level.split(",")):
        logger, _, wanted = item.rpartition(":")
        if wanted not in LOG_LEVELS:
            print(f"error: unrecognized logging level: {wanted}", file=sys.stderr)
            return 1
        (named if logger else bare).append(item)
    queries = [f"?level={bare[-1]}"] if bare else []
    queries += [f"?paths={','.join(named)}"] if named else []
    text = ""
    for query in queries or [""]:
        request = urllib.request.Request(f"http://{admin}/logging{query}", method="POST")
        try:
            with _DIRECT.open(request, timeout=10) as resp:
                text = resp.read().decode()
        except urllib.error.HTTPError as exc:
            print(f"error: {pod}: {exc.read().decode().strip() or exc}", file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"error: cannot reach {pod}'s Envoy admin at {admin}: {exc}", file=sys.stderr)
            return 1
    print(f"{pod}:\n{text}", end="" if text.endswith("\n") else "\n")
    return 0


def _full_dump(admin: str, pod: str, output: str) -> int:
    """istioctl's `proxy-config all -o json|yaml`: Envoy's `/config_dump` as Envoy returns it
    (without EDS, as istioctl asks for it), or that document as YAML."""
    try:
        with _DIRECT.open(f"http://{admin}/config_dump", timeout=10) as resp:
            data = protojson(json.loads(resp.read().decode()))
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {pod}'s Envoy admin at {admin}: {exc}", file=sys.stderr)
        return 1
    print(
        json.dumps(data, indent=2) if output == "json" else dump_yaml([data]),
        end="\n" if output == "json" else "",
    )
    return 0


ECDS_SECTION = "EcdsConfigDump"


def _ecds(section: dict[str, Any], output: str) -> int:
    """istioctl's `proxy-config ecds`: the extension configs Envoy got over ECDS (ECDS NAME,
    TYPE without its `type.googleapis.com/`, by type then name), or the section itself; an
    Envoy without any (pilotfish serves none) has no such section, which istioctl reports."""
    if not section:
        print(
            f"Error: config dump has no configuration type type.googleapis.com/envoy.admin.v3."
            f"{ECDS_SECTION}",
            file=sys.stderr,
        )
        return 1
    if output in ("json", "yaml"):
        print(_dump_section(section, output))
        return 0
    found = [
        entry.get("ecds_filter", {}) for entry in section.get("ecds_filters", [])
    ]  # TypedExtensionConfigs
    rows = [["ECDS NAME", "TYPE"]]
    for config in sorted(
        found,
        key=lambda c: (str(c.get("typed_config", {}).get("@type", "")), str(c.get("name", ""))),
    ):
        kind = str(config.get("typed_config", {}).get("@type", ""))
        rows.append([str(config.get("name", "")), kind.removeprefix("type.googleapis.com/")])
    print(go_tabwriter(rows))
    return 0


def _dump_section(section: dict[str, Any], output: str) -> str:
    """istioctl's `proxy-config secret|bootstrap -o json|yaml`: the config dump's section as
    the message itself (no `@type`), protojson indented by four; YAML (sigs.k8s.io/yaml's
    JSONToYAML) with every mapping's keys sorted."""
    data = protojson({k: v for k, v in section.items() if k != "@type"})
    if output == "json":
        return json.dumps(data, indent=4)
    return dump_yaml([_sorted(data)]).rstrip("\n") + "\n"


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def section_name(typed: str) -> str | None:
    """istioctl's type as users type it: `cluster`, `clusters`, `c`, `routes`, `ep`, …"""
    word = typed.lower()
    aliases = {"c": "cluster", "l": "listener", "r": "route", "ep": "endpoint", "s": "secret"}
    if word in ("log", "logs", "o"):
        return "log"
    if word == "ecds":
        return "ecds"
    word = aliases.get(word, word)
    for known in (*SECTIONS, "all"):
        if word in (known, known + "s"):
            return known
    return None


def _port_route_hint(kind: str, found: int, filters: dict[str, str], proxy: dict[str, Any]) -> None:
    """Istio's per-port names (`routes --name 9080`, `listeners --address 0.0.0.0 --port 9080`)
    find nothing on a sidecar of the non-isolated local mode, whose outbound HTTP goes through
    one proxy listener (`found` resources or rows): say so, in both output forms."""
    if found or proxy.get("netns"):
        return
    name, port = filters.get("name", ""), filters.get("port", "")
    if kind == "route" and name.isdigit():
        what = f"in route configuration http_proxy, not {name}: `--name http_proxy`"
    elif kind == "listener" and port.isdigit() and port != "15001":
        what = f"on the listener at the pod's address, port 15001, not {port}: `--port 15001`"
    else:
        return
    print(
        f"note: local mode: a sidecar's outbound HTTP (apps use the sidecar as HTTP proxy) is "
        f"{what}; the isolated mode (up --isolated) has Istio's per-port names",
        file=sys.stderr,
    )


def proxy_config_command(
    typed: str,
    name: str,
    output: str,
    state_dir: Path,
    namespace: str | None = None,
    filters: dict[str, str] | None = None,
) -> int:
    kind = section_name(typed) or typed
    if kind not in (*SECTIONS, "all", "log", "ecds"):
        known = ", ".join([*SECTIONS, "all", "log", "ecds"])
        print(f"error: unknown type {typed!r}: one of {known}", file=sys.stderr)
        return 1
    info = running_mesh(state_dir)
    try:
        found = resolve_pod(info, name, namespace)
    except PodNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    admin = admin_address(found[1])
    if kind == "log":
        return log_levels(admin, (filters or {}).get("level", ""), found[0])
    if kind == "all" and output in ("json", "yaml") and not any((filters or {}).values()):
        return _full_dump(admin, found[0], output)
    try:
        dump = _admin(admin, "/config_dump?include_eds")
        clusters = _admin(admin, "/clusters?format=json") if kind in ("endpoint", "all") else {}
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {found[0]}'s Envoy admin at {admin}: {exc}", file=sys.stderr)
        return 1
    if kind == "ecds":
        return _ecds(_section(dump, ECDS_SECTION), output)
    kinds = list(SECTIONS) if kind == "all" else [kind]
    if kind == "all" and output not in ("json", "yaml"):
        print(full_summary(dump, clusters, filters or {}), end="")
        return 0
    if output in ("json", "yaml") and kind in ("secret", "bootstrap"):
        print(_dump_section(_section(dump, SECTIONS[kind]), output))
        return 0
    if output in ("json", "yaml"):
        payload: dict[str, Any] = {k: _section(dump, SECTIONS[k]) for k in kinds}
        data = payload if kind == "all" else payload[kind]
        if kind in PADDING:  # istioctl prints the resources, as a list, indented by four
            section = clusters if kind == "endpoint" else data
            data = [  # each message itself, unpacked from the dump's Any as istioctl does
                {k: v for k, v in item.items() if k != "@type"}
                for item in selected(kind, section, filters or {})
            ]
            _port_route_hint(kind, len(data), filters or {}, found[1])
        data = protojson(data)
        print(
            json.dumps(data, indent=4 if kind in PADDING else 2)
            if output == "json"
            else dump_yaml([data]),
            end="\n" if output == "json" else "",
        )
        return 0
    for k in kinds:
        if k == "secret":
            print(secret_table(_section(dump, SECTIONS["secret"])))
            if kind == "all":
                print()
        elif k in PADDING:
            section = clusters if k == "endpoint" else _section(dump, SECTIONS[k])
            text = table(k, section, filters or {})
            print(text)
            _port_route_hint(k, text.count("\n"), filters or {}, found[1])
            if kind == "all":
                print()
        else:  # bootstrap: istioctl's default output for it is json
            print(_dump_section(_section(dump, SECTIONS[k]), "json"))
    return 0
