"""Istio's TestValidateServiceEntries (istio/istio pkg/config/validation/validation_test.go,
commit 86c9f01), every case, written here afresh as YAML (tests/config/istio_table.py runs
them); Go's nil port is `null` in a ports list. 62 cases, 29 refused by Istio. Before this
module's rules 3 were decided differently: STATIC without endpoints was refused (Istio accepts
it: a false refusal), a unix-socket endpoint of a DNS entry and a DYNAMIC_DNS MESH_INTERNAL
entry labelled `istio.io/use-waypoint` were accepted."""

# ruff: noqa: E501  (one case per line reads as a table)
from __future__ import annotations

import pytest
from tests.config.istio_table import Case, decided_as_istio, ids

# fmt: off
X = "ServiceEntry"
P2 = "ports: [{number: 80, protocol: http, name: http-valid1}, {number: 8080, protocol: http, name: http-valid2}]"
P1 = "ports: [{number: 80, protocol: http, name: http-valid1}]"
EP2 = "endpoints: [{address: lon.google.com, ports: {http-valid1: 8080}}, {address: in.google.com, ports: {http-valid2: 9080}}]"
def se(s: str) -> str:
    return "{" + s + "}"
SERVICE_ENTRIES: list[Case] = [
 ("dns", X, se(f"hosts: ['*.google.com'], {P2}, {EP2}, resolution: DNS"), False),
 ("dns rr", X, se(f"hosts: ['*.istio.io'], {P2}, endpoints: [{{address: api-v1.istio.io, ports: {{http-valid1: 8080}}}}], resolution: DNS_ROUND_ROBIN"), False),
 ("dns tlsMode label", X, se(f"hosts: ['*.google.com'], {P2}, endpoints: [{{address: lon.google.com, ports: {{http-valid1: 8080}}, labels: {{security.istio.io/tlsMode: istio}}}}, {{address: in.google.com, ports: {{http-valid2: 9080}}, labels: {{security.istio.io/tlsMode: istio}}}}], resolution: DNS"), False),
 ("dns one host ip https", X, se("hosts: [httpbin.org], addresses: [10.10.10.10], ports: [{number: 80, protocol: http, name: http-valid1}, {number: 8080, protocol: http, name: http-valid2}, {number: 443, protocol: https, name: https}], resolution: DNS"), False),
 ("dns multi hosts ip https", X, se("hosts: [httpbin.org, wikipedia.org], addresses: [10.10.10.10], ports: [{number: 80, protocol: http, name: http-valid1}, {number: 8080, protocol: http, name: http-valid2}, {number: 443, protocol: https, name: https}], resolution: DNS"), False),
 ("dns ip set", X, se(f"hosts: ['*.google.com'], addresses: [10.10.10.10], {P2}, {EP2}, resolution: DNS"), False),
 ("dns ip in endpoints", X, se(f"hosts: ['*.google.com'], {P2}, endpoints: [{{address: 1.1.1.1, ports: {{http-valid1: 8080}}}}, {{address: in.google.com, ports: {{http-valid2: 9080}}}}], resolution: DNS"), False),
 ("dynamic dns", X, se(f"hosts: ['*.google.com'], {P2}, resolution: DYNAMIC_DNS"), False),
 ("empty hosts", X, se(f"{P1}, endpoints: [{{address: in.google.com, ports: {{http-valid2: 9080}}}}], resolution: DNS"), True),
 ("bad hosts", X, se(f"hosts: ['-'], {P1}, endpoints: [{{address: in.google.com, ports: {{http-valid2: 9080}}}}], resolution: DNS"), True),
 ("full wildcard host", X, se(f"hosts: [foo.com, '*'], {P1}, endpoints: [{{address: in.google.com, ports: {{http-valid2: 9080}}}}], resolution: DNS"), True),
 ("short name host", X, se(f"hosts: [foo, bar.com], {P1}, endpoints: [{{address: in.google.com, ports: {{http-valid1: 9080}}}}], resolution: DNS"), False),
 ("undefined endpoint port", X, se("hosts: [google.com], ports: [{number: 80, protocol: http, name: http-valid1}, {number: 80, protocol: http, name: http-valid2}], endpoints: [{address: lon.google.com, ports: {http-valid1: 8080}}, {address: in.google.com, ports: {http-dne: 9080}}], resolution: DNS"), True),
 ("dns non-fqdn endpoint", X, se(f"hosts: ['*.google.com'], {P2}, endpoints: [{{address: '*.lon.google.com', ports: {{http-valid1: 8080}}}}, {{address: in.google.com, ports: {{http-dne: 9080}}}}], resolution: DNS"), True),
 ("dns non-fqdn host", X, se(f"hosts: ['*.google.com'], {P2}, resolution: DNS"), True),
 ("dns no endpoints", X, se(f"hosts: [google.com], {P2}, resolution: DNS"), False),
 ("dns unix endpoint", X, se(f"hosts: ['*.google.com'], {P1}, endpoints: [{{address: 'unix:///lon/google/com'}}], resolution: DNS"), True),
 ("none", X, se(f"hosts: [google.com], {P2}, resolution: NONE"), False),
 ("none with endpoints", X, se(f"hosts: [google.com], {P2}, endpoints: [{{address: lon.google.com, ports: {{http-valid1: 8080}}}}], resolution: NONE"), True),
 ("none cidr", X, se(f"hosts: [google.com], addresses: [172.1.2.16/16], {P2}, resolution: NONE"), False),
 ("static cidr endpoints", X, se(f"hosts: [google.com], addresses: [172.1.2.16/16], {P2}, endpoints: [{{address: 1.1.1.1, ports: {{http-valid1: 8080}}}}, {{address: 2.2.2.2, ports: {{http-valid2: 9080}}}}], resolution: STATIC"), False),
 ("static", X, se(f"hosts: [google.com], addresses: [172.1.2.16], {P2}, endpoints: [{{address: 1.1.1.1, ports: {{http-valid1: 8080}}}}, {{address: 2.2.2.2, ports: {{http-valid2: 9080}}}}], resolution: STATIC"), False),
 ("static fqdn endpoint", X, se(f"hosts: [google.com], addresses: [172.1.2.16], {P2}, endpoints: [{{address: google.com, ports: {{http-valid1: 8080}}}}, {{address: 2.2.2.2, ports: {{http-valid2: 9080}}}}], resolution: STATIC"), True),
 ("static no endpoints", X, se(f"hosts: [google.com], addresses: [172.1.2.16], {P2}, resolution: STATIC"), False),
 ("static bad endpoint port name", X, se(f"hosts: [google.com], addresses: [172.1.2.16], {P2}, endpoints: [{{address: 1.1.1.1, ports: {{http-valid1: 8080}}}}, {{address: 2.2.2.2, ports: {{http-dne: 9080}}}}], resolution: STATIC"), True),
 ("none conflicting port names", X, se("hosts: [google.com], ports: [{number: 80, protocol: http, name: http-conflict}, {number: 8080, protocol: http, name: http-conflict}], resolution: NONE"), True),
 ("none conflicting port numbers", X, se("hosts: [google.com], ports: [{number: 80, protocol: http, name: http-conflict1}, {number: 80, protocol: http, name: http-conflict2}], resolution: NONE"), True),
 ("unix socket", X, se("hosts: [uds.cluster.local], ports: [{number: 6553, protocol: grpc, name: grpc-service1}], resolution: STATIC, endpoints: [{address: 'unix:///path/to/socket'}]"), False),
 ("unix relative", X, se("hosts: [uds.cluster.local], ports: [{number: 6553, protocol: grpc, name: grpc-service1}], resolution: STATIC, endpoints: [{address: 'unix://./relative/path.sock'}]"), True),
 ("unix endpoint ports", X, se("hosts: [uds.cluster.local], ports: [{number: 6553, protocol: grpc, name: grpc-service1}], resolution: STATIC, endpoints: [{address: 'unix:///path/to/socket', ports: {grpc-service1: 6553}}]"), True),
 ("unix multiple ports", X, se("hosts: [uds.cluster.local], ports: [{number: 6553, protocol: grpc, name: grpc-service1}, {number: 80, protocol: http, name: http-service2}], resolution: STATIC, endpoints: [{address: 'unix:///path/to/socket'}]"), True),
 ("empty protocol", X, se("hosts: [google.com], addresses: [172.1.2.16/16], ports: [{number: 80, protocol: http, name: http-valid1}, {number: 8080, name: http-valid2}], resolution: NONE"), False),
 ("selector", X, se(f"hosts: [google.com], workloadSelector: {{labels: {{foo: bar}}}}, {P1}"), False),
 ("selector without labels", X, se(f"hosts: [google.com], {P2}, workloadSelector: {{}}"), False),
 ("selector and endpoints", X, se(f"hosts: [google.com], workloadSelector: {{labels: {{foo: bar}}}}, {P1}, endpoints: [{{address: 1.1.1.1}}]"), True),
 ("selector none", X, se(f"hosts: [google.com], workloadSelector: {{labels: {{foo: bar}}}}, {P1}, resolution: NONE"), False),
 ("selector dns", X, se(f"hosts: [google.com], workloadSelector: {{labels: {{foo: bar}}}}, {P1}, resolution: DNS"), False),
 ("bad selector key", X, se(f"hosts: [google.com], workloadSelector: {{labels: {{'': bar}}}}, {P1}"), True),
 ("repeat target port", X, se("hosts: [google.com], resolution: DNS, ports: [{number: 80, protocol: http, name: http-valid1, targetPort: 80}, {number: 81, protocol: http, name: http-valid2, targetPort: 80}]"), False),
 ("valid target port", X, se("hosts: [google.com], resolution: DNS, ports: [{number: 80, protocol: http, name: http-valid1, targetPort: 81}]"), False),
 ("invalid target port", X, se("hosts: [google.com], resolution: DNS, ports: [{number: 80, protocol: http, name: http-valid1, targetPort: 65536}]"), True),
 ("warn target port", X, se("hosts: [google.com], workloadSelector: {labels: {key: bar}}, ports: [{number: 80, protocol: http, name: http-valid1, targetPort: 1234}]"), False),
 ("valid endpoint port", X, se("hosts: [google.com], ports: [{number: 80, protocol: http, name: http-valid1, targetPort: 81}], resolution: STATIC, endpoints: [{address: 1.1.1.1, ports: {http-valid1: 8081}}]"), False),
 ("invalid endpoint port", X, se("hosts: [google.com], ports: [{number: 80, protocol: http, name: http-valid1, targetPort: 81}], resolution: STATIC, endpoints: [{address: 1.1.1.1, ports: {http-valid1: 65536}}]"), True),
 ("protocol unset no addresses", X, se("hosts: [google.com], addresses: [], ports: [{number: 80, protocol: http, name: http-valid1}, {number: 8080, name: http-valid2}], resolution: NONE"), False),
 ("tcp no addresses", X, se("hosts: [google.com], addresses: [], ports: [{number: 80, protocol: http, name: http-valid1}, {number: 81, protocol: TCP, name: tcp-valid1}], resolution: NONE"), False),
 ("dns rr two endpoints", X, se("hosts: [google.com], addresses: [], ports: [{number: 8081, protocol: http, name: http-valid1}], endpoints: [{address: api-v1.istio.io, ports: {http-valid1: 8081}}, {address: 1.1.1.2, ports: {http-valid1: 8081}}], resolution: DNS_ROUND_ROBIN"), True),
 ("dns rr 0 endpoints", X, se("hosts: [google.com], addresses: [], ports: [{number: 8081, protocol: http, name: http-valid1}], endpoints: [], resolution: DNS_ROUND_ROBIN"), False),
 ("partial wildcard hosts", X, se("hosts: ['*.nytimes.com', '*washingtonpost.com'], addresses: [], ports: [{number: 443, protocol: HTTPS, name: https-nytimes}], endpoints: [], resolution: NONE"), False),
 ("network no address", X, se("hosts: [www.example.com], addresses: [], ports: [{number: 443, protocol: HTTPS, name: https-example}], endpoints: [{network: cluster-1}], resolution: STATIC"), False),
 ("dyn tcp", X, se("hosts: ['*.google.com'], addresses: [], ports: [{number: 80, protocol: http, name: http-valid1}, {number: 81, protocol: TCP, name: tcp-valid1}], resolution: DYNAMIC_DNS"), True),
 ("dyn grpc", X, se("hosts: ['*.svc.cluster.local'], addresses: [], ports: [{number: 9090, protocol: GRPC, name: grpc}], resolution: DYNAMIC_DNS"), False),
 ("dyn fqdn", X, se("hosts: [google.com], addresses: [], ports: [{number: 80, protocol: http, name: http-valid}], resolution: DYNAMIC_DNS"), True),
 ("dyn endpoints", X, se(f"hosts: ['*.google.com'], addresses: [], {P1}, endpoints: [{{address: in.google.com, ports: {{http-valid1: 9080}}}}], resolution: DYNAMIC_DNS"), True),
 ("dyn ip", X, se(f"hosts: ['*.google.com'], addresses: [10.10.10.10], {P2}, resolution: DYNAMIC_DNS"), True),
 ("dyn empty hosts", X, se(f"hosts: [], addresses: [], {P1}, resolution: DYNAMIC_DNS"), True),
 ("dyn multi wildcard", X, se(f"hosts: ['*.google.com', '*.amazon.com'], addresses: [], {P1}, resolution: DYNAMIC_DNS"), False),
 ("dyn mesh internal", X, se(f"hosts: ['*.google.com'], addresses: [], {P1}, resolution: DYNAMIC_DNS, location: MESH_INTERNAL"), False),
 ("dyn internal waypoint", X, se(f"hosts: ['*.google.com'], addresses: [], {P1}, resolution: DYNAMIC_DNS, location: MESH_INTERNAL"), True, "{name: x, namespace: ns, labels: {istio.io/use-waypoint: my-waypoint}}"),
 ("dyn null port", X, se("hosts: ['*.google.com'], location: MESH_EXTERNAL, ports: [null], resolution: DYNAMIC_DNS"), True),
 ("null port", X, se("hosts: [google.com], ports: [null], resolution: NONE"), True),
 ("dns addresses null port", X, se("hosts: [google.com], addresses: [1.2.3.4], ports: [null], resolution: DNS"), True),
]
# fmt: on


@pytest.mark.parametrize("case", SERVICE_ENTRIES, ids=ids(SERVICE_ENTRIES))
def test_service_entry_decided_as_istio(case: Case) -> None:
    decided_as_istio(case)
