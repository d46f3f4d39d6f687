"""`pilotfish x explain POD` (beyond istioctl): the recent failed requests in a pod's access log,
each response flag in plain words and the config object responsible (the DestinationRule whose
connection pool tripped, the VirtualService fault rule, the missing subset, the
AuthorizationPolicy that denied). The control plane computes it (`pilotfish.ui.explain`, the
same answer the web UI shows for a failing edge); this module asks and prints."""

from __future__ import annotations

import json
import sys
import urllib.parse
from pathlib import Path

from pilotfish.cli.errors import mesh_call, running_mesh
from pilotfish.ui.explain import render


def explain_command(pod: str, output: str, state_dir: Path) -> int:
    info = running_mesh(state_dir)
    status, body = mesh_call(info, "GET", "/ui/api/explain?pod=" + urllib.parse.quote(pod))
    if status != 200:
        known = ", ".join(body.get("known", [])) if isinstance(body, dict) else ""
        error = body.get("error", f"HTTP {status}") if isinstance(body, dict) else status
        print(f"error: {error}" + (f" (pods: {known})" if known else ""), file=sys.stderr)
        return 1
    if output == "json":
        print(json.dumps(body, indent=2))
    else:
        print("\n".join(render(pod, body.get("findings", []), int(body.get("logged", 0)))))
    return 0
