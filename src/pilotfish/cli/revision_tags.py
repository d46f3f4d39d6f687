"""`pilotfish tag list` (istioctl's `tag list`, alias `show`): the revision tags of the mesh.

A local mesh runs one control plane revision, `default`, and `install` gives it Istio's
`default` tag (istioctl install's `istio-revision-tag-default` webhook), so the list is that one
tag with the namespaces labelled `istio.io/rev=default`, as istioctl prints it: TAG REVISION
NAMESPACES (`,`-joined), padded by one (its tabwriter), or `-o json|yaml` (tab-indented JSON, as
its printJSONYAML). `tag set|generate|remove` would point a tag at another revision: there is
none here, which they say.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pilotfish.cli import kube_get
from pilotfish.cli.errors import running_mesh
from pilotfish.cli.proxy_config import go_tabwriter

REVISION = "default"
REVISION_LABEL = "istio.io/rev"


def tags(info: dict[str, Any]) -> list[dict[str, Any]]:
    """istioctl's tag descriptions: the default tag, with the namespaces that use it."""
    namespaces = sorted(
        str(ns["metadata"]["name"])
        for ns in kube_get.objects("ns", info)
        if (ns["metadata"].get("labels") or {}).get(REVISION_LABEL) == REVISION
    )
    return [{"tag": REVISION, "revision": REVISION, "namespaces": namespaces}]


def tag_list_command(output: str, state_dir: Path) -> int:
    if output not in ("table", "json", "yaml"):
        print(f"Error: unknown format: {output}", file=sys.stderr)
        return 1
    found = tags(running_mesh(state_dir))
    if output == "json":
        print(json.dumps(found, indent="\t"))
    elif output == "yaml":  # JSONToYAML of that list: keys sorted
        print("".join(_yaml_item(t) for t in found))
    else:
        rows = [["TAG", "REVISION", "NAMESPACES"]]
        rows += [[t["tag"], t["revision"], ",".join(t["namespaces"])] for t in found]
        print(go_tabwriter(rows, padding=1))
    return 0


def _yaml_item(tag: dict[str, Any]) -> str:
    names = tag["namespaces"]
    listed = "".join(f"  - {n}\n" for n in names) if names else ""
    head = "- namespaces:\n" + listed if names else "- namespaces: []\n"
    return f"{head}  revision: {tag['revision']}\n  tag: {tag['tag']}\n"


def tag_change_command(action: str, tag: str) -> int:
    """`tag set|generate|remove TAG`: nothing to point a tag at but `default`, which has it."""
    print(
        f"Error: cannot {action} revision tag {tag!r}: a local mesh runs one control plane "
        f"revision ({REVISION!r}), whose tag {REVISION!r} install made",
        file=sys.stderr,
    )
    return 1
