"""The rest of Istio's DestinationRule tables, written here afresh as YAML
(tests/config/istio_table.py runs them): TestValidateDestinationRule's MUTUAL-mode
insecureSkipVerify cases and TestValidateTrafficPolicy (pkg/config/validation/validation_test.go),
TestValidateTLS, TestValidateLocalityLbSetting, TestValidateZoneAwareLbSetting and
TestValidateLocalities (pkg/config/validation/agent/validation_test.go, commit 86c9f01; the
localities are a distribute rule's sources), and TestValidateRouteDestination (on a TCP route).
DestinationRule/traffic policy 15, client TLS 12, locality 34 (+ the two examples of Istio's locality tasks), route destinations 14. Before this
module's rules 21 were decided differently: a credentialName beside certificate files on a
SIMPLE/MUTUAL client TLS, and every localityLbSetting rule but the distribute total (distribute
weights of 0, failover regions, wildcards and zones, topology labels with failover, overlapping
localities) were accepted. Also gone: a refusal Istio does not make (certificates on a DISABLE or
ISTIO_MUTUAL client TLS, which Istio ignores)."""

# ruff: noqa: E501  (one case per line reads as a table)
from __future__ import annotations

import pytest
from tests.config.istio_table import Case, decided_as_istio, ids

# fmt: off
D = "DestinationRule"
def tp(policy: str) -> str:
    return "{host: reviews, trafficPolicy: " + policy + "}"
SAN = "subjectAltNames: [reviews.default.svc]"
GOOD = "loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {tcp: {maxConnections: 7}, http: {http2MaxRequests: 11}}, outlierDetection: {minHealthPercent: 20}"
MUTUAL_AND_POLICY: list[Case] = [
 ("mutual skip unset, caCertificates", D, tp("{tls: {mode: MUTUAL, caCertificates: test, privateKey: key, clientCertificate: cert, " + SAN + "}}"), False),
 ("mutual skip unset, credentialName", D, tp("{tls: {mode: MUTUAL, credentialName: test, " + SAN + "}}"), False),
 ("mutual skip false, caCertificates", D, tp("{tls: {mode: MUTUAL, caCertificates: test, privateKey: key, clientCertificate: cert, " + SAN + ", insecureSkipVerify: false}}"), False),
 ("mutual skip false, credentialName", D, tp("{tls: {mode: MUTUAL, credentialName: test, " + SAN + ", insecureSkipVerify: false}}"), False),
 ("mutual skip true, caCertificates", D, tp("{tls: {mode: MUTUAL, caCertificates: test, privateKey: key, clientCertificate: cert, insecureSkipVerify: true}}"), True),
 ("mutual skip true, credentialName", D, tp("{tls: {mode: MUTUAL, credentialName: test, insecureSkipVerify: true}}"), False),
 ("mutual skip true, no ca", D, tp("{tls: {mode: MUTUAL, privateKey: key, clientCertificate: cert, insecureSkipVerify: true}}"), False),
 ("mutual skip true, san", D, tp("{tls: {mode: MUTUAL, privateKey: key, clientCertificate: cert, " + SAN + ", insecureSkipVerify: true}}"), True),
 ("tp valid", D, tp("{" + GOOD + "}"), False),
 ("tp nil entries", D, tp("{}"), True),
 ("tp port level without port", D, tp("{portLevelSettings: [{" + GOOD + "}]}"), True),
 ("tp bad connection pool", D, tp("{loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {}, outlierDetection: {minHealthPercent: 20}}"), True),
 ("tp bad max connection duration", D, tp("{loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {tcp: {maxConnectionDuration: 0.0000005s}}}"), True),
 ("tp panic threshold too low", D, tp("{loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {tcp: {maxConnections: 7}, http: {http2MaxRequests: 11}}, outlierDetection: {minHealthPercent: -1}}"), True),
 ("tp upgrade and client protocol", D, tp("{connectionPool: {http: {h2UpgradePolicy: UPGRADE, useClientProtocol: true}}}"), True),
]

D = "DestinationRule"
def t(tls: str) -> str:
    return "{host: reviews, trafficPolicy: {tls: {" + tls + "}}}"
