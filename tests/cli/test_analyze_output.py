"""`pilotfish analyze` prints, filters and exits as istioctl analyze does (istioctl's
analyze.go, pkg/util/formatting, pkg/config/analysis/diag and local.filterMessages): the
`Kind namespace/name file:line` origin, istioctl's sort order, the analysed namespace (`-n`,
`default`, every one with `-A`), suppressions (`-S`, the analyze-suppress annotation),
`-o json|yaml`, `--use-kube=false`, the closing words on stderr and the exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pilotfish.cli import analyze_output as out
from pilotfish.cli.analyze import analyze_command, list_analyzers
from pilotfish.config.analyzers.messages import AnalysisMessage
from pilotfish.config.objects import Source


def message(
    code: str, kind: str, name: str, severity: str = "Error", line: int = 3
) -> AnalysisMessage:
    return AnalysisMessage(severity, code, kind, name, f"text of {code}", Source("f.yaml", line))  # type: ignore[arg-type]


def test_origin_and_reference_as_istioctl_prints_them() -> None:
    assert str(message("IST0101", "VirtualService", "reviews.default")) == (
        "Error [IST0101] (VirtualService default/reviews f.yaml:3) text of IST0101"
    )
    assert message("IST0102", "Namespace", "foo").origin == "Namespace foo"
    webhook = message("IST0139", "MutatingWebhookConfiguration", "istio-sidecar-injector")
    assert (webhook.origin, webhook.namespace) == (
        "MutatingWebhookConfiguration istio-sidecar-injector",
        "",
    )
    dotted = message("IST0101", "Secret", "my.secret.istio-system")
    assert (dotted.origin, dotted.namespace) == ("Secret istio-system/my.secret", "istio-system")
    json_file = AnalysisMessage("Info", "IST0102", "Namespace", "a", "t", Source("in.json", 4))
    assert json_file.reference == "in.json"  # Istio's Position has no line for JSON
    assert AnalysisMessage("Info", "IST0102", "Namespace", "a", "t").reference == ""


def test_sorted_as_istioctl_and_each_printed_once() -> None:
    messages = [
        message("IST0118", "Service", "b.default", "Info"),
        message("IST0101", "VirtualService", "b.default", "Warning"),
        message("IST0106", "VirtualService", "a.default"),
        message("IST0101", "VirtualService", "b.default"),
        message("IST0101", "VirtualService", "a.default"),
        message("IST0101", "VirtualService", "a.default"),
    ]
    kept = out.kept(messages, None)
    assert [(m.severity, m.code, m.name) for m in kept] == [
        ("Error", "IST0101", "a.default"),
        ("Error", "IST0101", "b.default"),
        ("Error", "IST0106", "a.default"),
        ("Warning", "IST0101", "b.default"),
        ("Info", "IST0118", "b.default"),
    ]


def test_only_the_analysed_namespace_is_kept() -> None:
    messages = [
        message("IST0101", "VirtualService", "a.default"),
        message("IST0101", "VirtualService", "a.foo"),
        message("IST0102", "Namespace", "foo", "Info"),
        message("IST0139", "MutatingWebhookConfiguration", "injector"),
    ]
    names = [m.name for m in out.kept(messages, "default")]
    assert names == ["a.default", "injector"]  # cluster-scoped resources always count
    assert [m.name for m in out.kept(messages, "foo")] == ["a.foo", "injector", "foo"]
    assert len(out.kept(messages, None)) == 4


def test_suppressions_by_code_and_resource_with_wildcards() -> None:
    messages = [
        message("IST0103", "Pod", "mypod.testing"),
        message("IST0103", "Pod", "other.testing"),
        message("IST0107", "Deployment", "foobar.default"),
        message("IST0101", "Deployment", "foobar.default"),
    ]

    def left(*rules: str, annotations: dict[str, str] | None = None) -> list[str]:
        parsed = [out.parse_suppression(r) for r in rules]
        kept = out.kept(messages, None, [r for r in parsed if r], annotations)
        return [f"{m.code} {m.origin}" for m in kept]

    assert left("IST0103=Pod mypod.testing") == [
        "IST0101 Deployment default/foobar",
        "IST0103 Pod testing/other",
        "IST0107 Deployment default/foobar",
    ]
    assert left("IST0103=Pod *.testing", "IST0107=Deployment default/foobar") == [
        "IST0101 Deployment default/foobar"
    ]
    assert left("IST0103=Pod *.other") == left()
    assert out.parse_suppression("IST0103") is None
    said = {"Deployment default/foobar": "IST0107,IST0101", "Pod testing/mypod": "*"}
    assert left(annotations=said) == ["IST0103 Pod testing/other"]


@pytest.mark.parametrize(
    ("pattern", "text", "match"),
    [
        ("a*", "abc", True),
        ("*c", "abc", True),
        ("a*c", "ac", True),
        ("a*b*c", "abc", True),
        ("a*b*c", "acb", False),
        ("abc", "abcd", False),
        ("*", "", True),
        ("a?c", "abc", False),  # only * is special
    ],
)
def test_glob(pattern: str, text: str, match: bool) -> None:
    assert out.glob_match(pattern, text) is match


def test_json_and_yaml_outputs() -> None:
    one = [message("IST0101", "VirtualService", "reviews.default")]
    assert json.loads(out.render(one, "json")) == [
        {
            "code": "IST0101",
            "documentationUrl": "https://istio.io/v1.30/docs/reference/config/analysis/ist0101/"
            "?ref=istioctl-analyze",
            "level": "Error",
            "message": "text of IST0101",
            "origin": "VirtualService default/reviews",
            "reference": "f.yaml:3",
        }
    ]
    assert out.render(one, "json").startswith('[\n\t{\n\t\t"code": "IST0101",\n')
    assert out.render([], "json") == "[]"
    assert out.render(one, "yaml").splitlines()[:2] == [
        "- code: IST0101",
        "  documentationUrl: https://istio.io/v1.30/docs/reference/config/analysis/ist0101/"
        "?ref=istioctl-analyze",
    ]
    assert out.render([], "yaml") == "[]\n"
    tagged = AnalysisMessage("Error", "IST0101", "Gateway", "g.default", "<a> & b")
    assert '"message": "\\u003ca\\u003e \\u0026 b"' in out.render([tagged], "json")


def test_closing_words() -> None:
    assert out.no_issues(["a.yaml"], "default") == (
        "\u2714 No validation issues found when analyzing a.yaml."
    )
    assert out.no_issues(["a.yaml", "b.yaml"], None) == (
        "\u2714 No validation issues found when analyzing:\n  - a.yaml\n  - b.yaml"
    )
    assert out.no_issues([], None) == (
        "\u2714 No validation issues found when analyzing all namespaces."
    )
    assert out.found_issues("foo") == (
        "Error: Analyzers found issues when analyzing namespace: foo.\nSee "
        "https://istio.io/v1.30/docs/reference/config/analysis for more information about "
        "causes and resolutions."
    )


GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw%s}
spec:
  selector: {app: typo}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
"""
POD = """\
apiVersion: v1
kind: Pod
metadata: {name: app, labels: {app: app}}
spec: {containers: [{name: app, image: app}]}
"""


