"""istioctl's questions before `install` and `uninstall` (`cli.confirm`): asked on stdout and
answered on stdin whether it is a terminal or not, as istioctl asks; no answer (the end of the
input), `n` or an empty line cancel with istioctl's `Cancelled.` and status 1, another word asks
again; `-y` / `--skip-confirmation` asks nothing. Run as the command runs (no mesh is started:
every answer here cancels, or the command has nothing to stop)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pilotfish import __version__
from pilotfish.cli import confirm

ROOT = Path(__file__).resolve().parents[2]
QUESTION = (
    f'This will install the Istio {__version__} profile "demo" into the cluster. Proceed? (y/N) '
)


def pilotfish(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PILOTFISH_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "pilotfish", *args],
        input=stdin, capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(("answer", "asked"), [("", 1), ("n\n", 1), ("\n", 1), ("maybe\nNO\n", 2)])
def test_install_asks_and_anything_but_yes_cancels(tmp_path: Path, answer: str, asked: int) -> None:
    done = pilotfish(tmp_path, "install", "--set", "profile=demo", stdin=answer)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout == QUESTION * asked
    assert done.stderr == "Cancelled.\n"
    assert not (tmp_path / "install").exists()  # nothing was started


def test_uninstall_purge_says_everything_goes_and_asks(tmp_path: Path) -> None:
    done = pilotfish(tmp_path, "uninstall", "--purge")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout == ("All Istio resources will be pruned from the cluster\nProceed? (y/N) ")
    assert done.stderr == "Cancelled.\n"
    skipped = pilotfish(tmp_path, "uninstall", "--purge", "-y")
    assert skipped.stdout.startswith("All Istio resources will be pruned from the cluster\n\n")
    assert "Proceed?" not in skipped.stdout and "Cancelled" not in skipped.stderr


def test_the_answers_read_as_istioctl_reads_them(monkeypatch: pytest.MonkeyPatch) -> None:
    for text, expected in (("y\n", True), ("  YES\n", True), ("Yes", True), ("y y\n", False),
                           ("x\ny\n", True), ("no\n", False), ("", False)):  # fmt: skip
        monkeypatch.setattr(sys, "stdin", io.StringIO(text))
        assert confirm.confirm("Proceed? (y/N)") is expected, text


def test_uninstall_of_the_default_revision_names_the_proxies_left_detached() -> None:
    warning = confirm.uninstall_warning(False, ["httpbin-v1-0.default", "sleep-0.default"])
    assert warning == (
        "There are still 2 proxies pointing to the control plane revision default\n"
        "httpbin-v1-0.default\nsleep-0.default\n"
        "If you proceed with the uninstall, these proxies will become detached from any control "
        "plane and will not function correctly.\n"
    )
    assert confirm.uninstall_warning(False, []) == ""
