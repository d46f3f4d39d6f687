"""`pilotfish analyze` reads its inputs as istioctl analyze gathers them: files given as
arguments (or with -f), a directory's .json/.yaml/.yml files with its subfolders always (`-R`
only says the flag was removed), other extensions skipped with a note, one object per
kind/namespace/name — the later definition wins."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pilotfish", "analyze", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_directory_is_read_with_its_subfolders() -> None:
    result = analyze("samples/bookinfo/networking")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "\n"
    assert result.stderr.startswith("\u2714 No validation issues found when analyzing:\n  - ")
    files = result.stderr.splitlines()[1:]
    assert "  - samples/bookinfo/networking/bookinfo-gateway.yaml" in files
    assert files == sorted(files)


def test_an_object_defined_twice_is_one_object(tmp_path: Path) -> None:
    gateway = Path("samples/bookinfo/networking/bookinfo-gateway.yaml").read_text()
    (tmp_path / "a.yaml").write_text(gateway)
    (tmp_path / "b.yaml").write_text(gateway)
    (tmp_path / "services.yaml").write_text(Path("samples/bookinfo/bookinfo.yaml").read_text())
    result = analyze(str(tmp_path))
    assert "IST0145" not in result.stdout, result.stdout  # no conflict with itself
    assert result.returncode == 0, result.stdout


def test_subfolders_are_read_and_the_last_definition_wins(tmp_path: Path) -> None:
    (tmp_path / "services.yaml").write_text(Path("samples/bookinfo/bookinfo.yaml").read_text())
    (tmp_path / "notes.txt").write_text("not config")
    sub = tmp_path / "rules"
    sub.mkdir()
    good = Path("samples/bookinfo/networking/virtual-service-reviews-v3.yaml").read_text()
    (sub / "1-bad.yaml").write_text(good.replace("subset: v3", "subset: v9"))
    result = analyze("-f", str(tmp_path))
    assert result.returncode == 79 and '"reviews+v9"' in result.stdout, result.stdout
    assert f"Skipping file {tmp_path / 'notes.txt'}, recognized file extensions are: " in (
        result.stderr
    )
    (sub / "2-good.yaml").write_text(good)
    (sub / "0-dr.yaml").write_text(
        Path("samples/bookinfo/networking/destination-rule-all.yaml").read_text()
    )
    result = analyze(str(tmp_path))
    # the good VirtualService replaced the bad one; what remains is Istio's IST0173 for the
    # mysql subsets of destination-rule-all.yaml, whose workloads bookinfo.yaml does not run
    codes = re.findall(r"\[(IST\d+)\]", result.stdout)
    assert codes == ["IST0173", "IST0173"], result.stdout
    assert "v2-mysql " in result.stdout and "v2-mysql-vm " in result.stdout


def test_recursive_flag_only_says_it_was_removed(tmp_path: Path) -> None:
    result = analyze("-R", str(tmp_path))
    assert (result.returncode, result.stdout) == (
        0,
        "The recursive flag has been removed and is hardcoded to true without explicitly "
        "specifying it.\n",
    )


def test_a_missing_path_is_an_error() -> None:
    result = analyze("no-such-file.yaml")
    assert result.returncode == 1
    assert result.stderr == "Error: stat no-such-file.yaml: no such file or directory\n"


def test_use_kube_flag_as_istioctl_spells_it(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text(
        "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw}\n"
        "spec:\n  selector: {app: typo}\n  servers:\n"
        "  - port: {number: 80, name: http, protocol: HTTP}\n    hosts: ['*']\n---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: app, labels: {app: app}}\n"
        "spec: {containers: [{name: app, image: app}]}\n"
    )
    assert analyze("-k", str(path)).returncode == 79  # the Pod read: no pod has app=typo
    offline = analyze("--use-kube=false", "--color=false", str(path))
    assert (offline.returncode, offline.stdout) == (0, "\n")  # istioctl ignores Pods in files