def run(
    tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str], **options: object
) -> tuple[int, str, str]:
    path = tmp_path / "in.yaml"
    path.write_text(text)
    code = analyze_command([str(path)], **options)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_namespace_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (
        GATEWAY % ""
        + "---\n"
        + POD
        + "---\n"
        + GATEWAY.replace("{name: gw%s}", "{name: x, namespace: foo}").replace(
            "number: 80", "number: 81"
        )
    )
    code, stdout, _ = run(tmp_path, text, capsys)
    assert code == 79 and "(Gateway default/gw " in stdout and "foo/x" not in stdout
    code, stdout, _ = run(tmp_path, text, capsys, all_namespaces=True)
    # -A: istioctl gives an object naming no namespace none (Istio's FullName prints `gw`)
    assert "(Gateway gw " in stdout and "(Gateway foo/x " in stdout
    code, stdout, stderr = run(tmp_path, text, capsys, namespace="foo")
    # -n foo: objects naming no namespace are in foo, and only foo is reported
    assert "(Gateway foo/gw " in stdout and "(Gateway foo/x " in stdout
    assert "analyzing namespace: foo." in stderr
    code, stdout, _ = run(tmp_path, text, capsys, namespace="bar")
    assert "(Gateway bar/gw " in stdout and "foo/x" not in stdout


def test_use_kube_false_ignores_the_cluster_objects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GATEWAY % "" + "---\n" + POD
    code, stdout, _ = run(tmp_path, text, capsys)
    assert code == 79 and 'Referenced selector not found: "app=typo"' in stdout
    code, stdout, stderr = run(tmp_path, text, capsys, use_kube=False)
    assert (code, stdout) == (0, "\n")
    assert stderr == f"\u2714 No validation issues found when analyzing {tmp_path / 'in.yaml'}.\n"


def test_objects_in_ignored_namespaces_are_not_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GATEWAY.replace("{name: gw%s}", "{name: gw, namespace: kube-system}") + "---\n" + POD
    assert run(tmp_path, text, capsys, all_namespaces=True)[:2] == (0, "\n")


