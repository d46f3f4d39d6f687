"""Istio's Gateway analyzers over the Pods, Services and Secrets beside the config.

IST0101 (a Gateway selector matching no pod; a `credentialName` whose Secret is not in the
gateway workload's namespace), IST0161 (that Secret holds no parsable certificate), IST0162 (a
server port that no TCP port of a Service selecting the gateway pods targets), IST0145 (two
Gateways on the same pods and port sharing a host with the same bind). Without a running mesh,
the inputs are completed as istioctl completes them offline: an `istio-ingressgateway` pod
(istio=ingressgateway) and Service in istio-system, with the ports of an Istio install
(80→8080, 443→8443, 15021, 31400, 15443), so the samples' port 8080 counts. Pure.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from pilotfish.config.analyzers.kube import Kube, KubeObject
from pilotfish.config.analyzers.messages import AnalysisMessage, message_for, selector_text
from pilotfish.config.objects import Gateway

if TYPE_CHECKING:
    from pilotfish.config.models.networking import Server

ROOT = "istio-system"
INGRESS = "istio-ingressgateway"
# (port, targetPort) of the istio-ingressgateway Service of an Istio install
DEFAULT_PORTS = ((15021, 15021), (80, 8080), (443, 8443), (31400, 31400), (15443, 15443))


def add_default_ingress(kube: Kube) -> None:
    """istioctl's offline defaults: the ingress gateway pod and Service, unless given."""
    if not any(s.namespace == ROOT and s.name == INGRESS for s in kube.services):
        ports = [{"port": p, "targetPort": t, "protocol": "TCP"} for p, t in DEFAULT_PORTS]
        spec = {"selector": {"istio": "ingressgateway"}, "ports": ports}
        kube.services.append(KubeObject("Service", INGRESS, ROOT, data={"spec": spec}))
    if not kube.pods_selected({"istio": "ingressgateway"}, ROOT):
        containers = [{"name": "istio-proxy", "image": "proxyv2"}]
        kube.pods.append(
            KubeObject(
                "Pod",
                f"{INGRESS}-dummypod",
                ROOT,
                {"istio": "ingressgateway"},
                data={"spec": {"containers": containers}},
            )
        )


def _selector(gateway: Gateway) -> dict[str, str]:
    return dict(gateway.spec.selector)


def _servers(gateway: Gateway) -> list[Server]:
    return list(gateway.spec.servers)


def _selector_path(gateway: Gateway) -> str:
    """Where Istio points a message about the gateway's pods: a label of its selector."""
    labels = sorted(gateway.spec.selector)
    return f"spec.selector.{labels[0]}" if labels else "spec.selector"


def _not_found(obj: Gateway, what: str, value: str, path: str) -> AnalysisMessage:
    text = f'Referenced {what} not found: "{value}"'
    return message_for(obj, "Error", "IST0101", text, path)


def _int(value: object) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0


def gateway_ports(gateway: Gateway, kube: Kube) -> list[AnalysisMessage]:
    """IST0101 (selector) and IST0162, as Istio's IngressGatewayPortAnalyzer."""
    selector = _selector(gateway)
    pods = kube.pods_selected(selector, None)
    text = selector_text(selector)
    if not pods:
        return [_not_found(gateway, "selector", text, _selector_path(gateway))]
    ports: set[int] = set()
    for pod in pods:
        for service in kube.services:
            wanted = {str(k): str(v) for k, v in (service.spec.get("selector") or {}).items()}
            if service.namespace != pod.namespace or not all(
                pod.labels.get(k) == v for k, v in wanted.items()
            ):
                continue
            for port in service.spec.get("ports") or []:
                if not isinstance(port, dict) or (port.get("protocol") or "TCP") != "TCP":
                    continue
                ports.add(_int(port.get("targetPort")) or _int(port.get("port")))
                ports.add(_int(port.get("port")))
    out: list[AnalysisMessage] = []
    for server in _servers(gateway):
        number = server.port.number if server.port is not None else None
        if number is None or number in ports:
            continue
        message = (
            f"The gateway is listening on a target port (port {number}) that is not defined in "
            f"the Service associated with its workload instances (Pod selector {text}). If you "
            "need to access the gateway port through the gateway Service, it will not be "
            "available."
        )
        out.append(message_for(gateway, "Warning", "IST0162", message, _selector_path(gateway)))
    return out


