"""Mutual TLS versus plaintext between two sidecars, side by side in one run: `sleep`'s sidecar
to `httpbin`'s, with `hey` through the client sidecar (HTTP proxy).

- mtls: the default (auto mTLS, PERMISSIVE): the sidecars talk mutual TLS;
- plaintext: a PeerAuthentication DISABLE on httpbin, so auto mTLS sends plaintext.

Each at a constant rate and flat out, with pooled upstream connections (Envoy's default) and with
one request per connection (a DestinationRule `maxRequestsPerConnection: 1`: every request is a
new TLS handshake). Also Envoy CPU (both sidecars, from /proc) per 1,000 requests.

    .venv/bin/python bench/mtls.py [--seconds 10] [--rate 100] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from meshbench import BenchMesh, cpu_seconds, hey, machine

PLAINTEXT = """apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: httpbin-plaintext}
spec:
  selector: {matchLabels: {app: httpbin}}
  mtls: {mode: DISABLE}
"""
ONE_REQUEST_PER_CONNECTION = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: httpbin-new-connections}
spec:
  host: httpbin
  trafficPolicy: {connectionPool: {http: {maxRequestsPerConnection: 1}}}
"""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=100, help="requests/s per worker")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    if shutil.which("hey") is None:
        print("needs `hey` (Debian package hey)", file=sys.stderr)
        return 2
    mesh = BenchMesh()
    files = Path(tempfile.mkdtemp(prefix="pilotfish-bench-mtls-"))
    (files / "plaintext.yaml").write_text(PLAINTEXT)
    (files / "new-connections.yaml").write_text(ONE_REQUEST_PER_CONNECTION)
    try:
        mesh.run("up", "samples/httpbin", "--detach", "--ingress-address", mesh.ingress)
        mesh.run("apply", "-f", "samples/sleep/sleep.yaml")
        client = mesh.wait_proxy("sleep")
        server = mesh.proxy("httpbin-v1")
        pids = [int(client["envoy_pid"]), int(server["envoy_pid"])]
        proxy = f"http://{client['ip']}:{client['outbound_port']}"
        url = "http://httpbin:8000/get"
        print(f"machine: {machine()}")
        rows = []
        for connections in ("pooled", "new per request"):
            if connections != "pooled":
                mesh.run("apply", "-f", str(files / "new-connections.yaml"))
            for label, rate in (("constant rate", args.rate), ("flat out", None)):
                for mode in ("mtls", "plaintext"):
                    if mode == "plaintext":
                        mesh.run("apply", "-f", str(files / "plaintext.yaml"))
                    before = sum(cpu_seconds(p) for p in pids)
                    result = hey(url, args.seconds, args.concurrency, rate, proxy)
                    used = sum(cpu_seconds(p) for p in pids) - before
                    result["envoy_cpu_ms_per_1k"] = used * 1000 / max(result["total"], 1) * 1000
                    rows.append((connections, label, mode, result))
                    if mode == "plaintext":
                        mesh.run("delete", "-f", str(files / "plaintext.yaml"))
        keys = ("rps", "p50_ms", "p99_ms", "envoy_cpu_ms_per_1k")
        print(f"{'connections':<16}{'run':<14}{'mode':<10}" + "".join(f"{k:>20}" for k in keys))
        for connections, label, mode, r in rows:
            cells = "".join(f"{r[k]:>20.2f}" for k in keys)
            print(f"{connections:<16}{label:<14}{mode:<10}{cells}   non-200: {r['non_200']:.0f}")
        for i in range(0, len(rows), 2):
            (connections, label, _, mtls), (_, _, _, plain) = rows[i], rows[i + 1]
            ratios = "".join(f"{mtls[k] / plain[k]:>20.2f}" for k in keys)
            print(f"{connections:<16}{label:<14}{'ratio':<10}{ratios}   (mtls / plaintext)")
    finally:
        mesh.down()
        shutil.rmtree(files, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
