"""`apply -f` with no mesh running (kubectl before `istioctl install`, as Istio's OpenTelemetry
tracing task deploys its collector): the objects are checked as the control plane checks an
apply (images through the image map, injection by the stored namespaces' labels) and stored in
`<state>/config.yaml` for the next start (which starts them: tests/e2e/test_otel_tracing_task.py),
with kubectl's created / unchanged / configured lines; a bad file writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from pilotfish.cli.apply import apply_files
from pilotfish.cli.label import create_namespace_command
from pilotfish.registry.inputs import parse_documents
from pilotfish.registry.workloads import IMAGES_ANNOTATION
from pilotfish.state_files import STORE_FILE

ROOT = Path(__file__).resolve().parents[2]
OTEL = ROOT / "samples" / "open-telemetry" / "otel.yaml"


def _stored(state: Path) -> list[tuple[str, str, str]]:
    raws, parsed = parse_documents([("config.yaml", (state / STORE_FILE).read_text())])
    assert parsed.ok, parsed.diagnostics
    return [(r["kind"], r["metadata"].get("namespace", ""), r["metadata"]["name"]) for r in raws]


def test_the_collector_is_stored_before_the_mesh_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    assert create_namespace_command("otel-collector", state) == 0
    files = [(str(OTEL), OTEL.read_text())]
    assert apply_files(files, state, wait=True, timeout=10, namespace="otel-collector") == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[1:] == [
        "configmap/opentelemetry-collector-conf created",
        "service/opentelemetry-collector created",
        "deployment.apps/opentelemetry-collector created",
    ]
    assert "no mesh is running" in err and "stored for the next" in err
    assert _stored(state) == [
        ("Namespace", "", "otel-collector"),
        ("ConfigMap", "otel-collector", "opentelemetry-collector-conf"),
        ("Service", "otel-collector", "opentelemetry-collector"),
        ("Deployment", "otel-collector", "opentelemetry-collector"),
    ]
    text = (state / STORE_FILE).read_text()
    assert IMAGES_ANNOTATION in text  # resolved now, as the control plane's apply records it
    assert apply_files(files, state, wait=True, timeout=10, namespace="otel-collector") == 0
    assert capsys.readouterr().out.split() == [
        "configmap/opentelemetry-collector-conf", "unchanged",
        "service/opentelemetry-collector", "unchanged",
        "deployment.apps/opentelemetry-collector", "unchanged",
    ]  # fmt: skip
    label = "  labels:\n    app: opentelemetry-collector\ndata:"
    changed = OTEL.read_text().replace(label, label.replace("data:", "  tier: changed\ndata:"))
    assert "tier: changed" in changed
    assert apply_files([(str(OTEL), changed)], state, True, 10, "otel-collector") == 0
    assert "configmap/opentelemetry-collector-conf configured" in capsys.readouterr().out
    assert len(_stored(state)) == 4


def test_an_image_the_map_lacks_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    bad = OTEL.read_text().replace("otel/opentelemetry-collector-contrib", "example/nothing-here")
    assert apply_files([("otel.yaml", bad)], state, True, 10, "otel-collector") == 1
    err = capsys.readouterr().err
    assert "example/nothing-here" in err and "rejected: nothing was changed" in err
    assert not (state / STORE_FILE).exists()
