"""Measure pilotfish against Istio's own test data, from a checkout of istio/istio.

Usage: python tools/istio_conformance.py PATH/TO/istio [-v]

Reports: (1) pkg/config/validation/testdata/crds: documents of *-valid.yaml accepted and of
*-invalid.yaml refused (the API server + webhook cases); (2) samples/: files with Istio config
accepted; (3) pkg/config/analysis/analyzers: the testGrid of analyzers_test.go, each case's input
files analysed by `pilotfish analyze`, counting the cases whose set of codes is exactly the
expected one, over the full run and over the codes the case's analyzer can report (Istio's test
runs one analyzer per case). Test-only: reads the checkout, never part of the product.
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from pilotfish.cli.analyze import load_inputs
from pilotfish.config import load
from pilotfish.config.analyzers.analyze import analyze
from pilotfish.config.analyzers.mesh_config import parse_mesh_yaml
from pilotfish.config.kinds import is_istio_group
from pilotfish.config.objects import Source
from pilotfish.config.yaml_text import RawDocument, parse_yaml

SAFE = YAML(typ="safe")
MULTI = (
    "gateway.IngressGatewayPortAnalyzer",
    "gateway.SecretAnalyzer",
    "gateway.ConflictingGatewayAnalyzer",
)
OWNER = {  # IST0101's "Referenced <what> not found" → the analyzer that says it
    "gateway": "virtualservice.GatewayAnalyzer",
    "host": "virtualservice.DestinationHostAnalyzer",
    "mirror host": "virtualservice.DestinationHostAnalyzer",
    "host:port": "virtualservice.DestinationHostAnalyzer",
    "host+subset in destinationrule": "virtualservice.DestinationRuleAnalyzer",
    "mirror+subset in destinationrule": "virtualservice.DestinationRuleAnalyzer",
    "credentialName": "gateway.SecretAnalyzer",
    "namespace": "authz.AuthorizationPoliciesAnalyzer",
}
SELECTOR_OWNERS = (*MULTI, "sidecar.SelectorAnalyzer", "telemetry.SelectorAnalyzer")


def crd_cases(root: Path, verbose: bool) -> str:
    counts = {"valid": [0, 0], "invalid": [0, 0]}
    for path in sorted((root / "pkg/config/validation/testdata/crds").glob("*.yaml")):
        kind = "invalid" if path.name.endswith("-invalid.yaml") else "valid"
        for text in path.read_text().split("\n---"):
            data = SAFE.load(text)
            if not data:
                continue
            data.pop("_err", None)
            out = io.StringIO()
            YAML().dump(data, out)
            ok = load(out.getvalue(), path.name).ok
            counts[kind][1] += 1
            if ok == (kind == "valid"):
                counts[kind][0] += 1
            elif verbose:
                print(f"  {kind} case mis-judged: {path.name} {data.get('metadata', {})}")
    (acc, n_acc), (ref, n_ref) = counts["valid"], counts["invalid"]
    return f"CRD test data: accepted {acc}/{n_acc} valid, refused {ref}/{n_ref} invalid"


def samples(root: Path, verbose: bool) -> str:
    n = refused = 0
    for path in sorted((root / "samples").rglob("*.yaml")):
        text = path.read_text()
        documents, _ = parse_yaml(text, str(path))
        if not any(is_istio_group(d.api_version) for d in documents):
            continue
        n += 1
        result = load(text, str(path))
        if not result.ok:
            refused += 1
            if verbose:
                print("\n".join(f"  {d}" for d in result.errors))
    return f"samples/: {n - refused}/{n} files with Istio config accepted"


def _grid(root: Path) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    base = root / "pkg/config/analysis"
    messages = SAFE.load((base / "msg/messages.yaml").read_text())["messages"]
    codes = {m["name"]: m["code"] for m in messages}
    source = (base / "analyzers/analyzers_test.go").read_text()
    grid = source[source.index("var testGrid") : source.index("var ignoreAnalyzers")]
    cases = []
    for chunk in re.split(r"\n\t\{\n", grid)[1:]:
        mesh_config = re.findall(r'meshConfigFile:\s*"([^"]*)"', chunk)
        mesh_networks = re.findall(r'meshNetworksFile:\s*"([^"]*)"', chunk)
        skip = mesh_config + mesh_networks
        cases.append(
            {
                "name": re.search(r'name:\s*"([^"]*)"', chunk).group(1),  # type: ignore[union-attr]
                "files": [f for f in re.findall(r'"(testdata/[^"]+)"', chunk) if f not in skip],
                "analyzer": re.search(r"analyzer:\s*&?([\w.]+)", chunk).group(1),  # type: ignore[union-attr]
                "expected": {codes[m] for m in re.findall(r"\{msg\.(\w+),", chunk)},
                "skip": "skipAll: true" in chunk,
                "mesh_config": mesh_config[0] if mesh_config else None,
                "mesh_networks": mesh_networks[0] if mesh_networks else None,
            }
        )
    owned: dict[str, list[str]] = {}
    for path in (base / "analyzers").glob("*/*.go"):
        if path.name.endswith("_test.go"):
            continue
        text = path.read_text()
        found = sorted({codes[n] for n in re.findall(r"msg\.New(\w+)\(", text) if n in codes})
        for name in re.findall(r"func \(\w* ?\*?(\w+)\) Analyze\(", text):
            owned[f"{path.parent.name}.{name}"] = found
        owned.setdefault(path.parent.name, [])
        owned[path.parent.name] = sorted({*owned[path.parent.name], *found})
    owned["schemaValidation.CollectionValidationAnalyzer"] = [
        "IST0106",
        "IST0122",
        "IST0130",
        "IST0131",
        "IST0002",
    ]
    return cases, owned


def _said_by(analyzer: str, codes: set[str], code: str, text: str) -> bool:
    """Whether the case's analyzer is the one that reports this message."""
    if code not in codes:
        return False
    if code != "IST0101":
        return True
    what = text.removeprefix("Referenced ").split(" not found")[0]
    return analyzer in SELECTOR_OWNERS if what == "selector" else OWNER.get(what) == analyzer


