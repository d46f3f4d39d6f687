"""Istio's HTTP route rules read from its code where its tables have no case
(pkg/config/validation: validateHTTPRouteConflict, validateHTTPFaultInjection{,Abort,Delay},
validatePercentage, validateHTTPStatus, validateHTTPRedirect's port, commit 86c9f01), written
here as YAML. Before these rules 10 of them were decided differently: a delay or an abort of
no kind, status 600 and an empty `delegate: {}` name refused (false refusals); an empty fault,
an exponential delay, a fault or rewrite beside a redirect or a direct response, a redirect
port out of range and a fault percentage under 0.0001 accepted."""

# ruff: noqa: E501  (one case per line reads as a table)
from __future__ import annotations

import pytest
from tests.config.istio_table import Case, decided_as_istio, ids

from pilotfish.config import load

# fmt: off
V = "VirtualService"
R = "route: [{destination: {host: r}}]"
def http(route: str, hosts: str = "[r]") -> str:
    return "{hosts: " + hosts + ", http: [{" + route + "}]}"
ROUTES: list[Case] = [
 ("empty fault", V, http("fault: {}, " + R), True),
 ("delay of no kind (deprecated percent only)", V, http("fault: {delay: {percent: 50}}, " + R), False),
 ("abort of no kind (a warning)", V, http("fault: {abort: {percentage: {value: 10}}}, " + R), False),
 ("abort status 600", V, http("fault: {abort: {httpStatus: 600}}, " + R), False),
 ("abort status 601", V, http("fault: {abort: {httpStatus: 601}}, " + R), True),
 ("abort http2 error", V, http("fault: {abort: {http2Error: x}}, " + R), True),
 ("exponential delay", V, http("fault: {delay: {exponentialDelay: 1s}}, " + R), True),
 ("fault percentage 0.00001", V, http("fault: {delay: {fixedDelay: 1s, percentage: {value: 0.00001}}}, " + R), True),
 ("fault percentage 0", V, http("fault: {delay: {fixedDelay: 1s, percentage: {value: 0}}}, " + R), False),
 ("mirror percentage 0.00001 (0-100 only)", V, http("mirror: {host: m}, mirrorPercentage: {value: 0.00001}, " + R), False),
 ("redirect and fault", V, http("redirect: {uri: /x}, fault: {abort: {httpStatus: 500}}"), True),
 ("redirect and rewrite", V, http("redirect: {uri: /x}, rewrite: {uri: /y}"), True),
 ("direct response and rewrite", V, http("directResponse: {status: 200}, rewrite: {uri: /y}"), True),
 ("direct response and fault", V, http("directResponse: {status: 200}, fault: {abort: {httpStatus: 500}}"), True),
 ("direct response and redirect", V, http("directResponse: {status: 200}, redirect: {uri: /x}"), True),
 ("direct response status 600", V, http("directResponse: {status: 600}"), False),
 ("redirect port 70000", V, http("redirect: {port: 70000}"), True),
 ("redirect port 8080", V, http("redirect: {port: 8080}"), False),
 ("root route delegate with no name", V, http("delegate: {namespace: x}"), False),
 ("root route with mirror and mirrors", V, http("delegate: {name: d}, mirror: {host: m}, mirrors: [{destination: {host: m}}]"), False),
 ("nothing to do", V, http("name: x"), True),
]
# fmt: on


@pytest.mark.parametrize("case", ROUTES, ids=ids(ROUTES))
def test_route_rules_decided_as_istio(case: Case) -> None:
    decided_as_istio(case)


@pytest.mark.parametrize(
    ("route", "path", "message"),
    [
        (
            "fault: {}, " + R,
            "spec.http[0].fault",
            "HTTP fault injection must have an abort and/or a delay",
        ),
        ("name: x", "spec.http[0]", "HTTP route, redirect or direct_response is required"),
        (
            "redirect: {uri: /x}, rewrite: {uri: /y}",
            "spec.http[0]",
            "HTTP route rule cannot contain both rewrite and redirect",
        ),
        (
            "directResponse: {status: 199}",
            "spec.http[0].directResponse.status",
            "HTTP status 199 is not in range 200-599",
        ),
        (
            "redirect: {port: 70000}",
            "spec.http[0].redirect.port",
            "port number 70000 must be in the range 1..65535",
        ),
        (
            "fault: {delay: {exponentialDelay: 1s}}, " + R,
            "spec.http[0].fault.delay.exponentialDelay",
            "exponentialDelay not supported yet",
        ),
        (
            "retries: {attempts: -1}, " + R,
            "spec.http[0].retries.attempts",
            "attempts cannot be negative",
        ),
    ],
)
def test_route_rules_say_istios_message(route: str, path: str, message: str) -> None:
    text = f"apiVersion: networking.istio.io/v1\nkind: {V}\nmetadata: {{name: r}}\nspec: {http(route)}\n"
    errors = [(d.path, d.message) for d in load(text, "r.yaml").errors]
    assert (path, message) in errors, errors


def test_an_abort_of_no_kind_is_a_warning() -> None:
    text = f"apiVersion: networking.istio.io/v1\nkind: {V}\nmetadata: {{name: r}}\nspec: {http('fault: {abort: {percentage: {value: 10}}}, ' + R)}\n"
    result = load(text, "r.yaml")
    assert result.ok
    assert [(d.path, d.message) for d in result.warnings] == [
        ("spec.http[0].fault.abort", "abort configured, but error type not set")
    ]
