"""The `Proxy` <-> Envoy node codec: the node (id + metadata) the agent writes in its bootstrap,
and the `Proxy` the xDS server reads back from it.

Metadata keys follow Istio's where Istio has one (NAME, NAMESPACE, LABELS, INSTANCE_IPS,
SERVICE_ACCOUNT, WORKLOAD_NAME); pilotfish's local mode adds PILOTFISH_APP_PORTS
("9080:40123,9443:40124"), PILOTFISH_OUTBOUND_PORT, PILOTFISH_WS_PROXY_PORT (when the pod has
a `ws://` proxy listener) and PILOTFISH_GATEWAY_ADDRESS;
PILOTFISH_DELTA_XDS ("true") says the agent's Envoy speaks delta ADS;
INTERCEPTION_MODE (Istio's) is REDIRECT for a pod whose traffic iptables captures; PROXY_CONFIG
(Istio's: the pod's ProxyConfig) carries `gatewayTopology.numTrustedProxies` and `tracing` when
the pod sets them;
ISTIO_VERSION (Istio's: the agent's own version) is pilotfish's version, the `version` label of
the control plane's `pilot_xds` gauge.
"""

from __future__ import annotations

from typing import Any

from pilotfish import __version__
from pilotfish.config.proxy_tracing import parse_proxy_tracing, tracing_json
from pilotfish.model.proxy import Proxy

VERSION_KEY = "ISTIO_VERSION"
DELTA_XDS_KEY = "PILOTFISH_DELTA_XDS"
WS_PROXY_KEY = "PILOTFISH_WS_PROXY_PORT"
IDENTITY_ENV_KEY = "PILOTFISH_IDENTITY_ENV"  # {variable: value}: `telemetry.identity_env`


def node_metadata(proxy: Proxy) -> dict[str, Any]:
    """The inverse of `proxy_from_node`: what the agent puts in the bootstrap's node metadata."""
    return (
        {
            "NAME": proxy.instance,
            "NAMESPACE": proxy.namespace,
            "LABELS": dict(proxy.labels),
            "INSTANCE_IPS": proxy.ip,
            "SERVICE_ACCOUNT": proxy.service_account,
            "WORKLOAD_NAME": proxy.workload,
            "PILOTFISH_APP_PORTS": ",".join(f"{c}:{a}" for c, a in proxy.app_ports),
            "PILOTFISH_OUTBOUND_PORT": str(proxy.outbound_port),
            "PILOTFISH_GATEWAY_ADDRESS": proxy.gateway_address,
            VERSION_KEY: __version__,
        }
        | ({WS_PROXY_KEY: str(proxy.ws_proxy_port)} if proxy.ws_proxy_port else {})
        | ({"INTERCEPTION_MODE": proxy.interception} if proxy.interception else {})
        | ({DELTA_XDS_KEY: "true"} if proxy.delta_xds else {})
        | _proxy_config(proxy)
        | ({IDENTITY_ENV_KEY: dict(proxy.identity_env)} if proxy.identity_env else {})
    )


def _proxy_config(proxy: Proxy) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if proxy.num_trusted_proxies is not None:
        config["gatewayTopology"] = {"numTrustedProxies": proxy.num_trusted_proxies}
    if proxy.tracing is not None:
        config["tracing"] = tracing_json(proxy.tracing)
    return {"PROXY_CONFIG": config} if config else {}


def _tracing(metadata: dict[str, Any]) -> Any:
    config = metadata.get("PROXY_CONFIG")
    errors: list[tuple[str, str]] = []
    raw = config.get("tracing") if isinstance(config, dict) else None
    found = parse_proxy_tracing(raw, "PROXY_CONFIG.tracing", errors)
    if errors:
        raise ValueError("; ".join(f"{where}: {what}" for where, what in errors))
    return found


def _trusted_proxies(metadata: dict[str, Any]) -> int | None:
    config = metadata.get("PROXY_CONFIG")
    topology = config.get("gatewayTopology") if isinstance(config, dict) else None
    value = topology.get("numTrustedProxies") if isinstance(topology, dict) else None
    if value is None:
        return None
    try:  # node metadata is a protobuf Struct: its numbers arrive as floats
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if isinstance(value, bool) or number < 0 or not number.is_integer():
        raise ValueError("PROXY_CONFIG.gatewayTopology.numTrustedProxies must be 0 or more")
    return int(number)


def proxy_from_node(node_id: str, metadata: dict[str, Any]) -> Proxy:
    """Raises ValueError for a node that is not one of ours (the stream is then refused)."""
    kind, ip, instance, namespace = Proxy.parse_id(node_id)
    labels = metadata.get("LABELS") or {}
    if not isinstance(labels, dict):
        raise ValueError("LABELS must be a map")
    app_ports: list[tuple[int, int]] = []
    for pair in str(metadata.get("PILOTFISH_APP_PORTS") or "").split(","):
        if pair:
            container, app = pair.split(":", 1)
            app_ports.append((int(container), int(app)))
    return Proxy(
        type=kind,
        ip=str(metadata.get("INSTANCE_IPS") or ip).split(",")[0],
        instance=str(metadata.get("NAME") or instance),
        namespace=str(metadata.get("NAMESPACE") or namespace),
        labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
        workload=str(metadata.get("WORKLOAD_NAME") or ""),
        service_account=str(metadata.get("SERVICE_ACCOUNT") or "default"),
        gateway_address=str(metadata.get("PILOTFISH_GATEWAY_ADDRESS") or ""),
        outbound_port=int(metadata.get("PILOTFISH_OUTBOUND_PORT") or 15001),
        ws_proxy_port=int(metadata.get(WS_PROXY_KEY) or 0),
        delta_xds=str(metadata.get(DELTA_XDS_KEY) or "").lower() == "true",
        app_ports=tuple(sorted(app_ports)),
        interception=str(metadata.get("INTERCEPTION_MODE") or ""),
        num_trusted_proxies=_trusted_proxies(metadata),
        tracing=_tracing(metadata),
        identity_env=_identity_env(metadata),
    )


def _identity_env(metadata: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The declared variables (sorted pairs); () when none or malformed: the control plane
    writes the literal values then."""
    declared = metadata.get(IDENTITY_ENV_KEY)
    if not isinstance(declared, dict):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in declared.items()))
