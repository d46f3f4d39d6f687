"""Meshes that several test modules share: what every end-to-end module would otherwise pay
itself (`up` of the same sample and its `down`, ~8–10 s of a CI worker each), paid once.

A group names modules whose tests need the same mesh and leave it as they found it (their
rules, namespaces and pods deleted when they end). `make test` (`--dist loadfile`) runs a
group's modules one after the other on one worker (`tests/conftest.py` schedules the group as
one unit), so its mesh starts once and stops when the group's last module ends; run alone or in
another order, a module starts the group's mesh itself, as before.

Leftovers never reach the next module: after each module the mesh's config, manifest and pods
are compared with what they were when the mesh started (`Fingerprint`), and a mesh that changed
is stopped, with a warning naming the module; the next module of the group starts a new one.
What the fingerprint cannot see (an Envoy's counters, the clusters a sidecar fetched on demand,
the logs) the group's modules must not depend on: each reads counters as differences, or
after a reset, as its own tests already do when they share its mesh.
"""

from __future__ import annotations

import contextlib
import json
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from tests.e2e.authzkit import authz_mesh
from tests.e2e.httpkit import traffic_mesh_with_subsets
from tests.e2e.meshctl import LocalMesh, running_mesh

Starter = Callable[[Any], contextlib.AbstractContextManager[LocalMesh]]

GROUPS: dict[str, tuple[Starter, tuple[str, ...]]] = {
    "authz": (authz_mesh, ("test_authz_jwt.py", "test_authz_normalization.py",
                           "test_authz_policies.py")),
    "traffic": (traffic_mesh_with_subsets, ("test_http_resilience.py", "test_http_routing.py")),
    "bookinfo": (lambda factory: running_mesh(factory, "samples/bookinfo"),
                 ("test_describe.py", "test_diagnostic_tools_pages.py",
                  "test_http_bookinfo_faults.py", "test_identity_env.py")),
}  # fmt: skip
"""group -> (how its mesh starts, its modules: files of tests/e2e/)"""


def group_of(path: str) -> str | None:
    """The group of the test module at `path` (a node ID's file part or a path), if any."""
    folder, _, name = str(path).rpartition("/")
    if not folder.endswith("tests/e2e"):
        return None
    return next((group for group, (_, names) in GROUPS.items() if name in names), None)


def _get(mesh: LocalMesh, path: str) -> Any:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(mesh.info["api"] + path, timeout=30) as response:
        return json.loads(response.read())


def fingerprint(mesh: LocalMesh) -> tuple[Any, ...]:
    """What a module could leave behind that the next one would see: every stored object (its
    kind, namespace, name and content, without the fields each write changes), the manifest's
    documents, and each pod's processes (a restarted app or Envoy has new ones)."""

    def identity(doc: dict[str, Any]) -> str:
        meta = dict(doc.get("metadata") or {})
        for volatile in ("resourceVersion", "generation", "creationTimestamp", "uid",
                         "managedFields", "annotations"):  # fmt: skip
            meta.pop(volatile, None)
        kept = {k: v for k, v in doc.items() if k not in ("metadata", "status")}
        return json.dumps([meta, kept], sort_keys=True, default=str)

    config = sorted(identity(d) for d in _get(mesh, "/api/v1/config")["documents"])
    manifest = sorted(identity(d) for d in _get(mesh, "/api/v1/manifest")["documents"])
    pods = sorted(
        (name, json.dumps({k: v for k, v in row.items() if "pid" in k}, sort_keys=True))
        for name, row in mesh.info["proxies"].items()
    )
    return tuple(config), tuple(manifest), tuple(pods)


class MeshPool:
    """At most one shared mesh alive on this worker: the current group's."""

    def __init__(self, factory: Any) -> None:
        self.factory = factory
        self.group: str | None = None
        self.mesh: LocalMesh | None = None
        self.pristine: tuple[Any, ...] = ()
        self.last = False  # the module ending is the group's last in this run
        self._stack = contextlib.ExitStack()

    def acquire(self, group: str) -> LocalMesh:
        if self.group != group or self.mesh is None:
            self.stop()
            start, _ = GROUPS[group]
            self.mesh = self._stack.enter_context(start(self.factory))
            self.group, self.pristine = group, fingerprint(self.mesh)
        return self.mesh

    def release(self, module: str) -> None:
        """After `module`: keep the mesh for the next module of the group, if there is one and
        the mesh is as it started."""
        if self.mesh is None:
            return
        try:
            clean = fingerprint(self.mesh) == self.pristine
        except OSError:
            clean = False
        if not clean:
            warnings.warn(f"{module} left the shared {self.group} mesh changed: stopped it",
                          stacklevel=1)  # fmt: skip
        if self.last or not clean:
            self.stop()

    def stop(self) -> None:
        stack, self._stack = self._stack, contextlib.ExitStack()
        self.group, self.mesh, self.pristine = None, None, ()
        stack.close()


@contextlib.contextmanager
def pool(factory: Any) -> Iterator[MeshPool]:
    shared = MeshPool(factory)
    try:
        yield shared
    finally:
        shared.stop()
