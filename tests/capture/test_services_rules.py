"""kube-proxy's service rules for the pods of an isolated mesh (`capture.services`): which
endpoints each service port gets (as an EndpointSlice: ready instances the selector picks, at
the target port), and the `iptables-restore --noflush` text, pinned by golden files
(`testdata/services/<case>.golden`; regenerate with `pytest --update-goldens`, review the diff).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from pilotfish.capture.services import ServiceRoute, service_routes, service_rules
from pilotfish.registry.types import Protocol, Service, ServicePort, WorkloadInstance

TESTDATA = Path(__file__).parent / "testdata" / "services"

REVIEWS = ServiceRoute(
    "default/reviews:http",
    "10.7.241.3",
    9080,
    (("10.7.0.5", 9080), ("10.7.0.6", 9080), ("10.7.0.7", 9080)),
)
STRICT = ServiceRoute("default/strict:http", "10.7.240.9", 8000, (("10.7.0.8", 8080),))
EMPTY = ServiceRoute("foo/empty:tcp", "10.7.242.1", 9000, ())

CASES: dict[str, tuple[tuple[ServiceRoute, ...], tuple[str, ...], str]] = {
    "pod-first-install": ((STRICT, REVIEWS, EMPTY), ("OUTPUT",), ""),
    "update": ((STRICT, REVIEWS, EMPTY), (), ""),
    "pod-is-an-endpoint": ((REVIEWS,), (), "10.7.0.6"),
    "pod-is-the-only-endpoint": ((STRICT,), (), "10.7.0.8"),
    "node": ((REVIEWS,), ("PREROUTING", "OUTPUT"), ""),
    "no-services": ((), (), ""),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_service_rules_match_golden(case: str) -> None:
    routes, hooks, exclude = CASES[case]
    text = service_rules(routes, hooks, exclude)
    golden = TESTDATA / f"{case}.golden"
    if os.environ.get("UPDATE_GOLDENS") == "1":
        golden.write_text(text)
    assert text == golden.read_text()


def test_each_endpoint_gets_an_equal_share() -> None:
    """The i-th of n DNAT rules is taken with probability 1/(n-i), the last always: following
    the chain, every endpoint gets 1/n."""
    text = service_rules((REVIEWS,))
    chances = [
        float(m.group(1)) if m else 1.0
        for line in text.splitlines()
        if "-j DNAT" in line
        for m in [re.search(r"--probability (\S+)", line)]
    ]
    share, left = [], 1.0
    for chance in chances:
        share.append(left * chance)
        left *= 1 - chance
    assert share == pytest.approx([1 / 3] * 3) and left == pytest.approx(0)
    assert "REJECT" not in text


def _service(name: str, namespace: str = "default") -> Service:
    ports = (
        ServicePort("http", 8000, Protocol.HTTP, 8080),
        ServicePort("tcp", 9000, Protocol.TCP, 9000),
    )
    return Service(name, namespace, ports, selector=(("app", name),))


def _instance(
    name: str, app: str, address: str, namespace: str = "default", ready: bool = True
) -> WorkloadInstance:
    return WorkloadInstance(name, app, namespace, address, (("app", app),), ready=ready)


def test_routes_are_ready_selected_instances_at_the_target_port() -> None:
    services = (
        _service("strict"),
        _service("strict", "foo"),  # same name, other namespace
        replace(_service("headless"), headless=True),  # no cluster IP: no route
        replace(_service("external"), host="api.example.com", addresses=("10.7.243.1",)),
    )
    vips = {
        "strict.default.svc.cluster.local": "10.7.240.9",
        "strict.foo.svc.cluster.local": "10.7.240.10",
        "api.example.com": "10.7.243.1",
    }
    instances = (
        _instance("strict-1", "strict", "10.7.0.9"),
        _instance("strict-0", "strict", "10.7.0.8"),
        _instance("strict-2", "strict", "10.7.0.10", ready=False),
        _instance("strict-0", "strict", "10.7.0.20", namespace="foo"),
        _instance("legacy-0", "legacy", "10.7.0.11"),
        _instance("headless-0", "headless", "10.7.0.12"),
    )
    routes = service_routes(services, vips, instances)
    assert [(r.service, r.vip, r.port, r.endpoints) for r in routes] == [
        ("default/strict:http", "10.7.240.9", 8000, (("10.7.0.8", 8080), ("10.7.0.9", 8080))),
        ("default/strict:tcp", "10.7.240.9", 9000, (("10.7.0.8", 9000), ("10.7.0.9", 9000))),
        ("foo/strict:http", "10.7.240.10", 8000, (("10.7.0.20", 8080),)),
        ("foo/strict:tcp", "10.7.240.10", 9000, (("10.7.0.20", 9000),)),
    ]


def test_a_service_without_ready_instances_is_rejected_not_dnated() -> None:
    routes = service_routes(
        (_service("strict"),), {"strict.default.svc.cluster.local": "10.7.240.9"}, ()
    )
    text = service_rules(routes)
    assert "DNAT" not in text
    rejected = Counter(
        line.split("--dport ")[1].split()[0] for line in text.splitlines() if "REJECT" in line
    )
    assert rejected == {"8000": 1, "9000": 1}
