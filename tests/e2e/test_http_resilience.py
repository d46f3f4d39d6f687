"""VirtualService timeouts, retries, fault injection and mirroring through real Envoy sidecars.

Upstream attempts are counted twice: by the httpbin replica itself (`/stats/requests`, read from
the app directly) and by the client sidecar's Envoy (`upstream_rq_retry`). The client is the
`sleep` app's sidecar of the traffic mesh (`samples/httpbin/traffic`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.httpkit import (
    HTTPBIN,
    URL,
    SidecarClient,
    app_requests,
    apply_yaml,
    virtual_service,
)
from tests.e2e.meshctl import CLUSTER_STATS_MESH, LocalMesh, http

V2_CLUSTER = f"outbound|8000|v2|{HTTPBIN}"


@pytest.fixture(scope="module")
def mesh(shared_mesh: LocalMesh) -> Iterator[LocalMesh]:
    """The traffic group's mesh (tests/e2e/shared_meshes.py); the tests' VirtualServices
    deleted after the module."""
    yield shared_mesh
    deleted = shared_mesh.pilotfish("delete", "virtualservice", "httpbin", "--ignore-not-found")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr


@pytest.fixture(scope="module")
def sleep(mesh: LocalMesh) -> SidecarClient:
    return SidecarClient(mesh, "sleep-0")


def v2_count(mesh: LocalMesh, path: str) -> int:
    count: int = app_requests(mesh, "httpbin-v2-0")["paths"].get(path, 0)
    return count


def test_timeout_answers_504_after_the_timeout(
    mesh: LocalMesh, sleep: SidecarClient, tmp_path: Path
) -> None:
    rules = """
  - match: [{uri: {prefix: /delay}}]
    timeout: 1s
    route: [{destination: {host: httpbin, subset: v2}}]
  - route: [{destination: {host: httpbin, subset: v2}}]
"""
    apply_yaml(mesh, tmp_path, virtual_service(rules))
    timed = sleep.timed(URL + "/delay/3")
    assert timed.response.status == 504, timed.response
    assert timed.response.body == "upstream request timeout"
    assert 0.9 <= timed.seconds < 2.5, timed.seconds  # the 1 s timeout, not the 3 s delay
    fast = sleep.timed(URL + "/delay/0.2")
    assert fast.response.status == 200  # under the timeout: answered, not cut


def test_retries_attempts_retry_on_and_defaults(
    mesh: LocalMesh, sleep: SidecarClient, tmp_path: Path
) -> None:
    rules = """
  - match: [{uri: {exact: /status/503}, headers: {x-policy: {exact: three}}}]
    retries: {attempts: 3, retryOn: 5xx}
    route: [{destination: {host: httpbin, subset: v2}}]
  - match: [{uri: {exact: /status/503}, headers: {x-policy: {exact: bare-code}}}]
    retries: {attempts: 2, retryOn: "503"}
    route: [{destination: {host: httpbin, subset: v2}}]
  - match: [{uri: {exact: /status/503}, headers: {x-policy: {exact: zero}}}]
    retries: {attempts: 0}
    route: [{destination: {host: httpbin, subset: v2}}]
  - match: [{uri: {prefix: /delay}}]
    retries: {attempts: 2, perTryTimeout: 0.3s, retryOn: 5xx}
    route: [{destination: {host: httpbin, subset: v2}}]
  - route: [{destination: {host: httpbin, subset: v2}}]
"""
    apply_yaml(mesh, tmp_path, virtual_service(rules))
    retry_stat = f"cluster.{V2_CLUSTER};.upstream_rq_retry"
    # policy -> upstream attempts: attempts + 1, bare status codes retry too, 0 disables, and
    # with no `retries` Istio's default policy applies: since Istio 1.24 it does not send a 503
    # the app answered again (it may have acted on the request).
    for policy, attempts in (("three", 4), ("bare-code", 3), ("zero", 1), ("", 1)):
        app_requests(mesh, "httpbin-v2-0", reset=True)
        retries_before = sleep.stat(retry_stat)
        resp = sleep.request(URL + "/status/503", headers={"x-policy": policy} if policy else {})
        assert resp.status == 503
        assert v2_count(mesh, "/status/503") == attempts, policy
        assert sleep.stat(retry_stat) - retries_before == attempts - 1, policy
    app_requests(mesh, "httpbin-v2-0", reset=True)
    timed = sleep.timed(URL + "/delay/2")
    assert timed.response.status == 504
    assert 0.8 <= timed.seconds < 1.8, timed.seconds  # 3 tries of 0.3 s, not one of 2 s
    mesh.wait_for(lambda: v2_count(mesh, "/delay/2") == 3, what="3 attempts at /delay/2")


DEAF = """
apiVersion: v1
kind: Service
metadata: {name: deaf, labels: {app: deaf}}
spec:
  ports:
  - {name: http, port: 8000, targetPort: 8080}
  - {name: grpc, port: 9000, targetPort: 9090}
  selector: {app: deaf}
---
apiVersion: pilotfish.io/v1alpha1
kind: Workload
metadata: {name: deaf, labels: {app: deaf}}
spec:
  replicas: 1
  serviceAccount: httpbin
  command: ["python", "-c", "import time; time.sleep(3600)"]
  ports: [8080, 9090]
"""
"""A pod whose app never listens: its sidecar's connections to the app are refused."""
RETRIED = "retried and the latest reset reason"  # Envoy's local reply after retries