CLIENT_TLS: list[Case] = [
 ("client simple credential", D, t("mode: SIMPLE, credentialName: some-credential"), False),
 ("client simple credential and cert", D, t("mode: SIMPLE, credentialName: credential, clientCertificate: cert"), True),
 ("client simple credential and key", D, t("mode: SIMPLE, credentialName: credential, privateKey: key"), True),
 ("client simple credential and ca", D, t("mode: SIMPLE, credentialName: credential, caCertificates: ca"), True),
 ("client mutual credential", D, t("mode: MUTUAL, credentialName: some-credential"), False),
 ("client mutual credential and cert", D, t("mode: MUTUAL, credentialName: credential, clientCertificate: cert"), True),
 ("client mutual credential and key", D, t("mode: MUTUAL, credentialName: credential, privateKey: key"), True),
 ("client mutual credential and ca", D, t("mode: MUTUAL, credentialName: credential, caCertificates: ca"), True),
 ("client mutual credential and crl", D, t("mode: MUTUAL, credentialName: credential, caCrl: ca"), True),
 ("client mutual cert and key", D, t("mode: MUTUAL, clientCertificate: cert, privateKey: key"), False),
 ("client mutual cert no key", D, t("mode: MUTUAL, clientCertificate: cert, privateKey: ''"), True),
 ("client mutual key no cert", D, t("mode: MUTUAL, clientCertificate: '', privateKey: key"), True),
]

D = "DestinationRule"
OD = "outlierDetection: {consecutive5xxErrors: 5}"
def lb(setting: str, outlier: bool = True) -> str:
    return "{host: reviews, trafficPolicy: {loadBalancer: {" + setting + "}" + (", " + OD if outlier else "") + "}}"
def loc(body: str, outlier: bool = True) -> str:
    return lb("localityLbSetting: {" + body + "}", outlier)
def zone(body: str, outlier: bool = True) -> str:
    return lb("zoneAwareLbSetting: {" + body + "}", outlier)
def dist(froms: list[str]) -> str:
    return loc("distribute: [" + ", ".join("{from: '" + f + "', to: {'a/b/c': 100}}" for f in froms) + "]")
LOCALITY: list[Case] = [
 ("locality distribute > 100", D, loc("distribute: [{from: a/b/c, to: {a/b/c: 80, a/b1: 25}}]"), True),
 ("locality distribute < 100", D, loc("distribute: [{from: a/b/c, to: {a/b/c: 80, a/b1: 15}}]"), True),
 ("locality distribute weight 0", D, loc("distribute: [{from: a/b/c, to: {a/b/c: 0, a/b1: 100}}]"), True),
 ("locality distribute and failover", D, loc("distribute: [{from: a/b/c, to: {a/b/c: 80, a/b1: 20}}], failover: [{from: region1, to: region2}]"), True),
 ("locality failover same region", D, loc("failover: [{from: region1, to: region1}]"), True),
 ("locality failover from *", D, loc("failover: [{from: '*', to: region2}]"), True),
 ("locality failover to *", D, loc("failover: [{from: region1, to: '*'}]"), True),
 ("locality failover from zone", D, loc("failover: [{from: region1/zone1, to: region2}]"), True),
 ("locality failover to zone", D, loc("failover: [{from: region1, to: region2/zone1}]"), True),
 ("locality priority without outlier (warning)", D, loc("failoverPriority: [topology.istio.io/network, topology.kubernetes.io/region, topology.kubernetes.io/zone, topology.istio.io/subzone]", False), False),
 ("locality failover without outlier (warning)", D, loc("failover: [{from: us-east, to: eu-west}, {from: us-west, to: eu-east}]", False), False),
 ("locality failover and region priority", D, loc("failover: [{from: region1, to: region2}], failoverPriority: [topology.kubernetes.io/region]"), True),
 ("zone enabled", D, zone("enabled: true"), False),
 ("zone region failover", D, zone("failover: [{from: us-east, to: eu-west}]"), False),
 ("zone same region", D, zone("failover: [{from: region1, to: region1}]"), True),
 ("zone from zone", D, zone("failover: [{from: region1/zone1, to: region2}]"), True),
 ("zone to zone", D, zone("failover: [{from: region1, to: region2/zone1}]"), True),
 ("zone from *", D, zone("failover: [{from: '*', to: region2}]"), True),
 ("zone to *", D, zone("failover: [{from: region1, to: '*'}]"), True),
 ("zone failover and region priority", D, zone("failover: [{from: region1, to: region2}], failoverPriority: [topology.kubernetes.io/region]"), True),
 ("zone region priority", D, zone("failoverPriority: [topology.kubernetes.io/region]"), True),
 ("zone zone priority", D, zone("failoverPriority: [topology.kubernetes.io/zone]"), True),
 ("zone subzone priority", D, zone("failoverPriority: [topology.istio.io/subzone]"), True),
 ("zone other priority", D, zone("failoverPriority: [version, app=ratings]"), False),
 ("zone failover without outlier (warning)", D, zone("failover: [{from: us-east, to: eu-west}]", False), False),
 ("zone priority without outlier (warning)", D, zone("failoverPriority: [version]", False), False),
 ("localities multi wildcard", D, dist(["*/zone/*"]), True),
 ("localities wildcard not suffix", D, dist(["*/zone"]), True),
 ("localities * overlap", D, dist(["*", "a/b/c"]), True),
 ("localities region overlap", D, dist(["a", "a/b/c"]), True),
 ("localities a/* overlap", D, dist(["a/*", "a/b/c"]), True),
 ("localities a/b overlap", D, dist(["a/b", "a/b/c"]), True),
 ("localities a/b/* overlap", D, dist(["a/b/*", "a/b/c"]), True),
 ("localities valid", D, dist(["a1/*", "a2/*", "a3/b3/c3", "a4/b4", "a5/b5/*"]), False),
]