def _has_certificate(secret: KubeObject) -> bool:
    """A certificate and key under `data` (base64) or `stringData` (plain text, which
    Kubernetes merges into `data` on write, so a Secret applied with it is the same)."""
    data = secret.data.get("data")
    data = dict(data) if isinstance(data, dict) else {}
    plain = secret.data.get("stringData")
    plain = plain if isinstance(plain, dict) else {}
    for cert_key, key_key in (("tls.crt", "tls.key"), ("cert", "key")):
        if cert_key in plain and (key_key in plain or key_key in data):
            return _parses(str(plain[cert_key]).encode())
        if cert_key in data and (key_key in data or key_key in plain):
            try:
                pem = base64.b64decode(str(data[cert_key]), validate=False)
            except (binascii.Error, ValueError):
                return False
            return _parses(pem)
    return False


def _parses(pem: bytes) -> bool:
    """A PEM certificate valid now (Istio's xds.ValidateCertificate: expired or not yet valid
    certificates are refused)."""
    import warnings
    from datetime import UTC, datetime

    from cryptography import x509

    try:
        with warnings.catch_warnings():  # e.g. a non-positive serial, which Go accepts
            warnings.simplefilter("ignore")
            cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return False
    now = datetime.now(UTC)
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def gateway_secrets(gateway: Gateway, kube: Kube) -> list[AnalysisMessage]:
    """IST0101 (credentialName) and IST0161, as Istio's gateway SecretAnalyzer."""
    pods = kube.pods_selected(_selector(gateway), None)
    if not pods:
        return []  # reported once, by gateway_ports
    namespace = pods[0].namespace
    out: list[AnalysisMessage] = []
    for index, server in enumerate(_servers(gateway)):
        path = f"spec.servers[{index}].tls.credentialName"
        name = server.tls.credential_name if server.tls is not None else None
        if not name:
            continue
        ns, _, short = name.rpartition("/")
        secret = kube.secrets.get((ns or namespace, short))
        if secret is None:
            out.append(_not_found(gateway, "credentialName", name, path))
        elif not _has_certificate(secret):
            text = (
                f"The credential referenced by the Gateway {gateway.meta.name} in namespace "
                f"{namespace} is invalid, which can cause the traffic not to work as expected."
            )
            out.append(message_for(gateway, "Error", "IST0161", text, path))
    return out


def conflicting_gateways(gateways: list[Gateway], kube: Kube) -> list[AnalysisMessage]:
    """IST0145, as Istio's ConflictingGatewayAnalyzer: same pods (same selector, or selectors
    one containing the other that select a common pod), same port, a host bound twice."""
    keyed: list[tuple[str, int, str, dict[str, str]]] = []  # selector, port, gateway, host→bind
    for gw in gateways:
        for server in _servers(gw):
            number = server.port.number if server.port is not None and server.port.number else 0
            binds = {h: server.bind or "" for h in server.hosts}
            keyed.append((selector_text(_selector(gw)), number, _full(gw), binds))
    out: list[AnalysisMessage] = []
    for gw in gateways:
        mine = _selector(gw)
        text = selector_text(mine)
        same = {s for s, *_ in keyed if _same_pods(text, s, mine, kube)}
        for server in _servers(gw):
            number = server.port.number if server.port is not None and server.port.number else 0
            others = sorted(
                {
                    name
                    for s, port, name, binds in keyed
                    if s in same
                    and port == number
                    and name != _full(gw)
                    and any(binds.get(h) == (server.bind or "") for h in server.hosts)
                }
            )
            if others:
                message = (
                    f"Conflict with gateways {','.join(others)} (workload selector {text}, port "
                    f"{number}, hosts {','.join(server.hosts)})."
                )
                out.append(message_for(gw, "Error", "IST0145", message, _selector_path(gw)))
    return out


def _full(gw: Gateway) -> str:
    return f"{gw.meta.namespace}/{gw.meta.name}"


def _same_pods(mine: str, other: str, labels: dict[str, str], kube: Kube) -> bool:
    if mine == other:
        return True
    if mine not in other and other not in mine:
        return False
    theirs = dict(p.split("=", 1) for p in other.split(",") if "=" in p)
    return any(
        all(pod.labels.get(k) == v for k, v in {**labels, **theirs}.items()) for pod in kube.pods
    )
