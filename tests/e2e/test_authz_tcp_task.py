"""Istio's "Authorization for TCP traffic" task (Security > Authorization), typed as its page
types it (Istio fidelity): `kubectl` and `istioctl` are `pilotfish`,
`samples/tcp-echo/tcp-echo.yaml` and `samples/sleep/sleep.yaml` are Istio's own files
(tests/data/istio-samples), and every check is the page's `nc` line with its `connection
succeeded` / `connection rejected` answer.

In an isolated mesh (root: every pod in its own network namespace, Istio's capture), as the
page needs it: its third check dials port 9002 at the tcp-echo pod's IP, a port the server
listens on but neither its Service nor its container ports declare, which Istio's sidecar
relays through its inbound passthrough chains (`InboundPassthroughCluster`), authorization
included: open before any policy, refused once the ALLOW policy names only 9000 and 9001.
Then the page's ALLOW policy with an HTTP-only field (`methods`: nothing matches on TCP) and
its DENY policies (`methods` alone: the rule widened to every connection; with `ports:
["9000"]`: 9000 refused, 9001 open), and its cleanup.

Known bug, not asserted here: the page's 9002 line is plaintext end to end, and `nc`
half-closes right after its line (as busybox's does). Envoy (1.36.4 and 1.40.0 measured)
resets a plaintext connection whose line and FIN both reach it before its listener
filters have read anything: tls_inspector makes it watch the socket for `Read | Closed`, and a
`Closed` event (the FIN) closes the socket without peeking the line queued before it, so the
kernel answers with a RST. Istio's inbound listener has the same filters (PERMISSIVE needs
tls_inspector): config cannot avoid it. Measured here: from 6 of 20 to 29 of 30 such connections
reset, to 9000 as well as 9002, depending on load; none when the client waits for the answer;
`bench/listener_filter_half_close.py` reproduces it on a bare Envoy. So the 9002 step answers
only some of the time; the 9000/9001 steps go over mTLS (the ClientHello arrives alone, the
line and FIN after the handshake) and are exact. `test_half_closing_clients` pins where it
happens: the day Envoy answers there, assert the page's 9002 step again.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.l4kit import half_close_exchanges
from tests.e2e.meshctl import NEEDS_ISOLATION, ROOT, LocalMesh
from tests.e2e.pagekit import SAMPLES, add_shims, sh, sh_ok

pytestmark = [pytest.mark.host_network, NEEDS_ISOLATION]

SETUP = f"""
kubectl create ns foo
kubectl apply -f <(istioctl kube-inject -f {SAMPLES}/tcp-echo.yaml) -n foo
kubectl apply -f <(istioctl kube-inject -f {SAMPLES}/sleep.yaml) -n foo
"""
BY_NAME = """
kubectl exec "$(kubectl get pod -l app=sleep -n foo -o jsonpath={.items..metadata.name})" \\
    -c sleep -n foo -- sh -c \\
    'echo "port PORT" | nc tcp-echo PORT' | grep "hello" && echo 'connection succeeded' || echo 'connection rejected'
"""  # noqa: E501 (the page's lines)
BY_IP = """
TCP_ECHO_IP=$(kubectl get pod "$(kubectl get pod -l app=tcp-echo -n foo -o jsonpath={.items..metadata.name})" -n foo -o jsonpath="{.status.podIP}")
kubectl exec "$(kubectl get pod -l app=sleep -n foo -o jsonpath={.items..metadata.name})" \\
    -c sleep -n foo -- sh -c \\
    "echo \\"port 9002\\" | nc $TCP_ECHO_IP 9002" | grep "hello" && echo 'connection succeeded' || echo 'connection rejected'
"""  # noqa: E501 (the page's lines)
POLICY = """
kubectl apply -f - <<EOF
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: tcp-policy
  namespace: foo