def _mesh_networks_map(path: Path) -> RawDocument:
    data = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "istio", "namespace": "istio-system"},
        "data": {"meshNetworks": path.read_text()},
    }
    return RawDocument(data, Source(str(path), 1))


def analyzer_cases(root: Path, verbose: bool) -> str:
    cases, owned = _grid(root)
    base = root / "pkg/config/analysis/analyzers"
    n = full = scoped = 0
    for case in cases:
        if case["skip"]:
            continue
        n += 1
        analyzer = case["analyzer"]
        mine = set(owned.get(analyzer) or owned.get(analyzer.split(".")[0], []))
        result = load_inputs([str(base / f) for f in case["files"]])
        if case["mesh_networks"]:  # istioctl reads MeshNetworks from the istio ConfigMap
            result.others.append(_mesh_networks_map(base / case["mesh_networks"]))
        mesh_config = None
        if case["mesh_config"]:
            path = base / case["mesh_config"]
            mesh_config = parse_mesh_yaml(path.read_text(), str(path))
        messages = analyze(result, mesh_config=mesh_config)

        got = {m.code for m in messages}
        got_scoped = {m.code for m in messages if _said_by(analyzer, mine, m.code, m.message)}
        full += got == case["expected"]
        scoped += got_scoped == case["expected"]
        if verbose and got_scoped != case["expected"]:
            print(
                f"  {case['name']} [{analyzer}]: want {sorted(case['expected'])}, "
                f"got {sorted(got_scoped)}"
            )
    return (
        f"analyzer cases: {n}; exact codes over the full run {full}/{n}; "
        f"exact codes of the case's analyzer {scoped}/{n}"
    )


def main() -> None:
    root = Path(sys.argv[1])
    verbose = "-v" in sys.argv
    for report in (crd_cases, samples, analyzer_cases):
        print(report(root, verbose))


if __name__ == "__main__":
    main()
