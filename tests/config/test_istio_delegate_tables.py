"""Istio's TestValidateChainingVirtualService, TestValidateRootHTTPRoute and
TestValidateDelegateHTTPRoute (istio/istio pkg/config/validation/virtualservice_test.go, commit
86c9f01), written here afresh as YAML (tests/config/istio_table.py runs them): a root route is
the one HTTP route of a VirtualService with hosts, a delegate route that of one without. 55
cases + the Go case of a match list holding a nil element; 28 refused. A Go nil has no YAML
spelling: istioctl reads `null` with protobuf's JSON reader, an empty message (a match that
matches everything, a header match of no kind), and the API server drops a null map value, so
the two "null header match" cases Go refuses are accepted from a file. Before this module's
rules 3 were decided differently: a delegate VirtualService with TCP routes was accepted; a
withoutHeaders regex `*` (Istio: a present match, not RE2) and a queryParams prefix match were
refused (false refusals)."""

# ruff: noqa: E501  (one case per line reads as a table)
from __future__ import annotations

import pytest
from tests.config.istio_table import Case, decided_as_istio, ids

# fmt: off
V = "VirtualService"
DEL = "delegate: {name: test, namespace: test}"
RD = "route: [{destination: {host: foo.baz}}]"
RED = "redirect: {uri: /, authority: foo.biz}"
def root(route: str) -> str:
    return "{hosts: [foo.bar], http: [{" + route + "}]}"
def deleg(route: str) -> str:
    return "{http: [{" + route + "}]}"
