"""`translate.on_demand_routes`: VHDS names to hosts, Envoy's virtual host choice (exact, then
the longest suffix wildcard, then prefix wildcard, then `*`), what a sidecar asking for hosts is
sent (golden: vhds_case/routes.golden.yaml and vhds.golden.yaml, regenerated with
UPDATE_GOLDENS=1), and that Envoy accepts it: the up-front route configuration with every
virtual host answered merged in, as Envoy merges them, passes `envoy --mode validate`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from envoy.config.route.v3 import route_components_pb2 as rc_pb2
from envoy.config.route.v3 import route_pb2
from google.protobuf.json_format import MessageToDict
from tests.translate.test_envoy_validate import envoy_validate
from tests.translate.translate_harness import _dump, load_case, validate_bootstrap

from pilotfish.translate import ProxyResources, on_demand_routes
from pilotfish.translate.generate import generate, generate_parts
from pilotfish.translate.http_proxy_part import whole_parts
from pilotfish.translate.resources import ProxyResources as Resources
from pilotfish.type_urls import ROUTE, VIRTUAL_HOST

CASE = Path(__file__).parent / "vhds_case"
ASKED = (
    "http_proxy/reviews:9080",  # the short name (own namespace)
    "http_proxy/Details.Default.svc.cluster.local:9080",  # any case
    "http_proxy/ratings.default:9080",
    "http_proxy/api.example.com",  # a ServiceEntry's wildcard host
    "http_proxy/api.example.com.",  # trailing dot, as Envoy strips it
    "http_proxy/nowhere.test:81",  # no service's: the catch-all's answer
    "9080/reviews:9080",  # another route configuration's name: nothing
)


def _parts() -> tuple[ProxyResources, ProxyResources, dict[str, str]]:
    proxy, push = load_case(CASE)
    assert on_demand_routes.applies(proxy, push)
    shared, _ = generate_parts(proxy, push)
    route_part = next(p for p in shared if "http_proxy" in p[ROUTE])
    part, answers = on_demand_routes.published(route_part, ASKED, push)
    pieces, again = on_demand_routes.published_pieces(route_part, ASKED, push)
    assert on_demand_routes.published_pieces(route_part, ASKED, push)[0] is pieces  # memoised
    assert again == answers and len(pieces) == 2
    # the configuration and the service hosts' answers, then what only the catch-all took
    assert set(pieces[1][VIRTUAL_HOST]) == {"http_proxy/nowhere.test:81"} and not pieces[1][ROUTE]
    assert set(pieces[0][ROUTE]) == set(part[ROUTE])
    assert {**pieces[0][VIRTUAL_HOST], **pieces[1][VIRTUAL_HOST]} == dict(part[VIRTUAL_HOST])
    return route_part, part, answers


def test_host_of_a_vhds_name() -> None:
    assert on_demand_routes.host_of("http_proxy/Reviews:9080") == "reviews:9080"
    assert on_demand_routes.host_of("http_proxy/a.example.") == "a.example"
    assert on_demand_routes.host_of("http_proxy/a.example.:80") == "a.example:80"
    assert on_demand_routes.host_of("9080/reviews:9080") is None
    assert on_demand_routes.host_of("http_proxy/") is None


def test_envoy_order_of_virtual_host_matches() -> None:
    config = route_pb2.RouteConfiguration(
        virtual_hosts=[
            rc_pb2.VirtualHost(name="any", domains=["*"]),
            rc_pb2.VirtualHost(name="prefix", domains=["api.*"]),
            rc_pb2.VirtualHost(name="short", domains=["*.com"]),
            rc_pb2.VirtualHost(name="long", domains=["*.example.com"]),
            rc_pb2.VirtualHost(name="exact", domains=["API.example.com"]),
        ]
    )

    def picked(host: str) -> str:
        found = on_demand_routes.matching_vhost(config, host)
        return found.name if found is not None else ""

    assert picked("api.example.com") == "exact"
    assert picked("www.example.com") == "long"
    assert picked("example.com") == "short"  # `*.example.com` needs one character more
    assert picked("api.test") == "prefix"
    assert picked("other.test") == "any"


def test_answers_for_the_names_asked() -> None:
    route_part, part, answers = _parts()
    services = "http_proxy/{}.default.svc.cluster.local:9080"
    assert answers == {
        ASKED[0]: services.format("reviews"),
        ASKED[1]: services.format("details"),
        ASKED[2]: services.format("ratings"),
        ASKED[3]: "http_proxy/*.example.com:80",
        ASKED[4]: "http_proxy/*.example.com:80",
        ASKED[5]: "http_proxy/nowhere.test:81",
        ASKED[6]: "",
    }
    vhosts = part[VIRTUAL_HOST]
    assert set(vhosts) == {"http_proxy/pod_local", *(a for a in answers.values() if a)}
    domains = [d for v in vhosts.values() for d in v.domains]
    assert len(domains) == len(set(domains))  # Envoy refuses a domain twice
    proxy, push = load_case(CASE)
    (whole,) = whole_parts(
        proxy, push, (route_part,)
    )  # built without it: `http_proxy_part.vhds_built`
    full = whole[ROUTE]["http_proxy"]
    assert isinstance(full, route_pb2.RouteConfiguration)
    reviews = next(v for v in full.virtual_hosts if v.name.startswith("reviews."))
    sent = vhosts[answers[ASKED[0]]]
    assert isinstance(sent, rc_pb2.VirtualHost)
    assert list(sent.routes) == list(reviews.routes) and sent.domains == reviews.domains
    unknown = vhosts["http_proxy/nowhere.test:81"]
    assert isinstance(unknown, rc_pb2.VirtualHost)
    assert list(unknown.domains) == ["nowhere.test:81"]
    assert "PassthroughCluster" in str(unknown)
    assert part[ROUTE]["http_proxy"].HasField("vhds")
    assert set(part[ROUTE]) == set(route_part[ROUTE])


def test_golden() -> None:
    _, part, _ = _parts()
    texts = {
        name: _dump({n: MessageToDict(m) for n, m in part[type_url].items()})
        for name, type_url in (("routes.golden.yaml", ROUTE), ("vhds.golden.yaml", VIRTUAL_HOST))
    }
    mismatched = []
    for name, text in texts.items():
        golden = CASE / name
        if os.environ.get("UPDATE_GOLDENS") == "1":
            golden.write_text(text)
        elif not golden.exists() or golden.read_text() != text:
            mismatched.append(name)
    assert not mismatched, f"{mismatched} differ (UPDATE_GOLDENS=1 to regenerate)"


@pytest.mark.parametrize("asked", [ASKED, ()])
def test_envoy_accepts_the_merged_route_configuration(
    asked: tuple[str, ...], tmp_path: Path
) -> None:
    proxy, push = load_case(CASE)
    shared, _ = generate_parts(proxy, push)
    route_part = next(p for p in shared if "http_proxy" in p[ROUTE])
    part, _ = on_demand_routes.published(route_part, asked, push)
    merged = route_pb2.RouteConfiguration()
    merged.CopyFrom(part[ROUTE]["http_proxy"])
    merged.ClearField("vhds")  # validate mode has no ADS; Envoy merges the virtual hosts so
    merged.virtual_hosts.extend(part[VIRTUAL_HOST].values())
    everything = generate(proxy, push)
    routes = {**everything[ROUTE], "http_proxy": merged}
    resources = Resources({t: everything[t] for t in everything} | {ROUTE: routes})
    result = envoy_validate(validate_bootstrap(resources), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