spec:
  selector:
    matchLabels:
      app: tcp-echo
  action: {action}
  rules:
  - to:
    - operation:
{operation}
EOF
"""
SUCCEEDED = "hello port {port}\nconnection succeeded\n"
REJECTED = "connection rejected\n"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    mesh = LocalMesh(tmp_path_factory.mktemp("home"), None, isolated=True)
    try:
        up = mesh.up()
        assert up.returncode == 0, up.stdout + up.stderr
        add_shims(mesh)
        yield mesh
    finally:
        mesh.down()


def _nc(mesh: LocalMesh, port: int) -> str:
    """The page's check of `port`: by the service's name for 9000 and 9001, by the pod's IP for
    9002; its stdout (the page's expected output)."""
    return sh(mesh, BY_IP if port == 9002 else BY_NAME.replace("PORT", str(port))).stdout


def _policy(mesh: LocalMesh, action: str, *operation: str) -> None:
    fields = "\n".join(f"        {line}" for line in operation)
    sh_ok(mesh, POLICY.format(action=action, operation=fields))


OPEN = {port: SUCCEEDED.format(port=port) for port in (9000, 9001, 9002)}


def test_before_you_begin_every_port_answers(mesh: LocalMesh) -> None:
    """The page's set-up and its checks of 9000 and 9001 (9002: the module's known bug)."""
    sh_ok(mesh, SETUP)
    assert {port: _nc(mesh, port) for port in (9000, 9001)} == {9000: OPEN[9000], 9001: OPEN[9001]}


N = 20


def _in_pod(mesh: LocalMesh, pod: str, host: str, port: int) -> Counter[str]:
    """`half_close_exchanges` run inside `pod`'s network namespace (its traffic captured as
    the pod's app's is, or not for 127.0.0.1)."""
    netns = mesh.proxy(pod)["netns"]
    argv = [
        "ip",
        "netns",
        "exec",
        netns,
        sys.executable,
        "-m",
        "tests.e2e.l4kit",
        host,
        str(port),
        str(N),
    ]
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    return Counter(json.loads(out.stdout))


@contextlib.contextmanager
def _stopped(pid: int) -> Iterator[None]:
    """`pid` stopped (SIGSTOP) while the block runs, then on again a moment after it."""
    os.kill(pid, signal.SIGSTOP)
    try:
        while Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
            time.sleep(0.001)
        yield
        time.sleep(0.01)  # the client's FIN on the wire behind its line
    finally:
        os.kill(pid, signal.SIGCONT)


def test_half_closing_clients(mesh: LocalMesh) -> None:
    """The module's known bug, where it is: not the app (inside its pod it answers every
    half-closing client), not the inbound chains (a client that waits for its answer gets it on
    the declared ports and the passthrough 9002, plaintext under PERMISSIVE), not mTLS (a
    half-closing client of the service, through both sidecars: N of N); Envoy's listener
    filters, which reset every plaintext client whose line and FIN reach the sidecar before
    its accept (the sidecar's Envoy stopped meanwhile: deterministic)."""
    echo = mesh.proxy("tcp-echo-0.foo")
    ip, envoy = echo["ip"], int(echo["envoy_pid"])
    vip = sh_ok(mesh, "kubectl get svc tcp-echo -n foo -o jsonpath={.spec.clusterIP}")
    answered = {port: Counter({f"hello port {port}": N}) for port in (9000, 9001, 9002)}
    assert {port: _in_pod(mesh, "tcp-echo-0.foo", "127.0.0.1", port) for port in answered} == (
        answered
    )
    assert {port: half_close_exchanges(ip, port, N, wait=True) for port in answered} == answered
    assert {port: _in_pod(mesh, "sleep-0.foo", vip, port) for port in (9000, 9001)} == {
        port: answered[port] for port in (9000, 9001)
    }
    reset = {port: Counter({"reset": 5}) for port in (9000, 9002)}
    found = {
        port: half_close_exchanges(ip, port, 5, pause=lambda: _stopped(envoy)) for port in reset
    }
    assert found == reset, "Envoy answers now: assert the page's 9002 step again (see above)"


def test_allow_policies(mesh: LocalMesh) -> None:
    """ALLOW on the two service ports (9002 would be refused: see the module's known bug);
    then an HTTP-only field in an ALLOW rule: the rule matches nothing on TCP."""
    _policy(mesh, "ALLOW", 'ports: ["9000", "9001"]')
    assert [_nc(mesh, 9000), _nc(mesh, 9001)] == [OPEN[9000], OPEN[9001]]
    _policy(mesh, "ALLOW", 'methods: ["GET"]', 'ports: ["9000"]')
    assert [_nc(mesh, 9000), _nc(mesh, 9001)] == [REJECTED, REJECTED]


def test_deny_policies_and_cleanup(mesh: LocalMesh) -> None:
    """The same field in a DENY rule: widened to every connection, then narrowed by its port;
    the page's cleanup."""
    _policy(mesh, "DENY", 'methods: ["GET"]')
    assert [_nc(mesh, 9000), _nc(mesh, 9001)] == [REJECTED, REJECTED]
    _policy(mesh, "DENY", 'methods: ["GET"]', 'ports: ["9000"]')
    assert [_nc(mesh, 9000), _nc(mesh, 9001)] == [REJECTED, OPEN[9001]]
    cleanup = sh(mesh, "kubectl delete namespace foo")
    assert cleanup.returncode == 0, cleanup
    assert cleanup.stdout.endswith('namespace "foo" deleted\n'), cleanup
