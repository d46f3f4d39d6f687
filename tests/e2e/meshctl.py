"""Test helper: a real local mesh started with `pilotfish up --detach` in its own state dir.

Each mesh gets a temporary PILOTFISH_HOME (so its own 127.A.0.0/16 block) and an ingress address
in 127.255.0.0/16, which no mesh block uses, held by this process while its mesh runs
(`claim_ingress`), so parallel runs never collide.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ISOLATED_OK = os.geteuid() == 0 and shutil.which("iptables-restore") is not None
NEEDS_ISOLATION = pytest.mark.skipif(
    not ISOLATED_OK,
    reason="the isolated mode needs root and iptables (network namespaces); CI runs as root",
)
BOTH_MODES = ["shared", pytest.param("isolated", marks=NEEDS_ISOLATION)]
"""A module fixture's `params`: the host's network, and `up --isolated` (root only)."""
SERVED_BY = re.compile(r"Reviews served by:\s*<u>([^<]+)</u>")
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Response:
    status: int
    body: str
    headers: dict[str, str]


def http(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None, timeout: float = 10
) -> Response:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with _DIRECT.open(request, timeout=timeout) as resp:
            return Response(resp.status, resp.read().decode(errors="replace"), dict(resp.headers))
    except urllib.error.HTTPError as err:
        return Response(err.code, err.read().decode(errors="replace"), dict(err.headers))


def claim_ingress(address: str = "") -> tuple[str, socket.socket]:
    """An ingress address no other test's mesh has (random in 127.255.0.0/16, or `address`),
    and its claim: the abstract Unix socket `@pilotfish-test-ingress-ADDRESS`, as `local.network`
    holds a mesh's block (the kernel frees it when the process dies). Two gateways on one address
    would not fail: Envoy binds its listeners with SO_REUSEPORT, so the kernel would split the
    connections between the two meshes."""
    while True:
        candidate = address or f"127.255.{random.randint(1, 254)}.{random.randint(1, 254)}"
        claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            claim.bind(f"\0pilotfish-test-ingress-{candidate}")
        except OSError:
            claim.close()
            if address:
                raise AssertionError(f"ingress address {address} taken by another test") from None
            continue
        return candidate, claim


class LocalMesh:
    def __init__(
        self, home: Path, directory: str | None, delta: bool = False, isolated: bool = False
    ) -> None:
        self.home = home
        self.directory = directory
        self.delta = delta
        self.isolated = isolated
        self.ingress, self._claim = claim_ingress()
        # Istio's pilot-agent setting: no drain wait when a test's mesh goes down (a test of the
        # drain sets it per pod with `proxy.istio.io/config`)
        self.env = dict(
            os.environ, PILOTFISH_HOME=str(home), TERMINATION_DRAIN_DURATION_SECONDS="0"
        )
        for key in list(self.env):
            if key.lower() in ("http_proxy", "https_proxy", "no_proxy"):
                del self.env[key]

    def pilotfish(
        self, *args: str, stdin: str | None = None, timeout: float = 120, cwd: Path = ROOT
    ) -> subprocess.CompletedProcess[str]:
        """`pilotfish ARGS` in this mesh (`cwd`: where a page's relative file names are)."""
        return subprocess.run(
            [sys.executable, "-m", "pilotfish", *args],
            env=self.env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    def up(self) -> subprocess.CompletedProcess[str]:
        if self._claim.fileno() == -1:  # up again after down: the same address, held again
            self._claim = claim_ingress(self.ingress)[1]
        args = ["up", "--detach", "--ingress-address", self.ingress, "--timeout", "60"]
        args += [self.directory] if self.directory else []
        args += ["--delta"] if self.delta else []
        args += ["--isolated"] if self.isolated else []
        result = self.pilotfish(*args)
        if result.returncode != 0:
            self.dump_logs()
        return result

    def down(self) -> None:
        self.pilotfish("down", timeout=60)
        leftovers = self.processes()
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._claim.close()
        assert not leftovers, f"processes left behind after down: {leftovers}"

    def processes(self) -> list[int]:
        """Every live process whose environment names this mesh's PILOTFISH_HOME."""
        marker = f"PILOTFISH_HOME={self.home}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes()
                state = (entry / "stat").read_text().split()[2]
            except OSError:
                continue
            if marker in environ.split(b"\0") and state != "Z":
                found.append(int(entry.name))
        return found

    @property
    def info(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.home / "run" / "mesh.json").read_text())
        return data

    def proxy(self, pod: str) -> dict[str, Any]:
        """mesh.json's row for a pod, named as the CLI names it: `sleep-0.foo`, or `sleep-0`
        (the default namespace first, else the one namespace that has it)."""
        from pilotfish.cli.pods import resolve_pod

        return resolve_pod(self.info, pod)[1]

    def url(self, path: str, port: int = 8080) -> str:
        return f"http://{self.ingress}:{port}{path}"

    def get(self, path: str, **kw: Any) -> Response:
        return http(self.url(path), **kw)

    def apply(self, *files: str, expect_ok: bool = True) -> subprocess.CompletedProcess[str]:
        args = ["apply"]
        for f in files:
            args += ["-f", f]
        result = self.pilotfish(*args)
        if expect_ok:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def served_by(self, n: int, cookie: str | None = None, workers: int = 1) -> Counter[str]:
        headers = {"cookie": cookie} if cookie else {}

        def one(_: int) -> str:
            resp = self.get("/productpage", headers=headers)
            assert resp.status == 200, resp.status
            match = SERVED_BY.search(resp.body)
            return match.group(1) if match else "none"

        with ThreadPoolExecutor(workers) as pool:
            return Counter(pool.map(one, range(n)))

    def login(self, user: str) -> str:
        request = urllib.request.Request(
            self.url("/login"), data=f"username={user}&passwd=x".encode()
        )

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kw: Any) -> None:
                return None

        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect)
        try:
            resp = opener.open(request, timeout=10)
            headers = resp.headers
        except urllib.error.HTTPError as err:
            headers = err.headers
        cookie = headers.get("set-cookie", "")
        assert "session=" in cookie, cookie
        return str(cookie.split(";", 1)[0])

    def wait_for(
        self, check: Callable[[], bool], timeout: float = 20, what: str = "condition"
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except (OSError, AssertionError, KeyError, ValueError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def dump_logs(self) -> None:
        for path in sorted(self.home.rglob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-20:]
            print(f"==== {path}\n" + "\n".join(text), file=sys.stderr)


class PortForward:
    """`pilotfish port-forward ARGS` running in the background: the local ports it bound."""

    def __init__(self, mesh: LocalMesh, *args: str) -> None:
        command = [sys.executable, "-m", "pilotfish", "port-forward", *args]
        self.process = subprocess.Popen(
            command, env=mesh.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        self.lines = [self.process.stdout.readline() for _ in args[1:]]  # one per port
        self.ports = [int(line.split(":")[1].split()[0]) for line in self.lines]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


CLUSTER_STATS_MESH = """apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    defaultConfig:
      proxyStatsMatcher:
        inclusionPrefixes: [cluster.outbound]
"""
"""Istio's way to see the `cluster.outbound…` stats in every proxy's admin (as Istio's, they are
not created by default): for tests that count a cluster's requests, handshakes or ejections."""


def with_mesh_config(factory: Any, directory: str, mesh_config: str) -> str:
    """The sample `directory` with `mesh_config` (an `istio` ConfigMap) beside its manifests: in
    a copy of the whole `samples/` tree, so the manifests' relative paths still resolve."""
    tree = Path(factory.mktemp("samples")) / "samples"
    shutil.copytree(ROOT / "samples", tree)
    copy = tree / Path(directory).relative_to("samples")
    (copy / "zz-test-mesh-config.yaml").write_text(mesh_config)
    return str(copy)


@contextlib.contextmanager
def running_mesh(
    factory: Any,
    directory: str | None,
    delta: bool = False,
    env: dict[str, str] | None = None,
    mesh_config: str = "",
) -> Iterator[LocalMesh]:
    """Start a mesh from `directory` in a fresh home and always stop it (for module fixtures:
    `with running_mesh(tmp_path_factory, "samples/bookinfo") as mesh: yield mesh`); `env` is
    added to the environment of every `pilotfish` command (so of the mesh it starts);
    `mesh_config`: an `istio` ConfigMap the mesh starts with (`with_mesh_config`)."""
    if mesh_config and directory:
        directory = with_mesh_config(factory, directory, mesh_config)
    mesh = LocalMesh(factory.mktemp("home"), directory, delta=delta)
    mesh.env.update(env or {})
    try:  # an `up` that failed or timed out may have started part of the mesh: stop it too
        result = mesh.up()
        assert result.returncode == 0, result.stdout + result.stderr
        yield mesh
    finally:
        mesh.down()


def _flow(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in labels.items()) + "}"


def _metadata(name: str, labels: dict[str, str], namespace: str | None) -> str:
    where = f", namespace: {namespace}" if namespace else ""
    return f"metadata: {{name: {name}{where}, labels: {_flow(labels)}}}"


def account_yaml(name: str, *, namespace: str | None = None) -> str:
    """A manifest `v1 ServiceAccount` (YAML ending with ---)."""
    where = f", namespace: {namespace}" if namespace else ""
    return f"apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {name}{where}}}\n---\n"


def service_yaml(
    name: str,
    port: int,
    target_port: int | None = None,
    *,
    port_name: str = "http",
    namespace: str | None = None,
) -> str:
    """A manifest `v1 Service` selecting `app: <name>`, one port (YAML ending with ---)."""
    target = f", targetPort: {target_port}" if target_port is not None else ""
    return (
        f"apiVersion: v1\nkind: Service\n{_metadata(name, {'app': name}, namespace)}\n"
        f"spec:\n  ports: [{{name: {port_name}, port: {port}{target}}}]\n"
        f"  selector: {{app: {name}}}\n---\n"
    )


def workload_yaml(
    name: str,
    command: list[str],
    ports: list[int],
    *,
    labels: dict[str, str] | None = None,
    service_account: str | None = None,
    namespace: str | None = None,
) -> str:
    """A manifest `Workload` running `command` (labels default to `app: <name>`; YAML ending
    with ---)."""
    account = f"  serviceAccount: {service_account}\n" if service_account else ""
    listed = f"  ports: {json.dumps(ports)}\n" if ports else ""
    return (
        "apiVersion: pilotfish.io/v1alpha1\nkind: Workload\n"
        f"{_metadata(name, labels or {'app': name}, namespace)}\n"
        f"spec:\n{account}  command: {json.dumps([str(c) for c in command])}\n{listed}---\n"
    )


def pilotfish_ok(
    mesh: LocalMesh, *args: str, stdin: str | None = None, timeout: float = 120
) -> str:
    """`pilotfish ARGS` in `mesh`, asserted to succeed (its output in the failure); its stdout."""
    result = mesh.pilotfish(*args, stdin=stdin, timeout=timeout)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


GATEWAY_ON_BUSY_PORT = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: extra-gateway
spec:
  selector:
    istio: ingressgateway
  servers:
  - port: {{number: {port}, name: http-extra, protocol: HTTP}}
    hosts: ["*"]
"""


@contextlib.contextmanager
def gateway_nacked(
    mesh: LocalMesh, folder: Path
) -> Iterator[tuple[int, subprocess.CompletedProcess[str]]]:
    """A Gateway on a port something else holds on the ingress address, so the gateway's Envoy
    cannot bind it and NACKs: (the port, what `apply` printed) inside; the Gateway deleted (and
    checked deleted) before the port is let go."""
    with socket.socket() as squatter:
        squatter.bind((mesh.ingress, 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        path = folder / "gw.yaml"
        path.write_text(GATEWAY_ON_BUSY_PORT.format(port=port))
        yield port, mesh.apply(str(path), expect_ok=False)
        removed = mesh.pilotfish("delete", "gateway", "extra-gateway")
        assert removed.returncode == 0, removed.stdout + removed.stderr


def columns(text: str) -> list[dict[str, str]]:
    """A table istioctl's tabwriter printed (cells padded by blanks, some holding one blank:
    `SUBSCRIBED TYPES`, `SYNCED (5s)`), as a dict per row: cut at the header's column starts."""
    lines = [line for line in text.splitlines() if line.strip()]
    names = re.split(r" {2,}", lines[0].strip())
    starts = [lines[0].index(name) for name in names]
    ends = [*starts[1:], None]
    return [
        {n: line[a:b].strip() for n, a, b in zip(names, starts, ends, strict=True)}
        for line in lines[1:]
    ]


def sync_states(mesh: LocalMesh, *args: str) -> dict[str, dict[str, str]]:
    """`proxy-status -v 1` (a column per xDS type): proxy ID -> type (CDS, LDS, EDS, RDS, ECDS)
    -> state (SYNCED, STALE, ERROR, NOT SENT, IGNORED), without the age istioctl adds."""
    table = columns(pilotfish_ok(mesh, "proxy-status", "-v", "1", *args))
    return {
        row["NAME"]: {k: v.split(" (", 1)[0] for k, v in row.items() if k.isupper()}
        for row in table
    }
