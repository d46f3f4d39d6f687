"""`pilotfish create secret tls|generic NAME` and `create configmap NAME`: kubectl's imperative
Secret and ConfigMap creation, which Istio's tasks use (Secure Gateways: a gateway's
`credentialName`; Ingress without TLS Termination and the External HTTPS Proxy task: a server's
config file, `create configmap … --from-file=nginx.conf=./nginx.conf`).

`secret_document` and `configmap_document` are the pure part (contents -> a `v1` document,
`--from-file` and `--from-literal` values as kubectl keys them); the command reads
the files and applies the document like `pilotfish apply` would (while no mesh runs, it is stored
for the next start: `pilotfish.cli.offline_create`).
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

from pilotfish.cli.apply import _send
from pilotfish.cli.offline_create import create_offline
from pilotfish.local.client import MeshNotRunning, read_mesh


class CreateError(Exception):
    """A flag or file the user gave that cannot be used; the message says which."""


def secret_document(
    name: str, namespace: str, secret_type: str, values: dict[str, bytes]
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": secret_type,
        "metadata": {"name": name, "namespace": namespace},
        "data": {k: base64.b64encode(v).decode() for k, v in sorted(values.items())},
    }


def configmap_document(name: str, namespace: str, values: dict[str, bytes]) -> dict[str, Any]:
    """A `v1 ConfigMap`: UTF-8 values under `data`, others base64 under `binaryData`, as kubectl."""
    data, binary = {}, {}
    for key, value in sorted(values.items()):
        try:
            data[key] = value.decode()
        except UnicodeDecodeError:
            binary[key] = base64.b64encode(value).decode()
    document: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }
    if binary:
        document["binaryData"] = binary
    return document


def literal_values(specs: list[str]) -> dict[str, bytes]:
    """`--from-literal` values: `KEY=VALUE`."""
    values: dict[str, bytes] = {}
    for spec in specs:
        key, eq, value = spec.partition("=")
        if not key or not eq:
            raise CreateError(f"--from-literal={spec}: expected KEY=VALUE")
        values[key] = value.encode()
    return values


def from_file_values(specs: list[str]) -> dict[str, bytes]:
    """`--from-file` values: `KEY=PATH`, or `PATH` (the key is the file's name)."""
    values: dict[str, bytes] = {}
    for spec in specs:
        key, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        values[key or Path(path).name] = _read(path)
    return values


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CreateError(f"{path}: cannot read: {exc.strerror or exc}") from None


def create_secret_command(
    name: str, namespace: str | None, secret_type: str, values: dict[str, bytes], state_dir: Path
) -> int:
    document = secret_document(name, namespace or "default", secret_type, values)
    return _create(document, "secrets", state_dir)


def _create(document: dict[str, Any], resource: str, state_dir: Path) -> int:
    try:
        read_mesh(state_dir)
    except MeshNotRunning:  # before `install`, as kubectl before Istio is installed
        return create_offline(state_dir, document, resource)
    files = [(f"<create {document['kind'].lower()}>", json.dumps(document))]
    return _send(state_dir, "/api/v1/apply", {"files": files, "wait": True, "timeout": 10.0}, 10.0)


def run_create_configmap(
    name: str, namespace: str | None, state_dir: Path, from_file: list[str], from_literal: list[str]
) -> int:
    """Read the files and literals and create the ConfigMap (an empty one with neither)."""
    try:
        values = {**from_file_values(from_file), **literal_values(from_literal)}
    except CreateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    document = configmap_document(name, namespace or "default", values)
    return _create(document, "configmaps", state_dir)


def run_create(
    name: str, namespace: str | None, secret_type: str, state_dir: Path, **files: Any
) -> int:
    """Read the files (`cert`/`key` for tls, `from_file` for generic) and create the Secret."""
    try:
        if secret_type == "kubernetes.io/tls":
            values = {"tls.crt": _read(files["cert"]), "tls.key": _read(files["key"])}
        else:
            values = from_file_values(files.get("from_file") or [])
            if not values:
                raise CreateError("say what to put in the secret: --from-file=KEY=PATH")
    except CreateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return create_secret_command(name, namespace, secret_type, values, state_dir)
