"""`pilot-agent request METHOD PATH [BODY]` inside `pilotfish exec` (Istio's circuit-breaking task
runs `kubectl exec … -c istio-proxy -- pilot-agent request GET stats`): sends the request to the
pod's Envoy admin (its `INSTANCE_IP`, port 15000, or in a captured pod, where
`ISTIO_META_INTERCEPTION_MODE` is `REDIRECT`, Istio's `localhost:15000`) and prints the answer.
Other `pilot-agent` subcommands belong to the real agent, `pilotfish agent`.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

from pilotfish.agent.ports import ADMIN_PORT

USAGE = "usage: pilot-agent request METHOD PATH [BODY]   (e.g. pilot-agent request GET stats)"


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] != "request":
        print(USAGE, file=sys.stderr)
        return 1
    method, path = argv[1].upper(), argv[2].lstrip("/")
    body = argv[3].encode() if len(argv) > 3 else None
    ip = os.environ.get("INSTANCE_IP", "")
    if not ip:
        print(
            "error: pilot-agent runs inside a pod: use `pilotfish exec POD -- …`", file=sys.stderr
        )
        return 1
    if os.environ.get("ISTIO_META_INTERCEPTION_MODE") == "REDIRECT":
        ip = "127.0.0.1"  # a captured pod's admin (its own address is captured)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(f"http://{ip}:{ADMIN_PORT}/{path}", data=body, method=method)
    try:
        with opener.open(request, timeout=30) as resp:
            sys.stdout.buffer.write(resp.read())
    except urllib.error.HTTPError as err:
        sys.stdout.buffer.write(err.read())
        print(f"error: {method} /{path}: HTTP {err.code}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot reach Envoy's admin at {ip}:{ADMIN_PORT}: {exc}", file=sys.stderr)
        return 1
    sys.stdout.flush()
    return 0
