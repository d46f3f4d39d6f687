"""`pilotfish cp SRC DST` (kubectl's `cp`), and the pod's own files for `exec`.

A file spec is kubectl's: `[NAMESPACE/]POD:PATH` names a path inside a pod, anything else a
local path. Copying into a pod writes the pod's own folder (`agent.pod_files`: local mode's
pods share the host's file system); a destination that ends with `/`, or that is a directory
in the pod (the pod's own, else the host's, which the containers see), keeps the source's
file name (`kubectl cp ca.crt default/sleep-0:/tmp/` writes `/tmp/ca.crt`). Copying out of a
pod reads what its containers read at that path. Files only: a directory as the source is
refused (kubectl's tar of a tree is not modelled).

`exec` runs the command on the host: an argument naming a file the pod holds in its own folder
(`/tmp/ca.crt`, `--cacert=/tmp/ca.crt`) is handed over as that file's host path
(`pod_arguments`), so `curl --cacert /tmp/ca.crt …` after `kubectl cp` reads what was copied.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path, PurePosixPath

from pilotfish.agent.pod_files import container_file, in_pod
from pilotfish.cli.errors import running_mesh
from pilotfish.cli.pods import PodNotFound, resolve_pod

_POD_SPEC = re.compile(r"^(?:(?P<ns>[a-z0-9-]+)/)?(?P<pod>[A-Za-z0-9.-]+):(?P<path>.*)$")


def pod_arguments(argv: list[str], run_dir: Path) -> list[str]:
    """`argv` with each absolute path the pod holds in its own folder (alone, or after `=`)
    replaced by that file's host path; the program itself (`argv[0]`) is kept."""

    def mapped(arg: str) -> str:
        head, sep, path = arg.rpartition("=") if "=" in arg else ("", "", arg)
        if not path.startswith("/"):
            return arg
        found = container_file(run_dir, path)
        return f"{head}{sep}{found}" if found != Path(path) else arg

    return argv[:1] + [mapped(a) for a in argv[1:]]


def _split(spec: str) -> tuple[str | None, str, str] | None:
    """(namespace, pod, path) of `[NS/]POD:PATH`, None for a local path."""
    found = _POD_SPEC.match(spec)
    if found is None or (found["path"] == "" and not spec.endswith(":")):
        return None
    return found["ns"], found["pod"], found["path"]


def cp_command(source: str, destination: str, state_dir: Path, namespace: str | None = None) -> int:
    src, dst = _split(source), _split(destination)
    if (src is None) == (dst is None):
        print("error: one of src or dest must be a local file specification, the other a "
              "remote one ([namespace/]pod:path)", file=sys.stderr)  # fmt: skip
        return 1
    info = running_mesh(state_dir)
    remote = dst or src
    assert remote is not None
    try:
        _, proxy = resolve_pod(info, remote[1], remote[0] or namespace)
    except PodNotFound as exc:
        print(f"Error from server (NotFound): {exc}", file=sys.stderr)
        return 1
    run_dir = Path(proxy["run_dir"])
    if dst is not None:  # into the pod
        local = Path(source)
        if not local.is_file():
            print(f"error: {source} doesn't exist in local filesystem", file=sys.stderr)
            return 1
        path = dst[2] or "/"
        if path.endswith("/") or container_file(run_dir, path).is_dir():
            path = str(PurePosixPath(path) / local.name)
        try:
            target = in_pod(run_dir, path)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, target)
        os.chmod(target, 0o644)
        return 0
    assert src is not None
    found = container_file(run_dir, src[2])
    if not found.is_file():
        print(f"error: {src[2]}: no such file in pod {src[1]}", file=sys.stderr)
        return 1
    target = Path(destination)
    if target.is_dir():
        target = target / PurePosixPath(src[2]).name
    print("tar: Removing leading `/' from member names", file=sys.stderr)
    shutil.copyfile(found, target)
    return 0
