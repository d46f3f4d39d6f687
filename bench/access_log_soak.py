"""Soak of access-log changes through a real mesh: mesh config and Telemetry changes in a cycle,
each followed by requests whose access-log lines are checked (not a timed test;
`tests/e2e/test_telemetry_access_logs.py` is the short variant in the suite).

    .venv/bin/python bench/access_log_soak.py --steps 36 [--settle-first]

One httpbin mesh (`pilotfish up samples/httpbin`); httpbin calls itself through its sidecar, so
one Envoy writes both the outbound and the inbound line of a request. The cycle: the mesh
config's accessLogFile with TEXT, a Telemetry `filter: response.code >= 400`, Telemetry
`disabled: true`, Telemetry with the provider only, the mesh config with JSON and no Telemetry,
the mesh config with no accessLogFile. After each apply (which returns once the sidecar ACKed):

- without `--settle-first`, one 200 and one 418 call, reported (not counted as failures) when
  a side followed the previous configuration: a connection accepted before the change keeps
  its filter chain until the listener drain closes it, and the sidecar's outbound cluster keeps
  keep-alive connections to its own inbound listener (Envoy's listener update, so Istio's too);
- then the sidecar is waited for until no listener warms or drains (`listener_manager.total_*`
  gauges), and four 200 + 418 pairs must each have exactly the lines the configuration asks
  for: two within 20 s, or none 1.5 s after (the sidecar flushes its log every second).

Prints one line per step; on a failure, the step's listeners (`proxy-config listener -o json`)
and logs go to `<home>/dumps/`, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the e2e tests' mesh helpers

from tests.e2e.httpkit import SidecarClient, apply_yaml  # noqa: E402
from tests.e2e.meshctl import LocalMesh  # noqa: E402

POD = "httpbin-v1-0"
MESH = """
apiVersion: v1
kind: ConfigMap
metadata: {{name: istio, namespace: istio-system}}
data:
  mesh: |
    accessLogFile: {file}
    accessLogEncoding: {encoding}
"""
TELEMETRY = """
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {{name: mesh-default, namespace: istio-system}}
spec:
  accessLogging:
  - providers: [{{name: envoy}}]{extra}
"""
# (name, document, delete the Telemetry first, a 200 is logged, a 418 is logged)
CYCLE = (
    ("mesh TEXT", MESH.format(file="/dev/stdout", encoding="TEXT"), True, True, True),
    ("Telemetry filter >= 400",
     TELEMETRY.format(extra='\n    filter: {expression: "response.code >= 400"}'),
     False, False, True),
    ("Telemetry disabled", TELEMETRY.format(extra="\n    disabled: true"), False, False, False),
    ("Telemetry provider only", TELEMETRY.format(extra=""), False, True, True),
    ("mesh JSON", MESH.format(file="/dev/stdout", encoding="JSON"), True, True, True),
    ("mesh no file", MESH.format(file='""', encoding="TEXT"), True, False, False),
)  # fmt: skip
LOGGED_WITHIN_S, FLUSH_S = 20.0, 1.5


def call(mesh: LocalMesh, status: int) -> str:
    """One request from httpbin to itself through its sidecar; its user-agent marker."""
    marker = f"t-{uuid.uuid4()}"
    url = f"http://httpbin:8000/status/{status}"
    response = SidecarClient(mesh, POD).request(url, headers={"user-agent": marker})
    if response.status != status:
        raise AssertionError(f"{url}: {response.status}")
    return marker


def lines_with(mesh: LocalMesh, marker: str) -> int:
    log = mesh.home / "run" / f"{POD}.default" / "envoy.log"
    return sum(marker in line for line in log.read_text(errors="replace").splitlines())


def logged(mesh: LocalMesh, marker: str, wanted: bool) -> bool:
    """Both lines within 20 s when wanted; else none once the sidecar has flushed."""
    if not wanted:
        time.sleep(FLUSH_S)
        return lines_with(mesh, marker) == 0
    deadline = time.monotonic() + LOGGED_WITHIN_S
    while time.monotonic() < deadline:
        if lines_with(mesh, marker) >= 2:
            return lines_with(mesh, marker) == 2
        time.sleep(0.1)
    return False


def wait_settled(mesh: LocalMesh) -> float:
    """Seconds until no listener of the sidecar warms or drains."""
    admin, started = SidecarClient(mesh, POD), time.monotonic()
    kinds = ("listeners_warming", "listeners_draining", "filter_chains_draining")
    while time.monotonic() - started < 60:
        gauges = admin.stats("listener_manager.total_")
        if not any(gauges.get(f"listener_manager.total_{kind}", 0) for kind in kinds):
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError("listeners still warming or draining after 60 s")


def dump(mesh: LocalMesh, step: int) -> Path:
    out = mesh.home / "dumps" / f"step-{step}"
    out.mkdir(parents=True, exist_ok=True)
    listeners = mesh.pilotfish("proxy-config", "listener", POD, "-o", "json")
    (out / "listeners.json").write_text(listeners.stdout + listeners.stderr)
    for log in mesh.home.rglob("*.log"):
        (out / f"{log.parent.name}-{log.name}").write_text(log.read_text(errors="replace"))
    return out


def run_step(mesh: LocalMesh, tmp: Path, step: int, settle_first: bool) -> bool:
    name, document, drop, want200, want418 = CYCLE[step % len(CYCLE)]
    started = time.monotonic()
    if drop:
        mesh.pilotfish("delete", "telemetry", "mesh-default", "-n", "istio-system")
    apply_yaml(mesh, tmp, document, f"step-{step}.yaml")
    applied = time.monotonic() - started
    stale = []
    for status, wanted in () if settle_first else ((200, want200), (418, want418)):
        marker = call(mesh, status)
        time.sleep(FLUSH_S)
        if lines_with(mesh, marker) != (2 if wanted else 0):
            stale.append(f"{status}: {lines_with(mesh, marker)} lines")
    settled = wait_settled(mesh)
    bad = [
        f"pair {k} {status}"
        for k in range(4)
        for status, wanted in ((200, want200), (418, want418))
        if not logged(mesh, call(mesh, status), wanted)
    ]
    print(
        f"{time.strftime('%H:%M:%S')} step {step} {name}: apply {applied:.1f} s, "
        f"first calls on the old configuration: {stale or 'none'}, settled {settled:.1f} s, "
        f"{'OK' if not bad else f'FAILED {bad}, dump {dump(mesh, step)}'}",
        flush=True,
    )
    return not bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=36)
    parser.add_argument("--settle-first", action="store_true", help="no calls before settling")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(2))  # the mesh still goes down
    home = Path(tempfile.mkdtemp(prefix="access-log-soak-"))
    (home / "yaml").mkdir()
    mesh = LocalMesh(home / "home", "samples/httpbin")
    failures = 0
    try:
        result = mesh.up()
        if result.returncode != 0:
            print(result.stdout + result.stderr, file=sys.stderr)
            return 1
        for step in range(args.steps):
            failures += not run_step(mesh, home / "yaml", step, args.settle_first)
    finally:
        mesh.down()
    print(f"{failures} of {args.steps} steps failed; mesh home {home / 'home'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
