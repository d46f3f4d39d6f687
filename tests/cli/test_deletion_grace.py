"""`delete --grace-period/--now/--force` as kubectl's DeleteOptions read them (kubectl
delete.go: Complete and Validate), and the launcher's side of a deletion's grace period."""

from __future__ import annotations

from pathlib import Path

import pytest

from pilotfish.cli.kube_delete import FORCE_WARNING, TargetError, deletion_grace
from pilotfish.local.restarts import request_grace, take_grace


@pytest.mark.parametrize(
    ("grace", "now", "force", "expected"),
    [
        (-1, False, False, None),  # the pod's terminationGracePeriodSeconds
        (5, False, False, 5),
        (0, False, False, 1),  # kubectl's guard: 0 only with --force
        (-1, True, False, 1),
        (0, False, True, 0),
        (-1, False, True, 0),
    ],
)
def test_grace_period_as_kubectl(grace: int, now: bool, force: bool, expected: int | None) -> None:
    assert deletion_grace(grace, now, force) == expected


def test_kubectls_refusals_and_warning(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(TargetError, match="--now and --grace-period cannot be specified together"):
        deletion_grace(3, True, False)
    with pytest.raises(TargetError, match="--force and --grace-period greater than 0 cannot"):
        deletion_grace(5, False, True)
    deletion_grace(0, False, True)
    assert capsys.readouterr().err == FORCE_WARNING + "\n"
    assert FORCE_WARNING.startswith("warning: Immediate deletion does not wait for confirmation")


def test_the_launcher_takes_a_deletions_grace_once(tmp_path: Path) -> None:
    assert take_grace(tmp_path, "sleep-0.default") is None
    request_grace(tmp_path, "sleep-0.default", 0)
    assert take_grace(tmp_path, "sleep-0.default") == 0
    assert take_grace(tmp_path, "sleep-0.default") is None
