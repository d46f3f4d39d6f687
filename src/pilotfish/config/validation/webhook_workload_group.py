"""Istio's ValidateWorkloadGroup (pkg/config/validation), on the spec as read, in its order and
wording: a template is required (alone); the metadata labels must be valid (alone, the label
errors wrapped as Go's multierror prints them); then the readiness probe (validateReadinessProbe):
no negative period, delay, timeout or thresholds, and exactly one of the methods the webhook
knows (httpGet with a port in range, an HTTP(S) scheme and header names of letters, digits and
`-`; tcpSocket with a port; exec with a command). A probe with no method, or a `grpc` one the
webhook does not know, is refused. The template itself is not checked (Istio fills its address
in). Pure."""

from __future__ import annotations

import re
from typing import Any

from pilotfish.config.formats import labels_problem
from pilotfish.config.raw import as_list, as_map
from pilotfish.config.schema import Problem
from pilotfish.config.yaml_text import join_path

PROBE_NUMBERS = (
    "periodSeconds",
    "initialDelaySeconds",
    "timeoutSeconds",
    "successThreshold",
    "failureThreshold",
)
_PROBE_HEADER = re.compile(r"^[-A-Za-z0-9]+$")  # Istio's validProbeHeaderNameRegex
_GO_TYPE = {"grpc": "*v1alpha3.ReadinessProbe_Grpc"}
"""A probe method the webhook does not know, as Go's %T names its oneof wrapper."""


def multierror(errors: list[str]) -> str:
    """Errors as hashicorp/go-multierror prints a list of them."""
    if len(errors) == 1:
        return f"1 error occurred:\n\t* {errors[0]}\n\n"
    points = "\n\t".join(f"* {e}" for e in errors)
    return f"{len(errors)} errors occurred:\n\t{points}\n\n"


def _label_errors(labels: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    for key, value in labels.items():
        for one in ({str(key): ""}, {"k": "" if value is None else str(value)}):
            found = labels_problem(one)
            if found is not None:
                errors.append(found[1])
    return errors


def _port(probe_method: dict[str, Any], where: str) -> list[Problem]:
    port = probe_method.get("port")
    number = port if isinstance(port, int) else 0
    if 0 < number <= 65535:
        return []
    return [
        Problem(join_path(where, "port"), f"port number {number} must be in the range 1..65535")
    ]


def _method(probe: dict[str, Any], root: str) -> list[Problem]:
    found: list[Problem] = []
    if "httpGet" in probe:
        where = join_path(root, "httpGet")
        http = as_map(probe.get("httpGet"))
        found += _port(http, where)
        if http.get("scheme") not in (None, "", "HTTPS", "HTTP"):
            found.append(
                Problem(join_path(where, "scheme"), 'httpGet.scheme must be one of "HTTPS", "HTTP"')
            )
        for index, header in enumerate(as_list(http.get("httpHeaders"))):
            at = join_path(join_path(join_path(where, "httpHeaders"), index), "name")
            name = as_map(header).get("name")
            name = name if isinstance(name, str) else ""
            if not name:
                found.append(Problem(at, "header name cannot be empty"))
            elif not _PROBE_HEADER.match(name):
                found.append(Problem(at, f"header name {name} is not a valid header name"))
    elif "tcpSocket" in probe:
        found += _port(as_map(probe.get("tcpSocket")), join_path(root, "tcpSocket"))
    elif "exec" in probe:
        if not as_list(as_map(probe.get("exec")).get("command")):
            found.append(
                Problem(join_path(join_path(root, "exec"), "command"), "exec.command is required")
            )
    else:
        method = next((_GO_TYPE[k] for k in _GO_TYPE if k in probe), "<nil>")
        found.append(Problem(root, f"unknown health check method {method}"))
    return found


def workload_group_problems(spec: Any, root: str = "spec") -> list[Problem]:
    spec = as_map(spec)
    if spec.get("template") is None:
        return [Problem(join_path(root, "template"), "template is required")]
    labels = as_map(as_map(spec.get("metadata")).get("labels"))
    errors = _label_errors(labels)
    if errors:
        where = join_path(join_path(root, "metadata"), "labels")
        return [Problem(where, f"invalid labels: {multierror(errors)}")]
    if not isinstance(spec.get("probe"), dict):
        return []
    probe: dict[str, Any] = spec["probe"]
    where = join_path(root, "probe")
    found = [
        Problem(join_path(where, key), f"{key} must be non-negative")
        for key in PROBE_NUMBERS
        if isinstance(probe.get(key), int) and probe[key] < 0
    ]
    return found + _method(probe, where)