def test_inbound_and_mesh_default_retry_policies(
    mesh: LocalMesh, sleep: SidecarClient, tmp_path: Path
) -> None:
    """Istio 1.24+: a sidecar's inbound HTTP route sends a request again when its connection to
    the app failed before the request was written (`reset-before-request`, 2 retries), not on a
    gRPC port; MeshConfig's `defaultInboundHttpRetryPolicy: {}` turns that off, and its
    `defaultHttpRetryPolicy` is the policy of every route that sets no `retries`."""
    deaf, mesh_config = tmp_path / "deaf.yaml", tmp_path / "mesh.yaml"
    deaf.write_text(DEAF)
    try:  # never ready (nothing answers on its ports): applied without waiting for it
        applied = mesh.pilotfish("apply", "-f", str(deaf), "--no-wait")
        assert applied.returncode == 0, applied.stdout + applied.stderr
        mesh.wait_for(lambda: "deaf-0.default" in mesh.info["proxies"], 60, "the deaf pod")
        ip = mesh.proxy("deaf-0")["ip"]

        def refused(port: int) -> str:  # straight to the sidecar's inbound listener (PERMISSIVE)
            resp = http(f"http://{ip}:{port}/get")
            assert resp.status == 503, resp
            assert "Connection refused" in resp.body or "connection failure" in resp.body, resp
            return resp.body

        mesh.wait_for(lambda: RETRIED in refused(8080), 60, "the inbound route's retries")
        assert RETRIED not in refused(9090), "a gRPC port's inbound route retried"
        mesh_config.write_text(
            CLUSTER_STATS_MESH
            + "    defaultInboundHttpRetryPolicy: {}\n"
            + "    defaultHttpRetryPolicy: {attempts: 3, retryOn: '503'}\n"
        )
        mesh.apply(str(mesh_config))
        mesh.wait_for(lambda: RETRIED not in refused(8080), 30, "inbound retries turned off")
        apply_yaml(
            mesh,
            tmp_path,
            virtual_service("  - route: [{destination: {host: httpbin, subset: v2}}]\n"),
        )
        retry_stat = f"cluster.{V2_CLUSTER};.upstream_rq_retry"
        app_requests(mesh, "httpbin-v2-0", reset=True)
        before = sleep.stat(retry_stat)
        assert sleep.request(URL + "/status/503").status == 503
        assert v2_count(mesh, "/status/503") == 4  # the mesh's 3 retries on 503
        assert sleep.stat(retry_stat) - before == 3
    finally:
        mesh_config.write_text(CLUSTER_STATS_MESH)
        mesh.apply(str(mesh_config))
        deleted = mesh.pilotfish("delete", "-f", str(deaf))
        assert deleted.returncode == 0, deleted.stdout + deleted.stderr


def test_fault_abort_and_delay(mesh: LocalMesh, sleep: SidecarClient, tmp_path: Path) -> None:
    rules = """
  - match: [{uri: {prefix: /anything/abort}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: httpbin, subset: v2}}]
  - match: [{uri: {prefix: /anything/half}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 50}}}
    retries: {attempts: 0}
    route: [{destination: {host: httpbin, subset: v2}}]
  - match: [{uri: {prefix: /anything/grpc}}]
    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}
    route: [{destination: {host: httpbin, subset: v2}}]
  - match: [{uri: {prefix: /anything/slow}}]
    fault: {delay: {fixedDelay: 1s, percentage: {value: 100}}}
    route: [{destination: {host: httpbin, subset: v2}}]
  - route: [{destination: {host: httpbin, subset: v2}}]
"""
    apply_yaml(mesh, tmp_path, virtual_service(rules))
    app_requests(mesh, "httpbin-v2-0", reset=True)
    aborted = sleep.request(URL + "/anything/abort")
    assert aborted.status == 418 and "x-served-by" not in aborted.headers
    assert v2_count(mesh, "/anything/abort") == 0  # never reached the app
    statuses = [sleep.request(URL + "/anything/half").status for _ in range(100)]
    assert set(statuses) == {200, 503} and 30 <= statuses.count(503) <= 70, statuses
    assert v2_count(mesh, "/anything/half") == statuses.count(200)
    grpc = sleep.request(URL + "/anything/grpc", headers={"content-type": "application/grpc"})
    assert grpc.headers.get("grpc-status") == "14", (grpc.status, grpc.headers)
    slow = sleep.timed(URL + "/anything/slow")
    # A 1 s fixed delay (the client's clock may read a hair under it).
    assert slow.response.status == 200 and 0.95 <= slow.seconds < 3.0, slow.seconds


def test_mirror_copies_to_v2_while_v1_answers(
    mesh: LocalMesh, sleep: SidecarClient, tmp_path: Path
) -> None:
    rules = """
  - match: [{uri: {prefix: /anything/mirror-all}}]
    route: [{destination: {host: httpbin, subset: v1}}]
    mirror: {host: httpbin, subset: v2}
    mirrorPercentage: {value: 100}
  - match: [{uri: {prefix: /anything/mirror-half}}]
    route: [{destination: {host: httpbin, subset: v1}}]
    mirrors:
    - destination: {host: httpbin, subset: v2}
      percentage: {value: 50}
  - route: [{destination: {host: httpbin, subset: v1}}]
"""
    apply_yaml(mesh, tmp_path, virtual_service(rules))
    app_requests(mesh, "httpbin-v2-0", reset=True)
    served = sleep.served_by(URL + "/anything/mirror-all", 20)
    assert all(who.startswith("httpbin-v1-") for who in served), served
    mesh.wait_for(lambda: v2_count(mesh, "/anything/mirror-all") == 20, what="20 mirrored copies")
    served = sleep.served_by(URL + "/anything/mirror-half", 200, workers=4)
    assert all(who.startswith("httpbin-v1-") for who in served), served
    mesh.wait_for(
        lambda: 60 <= v2_count(mesh, "/anything/mirror-half") <= 140,
        what="about half of 200 requests mirrored",
    )
