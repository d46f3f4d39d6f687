"""VirtualService HTTP features through real Envoy sidecars, seen by a client app (`sleep`).

One traffic mesh (`samples/httpbin/traffic`) for the module; each test applies its own
`httpbin` VirtualService (replacing the previous one) over the v1/v2 DestinationRule, then
sends requests through the `sleep` sidecar as the app would and asserts on status, body, headers
and which replica answered (`x-served-by`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.httpkit import (
    URL,
    SidecarClient,
    apply_yaml,
    virtual_service,
)
from tests.e2e.meshctl import LocalMesh

V1 = "{destination: {host: httpbin, subset: v1}}"
V2 = "{destination: {host: httpbin, subset: v2}}"


@pytest.fixture(scope="module")
def mesh(shared_mesh: LocalMesh) -> Iterator[LocalMesh]:
    """The traffic group's mesh (tests/e2e/shared_meshes.py); the tests' VirtualServices
    deleted after the module."""
    yield shared_mesh
    deleted = shared_mesh.pilotfish(
        "delete", "virtualservice", "httpbin", "httpbin-team", "--ignore-not-found"
    )
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr


@pytest.fixture(scope="module")
def sleep(mesh: LocalMesh) -> SidecarClient:
    return SidecarClient(mesh, "sleep-0")


def version(client: SidecarClient, path: str, **kw: object) -> str:
    """`v1`/`v2` of the replica that answered, or `status N` if none did."""
    resp = client.request(URL + path, **kw)  # type: ignore[arg-type]
    served = resp.headers.get("x-served-by", "")
    return served.split("-")[1] if served.startswith("httpbin-") else f"status {resp.status}"


def test_matches_first_rule_wins(mesh: LocalMesh, sleep: SidecarClient, tmp_path: Path) -> None:
    rules = f"""
  - match: [{{uri: {{prefix: /anything/first}}}}]
    directResponse: {{status: 200, body: {{string: first}}}}
  - match: [{{uri: {{prefix: /anything/first}}}}]
    directResponse: {{status: 200, body: {{string: second}}}}
  - match: [{{headers: {{x-route: {{exact: v2}}}}}}]
    route: [{V2}]
  - match: [{{queryParams: {{v: {{exact: "2"}}}}}}]
    route: [{V2}]
  - match: [{{uri: {{prefix: /anything/case}}, ignoreUriCase: true}}]
    route: [{V2}]
  - match: [{{method: {{exact: PUT}}, uri: {{prefix: /anything/method}}}}]
    route: [{V2}]
  - match: [{{uri: {{prefix: /anything/without}}, withoutHeaders: {{x-keep: {{}}}}}}]
    route: [{V2}]
  - match: [{{uri: {{regex: "/anything/re/[0-9]+"}}}}]
    route: [{V2}]
  - match: [{{uri: {{exact: /anything/exact}}}}]
    route: [{V2}]
  - match: [{{authority: {{prefix: "httpbin.default"}}, uri: {{prefix: /anything/authority}}}}]
    route: [{V2}]
  - match: [{{scheme: {{exact: http}}, uri: {{prefix: /anything/scheme}}}}]
    route: [{V2}]
  - match: [{{port: 9999, uri: {{prefix: /anything/port}}}}]
    directResponse: {{status: 500}}
  - match: [{{port: 8000, uri: {{prefix: /anything/port}}}}]
    route: [{V2}]
  - route: [{V1}]
"""
    apply_yaml(mesh, tmp_path, virtual_service(rules))
    assert sleep.request(URL + "/anything/first").body == "first"
    assert version(sleep, "/get") == "v1"
    assert version(sleep, "/get", headers={"x-route": "v2"}) == "v2"
    assert version(sleep, "/get", headers={"x-route": "v3"}) == "v1"
    assert version(sleep, "/get?v=2") == "v2" and version(sleep, "/get?v=3") == "v1"
    assert version(sleep, "/ANYTHING/CASE") == "v2"
    assert version(sleep, "/anything/method", method="PUT") == "v2"
    assert version(sleep, "/anything/method") == "v1"
    assert version(sleep, "/anything/without") == "v2"
    assert version(sleep, "/anything/without", headers={"x-keep": "1"}) == "v1"
    assert version(sleep, "/anything/re/42") == "v2" and version(sleep, "/anything/re/x") == "v1"
    assert version(sleep, "/anything/exact") == "v2"
    assert version(sleep, "/anything/exact/more") == "v1"
    assert version(sleep, "/anything/scheme") == "v2"
    assert version(sleep, "/anything/port") == "v2"
    assert version(sleep, "/anything/authority") == "v1"  # authority is `httpbin:8000`
    resp = sleep.request("http://httpbin.default:8000/anything/authority")
    assert resp.headers["x-served-by"].startswith("httpbin-v2"), resp.headers


def test_source_labels_and_namespace_choose_the_client(
    mesh: LocalMesh, sleep: SidecarClient, tmp_path: Path
) -> None:
    rules = f"""
  - match: [{{sourceNamespace: other, uri: {{prefix: /anything/who}}}}]
    directResponse: {{status: 200, body: {{string: other-namespace}}}}
  - match: [{{sourceLabels: {{app: sleep}}, uri: {{prefix: /anything/who}}}}]
    directResponse: {{status: 200, body: {{string: app-sleep}}}}
  - route: [{V1}]
