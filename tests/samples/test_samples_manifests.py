"""The sample manifests and routing files: shape, cross-references, Istio's schema, and loading
with `pilotfish.config.load_paths`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from tests.samples.sample_apps import SAMPLES

from pilotfish.cli.inputs import KUSTOMIZATIONS
from pilotfish.config import load_paths
from pilotfish.registry.manifest import parse_manifest

BOOKINFO = SAMPLES / "bookinfo"
NETWORKING = BOOKINFO / "networking"
ISTIO_CRDS = Path("/work/shared/istio-crds/crd-all.gen.yaml")
ALL_YAML = sorted(  # a kustomization.yaml lists files to apply; it is no object itself
    p for p in SAMPLES.rglob("*") if p.suffix in (".yaml", ".yml") and p.name not in KUSTOMIZATIONS
)
ROUTING_FILES = [
    "bookinfo-gateway.yaml",
    "destination-rule-all.yaml",
    "virtual-service-all-v1.yaml",
    "virtual-service-reviews-test-v2.yaml",
    "virtual-service-reviews-50-v3.yaml",
    "virtual-service-reviews-80-20.yaml",
    "virtual-service-reviews-v3.yaml",
    "virtual-service-reviews-jason-v2-v3.yaml",
    "virtual-service-reviews-90-10.yaml",
    "virtual-service-reviews-v2-v3.yaml",
    "virtual-service-ratings-test-delay.yaml",
    "virtual-service-ratings-test-abort.yaml",
]


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in YAML(typ="safe").load_all(path.read_text()) if d is not None]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_every_yaml_file_loads_with_pilotfish_config() -> None:
    assert ALL_YAML
    for path in ALL_YAML:  # one file at a time: the routing files are alternatives
        result = load_paths([str(path)], strict=True)
        assert result.ok, [str(d) for d in result.diagnostics]
        assert result.objects or result.others, path


@pytest.mark.parametrize(
    "manifest", ["bookinfo/bookinfo.yaml", "httpbin/httpbin.yaml", "sleep/sleep.yaml"]
)
def test_manifest_parses_into_a_runnable_mesh(manifest: str) -> None:
    path = SAMPLES / manifest
    loaded = load_paths([str(path)], strict=True)
    parsed, problems = parse_manifest(loaded.others)
    assert loaded.ok and problems == [], [str(d) for d in [*loaded.diagnostics, *problems]]
    assert parsed.workloads and parsed.services
    accounts = {name for _, name in parsed.service_accounts}
    for workload in parsed.workloads:
        assert workload.service_account in accounts, workload.name
        assert Path(workload.workdir) == path.parent
        assert (path.parent / workload.command[1]).is_file(), workload.command
    for service in parsed.services:
        selected = [w for w in parsed.workloads if service.selects(dict(w.labels))]
        assert selected, service.name
        for port in service.ports:
            assert all(port.target_port in w.ports for w in selected), (service.name, port)


def test_bookinfo_manifest_has_istio_names_and_runnable_workloads() -> None:
    docs = documents(BOOKINFO / "bookinfo.yaml")
    services = by_kind(docs, "Service")
    accounts = by_kind(docs, "ServiceAccount")
    workloads = by_kind(docs, "Workload")
    apps = ["details", "ratings", "reviews", "productpage"]
    assert sorted(services) == sorted(apps)
    assert sorted(accounts) == sorted(f"bookinfo-{a}" for a in apps)
    assert sorted(workloads) == sorted(
        ["details-v1", "ratings-v1", "reviews-v1", "reviews-v2", "reviews-v3", "productpage-v1"]
    )
    for name, service in services.items():
        assert service["apiVersion"] == "v1"
        assert service["metadata"]["labels"] == {"app": name, "service": name}
        assert service["spec"]["ports"] == [{"port": 9080, "name": "http"}]
    for name, workload in workloads.items():
        app, version = name.rsplit("-", 1)
        assert workload["apiVersion"] == "pilotfish.io/v1alpha1"
        assert workload["metadata"]["labels"] == {"app": app, "version": version}
        spec = workload["spec"]
        assert spec["serviceAccount"] == f"bookinfo-{app}"
        assert spec["ports"] == [9080]
        assert spec["command"][0] == "python"
        assert (BOOKINFO / spec["command"][1]).is_file()
        assert all(isinstance(v, str) for v in spec.get("env", {}).values())
        assert services[app]["spec"]["selector"] == {"app": app}
    colors = {n: w["spec"].get("env", {}).get("STAR_COLOR") for n, w in workloads.items()}
    assert (colors["reviews-v2"], colors["reviews-v3"]) == ("black", "red")


@pytest.mark.parametrize(
    ("manifest", "service", "port", "target_port", "workload"),
    [
        ("httpbin/httpbin.yaml", "httpbin", 8000, 8080, "httpbin-v1"),
        ("sleep/sleep.yaml", "sleep", 80, None, "sleep"),
    ],
)
def test_httpbin_and_sleep_manifests(
    manifest: str, service: str, port: int, target_port: int | None, workload: str
) -> None:
    path = SAMPLES / manifest
    docs = documents(path)
    assert list(by_kind(docs, "ServiceAccount")) == [service]
    (svc_port,) = by_kind(docs, "Service")[service]["spec"]["ports"]
    assert (svc_port["name"], svc_port["port"], svc_port.get("targetPort")) == (
        "http",
        port,
        target_port,
    )
    spec = by_kind(docs, "Workload")[workload]["spec"]
    assert by_kind(docs, "Workload")[workload]["metadata"]["labels"]["app"] == service
    assert spec["serviceAccount"] == service
    assert (path.parent / spec["command"][1]).is_file()
    assert spec["ports"] == [target_port or port]


def test_gateway_file_is_linked_at_the_top_of_bookinfo() -> None:
    link = BOOKINFO / "bookinfo-gateway.yaml"
    assert link.is_symlink()
    assert link.resolve() == (NETWORKING / "bookinfo-gateway.yaml").resolve()
    docs = documents(link)
    gateway = by_kind(docs, "Gateway")["bookinfo-gateway"]["spec"]
    assert gateway["selector"] == {"istio": "ingressgateway"}
    assert gateway["servers"][0]["port"]["number"] == 8080
    (route,) = by_kind(docs, "VirtualService")["bookinfo"]["spec"]["http"]
    assert [next(iter(m["uri"].items())) for m in route["match"]] == [
        ("exact", "/productpage"),
        ("prefix", "/static"),
        ("exact", "/login"),
        ("exact", "/logout"),
        ("prefix", "/api/v1/products"),
    ]
    assert route["route"] == [{"destination": {"host": "productpage", "port": {"number": 9080}}}]


def test_routing_files_reference_subsets_that_select_workloads() -> None:
    assert sorted(p.name for p in NETWORKING.glob("*.yaml")) == sorted(
        [
            *ROUTING_FILES,
            "virtual-service-details-v2.yaml",
            # Istio's TCP metrics task: ratings v2 and its database come from platform/kube
            "virtual-service-ratings-db.yaml",
            "destination-rule-all-mtls.yaml",
        ]
    )
    rules = by_kind(documents(NETWORKING / "destination-rule-all.yaml"), "DestinationRule")
    workloads = by_kind(documents(BOOKINFO / "bookinfo.yaml"), "Workload")
    for name in ROUTING_FILES:
        for doc in documents(NETWORKING / name):
            assert doc["apiVersion"] == "networking.istio.io/v1", name
            if doc["kind"] != "VirtualService":
                continue
            for http in doc["spec"]["http"]:
                for route in http["route"]:
                    destination = route["destination"]
                    if "subset" not in destination:
                        continue
                    host, subset = destination["host"], destination["subset"]
                    (labels,) = [
                        s["labels"] for s in rules[host]["spec"]["subsets"] if s["name"] == subset
                    ]
                    selected = [
                        w
                        for w in workloads.values()
                        if w["metadata"]["labels"] == {"app": host, **labels}
                    ]
                    assert selected, (name, host, subset)
                weights = [r.get("weight", 100) for r in http["route"]]
                assert len(weights) == 1 or sum(weights) == 100, name


def _schema_problems(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    """Unknown fields and wrong types against a CRD's openAPIV3Schema (a structural subset)."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    if schema.get("x-kubernetes-int-or-string"):
        ok = isinstance(value, int | str) and not isinstance(value, bool)
        return [] if ok else [f"{path}: not an int or string"]
    kind = schema.get("type")
    types: dict[str, Any] = {
        "object": dict,
        "array": list,
        "string": str,
        "boolean": bool,
        "integer": int,
        "number": int | float,
    }
    if kind in types and not isinstance(value, types[kind]):
        return [f"{path}: expected {kind}"]
    if kind in ("integer", "number") and isinstance(value, bool):
        return [f"{path}: expected {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path}: {value!r} not one of {schema['enum']}"]
    problems: list[str] = []
    if kind == "array":
        for index, item in enumerate(value):
            problems += _schema_problems(item, schema.get("items", {}), f"{path}[{index}]")
    if kind == "object":
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if properties is not None and key in properties:
                problems += _schema_problems(item, properties[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                problems += _schema_problems(item, extra, f"{path}.{key}")
            elif properties is not None:
                problems.append(f"{path}.{key}: unknown field")
        problems += [f"{path}.{k}: required" for k in schema.get("required", []) if k not in value]
    return problems


def v1_spec_schemas(crd_file: Path) -> dict[str, dict[str, Any]]:
    """Kind → openAPIV3Schema of `spec` for the `networking.istio.io/v1` VirtualService,
    DestinationRule and Gateway CRDs. Only those versions' text is parsed: the whole file takes
    seconds with the pure-Python YAML parser."""
    schemas: dict[str, dict[str, Any]] = {}
    for crd in re.split(r"^---\s*$", crd_file.read_text(), flags=re.M):
        kind = re.search(r"^    kind: (VirtualService|DestinationRule|Gateway)$", crd, re.M)
        if not kind or not re.search(r"^  group: networking\.istio\.io$", crd, re.M):
            continue
        versions = re.split(r"^  - ", crd, flags=re.M)[1:]  # the items of spec.versions
        (v1,) = [v for v in versions if re.search(r"(?:\A|^    )name: v1$", v, re.M)]
        item = YAML(typ="safe").load("  - " + v1)[0]
        schemas[kind.group(1)] = item["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return schemas


def test_routing_files_match_istio_crd_schemas() -> None:
    if not ISTIO_CRDS.is_file():
        pytest.skip(f"Istio CRD reference data not present at {ISTIO_CRDS}")
    schemas = v1_spec_schemas(ISTIO_CRDS)
    assert sorted(schemas) == ["DestinationRule", "Gateway", "VirtualService"]
    checked = 0
    for path in sorted(NETWORKING.glob("*.yaml")):
        for doc in documents(path):
            assert doc["apiVersion"] == "networking.istio.io/v1"
            schema = schemas[doc["kind"]]
            assert _schema_problems(doc["spec"], schema, "spec") == [], path.name
            checked += 1
    assert checked >= 20
    bad = {"http": [{"route": [{"destination": {"host": "x", "subnet": "v1"}}]}]}
    assert _schema_problems(bad, schemas["VirtualService"], "spec")
