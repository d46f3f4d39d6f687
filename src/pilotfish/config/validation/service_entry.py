"""Istio's semantic checks of a ServiceEntry: hosts, addresses, ports (unique numbers and
names), resolution against addresses and endpoints, endpoints and the workload selector."""

from __future__ import annotations

from pilotfish.config.formats import cidr_problem, fqdn_problem, is_ip, partial_wildcard_problem
from pilotfish.config.models.networking import ServiceEntrySpec
from pilotfish.config.protocols import HTTP_FAMILY, ISTIO_PROTOCOLS, TLS_FAMILY
from pilotfish.config.schema import Problem
from pilotfish.config.validation.common import Findings


def validate_service_entry(spec: ServiceEntrySpec) -> list[Problem]:
    found = Findings()
    if not spec.hosts:
        found.error("spec.hosts", "service entry must have at least one host")
    for index, host in enumerate(spec.hosts):
        found.host(f"spec.hosts[{index}]", host, allow_star=False)
        if spec.resolution != "DYNAMIC_DNS":
            found.add(f"spec.hosts[{index}]", partial_wildcard_problem(host), "warning")
    for index, address in enumerate(spec.addresses):
        found.add(f"spec.addresses[{index}]", cidr_problem(address))
    numbers: set[int] = set()
    names: set[str] = set()
    for index, port in enumerate(spec.ports):
        path = f"spec.ports[{index}]"
        found.port(f"{path}.number", port.number)
        if port.target_port is not None:
            found.port(f"{path}.targetPort", port.target_port, "target port")
        if not port.name:
            found.error(f"{path}.name", "port name is required")
        elif port.name in names:
            found.error(f"{path}.name", f'duplicate port name "{port.name}"')
        if port.number is not None and port.number in numbers:
            found.error(f"{path}.number", f"duplicate port number {port.number}")
        names.add(port.name or "")
        numbers.add(port.number or 0)
        if port.protocol and port.protocol.upper() not in ISTIO_PROTOCOLS:
            found.error(f"{path}.protocol", f"unsupported protocol: {port.protocol}")
    if spec.workload_selector is not None and spec.endpoints:
        found.error("spec", "only one of workloadSelector and endpoints may be set")
    resolution = spec.resolution or "NONE"
    if not isinstance(resolution, str):  # a number naming no mode: Istio's switch has no case
        found.error("spec.resolution", "unsupported resolution type ")  # nor a name to print
    if resolution == "NONE" and spec.workload_selector is not None:
        found.warn(
            "spec.workloadSelector",
            "workloadSelector should not be set when resolution mode is NONE",
        )
    if resolution != "NONE" and len(spec.hosts) > 1:
        # only HTTP (authority) or TLS (SNI) tell the hosts apart on one port
        for index, port in enumerate(spec.ports):
            if (port.protocol or "").upper() not in HTTP_FAMILY | TLS_FAMILY | {"HTTP_PROXY"}:
                found.error(
                    f"spec.ports[{index}].protocol",
                    "multiple hosts provided with non-HTTP, non-TLS ports",
                )
                break
    # STATIC without endpoints is valid (Istio: endpoints may come later, or never)
    if resolution in ("DNS", "DNS_ROUND_ROBIN") and not spec.endpoints:
        for index, host in enumerate(spec.hosts):
            problem = fqdn_problem(host)
            if problem is not None:
                found.error(
                    f"spec.hosts[{index}]",
                    "hosts must be FQDN or contain only prefix wildcards if no endpoints are "
                    f"provided for resolution mode {resolution}, {problem}",
                )
                break
    if resolution in ("DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS") and any(
        "/" in a for a in spec.addresses
    ):
        found.error(
            "spec.addresses", f"CIDR addresses are not allowed with resolution {resolution}"
        )
    if resolution == "DNS_ROUND_ROBIN" and len(spec.endpoints) > 1:
        found.error("spec.endpoints", "DNS_ROUND_ROBIN allows at most one endpoint")
    for index, endpoint in enumerate(spec.endpoints):
        path = f"spec.endpoints[{index}]"
        address = endpoint.address or ""
        if not address and not endpoint.network:
            found.error(f"{path}.address", "endpoint address or network is required")
        elif not address and resolution in ("DNS", "DNS_ROUND_ROBIN"):
            message = 'endpoint address "" is not a valid FQDN or an IP address'
            found.error(f"{path}.address", message)
        elif not address:
            found.warn(f"{path}.address", f'address is unset with network "{endpoint.network}"')
        elif (
            resolution == "STATIC"
            and address
            and not address.startswith("unix://")
            and not is_ip(address)
        ):
            found.error(f"{path}.address", f'endpoint address "{address}" must be an IP for STATIC')
        elif (
            resolution in ("DNS", "DNS_ROUND_ROBIN")
            and not is_ip(address)
            and fqdn_problem(address) is not None
        ):
            found.error(
                f"{path}.address",
                f'endpoint address "{address}" is not a valid FQDN or an IP address',
            )
        for port_name, number in endpoint.ports.items():
            found.port(f"{path}.ports.{port_name}", number)
            if spec.ports and port_name not in names:
                found.error(
                    f"{path}.ports.{port_name}",
                    f'endpoint port "{port_name}" is not a service port',
                )
        found.labels(f"{path}.labels", endpoint.labels)
    if spec.workload_selector is not None:
        found.labels("spec.workloadSelector.labels", spec.workload_selector.labels)
    return found.problems