def test_json_output_exits_zero_and_suppress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GATEWAY % "" + "---\n" + POD
    code, stdout, _ = run(tmp_path, text, capsys, output="json")
    assert code == 0 and json.loads(stdout)[0]["origin"] == "Gateway default/gw"
    code, stdout, _ = run(tmp_path, text, capsys, suppress=["IST0101=Gateway gw.*"])
    assert (code, stdout) == (0, "\n")
    code, _, stderr = run(tmp_path, text, capsys, suppress=["IST0101"])
    assert code == 1 and "IST0101 is not a valid suppression value" in stderr
    assert run(tmp_path, text, capsys, output="table")[0] == 64
    annotated = text.replace(
        "{name: gw}", "{name: gw, annotations: {galley.istio.io/analyze-suppress: IST0101}}"
    )
    assert run(tmp_path, annotated, capsys)[:2] == (0, "\n")


def test_unparsable_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, stderr = run(tmp_path, "a: [\n", capsys)
    assert (code, stdout) == (65, "\n")
    assert stderr.startswith("Error(s) adding files: ")
    assert stderr.endswith(
        "No validation issues found when analyzing namespace: default (but 1 file could not be "
        "parsed).\nError: Some files couldn't be parsed.\n"
    )
    assert run(tmp_path, "a: [\n", capsys, ignore_unknown=True)[0] == 0


def test_list_analyzers() -> None:
    listed = list_analyzers()
    assert listed.startswith(
        "* annotations.K8sAnalyzer:\n"
        "    Checks for misplaced and invalid Istio annotations in Kubernetes resources\n"
    )
    names = [line[2:-1] for line in listed.splitlines() if line.startswith("* ")]
    assert names == sorted(names) and len(names) == 53
    assert "schema.ValidationAnalyzer.VirtualService" in names


def test_all_namespaces_prints_an_object_naming_none_without_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "---\n".join(
        [
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: my.vs}\n"
            "spec: {hosts: [r], http: [{route: [{destination: {host: nothere}}]}]}\n",
            GATEWAY.replace("{name: gw%s}", "{name: gw, namespace: default}"),
            POD,
            "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
            "spec: {selector: {app: app}, ports: [{port: 80, name: bad name}]}\n",
        ]
    )
    code, stdout, _ = run(tmp_path, text, capsys, all_namespaces=True, namespace="foo")
    assert code == 79
    origins = [line.split(" (")[1].split(" ")[:2] for line in stdout.strip().splitlines()]
    # istioctl's order: errors first, by code, then Kind/name/namespace
    assert origins == [
        ["Gateway", "default/gw"],
        ["VirtualService", "my.vs"],
        ["Service", "s"],
    ]
    for output in ("json", "yaml"):
        code, stdout, _ = run(tmp_path, text, capsys, all_namespaces=True, output=output)
        found = json.loads(stdout) if output == "json" else _yaml_origins(stdout)
        origin = [m["origin"] for m in found]
        assert origin == ["Gateway default/gw", "VirtualService my.vs", "Service s"]
    # without -A the objects are in the -n namespace, as before
    code, stdout, _ = run(tmp_path, text, capsys, namespace="foo")
    assert "(VirtualService foo/my.vs " in stdout and "(Service foo/s " in stdout
    # suppressions name the resource as istioctl prints it
    code, stdout, _ = run(
        tmp_path, text, capsys, all_namespaces=True, suppress=["IST0101=VirtualService my.vs"]
    )
    assert "my.vs" not in stdout and "default/gw" in stdout
    annotated = text.replace(
        "{name: my.vs}", "{name: my.vs, annotations: {galley.istio.io/analyze-suppress: IST0101}}"
    )
    code, stdout, _ = run(tmp_path, annotated, capsys, all_namespaces=True)
    assert "my.vs" not in stdout and "default/gw" in stdout
    # a Service naming no namespace, with or without -A
    annotated = text.replace(
        "{name: s}", "{name: s, annotations: {galley.istio.io/analyze-suppress: IST0118}}"
    )
    for every in (True, False):
        code, stdout, _ = run(tmp_path, annotated, capsys, all_namespaces=every)
        assert "IST0118" not in stdout and "IST0101" in stdout


def _yaml_origins(text: str) -> list[dict[str, str]]:
    """The `origin:` of each message of `-o yaml` output."""
    lines = [line.strip() for line in text.splitlines()]
    return [{"origin": line.split(": ", 1)[1]} for line in lines if line.startswith("origin: ")]