"""
    apply_yaml(mesh, tmp_path, virtual_service(rules))
    other = SidecarClient(mesh, "sleep-other-0")
    assert other.request("http://httpbin.default:8000/anything/who").body == "other-namespace"
    assert sleep.request(URL + "/anything/who").body == "app-sleep"
    not_sleep = SidecarClient(mesh, "httpbin-v2-0")  # app=httpbin, namespace default
    resp = not_sleep.request(URL + "/anything/who")
    assert resp.status == 200 and resp.headers["x-served-by"].startswith("httpbin-v1")


def test_relative_weights(mesh: LocalMesh, sleep: SidecarClient, tmp_path: Path) -> None:
    rules = """
  - route:
    - {destination: {host: httpbin, subset: v1}, weight: 1}
    - {destination: {host: httpbin, subset: v2}, weight: 3}
"""
    apply_yaml(mesh, tmp_path, virtual_service(rules))
    seen = sleep.served_by(URL + "/get", 200, workers=4)
    v2 = seen["httpbin-v2-0"]
    assert 0.65 <= v2 / 200 <= 0.85, seen
    assert v2 + sum(n for who, n in seen.items() if who.startswith("httpbin-v1")) == 200, seen


def test_redirects(mesh: LocalMesh, sleep: SidecarClient, tmp_path: Path) -> None:
    rules = f"""
  - match: [{{uri: {{exact: /old}}}}]
    redirect: {{uri: /get, authority: example.org, redirectCode: 302}}
  - match: [{{uri: {{exact: /secure}}}}]
    redirect: {{scheme: https, port: 8443}}
  - match: [{{uri: {{exact: /same-port}}}}]
    redirect: {{uri: /moved, derivePort: FROM_REQUEST_PORT}}
  - match: [{{uri: {{exact: /default-code}}}}]
    redirect: {{uri: /get}}
  - route: [{V1}]
"""
    apply_yaml(mesh, tmp_path, virtual_service(rules))
    old = sleep.request(URL + "/old")
    assert old.status == 302 and old.headers["location"] == "http://example.org/get", old
    secure = sleep.request(URL + "/secure")
    assert secure.status == 301 and secure.headers["location"] == "https://httpbin:8443/secure"
    same = sleep.request(URL + "/same-port")
    assert same.headers["location"] == "http://httpbin:8000/moved", same.headers
    assert sleep.request(URL + "/default-code").status == 301


def test_rewrites_and_direct_response(
    mesh: LocalMesh, sleep: SidecarClient, tmp_path: Path
) -> None:
    rules = f"""
  - match: [{{uri: {{prefix: /old/}}}}]
    rewrite: {{uri: /anything/new/, authority: rewritten.example}}
    route: [{V1}]
  - match: [{{uri: {{prefix: /re/}}}}]
    rewrite: {{uriRegexRewrite: {{match: "^/re/([a-z]+)/([0-9]+)$", rewrite: '/anything/\\2/\\1'}}}}
    route: [{V1}]
  - match: [{{uri: {{exact: /teapot}}}}]
    directResponse: {{status: 418, body: {{string: "short and stout"}}}}
  - route: [{V1}]
