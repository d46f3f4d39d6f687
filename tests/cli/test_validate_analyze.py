"""`pilotfish validate` and `pilotfish analyze` run as a user runs them: `python -m pilotfish` in a
subprocess, asserting exit codes (0, 1, 2, 79) and the lines printed; and `analyze --use-mesh`
against a real local mesh (control plane, Envoy, httpbin) started as the e2e tests start one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.config.yaml_docs import REVIEWS_RULE, virtual_service
from tests.e2e.meshctl import ROOT, LocalMesh, running_mesh

SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: reviews}
spec: {selector: {app: reviews}, ports: [{port: 9080, name: http}]}
"""
RULE = REVIEWS_RULE
ROUTE = virtual_service("reviews", "reviews", "v1")
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: reviews-v1}
spec: {replicas: 1, whatever: [1, 2]}
"""

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1-0, labels: {app: reviews, version: v1}}
spec: {containers: [{name: reviews, image: reviews}, {name: istio-proxy, image: proxyv2}]}
"""  # the pod subset v1 selects (Istio's IST0173 reads Pods only)


def pilotfish(
    *args: str, stdin: str | None = None, home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if home is not None:
        env["PILOTFISH_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "pilotfish", *args],
        input=stdin, capture_output=True, text=True, timeout=120, cwd=ROOT, env=env,
    )  # fmt: skip


def write(path: Path, *docs: str) -> str:
    path.write_text("---\n".join(docs))
    return str(path)


def test_validate_valid_directory_passes_over_non_istio_documents(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", SERVICE, DEPLOYMENT)
    (tmp_path / "nested").mkdir()
    write(tmp_path / "nested" / "b.yml", RULE, ROUTE)
    (tmp_path / "notes.txt").write_text("not: [yaml")
    run = pilotfish("validate", "-f", str(tmp_path))
    assert (run.returncode, run.stdout, run.stderr) == (
        0,
        "validation succeeded: 4 document(s) checked\n",
        "",
    )


def test_validate_errors_warnings_and_strict(tmp_path: Path) -> None:
    bad = write(
        tmp_path / "bad.yaml", ROUTE.replace("subset: v1}", "subset: v1}\n      weight: -5")
    )
    run = pilotfish("validate", "-f", bad)
    assert run.returncode == 1
    assert run.stdout.splitlines() == [
        f"error: {bad}:9: VirtualService default/reviews at spec.http[0].route[0].weight: weight -5 < 0",  # noqa: E501
        "validation failed: 1 error(s)",
    ]
    extra = write(
        tmp_path / "extra.yaml", RULE.replace("host: reviews", "host: reviews\n  hots: 1")
    )
    run = pilotfish("validate", "-f", extra)
    assert run.returncode == 0
    assert run.stdout.splitlines() == [
        f'warning: {extra}:6: DestinationRule default/reviews at spec.hots: unknown field "hots"',
        "validation succeeded: 1 document(s) checked",
    ]
    strict = pilotfish("validate", "--strict", "-f", extra)
    assert strict.returncode == 1
    assert strict.stdout.splitlines()[0].startswith(f"error: {extra}:6: ")


def test_validate_reads_stdin_and_reports_usage_errors(tmp_path: Path) -> None:
    run = pilotfish("validate", "-f", "-", stdin=RULE + "---\n" + ROUTE)
    assert (run.returncode, run.stdout) == (0, "validation succeeded: 2 document(s) checked\n")
    broken = pilotfish("validate", "-f", "-", stdin="kind: [unclosed\n")
    assert broken.returncode == 1
    assert broken.stdout.splitlines()[0].startswith("error: <stdin>:")
    missing = pilotfish("validate", "-f", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 1
    assert f"{tmp_path / 'nope.yaml'}: no such file or directory" in missing.stdout
    assert pilotfish("validate").returncode == 2


def test_analyze_exit_codes_and_thresholds(tmp_path: Path) -> None:
    good = write(tmp_path / "good.yaml", SERVICE, RULE, ROUTE, DEPLOYMENT, POD)
    run = pilotfish("analyze", "-f", good)
    assert (run.returncode, run.stdout) == (0, "\n")
    assert run.stderr == f"\u2714 No validation issues found when analyzing {good}.\n"
    broken = write(
        tmp_path / "broken.yaml",
        SERVICE,
        RULE,
        ROUTE.replace("subset: v1", "subset: v2"),
        RULE.replace("name: reviews}", "name: tls}").replace(
            "  subsets:", "  trafficPolicy: {tls: {mode: SIMPLE}}\n  subsets:"
        ),
        POD,
    )
    run = pilotfish("analyze", broken)  # files as istioctl takes them, or with -f
    lines = run.stdout.splitlines()
    assert run.returncode == 79
    assert run.stderr == (
        "Error: Analyzers found issues when analyzing namespace: default.\n"
        "See https://istio.io/v1.30/docs/reference/config/analysis for more information about "
        "causes and resolutions.\n"
    )
    assert lines == [
        f'Error [IST0101] (VirtualService default/reviews {broken}:21) Referenced host+subset in destinationrule not found: "reviews+v2"',  # noqa: E501
        f"Warning [IST0128] (DestinationRule default/tls {broken}:28) DestinationRule default/tls in namespace default has TLS mode set to SIMPLE but no caCertificates are set to validate server identity for host: reviews",  # noqa: E501
    ]
    only_errors = pilotfish("analyze", "--output-threshold", "Error", "-f", broken)
    assert (only_errors.returncode, only_errors.stdout.splitlines()) == (79, lines[:1])
    warning_only = write(
        tmp_path / "w.yaml",
        SERVICE,
        RULE.replace("  subsets:", "  trafficPolicy: {tls: {mode: SIMPLE}}\n  subsets:"),
        POD,
    )
    assert pilotfish("analyze", "-f", warning_only).returncode == 0
    assert (
        pilotfish("analyze", "--failure-threshold", "Warning", "-f", warning_only).returncode == 79
    )
    hidden = pilotfish("analyze", "--output-threshold", "error", "-f", warning_only)
    assert (hidden.stdout, hidden.stderr) == (
        "\n",
        f"\u2714 No validation issues found when analyzing {warning_only}.\n",
    )
    bad = pilotfish("analyze", "--output-threshold", "Loud", "-f", good)
    assert bad.returncode == 64  # istioctl's ExitIncorrectUsage
    assert "invalid level option" in bad.stderr
    assert pilotfish("analyze").returncode == 1  # no file and no mesh running


def test_analyze_from_stdin_reports_schema_errors() -> None:
    run = pilotfish("analyze", "-", stdin=RULE.replace("host: reviews", "host: 'a*b'"))
    assert run.returncode == 79
    assert run.stdout.startswith(  # istioctl names standard input "-"
        "Error [IST0106] (DestinationRule default/reviews -:5) Schema validation error: "
    )


def test_analyze_use_mesh_without_a_mesh_fails_cleanly(tmp_path: Path) -> None:
    run = pilotfish("analyze", "--use-mesh", home=tmp_path / "home")
    assert run.returncode == 1
    assert run.stderr.startswith("error: no mesh is running from ")
    assert "Traceback" not in run.stderr


@pytest.fixture(scope="module")
def httpbin_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMesh]:
    with running_mesh(tmp_path_factory, "samples/httpbin") as mesh:
        yield mesh


MISSING_SUBSET = virtual_service("httpbin", "httpbin", "v9")


@pytest.mark.e2e
def test_analyze_use_mesh_reads_the_running_mesh(httpbin_mesh: LocalMesh, tmp_path: Path) -> None:
    clean = httpbin_mesh.pilotfish("analyze", "--use-mesh")
    assert (clean.returncode, clean.stdout, clean.stderr) == (
        0,
        "\n",
        "\u2714 No validation issues found when analyzing namespace: default.\n",
    )
    applied = write(tmp_path / "vs.yaml", MISSING_SUBSET)
    httpbin_mesh.apply(applied)
    run = httpbin_mesh.pilotfish("analyze", "--use-mesh")
    assert (run.returncode, run.stdout.splitlines()) == (
        79,
        [
            "Error [IST0101] (VirtualService default/httpbin) Referenced host+subset in "
            'destinationrule not found: "httpbin+v9"'
        ],
    ), run.stderr
    # A file overrides the stored object of the same kind/namespace/name, as istioctl does.
    fixed = write(tmp_path / "fixed.yaml", MISSING_SUBSET.replace(", subset: v9", ""))
    both = httpbin_mesh.pilotfish("analyze", "--use-mesh", "-f", fixed)
    assert (both.returncode, both.stderr) == (
        0,
        f"\u2714 No validation issues found when analyzing {fixed}.\n",
    ), both.stdout + both.stderr
    # Files alone know nothing of the mesh's registry, and with no Service among them they are
    # analysed as istioctl analyze --use-kube=false does: the host check, which reads a
    # cluster's Services, is skipped (with the mesh's registry above, the host was found).
    alone = httpbin_mesh.pilotfish("analyze", "-f", fixed)
    assert (alone.returncode, alone.stderr) == (
        0,
        f"\u2714 No validation issues found when analyzing {fixed}.\n",
    ), alone.stdout + alone.stderr
    missing = httpbin_mesh.pilotfish("analyze", "-f", applied)  # the subset check runs offline
    assert missing.returncode == 79 and '"httpbin+v9"' in missing.stdout, missing.stdout