DELEGATION: list[Case] = [
 ("chain root delegate", V, "{hosts: [foo.bar], http: [{" + DEL + "}]}", False),
 ("chain root delegate and destination", V, "{hosts: [foo.bar], http: [{" + DEL + ", " + RD + "}]}", True),
 ("chain delegate no destination", V, "{hosts: [], http: [{}]}", True),
 ("chain delegate with delegate", V, "{hosts: [], http: [{" + DEL + "}]}", True),
 ("chain delegate tcp", V, "{hosts: [], tcp: [{route: [{destination: {host: foo.baz}}]}]}", True),
 ("chain delegate gateway", V, "{hosts: [], gateways: [test], http: [{" + RD + "}]}", True),
 ("chain delegate sourceNamespace", V, "{hosts: [], http: [{match: [{sourceNamespace: test}], " + RD + "}]}", False),
 ("root simple", V, root(DEL), False),
 ("root route and delegate", V, root(RD + ", " + DEL), True),
 ("root redirect and delegate", V, root("redirect: {uri: /lerp, authority: foo.biz}, " + DEL), True),
 ("root null header match", V, root(DEL + ", match: [{headers: {header: null}}]"), False),
 ("root prefix header", V, root(DEL + ", match: [{headers: {header: {prefix: test}}}]"), False),
 ("root empty prefix header", V, root(DEL + ", match: [{headers: {header: {prefix: ''}}}]"), True),
 ("root exact header", V, root(DEL + ", match: [{headers: {header: {exact: test}}}]"), False),
 ("root regex header", V, root(DEL + ", match: [{headers: {header: {regex: test}}}]"), False),
 ("root exact withoutHeaders", V, root(RED + ", match: [{withoutHeaders: {header: {exact: test}}}]"), False),
 ("root regex withoutHeaders", V, root(RED + ", match: [{withoutHeaders: {header: {regex: test}}}]"), False),
 ("root regex withoutHeaders ?", V, root(RED + ", match: [{withoutHeaders: {header: {regex: '?'}}}]"), True),
 ("root regex withoutHeaders *", V, root(RED + ", match: [{withoutHeaders: {header: {regex: '*'}}}]"), False),
 ("root regex uri", V, root(DEL + ", match: [{uri: {regex: test}}]"), False),
 ("root prefix uri", V, root(DEL + ", match: [{uri: {prefix: test}}]"), False),
 ("root exact uri", V, root(DEL + ", match: [{uri: {exact: test}}]"), False),
 ("root prefix query", V, root(DEL + ", match: [{queryParams: {q: {prefix: test}}}]"), False),
 ("root exact query", V, root(DEL + ", match: [{queryParams: {q: {exact: test}}}]"), False),
 ("root regex header q", V, root(DEL + ", match: [{headers: {q: {regex: test}}}]"), False),
 ("root empty prefix method", V, root(RED + ", match: [{method: {prefix: ''}}]"), True),
 ("root empty regex method", V, root(RED + ", match: [{method: {regex: ''}}]"), True),
 ("root empty prefix uri", V, root(RED + ", match: [{uri: {prefix: ''}}]"), False),
 ("root empty regex uri", V, root(RED + ", match: [{uri: {regex: ''}}]"), True),
 ("root empty regex query", V, root(RED + ", match: [{queryParams: {q: {regex: ''}}}]"), True),
 ("root empty regex scheme", V, root(RED + ", match: [{scheme: {regex: ''}}]"), True),
 ("root empty prefix scheme", V, root(RED + ", match: [{scheme: {prefix: ''}}]"), True),
 ("root empty prefix header no action", V, root("match: [{headers: {header: {prefix: ''}}}]"), True),
 ("delegate simple", V, deleg(RD), False),
 ("delegate no destination", V, deleg("route: [{destination: null}]"), True),
 ("delegate weighted", V, deleg("route: [{destination: {host: foo.baz.south}, weight: 25}, {destination: {host: foo.baz.east}, weight: 75}]"), False),
 ("delegate weight > 100", V, deleg("route: [{destination: {host: foo.baz.south}, weight: 55}, {destination: {host: foo.baz.east}, weight: 50}]"), False),
 ("delegate weight < 100", V, deleg("route: [{destination: {host: foo.baz.south}, weight: 49}, {destination: {host: foo.baz.east}, weight: 50}]"), False),
 ("delegate redirect", V, deleg("redirect: {uri: /lerp, authority: foo.biz}"), False),
 ("delegate redirect and route", V, deleg(RD + ", redirect: {uri: /lerp, authority: foo.biz}"), True),
 ("delegate request response headers", V, deleg(RD), False),
 ("delegate valid headers", V, deleg("route: [{destination: {host: foo.baz}, headers: {request: {add: {name: ''}, set: {name: ''}, remove: [name]}, response: {add: {name: ''}, set: {name: ''}, remove: [name]}}}]"), False),
] + [
 (f"delegate empty header {side} {verb}", V, deleg("route: [{destination: {host: foo.baz}, headers: {" + side + ": {" + verb + ": " + ("['']" if verb == "remove" else "{'': value}") + "}}}]"), True)
 for side in ("request", "response") for verb in ("add", "set", "remove")
] + [
 ("delegate null header match", V, deleg("route: [{destination: {host: foo.bar}}], match: [{headers: {header: null}}]"), False),
 ("delegate match with nil element", V, deleg("route: [{destination: {host: foo.bar}}], match: [null]"), False),
 ("delegate nil match", V, deleg("route: [{destination: {host: foo.bar}}]"), False),
 ("delegate mirrorPercent 101", V, deleg("mirrorPercent: 101, route: [{destination: {host: foo.bar}}]"), True),
 ("delegate mirrorPercentage 101", V, deleg("mirrorPercentage: {value: 101}, route: [{destination: {host: foo.bar}}]"), True),
 ("delegate mirrorPercentage 1", V, deleg("mirrorPercentage: {value: 1}, route: [{destination: {host: foo.bar}}]"), False),
 ("delegate mirrorPercentage -1", V, deleg("mirrorPercentage: {value: -1}, route: [{destination: {host: foo.bar}}]"), True),
 ("delegate with delegate", V, deleg(DEL), True),
]

# fmt: on


@pytest.mark.parametrize("case", DELEGATION, ids=ids(DELEGATION))
def test_delegation_decided_as_istio(case: Case) -> None:
    decided_as_istio(case)
