"""`pilotfish.config.load` / `load_paths`: documents, kinds and versions, metadata, unknown
fields, type errors with paths and lines, and the pass-through of non-Istio documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from pilotfish.config import load, load_paths
from pilotfish.config.models.networking import StringMatch, VirtualServiceSpec

VS = """\
apiVersion: networking.istio.io/{version}
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts:
  - reviews
  http:
  - match:
    - headers:
        end-user:
          exact: jason
    route:
    - destination:
        host: reviews
        subset: v2
    retries:
      attempts: 3
      perTryTimeout: 1.5s
"""


@pytest.mark.parametrize("version", ["v1", "v1beta1", "v1alpha3"])
def test_every_served_version_loads_to_the_same_model(version: str) -> None:
    result = load(VS.format(version=version), "vs.yaml")
    assert result.ok, [str(d) for d in result.diagnostics]
    assert result.diagnostics == []
    (obj,) = result.objects
    assert obj.meta.key == ("VirtualService", "default", "reviews")
    assert obj.meta.gvk.version == version
    assert obj.meta.source.file == "vs.yaml" and obj.meta.source.line == 1
    assert isinstance(obj.spec, VirtualServiceSpec)
    http = obj.spec.http[0]
    assert http.match[0].headers == {"end-user": StringMatch(exact="jason")}
    assert http.retries is not None and http.retries.per_try_timeout == "1.5s"
    assert obj.raw["spec"]["hosts"] == ["reviews"]


def test_unserved_version_and_unknown_istio_kind() -> None:
    text = VS.format(version="v2") + "---\napiVersion: networking.istio.io/v1\nkind: Nope\n"
    text += "metadata: {name: x}\n"
    messages = [str(d) for d in load(text, "k.yaml").diagnostics]
    assert messages == [
        "k.yaml:1: VirtualService default/reviews at apiVersion: networking.istio.io/v2 is not "
        "served for VirtualService (served: networking.istio.io/v1, networking.istio.io/v1beta1, "
        "networking.istio.io/v1alpha3)",
        'k.yaml:22: Nope default/x at kind: unknown Istio kind "Nope" in networking.istio.io/v1',
    ]


def test_missing_kind_api_version_and_name_are_errors() -> None:
    result = load("metadata: {}\nspec: {}\n", "m.yaml")
    assert not result.ok
    assert [str(d) for d in result.diagnostics] == [
        "m.yaml:1: at apiVersion: apiVersion is required",
        "m.yaml:1: at kind: kind is required",
        "m.yaml:1: at metadata.name: metadata.name is required",
    ]


def test_unknown_fields_warn_and_strict_rejects() -> None:
    text = VS.format(version="v1").replace(
        "      attempts: 3\n", "      attempts: 3\n      tries: 2\n"
    )
    relaxed = load(text, "u.yaml")
    assert relaxed.ok and len(relaxed.objects) == 1
    assert [str(d) for d in relaxed.warnings] == [
        'u.yaml:19: VirtualService default/reviews at spec.http[0].retries.tries: unknown field "tries"'  # noqa: E501
    ]
    strict = load(text, "u.yaml", strict=True)
    assert not strict.ok and strict.objects == []
    assert [d.level for d in strict.diagnostics] == ["error"]


def test_type_errors_name_path_and_line() -> None:
    text = VS.format(version="v1").replace("attempts: 3", 'attempts: "three"')
    result = load(text, "t.yaml")
    assert [str(d) for d in result.diagnostics] == [
        "t.yaml:18: VirtualService default/reviews at spec.http[0].retries.attempts: "
        "must be an integer, got string"
    ]
    assert result.objects == []


def test_enum_values_are_checked() -> None:
    text = (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: r}\n"
        "spec:\n  host: r\n  trafficPolicy:\n    loadBalancer:\n      simple: FASTEST\n"
    )
    (diag,) = load(text, "e.yaml").diagnostics
    assert str(diag) == (
        "e.yaml:8: DestinationRule default/r at spec.trafficPolicy.loadBalancer.simple: unsupported "  # noqa: E501
        "value 'FASTEST': must be one of 'UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', "
        "'ROUND_ROBIN' or 'LEAST_REQUEST'"
    )


def test_non_istio_documents_pass_through() -> None:
    text = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: bookinfo}\n"
        "spec: {ports: [{port: 9080, name: http}], whatever: yes}\n---\n"
        "apiVersion: pilotfish.io/v1alpha1\nkind: Workload\nmetadata: {name: w}\n"
    )
    result = load(text, "o.yaml")
    assert result.ok and result.objects == []
    assert [(d.api_version, d.kind) for d in result.others] == [
        ("v1", "Service"),
        ("pilotfish.io/v1alpha1", "Workload"),
    ]
    assert result.others[0].data["spec"]["whatever"] == "yes"


def test_namespace_labels_and_bad_metadata() -> None:
    ok = load(
        VS.format(version="v1").replace(
            "  name: reviews\n", "  name: reviews\n  namespace: prod\n  labels: {app: reviews}\n"
        ),
        "n.yaml",
    )
    assert ok.objects[0].meta.namespace == "prod"
    assert ok.objects[0].meta.label_map == {"app": "reviews"}
    # istioctl validates files without the API server's name rule: a warning, not a refusal
    odd = load(VS.format(version="v1").replace("name: reviews", "name: Reviews_1"), "b.yaml")
    assert odd.ok
    assert [str(d) for d in odd.diagnostics] == [
        'b.yaml:4: VirtualService default/Reviews_1 at metadata.name: name "Reviews_1" is not a '
        "lowercase DNS-1123 subdomain: a Kubernetes API server would refuse it"
    ]
    bad = load(VS.format(version="v1").replace("name: reviews", "name: ../etc"), "b.yaml")
    assert [str(d) for d in bad.errors] == [
        'b.yaml:4: VirtualService default/../etc at metadata.name: invalid name "../etc": '
        "must be a lowercase DNS-1123 subdomain"
    ]


def test_load_paths_reads_files_directories_and_reports_missing(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.yaml").write_text(VS.format(version="v1"))
    (tmp_path / "sub" / "a.yml").write_text(
        VS.format(version="v1beta1").replace("reviews\n", "r2\n", 1)
    )
    (tmp_path / "notes.txt").write_text("not yaml: [")
    result = load_paths([str(tmp_path), str(tmp_path / "missing.yaml")])
    assert [o.meta.source.file for o in result.objects] == [
        str(tmp_path / "b.yaml"),
        str(tmp_path / "sub" / "a.yml"),
    ]
    assert [str(d) for d in result.diagnostics] == [
        f"{tmp_path / 'missing.yaml'}: no such file or directory"
    ]


def test_load_paths_reads_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(VS.format(version="v1")))
    result = load_paths(["-"])
    assert result.ok and result.objects[0].meta.source.file == "<stdin>"


@pytest.mark.parametrize("kind", ["modelled", "validated only"])
def test_top_level_fields_as_istioctl_validate_checks_them(kind: str) -> None:
    """istioctl validate refuses a top-level field other than apiVersion, kind, metadata, spec
    and status (checkFields); `status` (as `kubectl get -o yaml` writes it) is accepted."""
    head = (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\n"
        "spec: {hosts: [a], http: [{route: [{destination: {host: a}}]}]}\n"
        if kind == "modelled"
        else "apiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\nmetadata: {name: a}\n"
        "spec: {url: 'oci://a/b'}\n"
    )
    assert load(head + "status: {observedGeneration: 2}\n", "t.yaml").ok
    refused = load(head + "specs: {}\n", "t.yaml")
    assert [(d.path, d.message) for d in refused.errors] == [("specs", 'unknown field "specs"')]


def test_an_istio_operator_needs_no_name() -> None:
    """As istioctl validate and install read it (Istio's samples ship IstioOperators with no
    metadata); any other document still needs its name."""
    text = "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec: {profile: demo}\n"
    result = load(text, "iop.yaml")
    assert result.ok and result.diagnostics == []
    assert [d.kind for d in result.others] == ["IstioOperator"]
    nameless = load(text.replace("install.istio.io/v1alpha1", "apps/v1"), "d.yaml")
    assert [d.path for d in nameless.errors] == ["metadata.name"]