LOCALITY += [  # the two localityLbSetting examples of Istio's locality load balancing tasks (istio.io)
 ("docs weighted distribution", D, "{host: helloworld.sample.svc.cluster.local, trafficPolicy: {loadBalancer: {localityLbSetting: {enabled: true, distribute: [{from: region1/zone1/*, to: {'region1/zone1/*': 70, 'region1/zone2/*': 20, 'region3/zone4/*': 10}}]}}, outlierDetection: {consecutive5xxErrors: 100, interval: 1s, baseEjectionTime: 1m}}}", False),
 ("docs failover", D, "{host: helloworld.sample.svc.cluster.local, trafficPolicy: {connectionPool: {http: {maxRequestsPerConnection: 1}}, loadBalancer: {simple: ROUND_ROBIN, localityLbSetting: {enabled: true, failover: [{from: region1, to: region2}]}}, outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 1m}}}", False),
]
V = "VirtualService"
def tcp(routes: str) -> str:
    return "{hosts: [foo.bar], tcp: [{route: [" + routes + "]}]}"
ROUTE_DESTINATIONS: list[Case] = [
 ("rd simple", V, tcp("{destination: {host: foo.baz}}"), False),
 ("rd wildcard dash", V, tcp("{destination: {host: '*-foo.baz'}}"), False),
 ("rd wildcard prefix", V, tcp("{destination: {host: '*foo.baz'}}"), False),
 ("rd wildcard", V, tcp("{destination: {host: '*'}}"), True),
 ("rd bad wildcard", V, tcp("{destination: {host: 'foo.*'}}"), True),
 ("rd bad fqdn", V, tcp("{destination: {host: default/baz}}"), True),
 ("rd no destination", V, tcp("{destination: null}"), True),
 ("rd weighted", V, tcp("{destination: {host: foo.baz.south}, weight: 25}, {destination: {host: foo.baz.east}, weight: 75}"), False),
 ("rd weight < 0", V, tcp("{destination: {host: foo.baz.south}, weight: 5}, {destination: {host: foo.baz.east}, weight: -1}"), True),
 ("rd weight > 100", V, tcp("{destination: {host: foo.baz.south}, weight: 550}, {destination: {host: foo.baz.east}, weight: 500}"), False),
 ("rd weight < 100", V, tcp("{destination: {host: foo.baz.south}, weight: 49}, {destination: {host: foo.baz.east}, weight: 50}"), False),
 ("rd weight = 100", V, tcp("{destination: {host: foo.baz.south}, weight: 100}, {destination: {host: foo.baz.east}, weight: 0}"), False),
 ("rd weight 0", V, tcp("{destination: {host: foo.baz.south}, weight: 0}"), False),
 ("rd total weight 0", V, tcp("{destination: {host: foo.baz.south}, weight: 0}, {destination: {host: foo.baz.east}, weight: 0}"), True),
]

# fmt: on


@pytest.mark.parametrize("case", MUTUAL_AND_POLICY, ids=ids(MUTUAL_AND_POLICY))
def test_mutual_and_policy_decided_as_istio(case: Case) -> None:
    decided_as_istio(case)


@pytest.mark.parametrize("case", CLIENT_TLS, ids=ids(CLIENT_TLS))
def test_client_tls_decided_as_istio(case: Case) -> None:
    decided_as_istio(case)


@pytest.mark.parametrize("case", LOCALITY, ids=ids(LOCALITY))
def test_locality_decided_as_istio(case: Case) -> None:
    decided_as_istio(case)


@pytest.mark.parametrize("case", ROUTE_DESTINATIONS, ids=ids(ROUTE_DESTINATIONS))
def test_route_destinations_decided_as_istio(case: Case) -> None:
    decided_as_istio(case)