"""
    apply_yaml(mesh, tmp_path, virtual_service(rules))
    echoed = json.loads(sleep.request(URL + "/old/thing?q=1").body)
    assert echoed["url"] == "http://rewritten.example/anything/new/thing?q=1", echoed
    assert echoed["headers"]["Host"] == "rewritten.example"
    regex = json.loads(sleep.request(URL + "/re/books/42").body)
    assert regex["url"].endswith("/anything/42/books"), regex
    teapot = sleep.request(URL + "/teapot")
    assert (teapot.status, teapot.body) == (418, "short and stout")
    assert "x-served-by" not in teapot.headers


def test_header_operations_per_route_and_destination(
    mesh: LocalMesh, sleep: SidecarClient, tmp_path: Path
) -> None:
    rules = """
  - match: [{uri: {prefix: /headers}}]
    headers:
      request:
        set: {x-set: route}
        add: {x-added: route}
        remove: [x-drop-me]
      response:
        set: {x-route-said: hello}
        remove: [x-served-by]
    route:
    - destination: {host: httpbin, subset: v1}
      headers:
        request: {set: {x-destination: v1}}
        response: {add: {x-destination-said: v1}}
  - match: [{uri: {prefix: /weighted}}]
    rewrite: {uri: /headers}
    route:
    - destination: {host: httpbin, subset: v1}
      weight: 50
      headers: {request: {set: {x-subset: v1}}}
    - destination: {host: httpbin, subset: v2}
      weight: 50
      headers: {request: {set: {x-subset: v2}}}
  - route: [{destination: {host: httpbin, subset: v1}}]
"""
    apply_yaml(mesh, tmp_path, virtual_service(rules))
    resp = sleep.request(URL + "/headers", headers={"x-set": "client", "x-drop-me": "1"})
    sent = json.loads(resp.body)["headers"]
    assert sent["X-Set"] == "route" and sent["X-Added"] == "route", sent
    assert "X-Drop-Me" not in sent and sent["X-Destination"] == "v1", sent
    assert resp.headers["x-route-said"] == "hello"
    assert resp.headers["x-destination-said"] == "v1"
    assert "x-served-by" not in resp.headers
    for _ in range(10):
        weighted = sleep.request(URL + "/weighted")
        subset = json.loads(weighted.body)["headers"]["X-Subset"]
        assert weighted.headers["x-served-by"].startswith(f"httpbin-{subset}-"), weighted


def test_cors_preflight_and_actual_request(
    mesh: LocalMesh, sleep: SidecarClient, tmp_path: Path
) -> None:
    rules = f"""
  - corsPolicy:
      allowOrigins:
      - exact: https://exact.example
      - prefix: https://prefix.
      - regex: "https://.*[.]regex[.]example"
      allowMethods: [GET, POST]
      allowHeaders: [x-custom]
      exposeHeaders: [x-served-by]
      maxAge: 24h
      allowCredentials: true
    route: [{V1}]
"""
    apply_yaml(mesh, tmp_path, virtual_service(rules))
    for origin in ("https://exact.example", "https://prefix.site", "https://a.regex.example"):
        preflight = sleep.request(
            URL + "/get",
            method="OPTIONS",
            headers={"origin": origin, "access-control-request-method": "POST"},
        )
        assert preflight.status == 200, preflight
        assert preflight.headers["access-control-allow-origin"] == origin
        assert preflight.headers["access-control-allow-methods"] == "GET,POST"
        assert preflight.headers["access-control-allow-headers"] == "x-custom"
        assert preflight.headers["access-control-max-age"] == "86400"
        assert preflight.headers["access-control-allow-credentials"] == "true"
        assert "x-served-by" not in preflight.headers  # answered by Envoy, not httpbin
    denied = sleep.request(
        URL + "/get",
        method="OPTIONS",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in denied.headers
    actual = sleep.request(URL + "/get", headers={"origin": "https://exact.example"})
    assert actual.status == 200
    assert actual.headers["access-control-allow-origin"] == "https://exact.example"
    assert actual.headers["access-control-expose-headers"] == "x-served-by"


def test_delegate_one_level(mesh: LocalMesh, sleep: SidecarClient, tmp_path: Path) -> None:
    rules = f"""
  - match: [{{uri: {{prefix: /anything/team}}}}]
    delegate: {{name: httpbin-team}}
  - route: [{V1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: httpbin-team}}
spec:
  http:
  - match: [{{uri: {{prefix: /anything/team/beta}}}}]
    route: [{V2}]
  - match: [{{uri: {{prefix: /elsewhere}}}}]
    directResponse: {{status: 500}}
  - match: [{{headers: {{x-team: {{exact: direct}}}}}}]
    directResponse: {{status: 200, body: {{string: team-direct}}}}
  - route: [{V1}]
"""
    apply_yaml(mesh, tmp_path, virtual_service(rules))
    assert version(sleep, "/anything/team/beta") == "v2"
    assert version(sleep, "/anything/team/alpha") == "v1"
    resp = sleep.request(URL + "/anything/team/x", headers={"x-team": "direct"})
    assert resp.body == "team-direct"
    # The delegate's /elsewhere rule conflicts with the root's /anything/team: dropped.
    assert version(sleep, "/elsewhere") == "v1"
    resp = sleep.request(URL + "/get", headers={"x-team": "direct"})
    assert resp.status == 200 and "x-served-by" in resp.headers  # outside the delegation
