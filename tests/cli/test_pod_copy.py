"""`kubectl cp` into a pod and `exec`'s view of the pod's own files (`cli.pod_copy`,
`agent.pod_files`): Istio's "Ingress Sidecar TLS Termination" copies a client certificate into
the sleep pod's `/tmp/` and hands it to curl there."""

from __future__ import annotations

from pathlib import Path

import pytest

from pilotfish.agent.pod_files import container_file, in_pod
from pilotfish.cli.pod_copy import pod_arguments


def test_a_file_the_pod_holds_is_handed_to_execs_command_by_its_host_path(tmp_path: Path) -> None:
    copied = in_pod(tmp_path, "/tmp/ca.crt")
    copied.parent.mkdir(parents=True)
    copied.write_text("CA")
    argv = ["curl", "--cacert", "/tmp/ca.crt", "--key=/tmp/ca.crt", "/tmp/none", "https://h/"]
    assert pod_arguments(argv, tmp_path) == [
        "curl", "--cacert", str(copied), f"--key={copied}", "/tmp/none", "https://h/",
    ]  # fmt: skip
    assert pod_arguments(["/tmp/ca.crt"], tmp_path) == ["/tmp/ca.crt"]  # the program is kept
    assert container_file(tmp_path, "/etc/hosts") == Path("/etc/hosts")  # else the host's


def test_a_path_may_not_leave_the_pod() -> None:
    with pytest.raises(ValueError, match=r"may not contain '\.\.'"):
        in_pod(Path("/run/pod"), "/tmp/../../etc/passwd")
    assert in_pod(Path("/run/pod"), "tmp//x") == Path("/run/pod/fs/tmp/x")
